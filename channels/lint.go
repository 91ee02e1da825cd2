package channels

import (
	"fmt"
	"strings"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
)

// LintFlow warns, for every choice of a flow and every channel that can show
// clickable choices, when the choice will not be shown in the form the author
// asked for (too many options, a label too long, …), naming the form that
// will be used instead. Channels that only ever show numbered text are not
// reported: there, every choice is numbered text by design.
//
// A choice with its own `fallback` text has been written for the numbered
// list, so falling back to it is not reported.
//
// Templated texts are measured as written; {{ variables }} may make them
// longer at run time.
func LintFlow(f *flows.Flow) flows.Lints {
	var out flows.Lints
	for _, name := range f.Order {
		st := f.States[name]
		if st.Choice == nil {
			continue
		}
		for _, ch := range Types {
			if !Table[ch].Clickable() {
				continue
			}
			form, reason, in := planIn(f, st.Choice, ch)
			if reason == "" {
				continue
			}
			shown, advice := form, ""
			if form == FormText {
				if st.Choice.Fallback.Source != st.Choice.Body.Source {
					continue // the author wrote the numbered list's own text
				}
				shown = "a numbered text list"
				advice = "; give the choice a `fallback` text for the numbered list to accept it"
			}
			out = append(out, flows.Lint{File: f.File, Line: st.Choice.Pos.Line, Column: st.Choice.Pos.Column, Level: flows.Warning,
				What: fmt.Sprintf("state %q: on %s%s the choice is shown as %s (%s)%s", name, ch, in, shown, strings.TrimSuffix(reason, "; shown as "+form), advice)})
		}
	}
	return out
}

// planIn plans a choice for channel ch in the flow's first language, then
// in each other one: the first that does not fit is reported, with in
// naming its locale (empty for the flow's own language).
func planIn(f *flows.Flow, fc *flows.Choice, ch string) (form, reason, in string) {
	locales := f.Locales
	if len(locales) == 0 {
		locales = []string{""}
	}
	for i, loc := range locales {
		if form, reason = Plan(choiceAsWritten(fc, loc), ch); reason != "" {
			if i > 0 {
				in = fmt.Sprintf(" in locale %q", loc)
			}
			return form, reason, in
		}
	}
	return form, "", ""
}

// choiceAsWritten builds the engine's choice from a flow's, texts as
// written in locale (a tag of the flow's `locales`, or "").
func choiceAsWritten(fc *flows.Choice, locale string) engine.Choice {
	src := func(t flows.Template) string { return t.In(locale).Source }
	c := engine.Choice{Form: fc.Form, Body: src(fc.Body), Fallback: src(fc.Fallback),
		Header: src(fc.Header), Footer: src(fc.Footer), Button: src(fc.Button)}
	for _, o := range fc.Options {
		c.Options = append(c.Options, engine.Option{ID: o.ID, Label: src(o.Label), Description: src(o.Description), Image: o.Image.Source})
	}
	return c
}
