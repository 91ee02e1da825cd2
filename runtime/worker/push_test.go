package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
	"github.com/flowbot/flowbot/runtime/userlikeapi"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// wait is how long a test waits (real time) for something that should
// happen at once.
const wait = 20 * time.Second

// testLogger writes the worker's logs to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// targetOnly is a Resumer for push tests: every bot's pushes go to url.
type targetOnly struct{ url, token string }

func (r targetOnly) Resume(context.Context, userlike.Continuation, engine.HTTPResult) (userlike.Resumed, error) {
	return userlike.Resumed{}, fmt.Errorf("not for this test")
}

func (r targetOnly) FireFollowUp(context.Context, userlike.FollowUp) (userlike.Resumed, error) {
	return userlike.Resumed{}, fmt.Errorf("not for this test")
}

func (r targetOnly) APITarget(string) (string, string, error) { return r.url, r.token, nil }

// counts is an Observer that counts.
type counts struct {
	mu     sync.Mutex
	pushes map[string]int
	jobs   map[string]int
	follow map[string]int // follow-ups by outcome
	failed map[string]int // pushes failed for good, by reason
}

func newCounts() *counts {
	return &counts{pushes: map[string]int{}, jobs: map[string]int{}, follow: map[string]int{}, failed: map[string]int{}}
}

func (c *counts) PushFailed(flow, reason string) {
	c.mu.Lock()
	c.failed[reason]++
	c.mu.Unlock()
}

func (c *counts) JobFinished(flow, outcome string, d time.Duration) {
	c.mu.Lock()
	c.jobs[outcome]++
	c.mu.Unlock()
}

func (c *counts) PushAttempt(outcome string) {
	c.mu.Lock()
	c.pushes[outcome]++
	c.mu.Unlock()
}

func (c *counts) get(m map[string]int, k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m[k]
}

// pushEnv is a worker with a fake clock sending to an emulated API URL.
type pushEnv struct {
	clk   *clock.Fake
	store *outbox.Store
	w     *Worker
	api   *platformtest.API
	obs   *counts
}

func newPushEnv(t *testing.T, respond func(n int, r *http.Request) (int, http.Header)) *pushEnv {
	t.Helper()
	clk := clock.NewFake(t0)
	st, err := outbox.Open(context.Background(), filepath.Join(t.TempDir(), "flowbot.db"), outbox.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	plat := platformtest.New("http://unused")
	api := plat.API("tok")
	api.Respond = respond
	api.Clock(clk.Now)
	srv := httptest.NewServer(api)
	obs := newCounts()
	w := New(Config{Store: st, Clock: clk, Logger: testLogger(t), Observer: obs, Poll: time.Hour, Lease: 10 * time.Minute,
		API:     &userlikeapi.Client{HTTP: srv.Client()},
		Backoff: userlikeapi.Backoff{Rand: func() float64 { return 0 }}}) // no jitter: delays of d/2
	if err := w.Start(targetOnly{url: srv.URL + "/api/v1", token: "tok"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Stop(context.Background())
		srv.Close()
		st.Close()
	})
	return &pushEnv{clk: clk, store: st, w: w, api: api, obs: obs}
}

// events returns a JSON array of n message events for cid, numbered from
// first, each with a context.
func events(cid string, first, n int) []byte {
	var out []map[string]any
	for i := first; i < first+n; i++ {
		out = append(out, map[string]any{
			"info":   map[string]any{"cid": cid, "context": map[string]any{"fb": 1, "f": "t", "v": "x", "s": fmt.Sprint("s", i)}},
			"packet": map[string]any{"name": "message", "payload": map[string]any{"body": fmt.Sprint("m", i)}},
		})
	}
	b, _ := json.Marshal(out)
	return b
}

func bodies(pks []platformtest.Packet) []string {
	var out []string
	for _, p := range pks {
		out = append(out, fmt.Sprint(p.Payload["body"]))
	}
	return out
}

// advanceToTimer waits for a timer due at exactly at, then moves the clock there.
func advanceToTimer(t *testing.T, clk *clock.Fake, at time.Time) {
	t.Helper()
	if !clk.WaitForTimer(at, wait) {
		t.Fatalf("nothing waits for %v; timers: %v", at.Sub(t0), clk.Timers())
	}
	clk.Set(at)
}

// TestPushRetries: the API URL answers 429 with Retry-After, then 500
// twice, then 200. The events arrive once, in order, with the same push id
// on every try, each try when it was due.
func TestPushRetries(t *testing.T) {
	e := newPushEnv(t, func(n int, r *http.Request) (int, http.Header) {
		switch n {
		case 1:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}}
		case 2, 3:
			return http.StatusInternalServerError, nil
		}
		return 0, nil
	})
	id, err := e.w.Push(context.Background(), outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", 1, 3), NEvents: 3})
	if err != nil {
		t.Fatal(err)
	}
	e.api.Wait(1, wait)
	advanceToTimer(t, e.clk, t0.Add(30*time.Second)) // Retry-After
	e.api.Wait(2, wait)
	advanceToTimer(t, e.clk, t0.Add(31*time.Second)) // backoff after the 2nd try: 2 s, jittered to [1 s, 2 s]
	e.api.Wait(3, wait)
	advanceToTimer(t, e.clk, t0.Add(33*time.Second)) // after the 3rd: 4 s → [2 s, 4 s]
	reqs := e.api.Wait(4, wait)
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	var statuses []int
	for i, r := range reqs {
		statuses = append(statuses, r.Status)
		if !slices.Equal(r.PushIDs, []string{id}) || r.Token != "tok" || r.CID != "c1" {
			t.Errorf("request %d: push ids %v token %q cid %q", i+1, r.PushIDs, r.Token, r.CID)
		}
	}
	if !slices.Equal(statuses, []int{429, 500, 500, 200}) {
		t.Fatalf("statuses %v", statuses)
	}
	for i, want := range []time.Duration{0, 30 * time.Second, 31 * time.Second, 33 * time.Second} {
		if got := reqs[i].At.Sub(t0); got != want {
			t.Errorf("request %d at %v, want %v", i+1, got, want)
		}
	}
	acc := e.api.Accepted()
	if len(acc) != 1 || !slices.Equal(bodies(acc[0].Packets), []string{"m1", "m2", "m3"}) {
		t.Fatalf("accepted %+v", acc)
	}
	waitFor(t, "the push marked sent", func() bool {
		rows, _ := e.store.Pushes(context.Background(), "c1")
		return len(rows) == 1 && rows[0].State == outbox.PushSent && rows[0].Attempts == 4 && rows[0].LastStatus == 200
	})
	for k, want := range map[string]int{"rate_limited": 1, "retry": 2, "sent": 1} {
		if got := e.obs.get(e.obs.pushes, k); got != want {
			t.Errorf("push attempts %s = %d, want %d", k, got, want)
		}
	}
}

