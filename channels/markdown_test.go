package channels

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine"
)

func TestConvertMarkdown(t *testing.T) {
	// want per channel: whatsapp_business (also threema), facebook, telegram, sms.
	tests := []struct {
		in              string
		wa, fb, tg, sms string
	}{
		{"**bold**", "*bold*", "*bold*", "*bold*", "bold"},
		{"__bold__", "*bold*", "*bold*", "*bold*", "bold"},
		{"*italic* and _italic_", "_italic_ and _italic_", "_italic_ and _italic_", "_italic_ and _italic_", "italic and italic"},
		{"~~strike~~", "~strike~", "~strike~", "~strike~", "strike"},
		{"***both***", "_*both*_", "_*both*_", "_*both*_", "both"},
		{"**bold *and italic***", "*bold _and italic_*", "*bold _and italic_*", "*bold _and italic_*", "bold and italic"},
		{"`code`", "code", "`code`", "`code`", "code"},
		{"`` a`b ``", "a`b", "``a`b``", "``a`b``", "a`b"},
		{"[Shop](https://x.example)", "Shop (https://x.example)", "Shop (https://x.example)", "[Shop](https://x.example)", "Shop (https://x.example)"},
		{"[**Shop**](https://x.example \"title\")", "*Shop* (https://x.example)", "*Shop* (https://x.example)", "[*Shop*](https://x.example)", "Shop (https://x.example)"},
		{"[https://x.example](https://x.example)", "https://x.example", "https://x.example", "https://x.example", "https://x.example"},
		{"![logo](https://x.example/l.png)", "logo (https://x.example/l.png)", "logo (https://x.example/l.png)", "[logo](https://x.example/l.png)", "logo (https://x.example/l.png)"},
		{"<https://x.example>", "https://x.example", "https://x.example", "https://x.example", "https://x.example"},
		{"mail <ada@x.example>", "mail ada@x.example", "mail ada@x.example", "mail ada@x.example", "mail ada@x.example"},
		{"# Title", "Title", "Title", "Title", "Title"},
		{"### Title ###", "Title", "Title", "Title", "Title"},
		{"Title\n=====", "Title", "Title", "Title", "Title"},
		{"> quoted **text**", "quoted *text*", "quoted *text*", "quoted *text*", "quoted text"},
		{"- a\n  * b\n+ c", "- a\n- b\n- c", "- a\n- b\n- c", "- a\n- b\n- c", "- a\n- b\n- c"},
		{"1. one\n   2) two", "1. one\n2) two", "1. one\n2) two", "1. one\n2) two", "1. one\n2) two"},
		{"```go\nx := **y**\n```", "x := **y**", "x := **y**", "```go\nx := **y**\n```", "x := *y*"},
		{"a\n\n***\n\nb", "a\n\n---\n\nb", "a\n\n---\n\nb", "a\n\n---\n\nb", "a\n\n---\n\nb"},
		{`\*not italic\*`, "*not italic*", "*not italic*", "*not italic*", "*not italic*"},
		{"5 * 3 * 2", "5 * 3 * 2", "5 * 3 * 2", "5 * 3 * 2", "5 * 3 * 2"},
		{"snake_case_name", "snake_case_name", "snake_case_name", "snake_case_name", "snake_case_name"},
		{"**unclosed", "**unclosed", "**unclosed", "**unclosed", "unclosed"},
		{"~single~ tilde", "~single~ tilde", "~single~ tilde", "~single~ tilde", "~single~ tilde"},
		{"**across\nlines**", "*across\nlines*", "*across\nlines*", "*across\nlines*", "across\nlines"},
		{"line\\\nbreak", "line\nbreak", "line\nbreak", "line\nbreak", "line\nbreak"},
		{"plain text, nothing to do", "plain text, nothing to do", "plain text, nothing to do", "plain text, nothing to do", "plain text, nothing to do"},
		{"Größe **ändern** 👍", "Größe *ändern* 👍", "Größe *ändern* 👍", "Größe *ändern* 👍", "Größe ändern 👍"},
		{"a\r\nb", "a\nb", "a\nb", "a\nb", "a\nb"},
	}
	for _, tt := range tests {
		for ch, want := range map[string]string{WhatsApp: tt.wa, Threema: tt.wa, Facebook: tt.fb, Telegram: tt.tg, SMS: tt.sms} {
			got, format := ConvertMarkdown(tt.in, ch)
			if got != want || format != "" {
				t.Errorf("ConvertMarkdown(%q, %s) = %q, %q; want %q, \"\"", tt.in, ch, got, format, want)
			}
		}
		for _, ch := range []string{Web, Custom, "", "unknown"} {
			got, format := ConvertMarkdown(tt.in, ch)
			if got != tt.in || format != TextFormatMarkdown {
				t.Errorf("ConvertMarkdown(%q, %q) = %q, %q; want it unchanged with markdown_v1", tt.in, ch, got, format)
			}
		}
	}
}

// TestConvertMarkdownLinear guards against inputs that make a naive
// markdown parser quadratic (they could come from a contact's message
// templated into a markdown text).
func TestConvertMarkdownLinear(t *testing.T) {
	for _, unit := range []string{"[", "[a](", "*a ", "`", "``a", "<a", "_a_ ", "**a*", "[a](b \""} {
		in := strings.Repeat(unit, 200_000/len(unit))
		for _, ch := range []string{WhatsApp, SMS} {
			out, _ := ConvertMarkdown(in, ch)
			if !utf8.ValidString(out) {
				t.Fatalf("%q×n on %s: invalid UTF-8", unit, ch)
			}
		}
	}
}

func TestRenderMarkdown(t *testing.T) {
	for _, ch := range Types {
		r := Render([]engine.Action{markdown("**hi** there")}, ch)
		p := r.Packets[0].Payload.(MessagePayload)
		want, format := ConvertMarkdown("**hi** there", ch)
		if p.Body != want || p.TextFormat != format {
			t.Errorf("%s: %+v, want %q %q", ch, p, want, format)
		}
	}
}
