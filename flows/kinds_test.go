package flows

import (
	"encoding/json"
	"os"
	"testing"
)

// TestStepKindsOwnTheirKeys: every key of a state belongs to exactly one
// step kind, or is one of StateKeys; every kind is a state key of the
// language, with a schema entry in docs/flow.schema.json, and says how to
// find it in a state. A key added to the language without a kind fails
// here.
func TestStepKindsOwnTheirKeys(t *testing.T) {
	owner := map[string]string{}
	claim := func(key, by string) {
		if prev, dup := owner[key]; dup {
			t.Errorf("state key %q belongs to both %s and %s", key, prev, by)
		}
		owner[key] = by
	}
	for _, k := range StepKinds {
		if k.In == nil {
			t.Errorf("step kind %q cannot be found in a state (In is nil)", k.Name)
		}
		claim(k.Name, "step kind "+k.Name)
		for _, key := range k.Keys {
			claim(key, "step kind "+k.Name)
		}
	}
	for _, key := range StateKeys {
		claim(key, "StateKeys")
	}
	known := map[string]bool{}
	for _, f := range Language["state"] {
		known[f.Name] = true
		if owner[f.Name] == "" {
			t.Errorf("state key %q belongs to no step kind: register it in flows/kinds.go", f.Name)
		}
	}
	for key, by := range owner {
		if !known[key] {
			t.Errorf("%s claims %q, which is not a state key of the language (flows/spec.go)", by, key)
		}
	}
	raw, err := os.ReadFile("../docs/flow.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	for _, k := range StepKinds {
		if _, ok := schema.Defs["state"].Properties[k.Name]; !ok {
			t.Errorf("step kind %q has no entry in docs/flow.schema.json (go test ./flows -update)", k.Name)
		}
	}
}

// TestWaitingKinds: a state waits on the kind the parser gave it.
func TestWaitingKinds(t *testing.T) {
	f, lints := Parse("k.yaml", []byte(`
name: k
start: a
states:
  a: {ask: "Name?", save: name, next: b}
  b: {wait: true, next: c}
  c: {http: {url: "http://x/"}, next: d}
  d: {llm: {system: "Hi"}, next: e}
  e:
    choice:
      text: Pick
      options: [{id: x, label: X, goto: f}]
  f: {say: Bye, do: [end]}
`), Options{})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	for state, want := range map[string]string{"a": "ask", "b": "wait", "c": "http", "d": "llm", "e": "choice", "f": ""} {
		got := ""
		if k := f.States[state].Waiting(); k != nil {
			got = k.Name
		}
		if got != want || f.States[state].Waits() != (want != "") {
			t.Errorf("state %s waits on %q, want %q", state, got, want)
		}
	}
}
