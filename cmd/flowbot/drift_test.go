package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestServeShowsValidateWarnings: serve logs, at start-up, the same
// warnings validate prints — the channel-fallback ones included — because
// both compile through runtime/compile.
func TestServeShowsValidateWarnings(t *testing.T) {
	dir := t.TempDir()
	flow := `name: many
start: pick
states:
  pick:
    choice:
      text: Pick a number
      options:
        - {id: o1, label: One, goto: pick}
        - {id: o2, label: Two, goto: pick}
        - {id: o3, label: Three, goto: pick}
        - {id: o4, label: Four, goto: pick}
        - {id: o5, label: Five, goto: pick}
        - {id: o6, label: Six, goto: pick}
        - {id: o7, label: Seven, goto: pick}
        - {id: o8, label: Eight, goto: pick}
        - {id: o9, label: Nine, goto: pick}
        - {id: o10, label: Ten, goto: pick}
        - {id: o11, label: Eleven, goto: pick}
        - {id: o12, label: Twelve, goto: pick}
`
	if err := os.WriteFile(filepath.Join(dir, "many.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := flowbot(t, nil, "validate", dir)
	if code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, out)
	}
	var warnings []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, ": warning: ") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) == 0 || !strings.Contains(out, "the choice is shown as") {
		t.Fatalf("validate shows no channel-fallback warning:\n%s", out)
	}
	p := startServe(t, nil, "--flows", dir)
	logs := p.all.String()
	for _, w := range warnings {
		if !strings.Contains(logs, strconv.Quote(w)) {
			t.Errorf("serve did not log the warning validate shows:\n  %s\nserve's log:\n%s", w, logs)
		}
	}
	if code, _ := p.stop(t, os.Interrupt); code != 0 {
		t.Errorf("SIGINT: exit %d", code)
	}
}
