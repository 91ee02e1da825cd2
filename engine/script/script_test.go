package script

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
)

func compile(t testing.TB, src string) *Program {
	t.Helper()
	p, err := Compile(&flows.Script{Source: src, File: "flow.yaml", Line: 10, Column: 7, Indent: 6})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func run(t testing.TB, h *Host, src string, vars map[string]string) (Output, error) {
	t.Helper()
	return h.Run(context.Background(), compile(t, src), Input{Vars: vars, Event: map[string]any{"text": "a-123"}, Now: time.Unix(1700000000, 0)})
}

// roomy is a host whose time limit a quick script never reaches, even on a
// loaded machine; tests of the limit itself set a short one.
func roomy() *Host { return &Host{Timeout: 10 * time.Second} }

func scriptErr(t *testing.T, err error, kind string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error of kind %s, got %v", kind, err)
	}
	if e.Kind != kind {
		t.Fatalf("want kind %s, got %s (%v)", kind, e.Kind, e)
	}
	return e
}

func TestScriptDoesRealWork(t *testing.T) {
	h := roomy()
	out, err := run(t, h, `
vars.order_id = event.text.toUpperCase().replace(/[^A-Z0-9]/g, "");
say("Checking " + vars.order_id);
act("contact_update", {external_customer_id: vars.order_id});
if (vars.order_id.length < 5) return "bad";
return "ok";`, map[string]string{"keep": "me"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Vars["order_id"] != "A123" || out.Vars["keep"] != "me" || out.Goto != "bad" {
		t.Errorf("got %+v", out)
	}
	if len(out.Say) != 1 || out.Say[0] != "Checking A123" || len(out.Acts) != 1 || out.Acts[0].Payload["external_customer_id"] != "A123" {
		t.Errorf("got %+v", out)
	}
}

func TestEndlessLoopTimesOut(t *testing.T) {
	h := &Host{Timeout: 20 * time.Millisecond}
	_, err := run(t, h, "while (true) {}", nil)
	scriptErr(t, err, "timeout")
	if !errors.Is(err, ErrTimeout) || errors.Is(fmt.Errorf("wrapped: %w", &Error{Kind: "exception"}), ErrTimeout) {
		t.Fatal("errors.Is(err, ErrTimeout) does not tell time-outs from other script errors")
	}
	// The host keeps working afterwards.
	if out, err := run(t, h, "vars.x = 1", nil); err != nil || out.Vars["x"] != "1" {
		t.Fatalf("host broken after a timeout: %v %+v", err, out)
	}
}

func TestContextCancelStopsScript(t *testing.T) {
	h := &Host{Timeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := h.Run(ctx, compile(t, "for(;;){}"), Input{})
		done <- err
	}()
	cancel()
	scriptErr(t, <-done, "timeout")
}

func TestDeepRecursionOverflows(t *testing.T) {
	_, err := run(t, roomy(), "function f(n) { return f(n + 1) + 1 } f(0)", nil)
	scriptErr(t, err, "stack")
}

func TestNoRequireNoTimersNoEval(t *testing.T) {
	for _, src := range []string{`require("fs")`, `setTimeout(function(){}, 1)`, `eval("1")`, `fetch("http://x")`, `process.exit()`} {
		_, err := run(t, roomy(), src, nil)
		e := scriptErr(t, err, "exception")
		if !strings.Contains(e.Msg, "ReferenceError") {
			t.Errorf("%s: %v", src, e)
		}
	}
}

func TestGlobalsDoNotLeak(t *testing.T) {
	h := roomy()
	for _, src := range []string{`globalThis.secret = "from conversation A"`, `leaked = 1`, `Object.prototype.pwned = true`, `Array.prototype.push = null`, `JSON.parse = null`} {
		if _, err := run(t, h, src, nil); err == nil {
			t.Errorf("%s: should fail", src)
		}
	}
	out, err := run(t, h, `vars.a = typeof globalThis.secret; vars.b = typeof leaked; vars.c = String(({}).pwned); var x = [1]; x.push(2); vars.d = String(x.length)`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "undefined", "b": "undefined", "c": "undefined", "d": "2"}
	for k, v := range want {
		if out.Vars[k] != v {
			t.Errorf("vars.%s = %q, want %q", k, out.Vars[k], v)
		}
	}
}

func TestThrowPositionedInFlowFile(t *testing.T) {
	_, err := run(t, roomy(), "vars.a = 1;\nnull.x;", nil)
	e := scriptErr(t, err, "exception")
	// Line 2 of the script is line 11 of the flow; indentation 6 → column 7+.
	if e.Line != 11 || !strings.HasPrefix(e.Error(), "flow.yaml:11:") || !strings.Contains(e.Msg, "TypeError") {
		t.Errorf("got %v", e)
	}
	_, err = run(t, roomy(), `throw new Error("no such order")`, nil)
	if e := scriptErr(t, err, "exception"); e.Line != 10 || !strings.Contains(e.Msg, "no such order") {
		t.Errorf("got %v", e)
	}
}

func TestSyntaxErrorPositioned(t *testing.T) {
	_, err := Compile(&flows.Script{Source: "var a = 1;\nvar = ;", File: "shop.yaml", Line: 31, Column: 7, Indent: 6})
	var e *Error
	if !errors.As(err, &e) || e.Kind != "syntax" || e.Line != 32 || !strings.HasPrefix(err.Error(), "shop.yaml:32:") {
		t.Errorf("got %v", err)
	}
}

func TestNativeCallsCapped(t *testing.T) {
	for _, src := range []string{`"x".repeat(1e9)`, `"x".padStart(1e9)`} {
		if _, err := run(t, roomy(), src, nil); err == nil {
			t.Errorf("%s should be refused", src)
		}
	}
	for _, src := range []string{`for (var i = 0; i < 30; i++) say("x")`, `vars.big = "x".repeat(6000)`, `return 42`, `act("rm_rf", {})`} {
		if _, err := run(t, roomy(), src, nil); err == nil {
			t.Errorf("%s should be refused", src)
		}
	}
}

func TestDeterministicClockAndRandom(t *testing.T) {
	h := roomy()
	a, _ := run(t, h, `vars.t = String(Date.now()); vars.r = String(Math.random())`, nil)
	b, _ := run(t, roomy(), `vars.t = String(Date.now()); vars.r = String(Math.random())`, nil)
	if a.Vars["t"] != "1700000000000" || a.Vars["t"] != b.Vars["t"] {
		t.Errorf("clock not injected: %v %v", a.Vars, b.Vars)
	}
}

func TestConcurrentCalls(t *testing.T) {
	// Correctness under concurrency, not speed: 50 calls share 2 cores under
	// the race detector, so the wall-clock limit is generous here.
	h := &Host{Timeout: 30 * time.Second}
	p := compile(t, `vars.n = String(Number(vars.n) * 2)`)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			n := strings.Repeat("1", i%5+1)
			out, err := h.Run(context.Background(), p, Input{Vars: map[string]string{"n": n}})
			if err != nil || out.Vars["n"] == "" {
				t.Errorf("call %d: %v %+v", i, err, out)
			}
		}(i)
	}
	wg.Wait()
}

