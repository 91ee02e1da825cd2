package turn_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/engine/script"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/turn"
)

func deployment(t *testing.T, src string) *engine.Deployment {
	t.Helper()
	f, lints := flows.Parse("f.yaml", []byte(src), flows.Options{})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	return engine.NewDeployment(engine.New(f))
}

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const chain = `
name: chain
start: a
on: {error: failed}
states:
  a: {http: {url: "http://x/1"}, next: b}
  b: {http: {url: "http://x/2"}, next: c}
  c: {http: {url: "http://x/3"}, next: d}
  d: {http: {url: "http://x/4"}, next: e}
  e: {http: {url: "http://x/5"}, next: done}
  done: {say: all five, do: [end]}
  failed: {say: gave up, do: [end]}
`

// ok answers every job with 200 {} and counts them.
func ok(n *int) turn.Runner {
	return turn.RunnerFunc(func(_ context.Context, job *engine.Job) engine.HTTPResult {
		*n++
		return engine.HTTPResult{Seq: job.Seq, Status: 200, Body: []byte(`{}`)}
	})
}

func TestChainCap(t *testing.T) {
	dep := deployment(t, chain)
	for _, tc := range []struct {
		chain, want int
		say         string
	}{{0, 4, "gave up"}, {2, 2, "gave up"}, {turn.MaxChainedJobs, 0, "gave up"}} {
		n := 0
		o, err := turn.Run(context.Background(), turn.Request{Deployment: dep, Event: engine.Event{Name: engine.EvStart, Now: now}, Jobs: ok(&n), Chain: tc.chain})
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want || len(o.Rendered.Packets) == 0 || o.Rendered.Packets[0].Payload.(channels.MessagePayload).Body != tc.say || len(o.Jobs) != tc.want {
			t.Errorf("chain %d: %d requests, %d logged, %v", tc.chain, n, len(o.Jobs), o.Rendered.Packets)
		}
	}
}