// TestPushPermanentFailure: a 4xx other than 408 and 429 fails the push
// for good (kept visible with its status), and later pushes of the
// conversation still go.
func TestPushPermanentFailure(t *testing.T) {
	e := newPushEnv(t, func(n int, r *http.Request) (int, http.Header) {
		if n == 1 {
			return http.StatusNotFound, nil
		}
		return 0, nil
	})
	ctx := context.Background()
	e.w.Push(ctx, outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", 1, 1), NEvents: 1})
	e.api.Wait(1, wait)
	waitFor(t, "the push marked failed", func() bool {
		rows, _ := e.store.Pushes(ctx, "c1")
		return len(rows) == 1 && rows[0].State == outbox.PushFailed && rows[0].LastStatus == 404 && strings.Contains(rows[0].Error, "HTTP 404")
	})
	e.w.Push(ctx, outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", 2, 1), NEvents: 1})
	reqs := e.api.Wait(2, wait)
	if len(reqs) != 2 || !reqs[1].Accepted || !slices.Equal(bodies(reqs[1].Packets), []string{"m2"}) {
		t.Fatalf("requests %+v", reqs)
	}
	if got := len(e.clk.Timers()); got > 4 { // the job, push and timer loops' sleeps, and one lease renewal at most
		t.Errorf("%d timers waiting", got)
	}
}

// TestPushRateLimitAndBatching: more than 20 pushes for one cid within a
// minute. The first 20 go one request each; the rest wait (queued, not
// dropped) until the window slides, then go together in one request, in
// order. No 60-second window ever holds more than 20 requests.
func TestPushRateLimitAndBatching(t *testing.T) {
	e := newPushEnv(t, nil)
	ctx := context.Background()
	var ids []string
	add := func(i int) {
		id, err := e.w.Push(ctx, outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", i, 1), NEvents: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := 1; i <= 20; i++ {
		add(i)
		if got := len(e.api.Wait(i, wait)); got != i {
			t.Fatalf("push %d: %d requests", i, got)
		}
		e.clk.Advance(time.Second)
	}
	// t0+20s: 20 requests in the last minute. Five more pushes, a second apart.
	for i := 21; i <= 25; i++ {
		add(i)
		e.clk.Advance(time.Second)
	}
	// The sender waits for the oldest request to leave the window.
	if !e.clk.WaitForTimer(t0.Add(time.Minute), wait) {
		t.Fatalf("no wait for the rate limit; timers %v", e.clk.Timers())
	}
	if n := len(e.api.Requests()); n != 20 {
		t.Fatalf("%d requests before the window slid", n)
	}
	// Another conversation is not held up meanwhile.
	e.w.Push(ctx, outbox.NewPush{Bot: "b", CID: "c2", Events: events("c2", 1, 1), NEvents: 1})
	if reqs := e.api.Wait(21, wait); len(reqs) != 21 || reqs[20].CID != "c2" {
		t.Fatalf("c2 waited: %d requests", len(reqs))
	}
	e.clk.Set(t0.Add(time.Minute))
	reqs := e.api.Wait(22, wait)
	last := reqs[21]
	if last.CID != "c1" || !slices.Equal(last.PushIDs, ids[20:]) || !slices.Equal(bodies(last.Packets), []string{"m21", "m22", "m23", "m24", "m25"}) {
		t.Fatalf("the batch: push ids %v (want %v), events %v", last.PushIDs, ids[20:], bodies(last.Packets))
	}
	// And the next push waits for the next slot: t0+61s, when the request
	// of t0+1s leaves the window.
	add(26)
	advanceToTimer(t, e.clk, t0.Add(61*time.Second))
	reqs = e.api.Wait(23, wait)

	var c1 []platformtest.APIRequest
	var got []string
	for _, r := range reqs {
		if r.CID != "c1" {
			continue
		}
		c1 = append(c1, r)
		if !r.Accepted {
			t.Fatalf("request %d refused: %s", r.N, r.Error)
		}
		got = append(got, bodies(r.Packets)...)
	}
	var want []string
	for i := 1; i <= 26; i++ {
		want = append(want, fmt.Sprint("m", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events delivered %v", got)
	}
	for i, r := range c1 {
		n := 0
		for _, o := range c1[:i+1] {
			if o.At.After(r.At.Add(-time.Minute)) {
				n++
			}
		}
		if n > 20 {
			t.Fatalf("%d requests in the minute up to %v", n, r.At.Sub(t0))
		}
	}
	if len(c1) != 22 || c1[20].At.Sub(t0) != time.Minute || c1[21].At.Sub(t0) != 61*time.Second {
		t.Fatalf("%d requests for c1; the last at %v, %v", len(c1), c1[20].At.Sub(t0), c1[len(c1)-1].At.Sub(t0))
	}
}

// TestRateLimitSurvivesRestart: the requests of the last minute are read
// back from the attempt log at start.
func TestRateLimitSurvivesRestart(t *testing.T) {
	clk := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "flowbot.db")
	st, err := outbox.Open(context.Background(), path, outbox.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 20 {
		st.AddPush(context.Background(), outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", i, 1), NEvents: 1})
		b, _ := st.ClaimBatch(context.Background(), "c1", time.Minute, 1, 1<<20)
		st.MarkSent(context.Background(), b, 200)
		clk.Advance(time.Second)
	}
	lim := &userlikeapi.Limiter{}
	w := New(Config{Store: st, Clock: clk, Limiter: lim, Logger: testLogger(t), Poll: time.Hour})
	if err := w.Start(targetOnly{url: "http://127.0.0.1:1/unused"}); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(context.Background())
	if ok, next := lim.Allow("c1", clk.Now()); ok || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after restart: allowed %v, next %v", ok, next)
	}
}

// steppingClock is the worker's view of a fake clock that moves on by step
// right after each reading: time passes while the worker queries the
// outbox between reading the clock and going to sleep.
type steppingClock struct {
	*clock.Fake
	step time.Duration
}

func (c steppingClock) Now() time.Time {
	now := c.Fake.Now()
	c.Fake.Advance(c.step)
	return now
}

// TestRateLimitWaitKeepsItsDeadline: the time moves between the push loop
// reading the clock and going to sleep. The wait for the rate limit still
// ends when the oldest request leaves the window, not that much later
// (nor earlier).
func TestRateLimitWaitKeepsItsDeadline(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	st, err := outbox.Open(ctx, filepath.Join(t.TempDir(), "flowbot.db"), outbox.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 20 { // 20 requests for c1, a second apart, from t0
		st.AddPush(ctx, outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", i, 1), NEvents: 1})
		b, _ := st.ClaimBatch(ctx, "c1", time.Minute, 1, 1<<20)
		st.MarkSent(ctx, b, 200)
		clk.Advance(time.Second)
	}
	api := platformtest.New("http://unused").API("tok")
	api.Clock(clk.Now)
	srv := httptest.NewServer(api)
	defer srv.Close()
	w := New(Config{Store: st, Clock: steppingClock{clk, time.Second}, Logger: testLogger(t), Poll: time.Hour, Lease: 10 * time.Minute,
		API: &userlikeapi.Client{HTTP: srv.Client()}})
	if err := w.Start(targetOnly{url: srv.URL + "/api/v1", token: "tok"}); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(ctx)
	if _, err := w.Push(ctx, outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", 20, 1), NEvents: 1}); err != nil {
		t.Fatal(err)
	}
	if !clk.WaitForTimer(t0.Add(time.Minute), wait) {
		t.Fatalf("the rate-limit wait does not end at %v; timers %v", t0.Add(time.Minute), clk.Timers())
	}
	if n := len(api.Requests()); n != 0 {
		t.Fatalf("%d requests within the rate limit's wait", n)
	}
	clk.Set(t0.Add(time.Minute))
	if reqs := api.Wait(1, wait); len(reqs) != 1 || reqs[0].At.Before(t0.Add(time.Minute)) || !reqs[0].Accepted {
		t.Fatalf("requests %+v", reqs)
	}
}

// waitFor polls cond (real time) until it holds or the test times out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPushRefusedBatchSplit: the API URL refuses (400) a request of three
// pushes because of one of them. Each is sent again alone: the other two
// are delivered, in order, and only the refused one fails for good,
// counted by reason.
func TestPushRefusedBatchSplit(t *testing.T) {
	var bad atomic.Value
	bad.Store("")
	e := newPushEnv(t, func(n int, r *http.Request) (int, http.Header) {
		if strings.Contains(r.Header.Get("X-Flowbot-Push-Id"), bad.Load().(string)) {
			return http.StatusBadRequest, nil
		}
		return 0, nil
	})
	ctx := context.Background()
	// The loops asleep (until Poll), the first two pushes wait unseen.
	waitFor(t, "the loops asleep", func() bool { return len(e.clk.Timers()) >= 3 })
	e.store.AddPush(ctx, outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", 1, 1), NEvents: 1})
	id2, _ := e.store.AddPush(ctx, outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", 2, 1), NEvents: 1})
	bad.Store(id2)
	e.w.Push(ctx, outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", 3, 1), NEvents: 1}) // wakes the sender: a batch with the bad push and another
	waitFor(t, "the refused push failed, the others sent", func() bool {
		rows, _ := e.store.Pushes(ctx, "c1")
		return len(rows) == 3 && rows[0].State == outbox.PushSent && rows[1].State == outbox.PushFailed && rows[2].State == outbox.PushSent
	})
	split := false
	for _, r := range e.api.Requests() {
		split = split || (len(r.PushIDs) > 1 && r.Status == 400)
	}
	if !split {
		t.Fatalf("no refused request of several pushes: %+v", e.api.Requests())
	}
	var got []string
	for _, r := range e.api.Accepted() {
		got = append(got, bodies(r.Packets)...)
	}
	if !slices.Equal(got, []string{"m1", "m3"}) {
		t.Fatalf("delivered %v, want m1 and m3", got)
	}
	if n := e.obs.get(e.obs.failed, PushRefused); n != 1 {
		t.Errorf("push failures (refused) %d, want 1", n)
	}
}

// TestPushUnauthorizedRetried: a 401 (the flow's api_token refused) is
// retried with backoff, not dropped: once the token works the push goes.
func TestPushUnauthorizedRetried(t *testing.T) {
	e := newPushEnv(t, func(n int, r *http.Request) (int, http.Header) {
		if n == 1 {
			return http.StatusUnauthorized, nil
		}
		return 0, nil
	})
	id, _ := e.w.Push(context.Background(), outbox.NewPush{Bot: "b", CID: "c1", Events: events("c1", 1, 1), NEvents: 1})
	e.api.Wait(1, wait)
	advanceToTimer(t, e.clk, t0.Add(500*time.Millisecond)) // backoff after the 1st try: 1 s, jittered to [0.5 s, 1 s]
	reqs := e.api.Wait(2, wait)
	if len(reqs) != 2 || !reqs[1].Accepted || !slices.Equal(reqs[1].PushIDs, []string{id}) {
		t.Fatalf("requests %+v", reqs)
	}
	if n := e.obs.get(e.obs.failed, PushUnauthorized); n != 0 {
		t.Errorf("a retried push counted as failed")
	}
}
