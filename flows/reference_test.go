package flows

import (
	"os"
	"strings"
	"testing"
)

// TestDocsReferenceIsCurrent keeps docs/flows.md's key reference equal to
// the one generated from the field spec. Rewrite it with -update.
func TestDocsReferenceIsCurrent(t *testing.T) {
	const path = "../docs/flows.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	begin, end := strings.Index(text, ReferenceBegin), strings.Index(text, ReferenceEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s has no generated key reference (markers %q … %q)", path, ReferenceBegin, ReferenceEnd)
	}
	current := text[begin : end+len(ReferenceEnd)+1]
	want := Reference()
	if *update {
		os.WriteFile(path, []byte(text[:begin]+want+text[end+len(ReferenceEnd)+1:]), 0o644)
		return
	}
	if current != want {
		t.Errorf("docs/flows.md's key reference is stale: run go test ./flows -update")
	}
	listed := map[string]bool{}
	for _, t := range referenceOrder {
		listed[t[0]] = true
	}
	for table := range Language {
		if !listed[table] {
			t.Errorf("mapping %q is missing from referenceOrder (flows/reference.go)", table)
		}
	}
	// Every key of the spec is in it.
	for table, fields := range Language {
		for _, f := range fields {
			if !strings.Contains(current, "| `"+f.Name+"` |") {
				t.Errorf("key %s.%s is missing from the reference", table, f.Name)
			}
		}
	}
}
