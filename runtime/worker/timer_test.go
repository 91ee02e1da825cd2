package worker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
	"github.com/flowbot/flowbot/runtime/userlikeapi"
)

// remindFlow asks a name and an email, with follow-ups while it waits.
const remindFlow = `
name: remind
start: ask_name
api_url: ${env.API_URL}
api_token: tok
states:
  ask_name:
    ask: "What is your name?"
    save: name
    next: ask_email
    on_silence:
      - {after: 10m, say: "Still there?"}
      - {after: 30m, say: "Anyone?"}
      - {after: 60m, say: "Bye for now.", goto: closed}
  ask_email:
    ask: "Hello {{ name }}! Your email?"
    save: email
    next: thanks
    on_silence:
      - {after: 20m, say: "Your email, please?"}
  thanks:
    say: "Thanks!"
    do: [end]
  closed:
    do: [end]
`

// timerEnv is the remind flow served by a Handler whose Queue (and
// Timers) is a Worker on a fake clock, pushing to an emulated API URL.
type timerEnv struct {
	clk   *clock.Fake
	path  string
	store *outbox.Store
	w     *Worker
	h     *userlike.Handler
	bots  []*engine.Bot
	web   atomic.Pointer[http.Handler] // the webhook's handler: swapped by a restart
	api   *platformtest.API
	plat  *platformtest.Platform
	obs   *counts
	cfg   Config
	t     *testing.T
	wrap  func(*userlike.Handler) Resumer // nil: the Handler itself
}

func newTimerEnv(t *testing.T, wrap func(*userlike.Handler) Resumer) *timerEnv {
	t.Helper()
	return newFlowEnv(t, remindFlow, nil, wrap)
}

// newFlowEnv is a timerEnv serving the flow src, whose ${env.API_URL} is
// the emulated API URL; env adds to its environment.
func newFlowEnv(t *testing.T, src string, env map[string]string, wrap func(*userlike.Handler) Resumer) *timerEnv {
	t.Helper()
	e := &timerEnv{clk: clock.NewFake(t0), obs: newCounts(), t: t, path: filepath.Join(t.TempDir(), "flowbot.db"), wrap: wrap}
	e.plat = platformtest.New("")
	e.api = e.plat.API("tok")
	e.api.Clock(e.clk.Now)
	apiSrv := httptest.NewServer(e.api)
	t.Cleanup(apiSrv.Close)
	vars := map[string]string{"API_URL": apiSrv.URL + "/api/v1"}
	for k, v := range env {
		vars[k] = v
	}
	f, lints := flows.Parse("f.yaml", []byte(src), flows.Options{Env: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	e.bots = []*engine.Bot{engine.New(f)}
	// HTTP steps go to a service on 127.0.0.1: the runner must be allowed there.
	e.cfg = Config{Clock: e.clk, Logger: testLogger(t), Observer: e.obs, Poll: time.Hour, Lease: 30 * time.Second,
		API: &userlikeapi.Client{HTTP: apiSrv.Client()}, Jobs: &httpjob.Runner{Network: netguard.MustParsePolicy("loopback")}}
	e.boot()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*e.web.Load()).ServeHTTP(w, r) }))
	t.Cleanup(web.Close)
	e.plat.SetURL(web.URL + "/bots/" + f.Name + "/webhook")
	return e
}