func BenchmarkRun(b *testing.B) {
	h := &Host{}
	p := compile(b, `vars.order_id = event.text.toUpperCase().replace(/[^A-Z0-9]/g, "")`)
	in := Input{Vars: map[string]string{"name": "Ada"}, Event: map[string]any{"text": "a-123"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Run(context.Background(), p, in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestActPayloadKeepsTypes(t *testing.T) {
	out, err := run(t, roomy(), `act("contact_update", {custom_fields: {score: 3, ratio: 0.5, ok: true, tags: ["a", 1], none: null}})`, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf := out.Acts[0].Payload["custom_fields"].(map[string]any)
	if cf["score"] != int64(3) || cf["ratio"] != 0.5 || cf["ok"] != true || cf["none"] != nil {
		t.Fatalf("payload %#v", cf)
	}
	if tags := cf["tags"].([]any); tags[0] != "a" || tags[1] != int64(1) {
		t.Fatalf("tags %#v", tags)
	}
}

func TestLongInputRefused(t *testing.T) {
	h := roomy()
	p := compile(t, `vars.n = String(event.text.length)`)
	if out, err := h.Run(context.Background(), p, Input{Event: map[string]any{"text": strings.Repeat("x", MaxInputText)}}); err != nil || out.Vars["n"] != "65536" {
		t.Fatalf("a text of MaxInputText: %v %v", err, out.Vars)
	}
	_, err := h.Run(context.Background(), p, Input{Event: map[string]any{"text": strings.Repeat("x", MaxInputText+1)}})
	if e := scriptErr(t, err, "exception"); !strings.Contains(e.Msg, "event.text is 65537 characters, more than the 65536 a script step is given") {
		t.Fatalf("got %v", e)
	}
	_, err = h.Run(context.Background(), p, Input{Event: map[string]any{"http": map[string]any{"body": []any{strings.Repeat("y", 70000)}}}})
	scriptErr(t, err, "exception")
}
