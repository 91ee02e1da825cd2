package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/flowtest"
)

func TestTestCommandPasses(t *testing.T) {
	code, out, errOut := flowbot(t, nil, "test", examples(t))
	if code != 0 || !strings.HasSuffix(out, " passed, 0 failed\n") || strings.HasPrefix(out, "0 passed") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"webshop_test.yaml", "campaign-signup_test.yaml", "name-email-forward_test.yaml"} {
		if !strings.Contains(out, "ok   ") || !strings.Contains(out, f) {
			t.Errorf("missing %s in\n%s", f, out)
		}
	}
}

func TestTestCommandShowsDiff(t *testing.T) {
	failing, _ := filepath.Abs("../../runtime/flowtest/testdata/failing_test.yaml")
	code, out, _ := flowbot(t, nil, "test", failing)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		"wrong greeting [sms] turn 1:",
		`- want text "Welcome to our store!"`,
		`+ got  message {"body":"Welcome to our shop! I'm the shop's bot."}`,
		`variable order_status: want "shipped", got "lost"`,
		"1 passed, 4 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestGraphCommand(t *testing.T) {
	code, out, errOut := flowbot(t, nil, "graph", filepath.Join(examples(t), "webshop.yaml"))
	want, _ := os.ReadFile("../../flows/testdata/graph/webshop.mmd")
	if code != 0 || out != string(want) {
		t.Errorf("exit %d, mermaid differs from flows/testdata/graph/webshop.mmd:\n%s%s", code, out, errOut)
	}
	code, out, _ = flowbot(t, nil, "graph", "--format", "dot", filepath.Join(examples(t), "webshop.yaml"))
	if code != 0 || !strings.HasPrefix(out, `digraph "webshop" {`) || !strings.Contains(out, `"lookup" -> "unknown_order" [label="404", style=dashed];`) {
		t.Errorf("exit %d, dot:\n%s", code, out)
	}
	if code, _, errOut := flowbot(t, nil, "graph", "--format", "png", filepath.Join(examples(t), "webshop.yaml")); code != 2 || !strings.Contains(errOut, "mermaid or dot") {
		t.Errorf("bad format: exit %d %s", code, errOut)
	}
}

func TestSchemaCommand(t *testing.T) {
	code, out, _ := flowbot(t, nil, "schema")
	want, _ := os.ReadFile("../../docs/flow.schema.json")
	if code != 0 || out != string(want) {
		t.Errorf("exit %d; the schema printed differs from docs/flow.schema.json", code)
	}
}

func TestChatCommand(t *testing.T) {
	cmd := exec.Command(binary, "chat", filepath.Join(examples(t), "webshop.yaml"), "--channel", "sms", "--trace")
	cmd.Stdin = strings.NewReader("9\n1\nmenu\n/click hours\n/quit\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"Chatting with webshop on sms.",
		"bot: 1. Delivery status",
		"bot: Sorry, I didn't get that.",
		"menu --option:delivery--> ask_order",
		"bot: Please send me your order id",
		"ask_order --command:0--> menu",
		"bot: We're open Monday to Friday",
		"context ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
	if code, _, errOut := flowbot(t, nil, "chat", filepath.Join(examples(t), "webshop.yaml"), "--channel", "pigeon"); code != 2 || !strings.Contains(errOut, "unknown channel") {
		t.Errorf("unknown channel: exit %d %s", code, errOut)
	}
}

// TestTestCommandBrokenFiles runs `flowbot test` on each broken test file
// of runtime/flowtest/testdata/broken and compares its output with the
// file's golden one: every problem at file:line:col, and exit code 1.
func TestTestCommandBrokenFiles(t *testing.T) {
	dir, _ := filepath.Abs("../../runtime/flowtest/testdata/broken")
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.yaml"))
	if len(files) < 5 {
		t.Fatalf("want the broken files in %s, got %v", dir, files)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(binary, "test", name)
			cmd.Dir = dir
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("want exit code 1, got %v\n%s", err, out.String())
			}
			golden := strings.TrimSuffix(f, "_test.yaml") + ".golden"
			want, _ := os.ReadFile(golden)
			if out.String() != string(want) {
				t.Errorf("output differs from %s:\n%s", golden, out.String())
			}
		})
	}
}

