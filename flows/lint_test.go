package flows

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestLintGolden loads every flow in testdata/lint and compares the lints
// with the .golden file beside it. Run `go test ./flows -update` to rewrite.
func TestLintGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/lint/*.yaml")
	if err != nil || len(files) < 12 {
		t.Fatalf("want at least 12 lint cases, found %d (%v)", len(files), err)
	}
	env := func(name string) (string, bool) { return "", false }
	for _, file := range files {
		if IsTranslationFile(file) {
			continue // read with its flow
		}
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, lints := Parse(filepath.ToSlash(file), src, Options{Env: env})
			if len(lints) == 0 {
				t.Fatalf("%s: no lint reported; each case must show a mistake", file)
			}
			got := lints.String()
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden file (run go test ./flows -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("lints differ from %s\n--- want\n%s--- got\n%s", golden, want, got)
			}
		})
	}
}

// TestExamplesLoadClean checks that every example flow loads with no error
// and no warning when its environment is set, and with only the unset-env
// warnings (never an error) on a fresh machine.
func TestExamplesLoadClean(t *testing.T) {
	env := func(name string) (string, bool) {
		switch name {
		case "ORDER_API_URL", "USERLIKE_API_URL", "USERLIKE_API_TOKEN":
			return "http://example.test/" + name, true
		}
		return "", false
	}
	flows, lints, err := LoadDir("../examples", Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if len(lints) > 0 {
		t.Errorf("examples should lint clean, got:\n%s", lints)
	}
	if len(flows) < 3 {
		t.Errorf("want the example flows, got %d", len(flows))
	}
	flows, lints, _ = LoadDir("../examples", Options{})
	if len(flows) < 3 {
		t.Errorf("examples must load with no environment, got %d flows:\n%s", len(flows), lints)
	}
	for _, l := range lints {
		if l.Level != Warning || !strings.Contains(l.What, "ORDER_API_URL") && !strings.Contains(l.What, "USERLIKE_API_") {
			t.Errorf("unexpected lint without environment: %s", l)
		}
	}
}

func TestDisappeared(t *testing.T) {
	parse := func(src string) *Flow {
		f, lints := Parse("f.yaml", []byte(src), Options{})
		if f == nil {
			t.Fatal(lints)
		}
		return f
	}
	v1 := parse("name: f\nstart: a\nstates:\n  a: {ask: Name,  save: n, next: b}\n  b: {say: hi, next: c}\n  c: {ask: Mail,  save: m, next: d}\n  d: {do: [end]}\n")
	v2 := parse("name: f\nstart: a\nstates:\n  a: {ask: Name,  save: n, next: c2}\n  c2: {ask: Mail,  save: m, next: d}\n  d: {do: [end]}\n")
	got := Disappeared(v1, v2).String()
	if !strings.Contains(got, `f.yaml:6:3: state "c" disappears`) || strings.Contains(got, `"b"`) {
		t.Errorf("got:\n%s", got)
	}
	v3 := parse("name: f\nstart: a\nmigrate: {c: c2}\nstates:\n  a: {ask: Name,  save: n, next: c2}\n  c2: {ask: Mail,  save: m, next: d}\n  d: {do: [end]}\n")
	if got := Disappeared(v1, v3); len(got) != 0 {
		t.Errorf("migrated state reported: %s", got)
	}
}
