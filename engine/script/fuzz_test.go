package script

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
)

// FuzzScript runs arbitrary scripts over arbitrary vars: whatever they do,
// Run returns (an Output or an *Error), never panics, and the host keeps
// working. The seed corpus is the hostile corpus plus scripts that play
// with the values flowbot reads back.
func FuzzScript(f *testing.F) {
	for _, c := range loadHostile(f) {
		f.Add(c.Source, "x", c.Text)
	}
	for _, src := range []string{
		`vars[event.text] = vars.x`,
		`Object.defineProperty(vars, event.text, { enumerable: true, get() { return vars.x.repeat(3) } })`,
		`vars.o = JSON.parse(vars.x)`,
		`return vars.x`,
		`say(vars.x); act("contact_update", { name: vars.x })`,
		`vars.y = new RegExp(vars.x).test(event.text) ? "1" : "0"`,
		`throw vars.x`,
	} {
		f.Add(src, "x", `{"a": [1, 2, {"b": null}]}`)
	}
	h := &Host{Timeout: 50 * time.Millisecond}
	f.Fuzz(func(t *testing.T, src, key, value string) {
		p, err := Compile(&flows.Script{Source: src, File: "fuzz.js", Line: 1, Column: 1})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != "syntax" {
				t.Fatalf("compile: %T %v", err, err)
			}
			return
		}
		out, err := h.Run(context.Background(), p, Input{
			Vars: map[string]string{key: value, "x": value}, Event: map[string]any{"name": "message", "text": value},
			Contact: map[string]string{"name": value}, Now: time.Unix(1700000000, 0),
		})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not a script error: %T %v", err, err)
			}
			return
		}
		if len(out.Say) > MaxSays || len(out.Acts) > MaxActs {
			t.Fatalf("caps exceeded: %d says, %d acts", len(out.Say), len(out.Acts))
		}
	})
}
