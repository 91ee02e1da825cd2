package channels

import (
	"os"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

func TestLintFlowWarnsPerChannel(t *testing.T) {
	src := `name: lint
start: menu
states:
  menu:
    choice:
      text: Pick
      form: button_template
      options:
        - {id: a, label: One, goto: menu}
        - {id: b, label: Two, goto: menu}
        - {id: c, label: Three, goto: menu}
        - {id: d, label: A label that is too long, goto: menu}
  short:
    choice:
      text: Pick
      options:
        - {id: a, label: Yes, goto: menu}
`
	f, lints := flows.Parse("lint.yaml", []byte(src), flows.Options{})
	if f == nil {
		t.Fatal(lints)
	}
	got := LintFlow(f).String()
	want := []string{
		`lint.yaml:6:7: warning: state "menu": on whatsapp_business the choice is shown as a numbered text list`,
		`lint.yaml:6:7: warning: state "menu": on facebook the choice is shown as a numbered text list`,
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
	if strings.Contains(got, "short") || strings.Contains(got, "telegram") || strings.Contains(got, "on web") {
		t.Errorf("unexpected warnings:\n%s", got)
	}
}

func TestExamplesHaveNoChannelWarnings(t *testing.T) {
	fs, _, err := flows.LoadDir("../examples", flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if ls := LintFlow(f); len(ls) > 0 {
			t.Errorf("%s:\n%s", f.Name, ls)
		}
	}
}

// A label that fits in the flow's own language but not in a translation
// is warned for that language (golden: testdata/locale/menu.golden).
func TestLintFlowWarnsPerLocale(t *testing.T) {
	f, err := flows.Load("testdata/locale/menu.yaml", flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := LintFlow(f).String()
	golden := "testdata/locale/menu.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("missing golden file (run go test ./channels -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("lints differ from %s\n--- want\n%s--- got\n%s", golden, want, got)
	}
}
