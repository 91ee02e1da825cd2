package flowtest

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

var update = flag.Bool("update", false, "rewrite golden files")

func orderEnv(name string) (string, bool) {
	if name == "ORDER_API_URL" {
		return "http://orders.test", true
	}
	return "", false
}

// TestExamples runs every example's conversation tests.
func TestExamples(t *testing.T) {
	files, err := Find([]string{"../../examples"})
	if err != nil || len(files) < 3 {
		t.Fatalf("want the example test files: %v %v", files, err)
	}
	for _, f := range files {
		rep, err := RunFile(f, flows.Options{Env: orderEnv})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, fail := range rep.Failures {
			t.Errorf("%s", fail)
		}
		if rep.Passed == 0 {
			t.Errorf("%s: no test ran", f)
		}
	}
}

// TestFailuresAreReported runs a test file whose expectations are wrong and
// compares the report with a golden file.
func TestFailuresAreReported(t *testing.T) {
	rep, err := RunFile("testdata/failing_test.yaml", flows.Options{Env: orderEnv})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range rep.Failures {
		b.WriteString(f.String())
		b.WriteString("\n")
	}
	got := b.String()
	if *update {
		os.WriteFile("testdata/failing.golden", []byte(got), 0o644)
	}
	want, _ := os.ReadFile("testdata/failing.golden")
	if got != string(want) {
		t.Errorf("report differs from testdata/failing.golden:\n%s", got)
	}
	if len(rep.Failures) != 4 || rep.Passed != 1 {
		t.Errorf("want 4 failures and 1 pass, got %d and %d", len(rep.Failures), rep.Passed)
	}
}
