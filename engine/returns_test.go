package engine

import (
	"flag"
	"os"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestScriptReturnLintsGolden: a script's literal `return "state"` that
// its `next` does not list is an error at the return's line and column;
// returns of functions inside the script and comments are not.
func TestScriptReturnLintsGolden(t *testing.T) {
	const file = "testdata/script_return_not_in_next.yaml"
	f, lints := flows.Parse(file, mustRead(t, file), flows.Options{})
	if f == nil {
		t.Fatalf("flow does not parse:\n%s", lints)
	}
	got := New(f).Lints().String()
	golden := "testdata/script_return_not_in_next.golden"
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	if want := string(mustRead(t, golden)); got != want {
		t.Errorf("lints differ from %s\n--- want\n%s--- got\n%s", golden, want, got)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