func TestJobLeftToQueue(t *testing.T) {
	dep := deployment(t, chain)
	o, err := turn.Run(context.Background(), turn.Request{Deployment: dep, Event: engine.Event{Name: engine.EvStart, Now: now}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Result.Job == nil || o.Result.Job.Seq != 1 || o.Chain != 1 {
		t.Fatalf("job %+v chain %d", o.Result.Job, o.Chain)
	}
	n := 0
	r := turn.Request{Deployment: dep, Event: engine.Event{Name: engine.EvStart, Now: now}, Jobs: ok(&n)}
	in := turn.Inline(context.Background(), r, o)
	if n != 4 || in.Result.Job != nil || in.Result.Session.State != "failed" {
		t.Fatalf("inline: %d requests, state %q", n, in.Result.Session.State)
	}
}

const thinker = `
name: thinker
start: listen
commands:
  - {match: [stop], goto: bye}
states:
  listen: {wait: true, next: think}
  think:
    llm: {system: "Be brief.", async: true}
    next: listen
  bye: {say: Bye., do: [end]}
`

// TestLeftAndCarry: a message while an llm step waits asks again (the
// first request is Left) and, with Carry, the answer carries the context;
// a command leaves the second; a job's result is never Left.
func TestLeftAndCarry(t *testing.T) {
	dep := deployment(t, thinker)
	ctx := context.Background()
	step := func(raw []byte, ev engine.Event) turn.Outcome {
		t.Helper()
		ev.Now = now
		o, err := turn.Run(ctx, turn.Request{Deployment: dep, Context: raw, Binding: "c", Event: ev, QueueAsync: true, Carry: true})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := step(nil, engine.Event{Name: engine.EvStart})
	o = step(o.Context, engine.Event{Name: engine.EvMessage, Text: "one"})
	if o.Result.Job == nil || o.Result.Job.Seq != 1 || o.Supersede != 0 {
		t.Fatalf("first: job %+v left %d", o.Result.Job, o.Supersede)
	}
	o = step(o.Context, engine.Event{Name: engine.EvMessage, Text: "two"})
	if o.Result.Job == nil || o.Result.Job.Seq != 2 || o.Supersede != 1 {
		t.Fatalf("second: job %+v left %d", o.Result.Job, o.Supersede)
	}
	if len(o.Rendered.Packets) != 1 || o.Rendered.Packets[0].Name != channels.PacketDelay {
		t.Fatalf("the answer carries no context: %v", o.Rendered.Packets)
	}
	waiting := o.Context
	if r := step(waiting, engine.Event{Name: engine.EvHTTPResult, HTTP: &engine.HTTPResult{Seq: 1, Status: 200, Body: []byte("late")}}); !r.Result.Ignored || r.Supersede != 0 || len(r.Rendered.Packets) != 0 {
		t.Fatalf("stale result: ignored %v left %d %v", r.Result.Ignored, r.Supersede, r.Rendered.Packets)
	}
	if r := step(waiting, engine.Event{Name: engine.EvHTTPResult, HTTP: &engine.HTTPResult{Seq: 2, Status: 200, Body: []byte("hi")}}); r.Result.Ignored || r.Supersede != 0 {
		t.Fatalf("awaited result: ignored %v left %d", r.Result.Ignored, r.Supersede)
	}
	if r := step(waiting, engine.Event{Name: engine.EvMessage, Text: "stop"}); r.Supersede != 2 {
		t.Fatalf("a command left %d, want 2", r.Supersede)
	}
}

// TestTooBigRestarts: a context that would not fit (a pending choice whose
// labels a long variable makes long) restarts the conversation politely,
// and is counted.
func TestTooBigRestarts(t *testing.T) {
	dep := deployment(t, `
name: big
start: init
states:
  init: {set: {note: "n"}, next: hello}
  hello: {wait: true, next: pick}
  pick:
    choice:
      text: Which one?
      options:
        - {id: a, label: "A {{note}}", goto: hello}
        - {id: b, label: "B {{note}}", goto: hello}
        - {id: c, label: "C {{note}}", goto: hello}
`)
	f := dep.Current().Flow()
	s := engine.Session{Flow: f.Name, Version: f.ShortHash(), State: "hello", Vars: map[string]string{"note": strings.Repeat("x", 3000)}}
	o, err := turn.Run(context.Background(), turn.Request{Deployment: dep, Session: &s, Event: engine.Event{Name: engine.EvMessage, Text: "go", Now: now}})
	if err != nil {
		t.Fatal(err)
	}
	if !o.TooBig || o.Result.Session.State != "hello" || o.Result.Session.Vars["note"] != "n" || len(o.Context) > engine.MaxContextBytes || o.Result.Recovery != engine.RecoveryRestarted {
		t.Fatalf("too big %v, state %q, %d bytes, recovery %q", o.TooBig, o.Result.Session.State, len(o.Context), o.Result.Recovery)
	}
	if k := o.Kinds(); len(k) != 1 || k[0] != turn.KindContextTooBig {
		t.Fatalf("kinds %v", k)
	}
}

func TestSilenceDropped(t *testing.T) {
	dep := deployment(t, thinker)
	o, err := turn.Run(context.Background(), turn.Request{Deployment: dep, Context: []byte(`{"fb":1,"f":"thinker","v":"x","s":"gone"}`),
		Event: engine.Event{Name: engine.EvSilence, Silence: &engine.SilenceEvent{State: "gone"}, Now: now}})
	if err != nil || !o.Dropped || len(o.Rendered.Packets) != 0 {
		t.Fatalf("dropped %v %v %v", o.Dropped, o.Rendered.Packets, err)
	}
	if _, err := turn.Run(context.Background(), turn.Request{}); !errors.Is(err, turn.ErrFlowGone) {
		t.Fatalf("no deployment: %v", err)
	}
}

func TestGiveUpAndRefusal(t *testing.T) {
	job := &engine.Job{Seq: 3}
	for _, tc := range []struct {
		chain, died, limit int
		refused            bool
	}{
		{1, 0, 0, false}, {turn.MaxChainedJobs, 0, 0, false}, {turn.MaxChainedJobs + 1, 0, 0, true},
		{1, turn.MaxJobAttempts - 1, 0, false}, {1, turn.MaxJobAttempts, 0, true}, {1, 2, 2, true}, {1, 1, 2, false},
	} {
		res, refused := turn.Refusal(job, tc.chain, tc.died, tc.limit)
		if refused != tc.refused || refused && (res.Seq != 3 || res.Err == "") {
			t.Errorf("%+v: refused %v %+v", tc, refused, res)
		}
	}
}

func TestKinds(t *testing.T) {
	if turn.KindOf(fmt.Errorf("state x: %w", script.ErrTimeout)) != turn.KindScriptTimeout || turn.KindOf(errors.New("x")) != turn.KindFlow {
		t.Fatal("KindOf")
	}
	if turn.ContextKindOf(engine.ErrContextForged) != turn.KindContextForged || turn.ContextKindOf(engine.ErrForeignContext) != "" {
		t.Fatal("ContextKindOf")
	}
	o := turn.Outcome{ContextErr: engine.ErrContextUnsigned, TooBig: true, Result: engine.Result{Errors: []error{script.ErrTimeout, errors.New("x")}}}
	if got := strings.Join(o.Kinds(), " "); got != "context_unsigned script_timeout flow context_too_big" || o.Recovery() != turn.RecoveryForeign {
		t.Fatalf("kinds %q recovery %q", got, o.Recovery())
	}
}

func TestPlanFollowUp(t *testing.T) {
	if turn.PlanFollowUp(nil, now, time.Time{}, turn.Pace{}) != nil {
		t.Fatal("no timer planned a follow-up")
	}
	sent := now.Add(4 * time.Second)
	f := turn.PlanFollowUp(&engine.Timer{State: "s", After: 10 * time.Minute}, sent, time.Time{}, turn.Pace{})
	if f.Base != sent || f.Due != sent.Add(10*time.Minute) || f.Planned != f.Due {
		t.Fatalf("%+v", f)
	}
	base := now.Add(-time.Hour)
	f = turn.PlanFollowUp(&engine.Timer{State: "s", Rule: 1, After: 90 * time.Minute, Continue: true}, now, base, turn.Pace{})
	if f.Base != base || f.Due != base.Add(90*time.Minute) || f.Rule != 1 {
		t.Fatalf("continued %+v", f)
	}
	// Quiet hours defer it.
	q := "12:05-13:00"
	quiet := turn.PaceOf(flows.Timing{QuietHours: &q})
	f = turn.PlanFollowUp(&engine.Timer{State: "s", After: 10 * time.Minute}, now, time.Time{}, quiet)
	if f.Planned != now.Add(10*time.Minute) || f.Due != now.Add(time.Hour) {
		t.Fatalf("quiet %+v", f)
	}
}
