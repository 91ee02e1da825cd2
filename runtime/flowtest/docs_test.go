package flowtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

const docsFile = "../../docs/testing.md"

// reference is the key reference of docs/testing.md, made from Sections
// and Fields.
func reference() string {
	shape := map[Kind]string{
		Scalar: "value", Map: "names → values", Data: "names → any values", List: "list of values",
		AnyValue: "any (JSON)",
	}
	var b strings.Builder
	for _, sec := range Sections {
		fmt.Fprintf(&b, "\n### %s\n\n| key | value | meaning |\n|---|---|---|\n", sec.Heading)
		for _, f := range fieldsOf(sec.Name) {
			kind := shape[f.Kind]
			switch f.Kind {
			case Struct:
				kind = "mapping: [" + strings.ToLower(headingOf(f.Child)) + "](#" + anchor(headingOf(f.Child)) + ")"
			case StructSeq:
				kind = "list: [" + strings.ToLower(headingOf(f.Child)) + "](#" + anchor(headingOf(f.Child)) + ")"
			}
			if sec.Name == "expect" && f.Key == "text" {
				kind += " (or the expectation is just the text)"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Key, kind, strings.ReplaceAll(f.Doc, "|", `\|`))
		}
	}
	return b.String()
}

func headingOf(section string) string {
	for _, s := range Sections {
		if s.Name == section {
			return s.Heading
		}
	}
	return section
}

// anchor is GitHub's anchor of a heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocs: docs/testing.md holds the reference of every key the strict
// parser knows, as Fields says (-update rewrites it), and every section
// and child a field names exists.
func TestDocs(t *testing.T) {
	for _, f := range Fields {
		if headingOf(f.Section) == f.Section || (f.Child != "") != (f.Kind == Struct || f.Kind == StructSeq) || f.Child != "" && headingOf(f.Child) == f.Child {
			t.Errorf("field %s.%s: unknown section or child", f.Section, f.Key)
		}
	}
	src, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- reference -->\n"
	head, tail, ok := strings.Cut(string(src), marker)
	if !ok {
		t.Fatalf("%s lacks the line %q", docsFile, marker)
	}
	want := reference()
	if *update {
		if err := os.WriteFile(docsFile, []byte(head+marker+want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if tail != want {
		t.Errorf("the reference in %s differs from Fields (go test ./runtime/flowtest -run TestDocs -update); want:\n%s", docsFile, want)
	}
	for _, f := range Fields {
		if !strings.Contains(tail, "| `"+f.Key+"` |") {
			t.Errorf("%s does not document the key %s of %s", docsFile, f.Key, f.Section)
		}
	}
}

// TestDocExamples: every test file shown in docs/testing.md is read by
// the strict parser without a problem, and those that say which flow
// they run against pass.
func TestDocExamples(t *testing.T) {
	src, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(src), -1)
	against := regexp.MustCompile(`runs against (\S+\.yaml)`)
	ran := 0
	for i, b := range blocks {
		text := b[1]
		if !strings.Contains(text, "tests:") {
			continue
		}
		if _, err := Parse(fmt.Sprintf("block %d", i+1), []byte(text)); err != nil {
			t.Errorf("the test file in %s's yaml block %d does not parse:\n%v\n%s", docsFile, i+1, err, text)
			continue
		}
		m := against.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		flow, _ := filepath.Abs(filepath.Join("../..", m[1]))
		path := filepath.Join(t.TempDir(), "doc_test.yaml")
		if err := os.WriteFile(path, []byte("flow: "+flow+"\n"+text), 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := RunFile(path, flows.Options{})
		if err != nil {
			t.Errorf("yaml block %d: %v", i+1, err)
			continue
		}
		for _, f := range rep.Failures {
			t.Errorf("yaml block %d: %s", i+1, f)
		}
		ran++
	}
	if ran < 8 {
		t.Errorf("ran %d of the examples in %s; want each that names its flow", ran, docsFile)
	}
}