// TestChatRecordReplays: a chat with the webshop, order lookup included
// (answered by a --mocks file), recorded with --record and with /record,
// replays green with flowbot test; with the flow's text edited, the
// replay fails with a diff of the text. A chat with the coach records its
// llm requests as mocks, and replays green too.
// chat --locale sends the platform's locale: a multilingual flow answers
// in it until the conversation picks a language.
func TestChatLocale(t *testing.T) {
	cmd := exec.Command(binary, "chat", filepath.Join(examples(t), "multilingual.yaml"), "--channel", "sms", "--locale", "de_DE")
	cmd.Stdin = strings.NewReader("x\n1\n/quit\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"bot: Willkommen! Welche Sprache möchten Sie?",
		"bot: Entschuldigung, das habe ich nicht verstanden.",
		`conversation_update {"locale":"en"}`,
		"bot: Please click 'start' to subscribe to our campaign.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
}

func TestChatRecordReplays(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(examples(t), "webshop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("webshop.yaml", string(src))
	write("orders.yaml", "- url: http://orders.test/orders/A-12345\n  json: {status: shipped}\n")
	run := func(stdin string, args ...string) (int, string) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ORDER_API_URL=http://orders.test")
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}
	// A click on an option the flow does not have is refused, not
	// recorded (a test file could not name it).
	code, out := run("/click delivry\n/click delivery\na 12345\n/record tests/so_far_test.yaml\n/click hours\n/quit\n",
		"chat", "webshop.yaml", "--mocks", "orders.yaml", "--record", "tests/lookup_test.yaml")
	if code != 0 || !strings.Contains(out, "bot: Order A-12345: shipped.") || !strings.Contains(out, "recorded 3 turns in tests/so_far_test.yaml") ||
		!strings.Contains(out, `! flow webshop has no option "delivry" (did you mean "delivery"?)`) {
		t.Fatalf("chat: exit %d\n%s", code, out)
	}
	recorded, _ := os.ReadFile(filepath.Join(dir, "tests", "lookup_test.yaml"))
	for _, want := range []string{"flow: ../webshop.yaml", "url: http://orders.test/orders/A-12345", "status: shipped", "- click: hours", "state: ask_order"} {
		if !strings.Contains(string(recorded), want) {
			t.Errorf("the recorded test lacks %q:\n%s", want, recorded)
		}
	}
	if code, out := run("", "test", "tests"); code != 0 || !strings.Contains(out, "2 passed, 0 failed") {
		t.Fatalf("the recorded tests do not pass: exit %d\n%s\n%s", code, out, recorded)
	}

	write("webshop.yaml", strings.Replace(string(src), "Order {{ order_id }}: {{ order_status }}.", "Order {{ order_id }} is {{ order_status }}.", 1))
	code, out = run("", "test", "tests/lookup_test.yaml")
	for _, want := range []string{
		"tests/lookup_test.yaml:", "recorded chat [web] turn 3:",
		`- want text "Order A-12345: shipped."`,
		`+ got  message {"body":"Order A-12345 is shipped."}`,
		"0 passed, 1 failed",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d, want %q in\n%s", code, want, out)
		}
	}

	coach, _ := os.ReadFile(filepath.Join(examples(t), "coach.yaml"))
	write("coach.yaml", string(coach))
	write("llm.yaml", "- {llm: run 5 km, reply: Three easy runs a week.}\n- {llm: \"\", reply: Keep going.}\n")
	code, out = run("run 5 km\nhow fast?\n/quit\n", "chat", "coach.yaml", "--mocks", "llm.yaml", "--channel", "sms", "--record", "coach_test.yaml")
	if code != 0 || !strings.Contains(out, "bot: Keep going.") {
		t.Fatalf("coach chat: exit %d\n%s", code, out)
	}
	recorded, _ = os.ReadFile(filepath.Join(dir, "coach_test.yaml"))
	if !strings.Contains(string(recorded), "llm: run 5 km") || !strings.Contains(string(recorded), "channels: [sms]") && !strings.Contains(string(recorded), "- sms") {
		t.Errorf("the recorded coach test lacks its llm mocks or channel:\n%s", recorded)
	}
	if code, out := run("", "test", "coach_test.yaml"); code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("the recorded coach test does not pass: exit %d\n%s\n%s", code, out, recorded)
	}
}

// TestTestCommandCoverage: flowbot test --coverage examples prints the
// table, and --coverage-json writes numbers that agree with the flows
// (states and transitions counted here from flows.Load): the examples'
// own tests reach every state and transition.
func TestTestCommandCoverage(t *testing.T) {
	jsonFile := filepath.Join(t.TempDir(), "coverage.json")
	code, out, errOut := flowbot(t, nil, "test", "--coverage", "--coverage-json", jsonFile, examples(t))
	if code != 0 || !strings.Contains(out, "flow                     states   options  transitions  error paths  give-ups\n") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var got []flowtest.FlowCoverage
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("want the 5 example flows, got %d:\n%s", len(got), b)
	}
	for _, fc := range got {
		f, err := flows.Load(fc.File, flows.Options{Env: func(string) (string, bool) { return "http://x.test", true }})
		if err != nil {
			t.Fatal(err)
		}
		transitions := len(f.Commands) + len(f.On)
		for _, name := range f.Order {
			transitions += len(f.States[name].Edges())
		}
		if fc.States != (flowtest.Count{Reached: len(f.Order), Total: len(f.Order)}) || fc.Transitions != (flowtest.Count{Reached: transitions, Total: transitions}) || len(fc.Missed) > 0 {
			t.Errorf("%s: want all %d states and %d transitions reached, got %+v", fc.Flow, len(f.Order), transitions, fc)
		}
		line := fmt.Sprintf("%-24s %-8s", fc.Flow, fc.States)
		if !strings.Contains(out, line) {
			t.Errorf("the table lacks %q:\n%s", line, out)
		}
	}
}

// TestTestCommandLocale: --locale runs a test that names no locales in the
// given platform locale — its German expectations fail without the flag.
func TestTestCommandLocale(t *testing.T) {
	dir := t.TempDir()
	flow := filepath.Join(examples(t), "multilingual.yaml")
	test := filepath.Join(dir, "german_test.yaml")
	src := "flow: " + flow + "\ntests:\n  - name: greeted in German\n    channels: [sms]\n    turns:\n      - send: start\n        expect:\n          - match: \"^Willkommen! Welche Sprache\"\n"
	if err := os.WriteFile(test, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := flowbot(t, nil, "test", "--locale", "de", test); code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("--locale de: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := flowbot(t, nil, "test", "--locale", "de,en", test); code != 1 || !strings.Contains(out, "greeted in German [en]") || !strings.Contains(out, "1 passed, 1 failed") {
		t.Fatalf("--locale de,en: want the English run to fail, exit %d\n%s", code, out)
	}
	if code, _, _ := flowbot(t, nil, "test", test); code != 1 {
		t.Fatalf("without --locale the flow's own language greets: want exit 1, got %d", code)
	}
}
