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
	checkReport(t, "testdata/request/survey_test.yaml", "", 2, 0)
	checkReport(t, "testdata/request/wrong_test.yaml", "testdata/request/wrong.golden", 1, 4)
}

// TestAcrossChannels: texts are matched whatever packet carries them (a
// message, URL buttons, a choice's question), so one test covers every
// channel; a choice is matched by its option ids, and numbered text by
// the labels of exactly those options, in order
// (testdata/across/wrong.golden shows the failures).
func TestAcrossChannels(t *testing.T) {
	checkReport(t, "testdata/across/across_test.yaml", "", 7, 0)
	checkReport(t, "testdata/across/wrong_test.yaml", "testdata/across/wrong.golden", 0, 5)
}

// checkReport runs a test file and checks how many runs passed and
// failed, and the failures against a golden file (-update rewrites it).
func checkReport(t *testing.T, file, golden string, passed, failed int) {
	t.Helper()
	rep, err := RunFile(file, flows.Options{Env: orderEnv})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range rep.Failures {
		b.WriteString(f.String())
		b.WriteString("\n")
	}
	got := b.String()
	if golden == "" && got != "" {
		t.Errorf("%s:\n%s", file, got)
	}
	if golden != "" {
		if *update {
			os.WriteFile(golden, []byte(got), 0o644)
		}
		if want, _ := os.ReadFile(golden); got != string(want) {
			t.Errorf("report differs from %s:\n%s", golden, got)
		}
	}
	if rep.Passed != passed || len(rep.Failures) != failed {
		t.Errorf("%s: want %d passed and %d failed, got %d and %d", file, passed, failed, rep.Passed, len(rep.Failures))
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
