package flowtest

import (
	"os"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

// TestRequestAssertions: mocks check the method, URL (with ${env.…}),
// headers and body (exact JSON, a subset, exact text, contained text) of
// the request they answer; a mismatch fails the turn showing the request
// that came (testdata/request/wrong.golden), and a later mock for the
// same URL answers when an earlier one does not match.
func TestRequestAssertions(t *testing.T) {
	rep, err := RunFile("testdata/request/survey_test.yaml", flows.Options{})
	if err != nil || rep.Passed != 2 || len(rep.Failures) != 0 {
		t.Fatalf("survey_test.yaml: %v %+v", err, rep)
	}
	rep, err = RunFile("testdata/request/wrong_test.yaml", flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range rep.Failures {
		b.WriteString(f.String())
		b.WriteString("\n")
	}
	got := b.String()
	if *update {
		os.WriteFile("testdata/request/wrong.golden", []byte(got), 0o644)
	}
	want, _ := os.ReadFile("testdata/request/wrong.golden")
	if got != string(want) {
		t.Errorf("report differs from testdata/request/wrong.golden:\n%s", got)
	}
	if rep.Passed != 1 || len(rep.Failures) != 4 {
		t.Errorf("want 4 failures and 1 pass, got %d and %d", len(rep.Failures), rep.Passed)
	}
}

func TestJSONDiff(t *testing.T) {
	got := map[string]any{"a": 1.0, "b": []any{"x", map[string]any{"c": true, "d": "e"}}}
	cases := []struct {
		want   any
		subset bool
		diff   string
	}{
		{map[string]any{"a": 1.0, "b": []any{"x", map[string]any{"c": true, "d": "e"}}}, false, ""},
		{map[string]any{"b": []any{"x", map[string]any{"c": true}}}, true, ""},
		{map[string]any{"b": []any{"x", map[string]any{"c": true}}}, false, `body.b[1].d: not expected (got "e")`},
		{map[string]any{"b": []any{"x", map[string]any{"c": false}}}, true, `body.b[1].c: want false, got true`},
		{map[string]any{"b": []any{"x"}}, true, `body.b: want ["x"], got ["x",{"c":true,"d":"e"}]`},
		{map[string]any{"z": "y"}, true, `body.z: missing (want "y")`},
		{[]any{1.0}, true, `body: want [1], got {"a":1,"b":["x",{"c":true,"d":"e"}]}`},
		{map[string]any{"a": map[string]any{}}, true, `body.a: want an object, got 1`},
	}
	for _, c := range cases {
		if d := jsonDiff("body", c.want, got, c.subset); d != c.diff {
			t.Errorf("%v (subset %v): got %q, want %q", c.want, c.subset, d, c.diff)
		}
	}
}
