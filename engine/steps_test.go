package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
)

func webshop(t *testing.T) *Bot {
	t.Helper()
	f, err := flows.Load("../examples/webshop.yaml", flows.Options{Env: func(n string) (string, bool) {
		if n == "ORDER_API_URL" {
			return "http://orders.test", true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := New(f)
	if len(b.Lints()) > 0 {
		t.Fatalf("script lints: %s", b.Lints())
	}
	return b
}

func result(seq, status int, body string) Event {
	return Event{Name: EvHTTPResult, HTTP: &HTTPResult{Seq: seq, Status: status, Body: []byte(body)}}
}

func toLookup(t *testing.T) *convo {
	c := &convo{t: t, bot: webshop(t)}
	c.send(start())
	c.send(click("delivery"))
	expect(t, c.send(msg(" a 12345 ")), "Thanks! Let me check order A-12345…")
	job := c.res.Job
	if job == nil || job.URL != "http://orders.test/orders/A-12345" || job.Method != "GET" || !job.Async || job.Seq != 1 || job.Timeout != 10*time.Second {
		t.Fatalf("job = %+v", job)
	}
	return c
}

func TestWebshopLookupFound(t *testing.T) {
	c := toLookup(t)
	expect(t, c.send(result(1, 200, `{"status":"shipped","carrier":"DHL"}`)), "Order A-12345: shipped.", "choice bubbles delivery,returns,hours,human")
	// The same result again (a duplicate delivery) changes nothing.
	if got := c.send(result(1, 200, `{"status":"lost"}`)); len(got) != 0 || !c.res.Ignored {
		t.Errorf("duplicate result applied: %q", texts(got))
	}
}

func TestWebshopLookupNotFoundAndErrors(t *testing.T) {
	c := toLookup(t)
	expect(t, c.send(result(1, 404, `{"error":"not found"}`)),
		"I couldn't find an order with the id A-12345. Please check it and try again.",
		"Please send me your order id (it looks like A-12345).")
	for _, ev := range []Event{result(1, 500, ``), result(1, 200, `not json`), result(1, 200, `{"no_status":1}`),
		{Name: EvHTTPResult, HTTP: &HTTPResult{Seq: 1, Err: "timeout"}}} {
		c := toLookup(t)
		got := c.send(ev)
		if len(got) == 0 || !strings.HasPrefix(got[0].Text, "Sorry, I can't reach the order system") || len(c.res.Errors) == 0 {
			t.Errorf("%+v: got %q, errors %v", ev.HTTP, texts(got), c.res.Errors)
		}
	}
}

func TestWebshopWhileWaiting(t *testing.T) {
	c := toLookup(t)
	expect(t, c.send(msg("hello?")), "One moment please, I'm still working on your request…")
	// A webhook packet named like the internal event carries no result.
	if got := c.send(Event{Name: EvHTTPResult}); len(got) != 0 {
		t.Errorf("forged result applied: %q", texts(got))
	}
	// The contact moves on with a command; the late result is not applied.
	expect(t, c.send(msg("menu")), "choice bubbles delivery,returns,hours,human")
	if got := c.send(result(1, 200, `{"status":"shipped"}`)); len(got) != 0 || !c.res.Ignored {
		t.Errorf("late result applied: %q", texts(got))
	}
	// A second lookup gets a new number; the old one stays stale.
	c.send(click("delivery"))
	c.send(msg("B-99999"))
	if c.res.Job == nil || c.res.Job.Seq != 2 {
		t.Fatalf("second job: %+v", c.res.Job)
	}
	if got := c.send(result(1, 200, `{"status":"old"}`)); len(got) != 0 {
		t.Errorf("stale result applied: %q", texts(got))
	}
	expect(t, c.send(result(2, 200, `{"status":"in transit"}`)), "Order B-99999: in transit.", "choice bubbles delivery,returns,hours,human")
}

func TestUnsetEnvTakesErrorPath(t *testing.T) {
	f, err := flows.Load("../examples/webshop.yaml", flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &convo{t: t, bot: New(f)}
	c.send(start())
	c.send(click("delivery"))
	got := c.send(msg("A-12345"))
	want := []string{"Thanks! Let me check order A-12345…", "Sorry, I can't reach the order system right now. A colleague will look it up for you.",
		"I'll connect you with a colleague.", `forward_any {"on_failure":"feedback"}`}
	expect(t, got, want...)
	if c.res.Job != nil || len(c.res.Errors) == 0 || !strings.Contains(c.res.Errors[0].Error(), "ORDER_API_URL") {
		t.Errorf("job %+v, errors %v", c.res.Job, c.res.Errors)
	}
}

const scriptFlow = `
name: scripted
start: ask
on:
  error: oops
states:
  ask:
    ask: "Number?"
    save: n
    script: |
      if (vars.n === "boom") { null.x }
      if (vars.n === "loop") { while (true) {} }
      if (vars.n === "global") { globalThis.leak = 1 }
      if (vars.n === "read") { vars.seen = typeof leak }
      if (vars.n === "nowhere") { return ["miss", "ing"].join("") }
      vars.double = String(Number(vars.n) * 2)
      if (Number(vars.n) > 10) return "big"
    next:
      - small
      - big
  small: {say: "small {{ double }}", do: [end]}
  big: {say: "big {{ double }}", do: [end]}
  oops: {say: "error path", do: [end]}
`

func TestScriptSteps(t *testing.T) {
	// Long enough that the quick scripts never hit it on a loaded machine;
	// the endless loop still does.
	bot := NewWithOptions(mustParse(t, scriptFlow), Options{ScriptTimeout: 500 * time.Millisecond})
	for in, want := range map[string]string{"3": "small 6", "21": "big 42", "boom": "error path", "loop": "error path", "global": "error path", "nowhere": "error path"} {
		c := &convo{t: t, bot: bot}
		c.send(start())
		if got := texts(c.send(msg(in))); len(got) == 0 || got[0] != want {
			t.Errorf("%s: got %q, want %q (errors %v)", in, got, want, c.res.Errors)
		}
	}
	c := &convo{t: t, bot: bot}
	c.send(start())
	c.send(msg("read"))
	if s, _ := DecodeContext(c.ctx); s.Vars["seen"] != "undefined" {
		t.Errorf("a global leaked between conversations: %v", s.Vars)
	}
}

func TestScriptErrorsArePositioned(t *testing.T) {
	bot := NewWithOptions(mustParse(t, scriptFlow), Options{})
	c := &convo{t: t, bot: bot}
	c.send(start())
	c.send(msg("boom"))
	if len(c.res.Errors) == 0 || !strings.HasPrefix(c.res.Errors[0].Error(), "test.yaml:11:37:") || !strings.Contains(c.res.Errors[0].Error(), "TypeError") {
		t.Errorf("errors: %v", c.res.Errors)
	}
	broken := New(mustParse(t, strings.Replace(scriptFlow, "vars.double = String", "vars.double = = String", 1)))
	if ls := broken.Lints(); len(ls) != 1 || !strings.HasPrefix(ls[0].String(), "test.yaml:16:21:") {
		t.Errorf("lints: %s", ls)
	}
}

func mustParse(t *testing.T, src string) *flows.Flow {
	t.Helper()
	f, lints := flows.Parse("test.yaml", []byte(src), flows.Options{})
	if f == nil {
		t.Fatalf("flow does not load:\n%s", lints)
	}
	return f
}
