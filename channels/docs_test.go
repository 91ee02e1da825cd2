package channels

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
)

// docsPath is the channel documentation whose tables are generated here.
var docsPath = filepath.Join("..", "docs", "channels.md")

// TestDocsMatchCode checks that the generated tables of docs/channels.md
// are what the code does; go test ./channels -update rewrites them.
func TestDocsMatchCode(t *testing.T) {
	raw, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, block := range []struct {
		name string
		gen  func() string
	}{
		{"forms", formsTable},
		{"limits", limitsTable},
		{"markdown", markdownTable},
	} {
		begin := "<!-- BEGIN GENERATED " + block.name + " (go test ./channels -update) -->\n"
		end := "<!-- END GENERATED " + block.name + " -->"
		i := strings.Index(doc, begin)
		j := strings.Index(doc, end)
		if i < 0 || j < i {
			t.Errorf("%s: no %q … %q block", docsPath, begin, end)
			continue
		}
		want := block.gen()
		got := doc[i+len(begin) : j]
		if got == want {
			continue
		}
		if *update {
			doc = doc[:i+len(begin)] + want + doc[j:]
			continue
		}
		t.Errorf("%s: the %s table differs from the code (- doc, + code; run go test ./channels -update):\n%s",
			docsPath, block.name, lineDiff(got, want))
	}
	if *update && doc != string(raw) {
		if err := os.WriteFile(docsPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// formsTable shows the form Plan picks per channel, requested form and
// number of options (labels ≤ 20 characters unless the column says so).
func formsTable() string {
	var b strings.Builder
	b.WriteString("| channel | author asked for | 1–3 options | 4–10 | 11–13 | 14 or more | a label over 20 characters |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	long := numberedOptions(3)
	long[0].Label = strings.Repeat("x", 21)
	for _, ch := range Types {
		for _, form := range []string{engine.FormBubbles, engine.FormButtonTemplate, engine.FormListTemplate, engine.FormCarousel} {
			fmt.Fprintf(&b, "| %s | %s |", ch, form)
			for _, o := range [][]engine.Option{numberedOptions(3), numberedOptions(10), numberedOptions(13), numberedOptions(14), long} {
				got, _ := Plan(engine.Choice{Form: form, Body: "Which one?", Options: o}, ch)
				switch {
				case got == FormText:
					got = "numbered text"
				case got == engine.FormBubbles && ch == Facebook:
					got = "bubbles (quick replies)"
				}
				fmt.Fprintf(&b, " %s |", got)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// limitsTable shows Table, one column per channel.
func limitsTable() string {
	var b strings.Builder
	b.WriteString("| element |")
	for _, ch := range Types {
		fmt.Fprintf(&b, " %s |", ch)
	}
	b.WriteString("\n|---|")
	for range Types {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	count := func(l Limits, n int) string {
		switch {
		case l.AsAuthored:
			return "as authored"
		case n == 0:
			return "—"
		}
		return strconv.Itoa(n)
	}
	length := func(l Limits, n int) string {
		if n == 0 {
			return "—"
		}
		return strconv.Itoa(n)
	}
	yes := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	marker := func(m string) string {
		if m == "" {
			return "—"
		}
		return "`" + m + "`"
	}
	rows := []struct {
		name string
		cell func(Limits) string
	}{
		{"clickable choices", func(l Limits) string { return yes(l.Clickable()) }},
		{"button_template: options", func(l Limits) string { return count(l, l.ButtonOptions) }},
		{"list_template: rows", func(l Limits) string { return count(l, l.ListOptions) }},
		{"bubbles as quick replies: options", func(l Limits) string { return count(l, l.QuickReplies) }},
		{"option label (characters)", func(l Limits) string { return length(l, l.LabelMax) }},
		{"list row description", func(l Limits) string { return length(l, l.DescriptionMax) }},
		{"list button text", func(l Limits) string { return length(l, l.ListButtonMax) }},
		{"template header / footer", func(l Limits) string {
			return length(l, l.HeaderMax) + " / " + length(l, l.FooterMax)
		}},
		{"button_template header media", func(l Limits) string {
			if l.HeaderMedia == "" {
				return "—"
			}
			return strings.ReplaceAll(l.HeaderMedia, " ", ", ")
		}},
		{"option id (characters)", func(l Limits) string { return length(l, l.IDMax) }},
		{"button_template body", func(l Limits) string { return length(l, l.ButtonBodyMax) }},
		{"list_template body", func(l Limits) string { return length(l, l.ListBodyMax) }},
		{"quick replies body", func(l Limits) string { return length(l, l.QuickReplyBodyMax) }},
		{"message body", func(l Limits) string { return length(l, l.BodyMax) }},
		{"carousel clickable", func(l Limits) string { return yes(l.Carousel) }},
		{"media", func(l Limits) string { return yes(l.Media) }},
		{"URL buttons", func(l Limits) string { return yes(l.URLButtons) }},
		{"navigate", func(l Limits) string { return yes(l.Navigate) }},
		{"markdown", func(l Limits) string { return l.Markdown.Level }},
		{"bold / italic / strike", func(l Limits) string {
			return marker(l.Markdown.Bold) + " " + marker(l.Markdown.Italic) + " " + marker(l.Markdown.Strike)
		}},
		{"inline code / code block / hyperlink", func(l Limits) string {
			return yes(l.Markdown.InlineCode) + " / " + yes(l.Markdown.CodeBlock) + " / " + yes(l.Markdown.Hyperlink)
		}},
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.name)
		for _, ch := range Types {
			fmt.Fprintf(&b, " %s |", r.cell(Table[ch]))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// markdownTable shows ConvertMarkdown on examples, one column per channel
// kind (the ones that agree share a column).
func markdownTable() string {
	var b strings.Builder
	cols := []struct{ name, ch string }{
		{"web, custom", Web},
		{"whatsapp_business, threema", WhatsApp},
		{"facebook", Facebook},
		{"telegram", Telegram},
		{"sms", SMS},
	}
	b.WriteString("| markdown |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.name)
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, in := range []string{
		"**bold**", "__bold__", "*italic*", "_italic_", "~~strike~~", "***both***",
		"[Shop](https://x.example)", "<https://x.example>", "# Heading", "> quote", "  * nested item",
		"3. third", "\\*escaped\\*", "**unclosed",
	} {
		fmt.Fprintf(&b, "| %s |", codeCell(in))
		for _, c := range cols {
			out, _ := ConvertMarkdown(in, c.ch)
			fmt.Fprintf(&b, " %s |", codeCell(out))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// codeCell writes s as a code span in a table cell (leading spaces shown as ␠).
func codeCell(s string) string {
	trimmed := strings.TrimLeft(s, " ")
	return "`" + strings.Repeat("␠", len(s)-len(trimmed)) + trimmed + "`"
}
