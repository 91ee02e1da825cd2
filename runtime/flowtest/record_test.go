package flowtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
)

// recordWebshop plays a webshop conversation (menu, order lookup with a
// mocked order service) on one channel and returns the recorded test file.
func recordWebshop(t *testing.T, flowPath, ch string, moves []engine.Event) []byte {
	t.Helper()
	rec := NewRecording("recorded", ch, "", nil)
	env := rec.Env(func(name string) (string, bool) {
		switch name {
		case "ORDER_API_URL":
			return "http://orders.test", true
		case "ORDER_API_TOKEN":
			return "s3cr3t-value", true
		}
		return "", false
	})
	bot, _, err := compile.File(flowPath, compile.Options{Flows: flows.Options{Env: env}})
	if err != nil {
		t.Fatal(err)
	}
	service := []Mock{{URL: "/orders/A-12345$/", JSON: map[string]any{"status": "shipped"}}}
	answer := rec.Answerer(func(job *engine.Job) (engine.HTTPResult, error) { return Answer(service, job) })
	var ctx []byte
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	for _, ev := range moves {
		ev.Channel, ev.Now = ch, now
		ex, err := Exchange(bot, ctx, ev, answer)
		if err != nil {
			t.Fatal(err)
		}
		ctx = ex.Context
		if err := rec.Turn(ev, ex); err != nil {
			t.Fatal(err)
		}
	}
	if w := rec.Warnings(); len(w) > 0 {
		t.Fatalf("warnings: %v", w)
	}
	var b bytes.Buffer
	if err := Write(&b, rec.File(flowPath)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRecordedConversationPassesAndCatchesAnEdit(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/webshop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	flowPath := filepath.Join(dir, "webshop.yaml")
	if err := os.WriteFile(flowPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]engine.Event{
		"web": {{Name: engine.EvStart}, {Name: engine.EvClick, ClickID: "delivery"}, {Name: engine.EvMessage, Text: "A-12345"}},
		"sms": {{Name: engine.EvStart}, {Name: engine.EvMessage, Text: "1"}, {Name: engine.EvMessage, Text: "a 12345"}},
	}
	for ch, moves := range cases {
		t.Run(ch, func(t *testing.T) {
			if err := os.WriteFile(flowPath, src, 0o644); err != nil {
				t.Fatal(err)
			}
			file := recordWebshop(t, flowPath, ch, moves)
			wants := []string{"url: http://orders.test/orders/A-12345", "status: shipped", "state: ask_order", "now: \"2026-03-04T10:00:00Z\""}
			if ch == "web" {
				wants = append(wants, "choice:") // buttons; SMS shows numbered text
			}
			for _, want := range wants {
				if !bytes.Contains(file, []byte(want)) {
					t.Errorf("the recorded file lacks %q:\n%s", want, file)
				}
			}
			testPath := filepath.Join(dir, "webshop_"+ch+"_test.yaml")
			if err := os.WriteFile(testPath, file, 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := RunFile(testPath, flows.Options{})
			if err != nil {
				t.Fatalf("%v\n%s", err, file)
			}
			if rep.Passed != 1 || len(rep.Failures) > 0 {
				t.Fatalf("the recorded test does not pass: %+v\n%s", rep.Failures, file)
			}

			// The order text edited: only the lookup's turn fails.
			edited := strings.Replace(string(src), "Order {{ order_id }}: {{ order_status }}.", "Order {{ order_id }} is {{ order_status }}.", 1)
			if edited == string(src) {
				t.Fatal("the webshop's order text changed; update this test")
			}
			if err := os.WriteFile(flowPath, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err = RunFile(testPath, flows.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failures) != 1 || rep.Failures[0].Turn != 3 || !strings.Contains(rep.Failures[0].Diff, "is shipped") {
				t.Fatalf("want one failure at turn 3 showing the new text, got %+v", rep.Failures)
			}
		})
	}
}

func TestRecordingKeepsCredentialsOut(t *testing.T) {
	rec := NewRecording("t", "web", "", nil)
	env := rec.Env(func(name string) (string, bool) { return "s3cr3t-value", true })
	env("ORDER_API_TOKEN")
	env("ORDER_API_URL")
	rec.mock(&engine.Job{Method: "GET", URL: "http://x.test/?key=s3cr3t-value"}, engine.HTTPResult{Status: 200, Body: []byte("ok")})
	var b bytes.Buffer
	if err := Write(&b, rec.File("f.yaml")); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "ORDER_API_TOKEN: recorded-order_api_token") || !strings.Contains(out, "key=recorded-order_api_token") {
		t.Errorf("the token is not replaced:\n%s", out)
	}
	if strings.Count(out, "s3cr3t-value") != 1 { // ORDER_API_URL is not a credential
		t.Errorf("want the value once (ORDER_API_URL), got:\n%s", out)
	}
}
