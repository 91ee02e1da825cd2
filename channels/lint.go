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
		c := choiceAsWritten(st.Choice)
		for _, ch := range Types {
			if !Table[ch].Clickable() {
				continue
			}
			form, reason := Plan(c, ch)
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
				What: fmt.Sprintf("state %q: on %s the choice is shown as %s (%s)%s", name, ch, shown, strings.TrimSuffix(reason, "; shown as "+form), advice)})
		}
	}
	return out
}

// choiceAsWritten builds the engine's choice from a flow's, texts as written.
func choiceAsWritten(fc *flows.Choice) engine.Choice {
	c := engine.Choice{Form: fc.Form, Body: fc.Body.Source, Fallback: fc.Fallback.Source,
		Header: fc.Header.Source, Footer: fc.Footer.Source, Button: fc.Button.Source}
	for _, o := range fc.Options {
		c.Options = append(c.Options, engine.Option{ID: o.ID, Label: o.Label.Source, Description: o.Description.Source, Image: o.Image.Source})
	}
	return c
}
