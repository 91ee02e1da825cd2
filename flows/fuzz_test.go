package flows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser: it must never panic, and
// every lint must carry a position inside the file.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"../examples", "testdata/lint"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			if src, err := os.ReadFile(file); err == nil {
				f.Add(src)
			}
		}
	}
	f.Add([]byte("name: x\nstart: a\nstates: {a: {say: '{{', next: a}}"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte(newKeysFlow))
	f.Add(personaSource)
	f.Fuzz(func(t *testing.T, src []byte) {
		flow, lints := Parse("fuzz.yaml", src, Options{})
		// YAML breaks lines at \n, \r\n and a lone \r.
		lines := strings.Count(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n") + strings.Count(strings.ReplaceAll(string(src), "\r\n", ""), "\r") + 2
		for _, l := range lints {
			if l.Line < 1 || l.Column < 1 || (l.Line > lines && !strings.Contains(l.What, "YAML")) {
				t.Errorf("lint out of the file: %s (file has %d lines)", l, lines)
			}
			if l.What == "" {
				t.Errorf("lint without a message at %d:%d", l.Line, l.Column)
			}
		}
		if flow != nil && lints.HasErrors() {
			t.Errorf("a flow was returned despite errors")
		}
		if flow != nil {
			if _, ok := flow.States[flow.Start]; !ok {
				t.Errorf("compiled flow's start %q is not a state", flow.Start)
			}
		}
	})
}
