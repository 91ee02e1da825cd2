package userlike_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/userlike"
)

// fakeTimers records what the Handler asks of its Timers.
type fakeTimers struct {
	mu    sync.Mutex
	fail  bool
	calls []string // "set STATE RULE", "cancel"
	last  userlike.FollowUp
}

func (f *fakeTimers) SetTimer(ctx context.Context, fu userlike.FollowUp) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("disk full")
	}
	fu.Context = bytes.Clone(fu.Context)
	f.calls = append(f.calls, "set "+fu.State+" "+string(rune('0'+fu.Rule)))
	f.last = fu
	return nil
}

func (f *fakeTimers) CancelTimer(ctx context.Context, bot, cid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("disk full")
	}
	f.calls = append(f.calls, "cancel "+bot+" "+cid)
	return nil
}

func (f *fakeTimers) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

const silenceFlow = `
name: remind
start: ask_name
api_url: http://127.0.0.1:1/api
states:
  ask_name:
    ask: "What is your name?"
    save: name
    next: ask_email
    on_silence:
      - {after: 10m, say: "Still there?"}
      - {after: 30m, say: "Bye for now.", goto: closed}
  ask_email:
    ask: "Hello {{ name }}! Your email?"
    save: email
    next: thanks
  thanks:
    say: "Thanks!"
    do: [end]
  closed:
    do: [end]
`

func parseFlow(t *testing.T, src string) *flows.Flow {
	t.Helper()
	f, lints := flows.Parse("f.yaml", []byte(src), flows.Options{})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	return f
}

