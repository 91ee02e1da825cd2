package flowtest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
)

// TestBrokenFiles: each broken test file in testdata/broken fails to load
// with every one of its problems at file:line:col, as its golden file
// (the output of `flowbot test` on it, which cmd/flowbot's
// TestTestCommandBrokenFiles compares) shows.
func TestBrokenFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/broken/*_test.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("want the broken files: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := RunFile(f, flows.Options{})
			if err == nil {
				t.Fatal("a broken test file loads")
			}
			golden, rerr := os.ReadFile(strings.TrimSuffix(f, "_test.yaml") + ".golden")
			if rerr != nil {
				t.Fatal(rerr)
			}
			got := strings.ReplaceAll(err.Error(), "testdata/broken/", "")
			if !strings.Contains(string(golden), got) {
				t.Errorf("the error differs from its golden file:\n%s", got)
			}
		})
	}
}

// TestEveryMessageHasAGoldenFile: every message the strict parser can give
// (each l.add in lint.go) shows in a golden file of testdata/broken.
func TestEveryMessageHasAGoldenFile(t *testing.T) {
	src, err := os.ReadFile("lint.go")
	if err != nil {
		t.Fatal(err)
	}
	var goldens strings.Builder
	files, _ := filepath.Glob("testdata/broken/*.golden")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		goldens.Write(b)
	}
	verb := regexp.MustCompile(`%[a-z]`)
	calls := regexp.MustCompile(`l\.add\([^,]+, "((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(string(src), -1)
	if len(calls) < 30 {
		t.Fatalf("found %d messages in lint.go; has it changed shape?", len(calls))
	}
	for _, c := range calls {
		format := strings.ReplaceAll(c[1], `\"`, `"`)
		longest := ""
		for _, part := range verb.Split(format, -1) {
			if len(part) > len(longest) {
				longest = part
			}
		}
		if !strings.Contains(goldens.String(), longest) {
			t.Errorf("no golden file in testdata/broken shows the message %q", format)
		}
	}
}

// TestParseMocks reads a --mocks file as strictly as a test's http:.
func TestParseMocks(t *testing.T) {
	mocks, err := ParseMocks("m.yaml", []byte("- {url: http://x.test, json: {a: 1}}\n- {llm: \"\", reply: hi}\n"))
	if err != nil || len(mocks) != 2 || mocks[1].Reply == nil || mocks[0].Line != 1 {
		t.Fatalf("%+v %v", mocks, err)
	}
	_, err = ParseMocks("m.yaml", []byte("- {url: http://x.test, jsn: {a: 1}}\n- {reply: hi}\n"))
	want := "2 errors:\nm.yaml:1:24: unknown key \"jsn\" in a mock (did you mean \"json\"?)\nm.yaml:2:11: a mock has reply: but no llm:"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("want %q, got %v", want, err)
	}
}

// TestMergeKeys: keys merged from an anchor (kept under an x- key) are
// checked like keys written out, at the place the anchor writes them.
func TestMergeKeys(t *testing.T) {
	dir := t.TempDir()
	src := `flow: ` + examplePath(t, "webshop.yaml") + `
env: {ORDER_API_URL: http://orders.test}
x-menu: &menu
  state: menu
  channels: [web, sms]
x-broken: &broken
  state: manu
tests:
  - <<: *menu
    name: merged start
    turns:
      - click: hours
        expect: [{match: open}, {choice: [delivery, returns, hours, human]}]
  - <<: [*broken, *menu]
    name: the first merge wins
    turns:
      - click: hours
        expect: [{match: open}, {choice: [delivery, returns, hours, human]}]
`
	path := filepath.Join(dir, "merge_test.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := RunFile(path, flows.Options{})
	if want := path + `:7:10: unknown state "manu" in flow webshop (did you mean "menu"?)`; err == nil || err.Error() != want {
		t.Fatalf("want %q, got %v", want, err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(src, "state: manu", "state: menu", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := RunFile(path, flows.Options{})
	if err != nil || rep.Passed != 4 || len(rep.Failures) != 0 { // both tests on web and sms
		t.Fatalf("%v %+v", err, rep)
	}
}

// TestRecordingWithoutANamePasses: a recording given no name (as a
// recorder may) is still a test file the strict parser accepts.
func TestRecordingWithoutANamePasses(t *testing.T) {
	rec := NewRecording("", "sms", "", nil)
	bot, _, err := compile.File(examplePath(t, "webshop.yaml"), compile.Options{Flows: flows.Options{Env: rec.Env(orderEnv)}})
	if err != nil {
		t.Fatal(err)
	}
	var ctx []byte
	for _, ev := range []engine.Event{{Name: engine.EvStart}, {Name: engine.EvMessage, Text: "3"}} {
		ev.Channel = "sms"
		ex, err := Exchange(bot, ctx, ev, func(*engine.Job) (engine.HTTPResult, error) { return engine.HTTPResult{}, nil })
		if err != nil {
			t.Fatal(err)
		}
		ctx = ex.Context
		if err := rec.Turn(ev, ex); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := Write(&b, rec.File(examplePath(t, "webshop.yaml"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rec_test.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := RunFile(path, flows.Options{})
	if err != nil || rep.Passed != 1 {
		t.Fatalf("%v %+v\n%s", err, rep, b.String())
	}
}
