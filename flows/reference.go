package flows

import (
	"fmt"
	"sort"
	"strings"
)

// ReferenceBegin and ReferenceEnd mark the generated key reference in
// docs/flows.md; Reference writes what goes between them.
const (
	ReferenceBegin = "<!-- BEGIN KEY REFERENCE: generated from flows/spec.go by `go test ./flows -update`; do not edit -->"
	ReferenceEnd   = "<!-- END KEY REFERENCE -->"
)

// referenceOrder is the order the reference lists the mappings in, with
// the heading of each.
var referenceOrder = [][2]string{
	{"flow", "The flow (top level)"},
	{"state", "A state"},
	{"choice", "A state's `choice`"},
	{"option", "An option of a choice"},
	{"branch", "A branch of `next`"},
	{"condition", "A branch's `if`"},
	{"command", "A global command (`commands`)"},
	{"message", "A message (`say`)"},
	{"button", "A URL button"},
	{"http", "A state's `http`"},
	{"llm", "A state's `llm`"},
	{"silence", "A rule of `on_silence`"},
	{"timing", "A state's `timing`"},
	{"texts", "`texts`"},
	{"scripts", "`scripts`"},
}

// Reference is the key reference of docs/flows.md, generated from
// Language and PlatformActions — the tables the parser checks flows
// against and the JSON Schema is made from — so that the three agree.
func Reference() string {
	var b strings.Builder
	b.WriteString(ReferenceBegin + "\n")
	for _, t := range referenceOrder {
		fmt.Fprintf(&b, "\n### %s\n\n| key | takes | |\n|---|---|---|\n", t[1])
		for _, f := range Language[t[0]] {
			writeField(&b, f)
		}
	}
	b.WriteString("\n### Platform actions (`do`)\n\n| action | payload keys |\n|---|---|\n")
	names := make([]string, 0, len(PlatformActions))
	for n := range PlatformActions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var keys []string
		for _, f := range PlatformActions[n] {
			k := "`" + f.Name + "`"
			if f.Required {
				k += " (required)"
			}
			if f.Enum != nil {
				k += ": " + strings.Join(f.Enum, ", ")
			}
			if f.Min != nil {
				k += fmt.Sprintf(" ≥ %g", *f.Min)
			}
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			keys = []string{"—"}
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", n, strings.Join(keys, ", "))
	}
	b.WriteString("\n" + ReferenceEnd + "\n")
	return b.String()
}

func writeField(b *strings.Builder, f Field) {
	takes := string(f.Kind)
	if f.Required {
		takes += ", required"
	}
	if f.Enum != nil {
		takes += "; one of " + strings.Join(f.Enum, ", ")
	}
	if f.Min != nil {
		takes += fmt.Sprintf("; at least %g", *f.Min)
	}
	doc := strings.ReplaceAll(f.Doc, "|", "\\|")
	fmt.Fprintf(b, "| `%s` | %s | %s |\n", f.Name, takes, doc)
}
