package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