// boot starts a "process": the outbox file opened, a Worker on it and a
// Handler using it, serving the webhook.
func (e *timerEnv) boot() {
	t := e.t
	st, err := outbox.Open(context.Background(), e.path, outbox.Options{Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Store = st
	w := New(cfg)
	h, err := userlike.New(e.bots, userlike.Options{Queue: w, Logger: testLogger(t), Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.store, e.w, e.h = st, w, h
	var hh http.Handler = h
	e.web.Store(&hh)
	var r Resumer = h
	if e.wrap != nil {
		r = e.wrap(h)
	}
	if err := w.Start(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Stop(context.Background())
		st.Close()
	})
}

// shutdown stops the worker and closes the file, as a process exiting.
func (e *timerEnv) shutdown() {
	if err := e.w.Stop(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *timerEnv) timers(cid string) []outbox.TimerRow {
	e.t.Helper()
	rows, err := e.store.Timers(context.Background(), cid)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

// armed checks that cid has exactly one timer, for state's rule, due at due.
func (e *timerEnv) armed(cid, state string, rule int, due time.Time) {
	e.t.Helper()
	rows := e.timers(cid)
	if len(rows) != 1 || rows[0].State != state || rows[0].Rule != rule || !rows[0].DueAt.Equal(due) {
		e.t.Fatalf("timers of %s: %+v; want %s rule %d due %v", cid, rows, state, rule, due.Sub(t0))
	}
}

// quiet moves the clock to at, where the timer loop sleeps, and waits
// until the loop has looked and gone back to sleep (until the next due
// time or Poll, whichever comes first).
func (e *timerEnv) quiet(at, next time.Time) {
	e.t.Helper()
	// The loop sleeps until at, its old deadline — or, when it has seen
	// the timer that replaced it already, until next.
	waitFor(e.t, "the timer loop to sleep", func() bool {
		return slices.ContainsFunc(e.clk.Timers(), func(t time.Time) bool { return t.Equal(at) || t.Equal(next) })
	})
	e.clk.Set(at)
	if !e.clk.WaitForTimer(next, wait) {
		e.t.Fatalf("the timer loop does not sleep until %v; timers %v", next.Sub(t0), e.clk.Timers())
	}
}

func (c *counts) FollowUp(flow, outcome string) {
	c.mu.Lock()
	c.follow[outcome]++
	c.mu.Unlock()
}

func contextState(t *testing.T, raw json.RawMessage) (state string, done bool) {
	t.Helper()
	var c struct {
		S string `json:"s"`
		D bool   `json:"d"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("context %s: %v", raw, err)
	}
	return c.S, c.D
}

// TestFollowUpFires: the contact stays silent. Each rule is pushed to the
// API URL with the conversation's cid and a context that continues; a rule
// that fires late moves the later ones by its lateness; the last rule's
// goto ends the conversation and leaves no timer. An answer after a
// follow-up continues from the pushed context.
func TestFollowUpFires(t *testing.T) {
	e := newTimerEnv(t, nil)
	c := e.plat.Conversation("c-silent", "web")
	if r, err := c.Start(""); err != nil || !slices.Equal(r.Texts(), []string{"What is your name?"}) {
		t.Fatalf("start %v %q", err, r.Texts())
	}
	e.armed("c-silent", "ask_name", 0, t0.Add(10*time.Minute))

	// The first rule fires 5 minutes late (no process was running, say):
	// the later rules keep their distances from it.
	if !e.clk.WaitForTimer(t0.Add(10*time.Minute), wait) {
		t.Fatalf("the timer loop does not wait for the follow-up; timers %v", e.clk.Timers())
	}
	e.clk.Set(t0.Add(15 * time.Minute))
	reqs := e.api.Wait(1, wait)
	if len(reqs) != 1 || !reqs[0].Accepted || reqs[0].CID != "c-silent" || !slices.Equal(bodies(reqs[0].Packets), []string{"Still there?"}) {
		t.Fatalf("first follow-up %+v", reqs)
	}
	if s, done := contextState(t, reqs[0].Packets[0].Context); s != "ask_name" || done {
		t.Fatalf("pushed context %s", reqs[0].Packets[0].Context)
	}
	waitFor(t, "the next rule armed", func() bool { rows := e.timers("c-silent"); return len(rows) == 1 && rows[0].Rule == 1 })
	e.armed("c-silent", "ask_name", 1, t0.Add(35*time.Minute))
	if rows := e.timers("c-silent"); !rows[0].Base.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("base %v", rows[0].Base.Sub(t0))
	}

	advanceToTimer(t, e.clk, t0.Add(35*time.Minute))
	reqs = e.api.Wait(2, wait)
	if len(reqs) != 2 || !slices.Equal(bodies(reqs[1].Packets), []string{"Anyone?"}) {
		t.Fatalf("second follow-up %+v", reqs)
	}
	waitFor(t, "the last rule armed", func() bool { rows := e.timers("c-silent"); return len(rows) == 1 && rows[0].Rule == 2 })
	e.armed("c-silent", "ask_name", 2, t0.Add(65*time.Minute))

	advanceToTimer(t, e.clk, t0.Add(65*time.Minute))
	reqs = e.api.Wait(3, wait)
	if len(reqs) != 3 || !slices.Contains(bodies(reqs[2].Packets), "Bye for now.") || reqs[2].Packets[len(reqs[2].Packets)-1].Name != "end" {
		t.Fatalf("last follow-up %+v", reqs)
	}
	if s, done := contextState(t, reqs[2].Packets[0].Context); s != "closed" || !done {
		t.Fatalf("pushed context after goto %s", reqs[2].Packets[0].Context)
	}
	waitFor(t, "three fired", func() bool { return e.obs.get(e.obs.follow, FollowUpFired) == 3 })
	if rows := e.timers(""); len(rows) != 0 {
		t.Fatalf("timers after the last rule %+v", rows)
	}
	// Every push went in order, one per follow-up, each marked sent.
	waitFor(t, "three follow-up pushes sent", func() bool {
		ps, _ := e.store.Pushes(context.Background(), "c-silent")
		return len(ps) == 3 && ps[0].State == outbox.PushSent && ps[2].State == outbox.PushSent && ps[0].FollowUp && ps[2].FollowUp
	})

	// Another conversation answers after its first follow-up: it goes on
	// from the pushed context, and the follow-up of the next question
	// replaces the rest.
	c2 := e.plat.Conversation("c-answers", "web")
	if _, err := c2.Start(""); err != nil {
		t.Fatal(err)
	}
	advanceToTimer(t, e.clk, t0.Add(75*time.Minute))
	reqs = e.api.Wait(4, wait)
	if len(reqs) != 4 || reqs[3].CID != "c-answers" || !slices.Equal(bodies(reqs[3].Packets), []string{"Still there?"}) {
		t.Fatalf("follow-up of the second conversation %+v", reqs)
	}
	if string(e.plat.Context("c-answers")) != string(reqs[3].Packets[0].Context) {
		t.Fatal("the platform does not hold the pushed context")
	}
	r, err := c2.Say("Ada")
	if err != nil || !slices.Equal(r.Texts(), []string{"Hello Ada! Your email?"}) {
		t.Fatalf("answer %v %q", err, r.Texts())
	}
	e.armed("c-answers", "ask_email", 0, t0.Add(95*time.Minute))
}

// TestFollowUpCancelledByActivity: a webhook call before the deadline
// replaces the timer: nothing is pushed at the old deadline, the new
// question's follow-up fires at its own; the end of the flow cancels it.
func TestFollowUpCancelledByActivity(t *testing.T) {
	e := newTimerEnv(t, nil)
	c := e.plat.Conversation("c-active", "web")
	if _, err := c.Start(""); err != nil {
		t.Fatal(err)
	}
	e.armed("c-active", "ask_name", 0, t0.Add(10*time.Minute))
	if !e.clk.WaitForTimer(t0.Add(10*time.Minute), wait) {
		t.Fatalf("timers %v", e.clk.Timers())
	}
	e.clk.Set(t0.Add(5 * time.Minute))
	if _, err := c.Say("Ada"); err != nil {
		t.Fatal(err)
	}
	e.armed("c-active", "ask_email", 0, t0.Add(25*time.Minute))

	// The old deadline passes: the loop looks, finds nothing due, and
	// sleeps until the new one.
	e.quiet(t0.Add(10*time.Minute), t0.Add(25*time.Minute))
	if n := len(e.api.Requests()); n != 0 {
		t.Fatalf("%d pushes at the old deadline", n)
	}
	e.clk.Set(t0.Add(25 * time.Minute))
	reqs := e.api.Wait(1, wait)
	if len(reqs) != 1 || !slices.Equal(bodies(reqs[0].Packets), []string{"Your email, please?"}) {
		t.Fatalf("follow-up of the new question %+v", reqs)
	}
	waitFor(t, "the follow-up fired", func() bool { return e.obs.get(e.obs.follow, FollowUpFired) == 1 })
	if rows := e.timers(""); len(rows) != 0 {
		t.Fatalf("timers after its only rule %+v", rows)
	}
	// Another question, another timer; the end cancels it.
	e.clk.Set(t0.Add(26 * time.Minute))
	if r, err := c.Say("ada@example.com"); err != nil || !slices.Equal(r.Texts(), []string{"Thanks!"}) {
		t.Fatalf("email %v %q", err, r.Texts())
	}
	if rows := e.timers(""); len(rows) != 0 {
		t.Fatalf("timers after the end %+v", rows)
	}
	if e.obs.get(e.obs.follow, FollowUpDropped) != 0 {
		t.Fatal("a follow-up was dropped")
	}
}

// TestFollowUpSurvivesRestart: the process that armed the follow-up stops
// (worker stopped, file closed); the next one, on the same file, fires it.
func TestFollowUpSurvivesRestart(t *testing.T) {
	e := newTimerEnv(t, nil)
	c := e.plat.Conversation("c-restart", "whatsapp_business")
	if _, err := c.Start(""); err != nil {
		t.Fatal(err)
	}
	e.shutdown()
	e.clk.Set(t0.Add(time.Minute))
	e.boot()
	e.armed("c-restart", "ask_name", 0, t0.Add(10*time.Minute))
	advanceToTimer(t, e.clk, t0.Add(10*time.Minute))
	reqs := e.api.Wait(1, wait)
	if len(reqs) != 1 || reqs[0].CID != "c-restart" || !slices.Equal(bodies(reqs[0].Packets), []string{"Still there?"}) {
		t.Fatalf("follow-up after the restart %+v", reqs)
	}
	waitFor(t, "the next rule armed", func() bool { rows := e.timers("c-restart"); return len(rows) == 1 && rows[0].Rule == 1 })
	// The conversation goes on through the new process.
	if r, err := c.Say("Ada"); err != nil || !slices.Equal(r.Texts(), []string{"Hello Ada! Your email?"}) {
		t.Fatalf("answer %v %q", err, r.Texts())
	}
	e.armed("c-restart", "ask_email", 0, t0.Add(30*time.Minute))
}

// interjecting is a Resumer whose FireFollowUp lets the contact write (a
// webhook call) just before the follow-up's turn is made: the conversation
// moves on while its timer fires.
type interjecting struct {
	*userlike.Handler
	before func()
	once   sync.Once
}

func (r *interjecting) FireFollowUp(ctx context.Context, f userlike.FollowUp) (userlike.Resumed, error) {
	r.once.Do(r.before)
	return r.Handler.FireFollowUp(ctx, f)
}

// TestFollowUpDroppedWhenMovedOn: a follow-up whose conversation moved on
// is dropped and pushes nothing — whether the contact wrote while it fired
// (the webhook call re-armed the timer: the worker's claim is gone), or
// the timer names a state the stored context is no longer in.
func TestFollowUpDroppedWhenMovedOn(t *testing.T) {
	var c *platformtest.Conversation
	e := newTimerEnv(t, func(h *userlike.Handler) Resumer {
		return &interjecting{Handler: h, before: func() {
			if r, err := c.Say("Ada"); err != nil || !slices.Equal(r.Texts(), []string{"Hello Ada! Your email?"}) {
				t.Errorf("answer %v %q", err, r.Texts())
			}
		}}
	})
	c = e.plat.Conversation("c-moved", "web")
	if _, err := c.Start(""); err != nil {
		t.Fatal(err)
	}
	w := e.w

	advanceToTimer(t, e.clk, t0.Add(10*time.Minute))
	waitFor(t, "the follow-up dropped", func() bool { return e.obs.get(e.obs.follow, FollowUpDropped) == 1 })
	if n := len(e.api.Requests()); n != 0 {
		t.Fatalf("%d pushes", n)
	}
	if ps, _ := e.store.Pushes(context.Background(), ""); len(ps) != 0 {
		t.Fatalf("pushes stored %+v", ps)
	}
	// The webhook call's timer stands.
	e.armed("c-moved", "ask_email", 0, t0.Add(30*time.Minute))

	// A timer set for a state the stored context is not in (ask_name, while
	// the context waits in ask_email) changes nothing either.
	rows := e.timers("c-moved")
	stale := userlike.FollowUp{Bot: "remind", CID: "c-moved", Channel: "web", State: "ask_name", Rule: 1,
		Due: t0.Add(11 * time.Minute), Base: t0, Context: rows[0].Context}
	if err := w.SetTimer(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	advanceToTimer(t, e.clk, t0.Add(11*time.Minute))
	waitFor(t, "the stale follow-up dropped", func() bool { return e.obs.get(e.obs.follow, FollowUpDropped) == 2 })
	if rows := e.timers(""); len(rows) != 0 {
		t.Fatalf("timers %+v", rows)
	}
	if n := len(e.api.Requests()); n != 0 || e.obs.get(e.obs.follow, FollowUpFired) != 0 {
		t.Fatalf("%d pushes, %d fired", n, e.obs.get(e.obs.follow, FollowUpFired))
	}
}

// shopFlow looks an order up in the background; the state its result
// leads to has a follow-up.
const shopFlow = `
name: shop
start: ask
api_url: ${env.API_URL}
api_token: tok
states:
  ask:
    ask: "Your order id?"
    save: order
    next: lookup
  lookup:
    say: "Checking…"
    http:
      url: "${env.ORDER_API_URL}/orders/A-12345"
      async: true
      save: {order_status: status}
    next: more
  more:
    ask: "Your order is {{ order_status }}. Anything else?"
    save: more
    next: bye
    on_silence:
      - {after: 10m, say: "Still there?"}
  bye:
    say: "Bye!"
    do: [end]
`

// TestJobResultArmsFollowUp: an async job's result that leads to a state
// with on_silence arms its follow-up with the result's push (in the same
// transaction); the follow-up then fires from the pushed context.
func TestJobResultArmsFollowUp(t *testing.T) {
	orders, orderSrv := newOrderService(t)
	close(orders.release)
	e := newFlowEnv(t, shopFlow, map[string]string{"ORDER_API_URL": orderSrv.URL}, nil)
	c := e.plat.Conversation("c-shop", "web")
	if _, err := c.Start(""); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Say("A-12345"); err != nil || !slices.Equal(r.Texts(), []string{"Checking…"}) {
		t.Fatalf("interim answer %v %q", err, r.Texts())
	}
	reqs := e.api.Wait(1, wait)
	if len(reqs) != 1 || !slices.Equal(bodies(reqs[0].Packets), []string{"Your order is shipped. Anything else?"}) {
		t.Fatalf("result push %+v", reqs)
	}
	waitFor(t, "the job done", func() bool { return e.obs.get(e.obs.jobs, JobDone) == 1 })
	e.armed("c-shop", "more", 0, t0.Add(10*time.Minute))
	if rows := e.timers("c-shop"); string(rows[0].Context) != string(reqs[0].Packets[0].Context) {
		t.Fatalf("the follow-up is not set for the pushed context: %s", rows[0].Context)
	}
	advanceToTimer(t, e.clk, t0.Add(10*time.Minute))
	reqs = e.api.Wait(2, wait)
	if len(reqs) != 2 || !slices.Equal(bodies(reqs[1].Packets), []string{"Still there?"}) {
		t.Fatalf("follow-up %+v", reqs)
	}
	if r, err := c.Say("no"); err != nil || !slices.Equal(r.Texts(), []string{"Bye!"}) {
		t.Fatalf("answer %v %q", err, r.Texts())
	}
	if rows := e.timers(""); len(rows) != 0 {
		t.Fatalf("timers after the end %+v", rows)
	}
}

// quietFlow asks a name; its follow-ups wait for the end of the quiet
// hours of the state's timing.
const quietFlow = `
name: quiet
start: ask_name
api_url: ${env.API_URL}
api_token: tok
states:
  ask_name:
    ask: "What is your name?"
    save: name
    next: thanks
    timing: {quiet_hours: "22:00-08:00", time_zone: "Europe/Berlin"}
    on_silence:
      - {after: 10m, say: "Still there?"}
      - {after: 30m, say: "Anyone?"}
  thanks:
    say: "Thanks!"
    do: [end]
`

// TestFollowUpQuietHours: a follow-up that falls in the quiet hours of its
// state's timing waits until they end, in the state's time zone; the next
// rule keeps its distance from it (the deferral counts as lateness), so it
// does not fire at the end of the quiet hours too.
func TestFollowUpQuietHours(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	e := newFlowEnv(t, quietFlow, nil, nil)
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 3, day, hour, minute, 0, 0, berlin) }
	reply := at(1, 21, 55)
	e.clk.Set(reply)
	c := e.plat.Conversation("c-night", "web")
	if r, err := c.Start(""); err != nil || !slices.Equal(r.Texts(), []string{"What is your name?"}) {
		t.Fatalf("start %v %q", err, r.Texts())
	}
	morning := at(2, 8, 0)
	e.armed("c-night", "ask_name", 0, morning)
	if rows := e.timers("c-night"); !rows[0].Planned.Equal(reply.Add(10*time.Minute)) || !rows[0].Base.Equal(reply) {
		t.Fatalf("planned %v, base %v", rows[0].Planned.In(berlin), rows[0].Base.In(berlin))
	}

	// The night passes, the rule's own time with it (the loop looks every
	// Poll, an hour): nothing is pushed.
	for look := reply.Add(time.Hour); look.Before(morning); look = look.Add(time.Hour) {
		e.quiet(look, earliest(look.Add(time.Hour), morning))
		if n := len(e.api.Requests()); n != 0 {
			t.Fatalf("%d pushes at %v, during the quiet hours", n, look.In(berlin))
		}
	}

	e.clk.Set(morning)
	reqs := e.api.Wait(1, wait)
	if len(reqs) != 1 || !slices.Equal(bodies(reqs[0].Packets), []string{"Still there?"}) || !reqs[0].At.Equal(morning) {
		t.Fatalf("first follow-up %+v", reqs)
	}
	waitFor(t, "the next rule armed", func() bool { rows := e.timers("c-night"); return len(rows) == 1 && rows[0].Rule == 1 })
	e.armed("c-night", "ask_name", 1, at(2, 8, 20))

	// The loop sleeps until then: the second rule does not fire at the end
	// of the quiet hours too.
	if !e.clk.WaitForTimer(at(2, 8, 20), wait) {
		t.Fatalf("the timer loop does not wait for the second rule; timers %v", e.clk.Timers())
	}
	if n := len(e.api.Requests()); n != 1 || e.obs.get(e.obs.follow, FollowUpFired) != 1 {
		t.Fatalf("%d pushes at the end of the quiet hours", n)
	}
	advanceToTimer(t, e.clk, at(2, 8, 20))
	reqs = e.api.Wait(2, wait)
	if len(reqs) != 2 || !slices.Equal(bodies(reqs[1].Packets), []string{"Anyone?"}) || !reqs[1].At.Equal(at(2, 8, 20)) {
		t.Fatalf("second follow-up %+v", reqs)
	}
	waitFor(t, "two fired", func() bool { return e.obs.get(e.obs.follow, FollowUpFired) == 2 })
	if rows := e.timers(""); len(rows) != 0 {
		t.Fatalf("timers after the last rule %+v", rows)
	}
}
