package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fieldRow is one row of a dialect's field table (docs/platform.md): a
// field of the seed, its direction, what flowbot does with it, and the
// check that proves it.
type fieldRow struct {
	field, dir, does string
	check            func(t *testing.T)
}

// platformDoc is the document whose generated field tables the dialect
// tests keep in step with their rows.
var platformDoc = filepath.Join("..", "..", "docs", "platform.md")

// runFieldRows runs each row as a subtest and checks that the table named
// name in docs/platform.md is the rows' (-update-dialects rewrites it).
func runFieldRows(t *testing.T, name string, rows []fieldRow) {
	t.Helper()
	var b strings.Builder
	b.WriteString("| field | in/out | what flowbot does |\n|---|---|---|\n")
	for _, r := range rows {
		b.WriteString("| `" + r.field + "` | " + r.dir + " | " + strings.ReplaceAll(r.does, "|", "\\|") + " |\n")
		t.Run(r.dir+"/"+r.field, r.check)
	}
	raw, err := os.ReadFile(platformDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	begin := "<!-- BEGIN GENERATED " + name + " fields (go test ./runtime/server -run Dialect -update-dialects) -->\n"
	end := "<!-- END GENERATED " + name + " fields -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q … %q block", platformDoc, begin, end)
	}
	if got := doc[i+len(begin) : j]; got != b.String() {
		if *updateDialects {
			if err := os.WriteFile(platformDoc, []byte(doc[:i+len(begin)]+b.String()+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s: the %s field table differs from the test's rows (go test ./runtime/server -run Dialect -update-dialects rewrites it); want:\n%s", platformDoc, name, b.String())
	}
}