// fixedClock is a clock the test sets.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fixedClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestFollowUpArmedByTurns: every answered turn of a flow with on_silence
// arms the follow-up of the state it ends in (with the context it
// answered), or cancels it; turns of flows without on_silence never touch
// the Timers; an event the flow ignores changes nothing.
func TestFollowUpArmedByTurns(t *testing.T) {
	tm := &fakeTimers{}
	clk := &fixedClock{now: t0}
	bots := append(botsOf(loadExamples(t)), engine.New(parseFlow(t, silenceFlow)))
	h, err := userlike.New(bots, userlike.Options{Logger: testLogger(t), Timers: tm, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveHTTP(t, h)

	// A flow without on_silence: no calls at all.
	other := platformFor(srv, "name-email-forward").Conversation("c-plain", "web")
	must(t)(other.Start(""))
	must(t)(other.Say("Ada"))
	must(t)(other.Say("ada@example.com"))
	if calls := tm.take(); len(calls) != 0 {
		t.Fatalf("a flow without on_silence used the timers: %v", calls)
	}

	p := platformFor(srv, "remind")
	c := p.Conversation("c-1", "whatsapp_business")
	must(t)(c.Start(""))
	if calls := tm.take(); !slices.Equal(calls, []string{"set ask_name 0"}) {
		t.Fatalf("after start %v", calls)
	}
	if f := tm.last; f.Bot != "remind" || f.CID != "c-1" || f.Channel != "whatsapp_business" || !f.Due.Equal(t0.Add(10*time.Minute)) ||
		!f.Base.Equal(t0) || string(f.Context) != string(p.Context("c-1")) || f.Contact != nil || f.FlowVersion == "" {
		t.Fatalf("follow-up %+v (platform context %s)", f, p.Context("c-1"))
	}
	// An event the state does not handle: ignored, nothing sent, the
	// follow-up stands.
	r := must(t)(c.Send("forward_failed", map[string]any{}))
	if len(r.Packets) != 0 {
		t.Fatalf("forward_failed answered %v", r.Names())
	}
	if calls := tm.take(); len(calls) != 0 {
		t.Fatalf("an ignored event touched the timer: %v", calls)
	}
	clk.Set(t0.Add(4 * time.Minute))
	must(t)(c.Say("Ada"))
	if calls := tm.take(); !slices.Equal(calls, []string{"cancel remind c-1"}) {
		t.Fatalf("after an answer into a state without follow-ups %v", calls)
	}
	// From a state without follow-ups to another (the end): none can be
	// armed, nothing to write.
	must(t)(c.Say("ada@example.com"))
	if calls := tm.take(); len(calls) != 0 {
		t.Fatalf("a turn between states without follow-ups used the timers: %v", calls)
	}
}

// TestFireFollowUp: the worker's side. The follow-up continues from the
// stored context; a rule that stays arms the next one counting from the
// same activity (moved by the lateness); a goto ends the conversation and
// arms nothing (CancelTimer); a follow-up for a state the context has left
// is ignored; a context that no longer verifies is not restarted.
func TestFireFollowUp(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("followup-secret-"), 2))
	keys, err := engine.ParseContextKeys("k1:" + secret + ":enc")
	if err != nil {
		t.Fatal(err)
	}
	tm := &fakeTimers{}
	clk := &fixedClock{now: t0}
	h, err := userlike.New([]*engine.Bot{engine.New(parseFlow(t, silenceFlow))}, userlike.Options{Logger: testLogger(t), Timers: tm, Now: clk.Now, ContextKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	c := platformFor(serveHTTP(t, h), "remind").Conversation("c-2", "web")
	must(t)(c.Start(""))
	armed := tm.last

	clk.Set(t0.Add(12 * time.Minute)) // 2 minutes late
	res, err := h.FireFollowUp(context.Background(), armed)
	if err != nil || res.Ignored || res.Packets != 1 || res.From != "ask_name" || res.To != "ask_name" || res.CancelTimer || res.Timer == nil {
		t.Fatalf("fired %+v %v", res, err)
	}
	if !strings.Contains(string(res.Events), "Still there?") || !strings.Contains(string(res.Events), `"cid":"c-2"`) {
		t.Fatalf("events %s", res.Events)
	}
	next := *res.Timer
	if next.Rule != 1 || next.State != "ask_name" || !next.Base.Equal(t0.Add(2*time.Minute)) || !next.Due.Equal(t0.Add(32*time.Minute)) ||
		!bytes.Equal(next.Context, res.Context) {
		t.Fatalf("next %+v", next)
	}
	if s, err := keys.Decode(res.Context, "c-2"); err != nil || s.State != "ask_name" {
		t.Fatalf("sealed context %v %+v", err, s)
	}
	// A follow-up naming a rule the state does not have is ignored.
	bad := armed
	bad.Rule = 7
	if res, _ := h.FireFollowUp(context.Background(), bad); !res.Ignored || res.Packets != 0 || res.Timer != nil || res.CancelTimer {
		t.Fatalf("bad rule %+v", res)
	}
	clk.Set(t0.Add(32 * time.Minute))
	res, err = h.FireFollowUp(context.Background(), next)
	if err != nil || res.Ignored || res.To != "closed" || res.Timer != nil || !res.CancelTimer || !strings.Contains(string(res.Events), "Bye for now.") {
		t.Fatalf("last rule %+v %v", res, err)
	}
	// The conversation moved on: a follow-up for ask_name on its new
	// context is ignored.
	moved := next
	moved.Rule, moved.Context = 0, res.Context
	if res, _ := h.FireFollowUp(context.Background(), moved); !res.Ignored || res.Packets != 0 {
		t.Fatalf("moved on %+v", res)
	}
	// A context sealed for another conversation does not verify: the
	// follow-up is dropped rather than restarting the conversation.
	foreign := armed
	foreign.CID = "c-other"
	if res, _ := h.FireFollowUp(context.Background(), foreign); !res.Ignored || res.Packets != 0 {
		t.Fatalf("foreign context %+v", res)
	}
	if _, err := h.FireFollowUp(context.Background(), userlike.FollowUp{Bot: "nope"}); err == nil {
		t.Fatal("unknown bot fired")
	}
}

// TestFollowUpsOffWithoutStore: a Handler without Timers serves a flow
// with on_silence as before, and says once that its follow-ups are off; a
// Timers that fails does not fail the turn.
func TestFollowUpsOffWithoutStore(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) }), nil))
	h, err := userlike.New([]*engine.Bot{engine.New(parseFlow(t, silenceFlow))}, userlike.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	p := platformFor(serveHTTP(t, h), "remind")
	for _, cid := range []string{"a", "b"} {
		r := must(t)(p.Conversation(cid, "web").Start(""))
		if !slices.Equal(r.Texts(), []string{"What is your name?"}) {
			t.Fatalf("start %q", r.Texts())
		}
	}
	mu.Lock()
	n := strings.Count(logs.String(), "follow-ups are never sent")
	mu.Unlock()
	if n != 1 {
		t.Fatalf("warned %d times:\n%s", n, logs.String())
	}

	tm := &fakeTimers{fail: true}
	obs := newRecordingObserver()
	h, err = userlike.New([]*engine.Bot{engine.New(parseFlow(t, silenceFlow))}, userlike.Options{Logger: quietLogger(), Timers: tm, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	r := must(t)(platformFor(serveHTTP(t, h), "remind").Conversation("c", "web").Start(""))
	if !slices.Equal(r.Texts(), []string{"What is your name?"}) || obs.errorCount(userlike.ErrKindTimer) != 1 {
		t.Fatalf("with a failing store: %q, %d timer errors", r.Texts(), obs.errorCount(userlike.ErrKindTimer))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestFollowUpQuietHours: a state whose timing sets quiet hours defers its
// follow-ups to their end (in its time zone); the rule keeps its planned
// time, so that the next one counts from the deferral as from any
// lateness. Without quiet hours, Planned is Due.
func TestFollowUpQuietHours(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(silenceFlow, "    on_silence:\n", "    timing: {quiet_hours: \"22:00-08:00\", time_zone: Europe/Berlin}\n    on_silence:\n", 1)
	tm := &fakeTimers{}
	reply := time.Date(2026, 3, 1, 21, 55, 0, 0, berlin)
	morning := time.Date(2026, 3, 2, 8, 0, 0, 0, berlin)
	clk := &fixedClock{now: reply}
	h, err := userlike.New([]*engine.Bot{engine.New(parseFlow(t, src))}, userlike.Options{Logger: testLogger(t), Timers: tm, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c := platformFor(serveHTTP(t, h), "remind").Conversation("c-q", "web")
	must(t)(c.Start(""))
	armed := tm.last
	if !armed.Due.Equal(morning) || !armed.Planned.Equal(reply.Add(10*time.Minute)) || !armed.Base.Equal(reply) {
		t.Fatalf("armed due %v planned %v base %v", armed.Due.In(berlin), armed.Planned.In(berlin), armed.Base.In(berlin))
	}
	clk.Set(morning)
	res, err := h.FireFollowUp(context.Background(), armed)
	if err != nil || res.Timer == nil {
		t.Fatalf("fired %+v %v", res, err)
	}
	// 9h55m late after its planned 22:05: the next rule (30m) counts from
	// 07:50, due at 08:20, outside the quiet hours.
	if next := *res.Timer; !next.Base.Equal(morning.Add(-10*time.Minute)) || !next.Due.Equal(morning.Add(20*time.Minute)) || !next.Planned.Equal(next.Due) {
		t.Fatalf("next due %v planned %v base %v", next.Due.In(berlin), next.Planned.In(berlin), next.Base.In(berlin))
	}

	// Outside the quiet hours, nothing moves.
	clk.Set(time.Date(2026, 3, 2, 12, 0, 0, 0, berlin))
	c2 := platformFor(serveHTTP(t, h), "remind").Conversation("c-day", "web")
	must(t)(c2.Start(""))
	if f := tm.last; !f.Due.Equal(clk.Now().Add(10*time.Minute)) || !f.Planned.Equal(f.Due) {
		t.Fatalf("daytime due %v planned %v", f.Due.In(berlin), f.Planned.In(berlin))
	}
}
