package channels

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine"
)

// FuzzConvertMarkdown checks, on every channel, that conversion never
// panics, keeps valid UTF-8 valid, leaves web and custom text unchanged and
// never leaves "**" in SMS text.
func FuzzConvertMarkdown(f *testing.F) {
	for _, s := range []string{
		"", "plain", richMarkdown, "**bold** *it* _it_ ~~s~~ `c`", "***x***", "**a *b* c**",
		"[t](u)", "[t](<u v>)", "[t](u \"title\")", "![alt](src)", "<https://x>", "<a@b.c>",
		"# h\n> q\n- l\n1. o", "```\n**x**\n```", "~~~\ncode", "\\*x\\*", "\\", "`", "``a`",
		"[", "]", "[[a](b)](c)", "**", "****", "* * *", "a**b**c", "_a_b_", "__init__", "~~", "~~~",
		"x\n===", "\r\n**a**\r\n", "Größe **ändern** 👍", "\xff**\xfe", "**`**`**", "[**](**)",
		"> > **a\n> b**", "- **a\n- b**", "1) x", "123456789. x", "<", "<>", "< a>", "[a]( b )",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := utf8.ValidString(s)
		for _, ch := range Types {
			out, format := ConvertMarkdown(s, ch)
			if valid && !utf8.ValidString(out) {
				t.Fatalf("%s: invalid UTF-8 from valid input %q: %q", ch, s, out)
			}
			switch ch {
			case Web, Custom:
				if out != s || format != TextFormatMarkdown {
					t.Fatalf("%s: changed %q to %q (%q)", ch, s, out, format)
				}
			case SMS:
				if strings.Contains(out, "**") {
					t.Fatalf("sms: %q gives %q, with **", s, out)
				}
				fallthrough
			default:
				if format != "" {
					t.Fatalf("%s: text_format %q", ch, format)
				}
			}
		}
	})
}

// FuzzSplitBody checks SplitBody's promises (see checkSplit) for any text
// and limit.
func FuzzSplitBody(f *testing.F) {
	for _, seed := range []struct {
		s   string
		max int
	}{
		{"", 1}, {"a", 1}, {"Hello world. How are you?", 15}, {"aaa bbb ccc", 3},
		{"One.\n\nTwo three four.", 10}, {"äöü äöü", 2}, {"👍👍👍", 2}, {"   x   ", 1},
		{"今天天气很好。我们去公园吧。", 5}, {strings.Repeat("x", 6000), MaxBody},
		{strings.Repeat("word ", 1200), MaxBody}, {"a\xffb c\xfe", 2}, {"\n\n\n\na", 2},
		{"x. \n y", 2}, {"a\u00a0b\u2003c", 1}, {"。。。", 1},
	} {
		f.Add(seed.s, seed.max)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 {
			max = -max
		}
		max = max%(len(s)+3) + 1 // 1 … len(s)+3: every interesting limit
		chunks := SplitBody(s, max)
		checkSplit(t, s, max, chunks)
	})
}

// FuzzRender renders random text through every path on every channel and
// checks the packet invariants.
func FuzzRender(f *testing.F) {
	f.Add("How can I help you?", "Delivery status", 4, true)
	f.Add("**Hi** _there_, see [x](https://x.example)\n\n- a\n- b", "A label over twenty chars", 14, true)
	f.Fuzz(func(t *testing.T, s, label string, n int, md bool) {
		if n < 0 {
			n = -n
		}
		n %= 20
		opts := make([]engine.Option, n)
		for i := range opts {
			opts[i] = engine.Option{ID: label, Label: label, Description: s, Image: s}
		}
		actions := []engine.Action{
			{Kind: engine.ActText, Text: s, Markdown: md},
			{Kind: engine.ActChoice, Choice: &engine.Choice{Body: s, Fallback: label, Header: label, Footer: label, Button: label, Options: opts}},
			{Kind: engine.ActChoice, Choice: &engine.Choice{Form: engine.FormListTemplate, Body: s, Options: opts}},
			{Kind: engine.ActChoice, Choice: &engine.Choice{Form: engine.FormCarousel, Body: s, Options: opts}},
			{Kind: engine.ActMedia, Media: &engine.Media{URL: label, Caption: s}},
			{Kind: engine.ActButtons, Text: s, Buttons: []engine.URLButton{{Label: label, URL: label}}},
			{Kind: engine.ActNavigate, URL: s},
		}
		for _, ch := range Types {
			r := Render(actions, ch)
			checkPacketInvariants(t, r, ch)
		}
	})
}
