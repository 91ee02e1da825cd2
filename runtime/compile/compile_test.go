package compile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

// manyOptions is a flow whose choice falls back on some channels (a
// warning only a compiled flow shows).
func manyOptions(extra string) string {
	var b strings.Builder
	b.WriteString("name: many\nstart: pick\nstates:\n  pick:\n    choice:\n      text: Pick one\n      options:\n")
	for i := range 12 {
		b.WriteString("        - {id: o" + string(rune('a'+i)) + ", label: Option " + string(rune('A'+i)) + ", goto: pick}\n")
	}
	return b.String() + extra
}

// TestSourceShowsEveryProblem: parse, compile and channel checks in one
// list, sorted; a script that does not compile is an error (no bot), a
// fallback a warning (a bot).
func TestSourceShowsEveryProblem(t *testing.T) {
	b, lints := Source("many.yaml", []byte(manyOptions("")), Options{})
	if b == nil || lints.HasErrors() || len(lints) == 0 || !strings.Contains(lints.String(), "the choice is shown as") {
		t.Fatalf("bot %v, lints:\n%s", b != nil, lints)
	}
	broken := manyOptions("  calc:\n    script: \"this is not javascript (\"\n    next: pick\n")
	b, lints = Source("broken.yaml", []byte(broken), Options{})
	if b != nil || !lints.HasErrors() || !strings.Contains(lints.String(), "the choice is shown as") {
		t.Fatalf("a script that does not compile: bot %v, lints:\n%s", b != nil, lints)
	}
	if _, lints := Source("bad.yaml", []byte("name: x\n"), Options{}); !lints.HasErrors() {
		t.Fatal("a flow without start or states passed")
	}
}

// TestFileAndDir: File fails with a *flows.LoadError for a flow with
// errors; Dir returns the bots of the flows without errors and every
// problem of all.
func TestFileAndDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("many.yaml", manyOptions(""))
	bad := write("broken.yaml", strings.Replace(manyOptions("  calc:\n    script: \"(\"\n    next: pick\n"), "name: many", "name: broken", 1))
	if b, lints, err := File(good, Options{}); err != nil || b == nil || len(lints) == 0 {
		t.Fatalf("good: %v %v", err, lints)
	}
	var le *flows.LoadError
	if _, _, err := File(bad, Options{}); !errors.As(err, &le) {
		t.Fatalf("broken: %v", err)
	}
	if _, _, err := File(filepath.Join(dir, "nope.yaml"), Options{}); err == nil {
		t.Fatal("a missing file loaded")
	}
	bots, lints, err := Dir(dir, Options{})
	if err != nil || len(bots) != 1 || bots[0].Flow().Name != "many" || !lints.HasErrors() {
		t.Fatalf("dir: %d bots, %v, lints:\n%s", len(bots), err, lints)
	}
}
