package delivery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// wait is how long a test waits (real time) for something that should
// happen at once.
const wait = 20 * time.Second

// fakeQueue is an in-memory Queue with the store's rules: a conversation's
// oldest pending message is the only one that can be claimed, claims are
// leases, and NextDelivery counts every pending delivery (a leased one at
// its lease's end), as the SQL store does.
type fakeQueue struct {
	mu       sync.Mutex
	changed  *sync.Cond
	convs    map[string][]*fakeMsg // pending messages of each conversation, in seq order
	order    []string              // conversations in the order they were added
	byID     map[string]*fakeMsg
	attempts map[string][]store.Outcome
	finished int // outcomes recorded
	done     int // deliveries delivered
	leased   int // claimed deliveries not finished yet

	claimErrs, finishErrs int // fail the next calls
}

type fakeMsg struct {
	d          store.Delivery
	leaseUntil time.Time
	owner      string
	delivered  bool
}

func newFakeQueue() *fakeQueue {
	q := &fakeQueue{convs: map[string][]*fakeMsg{}, byID: map[string]*fakeMsg{}, attempts: map[string][]store.Outcome{}}
	q.changed = sync.NewCond(&q.mu)
	return q
}

// add queues a bot message for conversation conv's webhook url, due at due.
func (q *fakeQueue) add(conv, id, url, text string, due time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.convs[conv]; !ok {
		q.order = append(q.order, conv)
	}
	m := &fakeMsg{d: store.Delivery{MessageID: id, ConversationID: conv, Seq: int64(len(q.convs[conv]) + 1), URL: url,
		Text: text, CreatedAt: due, State: store.DeliveryPending, DueAt: due}}
	q.convs[conv] = append(q.convs[conv], m)
	q.byID[id] = m
	q.changed.Broadcast()
}

func (q *fakeQueue) ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.claimErrs > 0 {
		q.claimErrs--
		return nil, fmt.Errorf("database is locked")
	}
	var out []store.Delivery
	for _, c := range q.order {
		if len(out) >= limit {
			break
		}
		ms := q.convs[c]
		if len(ms) == 0 {
			continue
		}
		m := ms[0]
		if m.d.DueAt.After(now) || m.leaseUntil.After(now) {
			continue
		}
		if m.owner == "" {
			q.leased++
		}
		m.leaseUntil, m.owner = now.Add(lease), owner
		out = append(out, m.d)
	}
	return out, nil
}

func (q *fakeQueue) FinishDeliveries(ctx context.Context, outcomes []store.Outcome) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.finishErrs > 0 {
		q.finishErrs--
		return fmt.Errorf("disk I/O error")
	}
	for _, o := range outcomes {
		q.attempts[o.MessageID] = append(q.attempts[o.MessageID], o)
		q.finished++
		m := q.byID[o.MessageID]
		if m == nil || m.delivered {
			continue
		}
		if m.owner != "" {
			q.leased--
		}
		m.d.Attempts++
		m.leaseUntil, m.owner = time.Time{}, ""
		m.d.LastStatus, m.d.LastError = o.Status, o.Error
		if !o.Delivered {
			m.d.DueAt = o.Retry
			continue
		}
		ms := q.convs[m.d.ConversationID]
		if ms[0] != m {
			panic("delivered a message that is not its conversation's oldest")
		}
		q.convs[m.d.ConversationID] = ms[1:]
		m.delivered = true
		m.d.State = store.DeliveryDelivered
		q.done++
	}
	q.changed.Broadcast()
	return nil
}

func (q *fakeQueue) NextDelivery(ctx context.Context) (time.Time, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var next time.Time
	for _, ms := range q.convs {
		for i, m := range ms {
			at := m.d.DueAt
			if m.leaseUntil.After(at) {
				at = m.leaseUntil
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
			if i == 1 {
				break // the others are queued no earlier, in these tests
			}
		}
	}
	return next, !next.IsZero(), nil
}

// waitFor waits (real time) until cond, run with q.mu held, holds.
func (q *fakeQueue) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	stop := time.AfterFunc(wait, func() {
		q.mu.Lock()
		q.changed.Broadcast()
		q.mu.Unlock()
	})
	defer stop.Stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for !cond() {
		if !time.Now().Before(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		q.changed.Wait()
	}
}

func (q *fakeQueue) waitAttempts(t testing.TB, id string, n int) []store.Outcome {
	t.Helper()
	q.waitFor(t, fmt.Sprintf("%d attempts of %s", n, id), func() bool { return len(q.attempts[id]) >= n })
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]store.Outcome(nil), q.attempts[id]...)
}

func (q *fakeQueue) message(id string) fakeMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	return *q.byID[id]
}

// logBuffer keeps the worker's logs for the test to read, and shows them in
// the test's log.
type logBuffer struct {
	t   testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{t: t}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// observer counts the attempts it is told about.
type observer struct {
	mu       sync.Mutex
	statuses []int
}

func (o *observer) Attempt(status int, delivered bool, d time.Duration) {
	o.mu.Lock()
	o.statuses = append(o.statuses, status)
	o.mu.Unlock()
}

// start runs w until the test ends, and checks that Run then returns.
func start(t *testing.T, w *Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(wait):
				t.Errorf("Run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func half() float64 { return 0.5 } // no jitter

// A webhook that fails three times (503, 503, 500) gets the message on the
// fourth attempt, each attempt at the time the schedule says, with the
// same webhook-id and body, signed for its own timestamp.
func TestRetriesUntilDelivered(t *testing.T) {
	var rec recorder
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		switch n.Add(1) {
		case 1, 2:
			w.WriteHeader(503)
		case 3:
			w.WriteHeader(500)
		default:
			w.WriteHeader(200)
		}
	}))
	defer srv.Close()
	signer, err := NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	q := newFakeQueue()
	q.add("conv_1", "msg_1", srv.URL+"/hook", "the secret text of the bot", t0)
	log, logs := newLogger(t)
	obs := &observer{}
	w := &Worker{Queue: q, Sender: &Sender{Signer: signer, Network: loopback}, Clock: clk, Owner: "w1", PollInterval: time.Hour,
		Log: log, Observer: obs, Rand: half}
	start(t, w)

	at := t0
	for i, step := range []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute} {
		q.waitAttempts(t, "msg_1", i+1)
		next := at.Add(step)
		if m := q.message("msg_1"); !m.d.DueAt.Equal(next) || m.delivered {
			t.Fatalf("after attempt %d: due %v (delivered %v), want due %v", i+1, m.d.DueAt, m.delivered, next)
		}
		// The worker sleeps until then (not before: the poll is an hour).
		if !clk.WaitForTimer(next, wait) {
			t.Fatalf("after attempt %d: no timer at %v; timers %v", i+1, next, clk.Timers())
		}
		clk.Set(next)
		at = next
	}
	attempts := q.waitAttempts(t, "msg_1", 4)
	q.waitFor(t, "delivered", func() bool { return q.done == 1 })

	wantStatus := []int{503, 503, 500, 200}
	wantAt := []time.Time{t0, t0.Add(5 * time.Second), t0.Add(5*time.Second + 5*time.Minute), t0.Add(5*time.Second + 35*time.Minute)}
	for i, a := range attempts {
		if a.Status != wantStatus[i] || a.Delivered != (i == 3) || !a.At.Equal(wantAt[i]) || a.Owner != "w1" {
			t.Errorf("attempt %d: %+v; want status %d at %v", i+1, a, wantStatus[i], wantAt[i])
		}
		if i < 3 {
			if want := "webhook answered " + strconv.Itoa(wantStatus[i]); a.Error != want {
				t.Errorf("attempt %d: error %q, want %q", i+1, a.Error, want)
			}
			if !a.Retry.Equal(wantAt[i+1]) {
				t.Errorf("attempt %d: retry at %v, want %v", i+1, a.Retry, wantAt[i+1])
			}
		} else if a.Error != "" {
			t.Errorf("delivered attempt has error %q", a.Error)
		}
	}

	reqs := rec.all()
	if len(reqs) != 4 {
		t.Fatalf("the webhook got %d requests, want 4", len(reqs))
	}
	ref, _ := standardwebhooks.NewWebhook(testSecret)
	for i, r := range reqs {
		if id := r.header.Get("webhook-id"); id != "msg_1" {
			t.Errorf("request %d: webhook-id %q", i+1, id)
		}
		if ts := r.header.Get("webhook-timestamp"); ts != strconv.FormatInt(wantAt[i].Unix(), 10) {
			t.Errorf("request %d: webhook-timestamp %s, want %d", i+1, ts, wantAt[i].Unix())
		}
		if !bytes.Equal(r.body, reqs[0].body) {
			t.Errorf("request %d: body changed: %s", i+1, r.body)
		}
		// The fake clock is not the real time: check the signature only.
		if err := ref.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
			t.Errorf("request %d: signature: %v", i+1, err)
		}
	}

	obs.mu.Lock()
	if fmt.Sprint(obs.statuses) != "[503 503 500 200]" {
		t.Errorf("observer saw %v", obs.statuses)
	}
	obs.mu.Unlock()
	out := logs.String()
	for _, s := range []string{"level=WARN", "conversation_id=conv_1", "message_id=msg_1", "attempt=3", "status=500",
		`error="webhook answered 500"`, "retry_in=30m0s"} {
		if !strings.Contains(out, s) {
			t.Errorf("the logs lack %s", s)
		}
	}
	if strings.Contains(out, "secret text") {
		t.Errorf("the logs show the message's text")
	}
}

// Retry-After (seconds, or a date) replaces the schedule's wait.
func TestRetryAfter(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(503)
		case 2:
			// An hour after this attempt's time (its webhook-timestamp).
			ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
			w.Header().Set("Retry-After", time.Unix(ts, 0).Add(time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(429)
		case 3:
			w.Header().Set("Retry-After", "999999") // capped at a day
			w.WriteHeader(500)
		default:
			w.WriteHeader(202)
		}
	}))
	defer srv.Close()
	clk := clock.NewFake(t0)
	q := newFakeQueue()
	q.add("conv_1", "msg_1", srv.URL, "hi", t0)
	log, _ := newLogger(t)
	start(t, &Worker{Queue: q, Sender: &Sender{Network: loopback}, Clock: clk, PollInterval: 1000 * time.Hour, Log: log, Rand: half})

	at := t0
	for i, step := range []time.Duration{2 * time.Minute, time.Hour, 24 * time.Hour} {
		a := q.waitAttempts(t, "msg_1", i+1)[i]
		next := at.Add(step)
		if !a.Retry.Equal(next) {
			t.Fatalf("attempt %d (status %d): retry at %v, want %v", i+1, a.Status, a.Retry, next)
		}
		if !clk.WaitForTimer(next, wait) {
			t.Fatalf("no timer at %v; timers %v", next, clk.Timers())
		}
		clk.Set(next)
		at = next
	}
	q.waitFor(t, "delivered", func() bool { return q.done == 1 })
}

// Three conversations of 20 messages each, sent concurrently, failing now
// and then: each conversation's webhook gets its messages one at a time, in
// order, and a failed one again before the next.
func TestOrderPerConversation(t *testing.T) {
	const convs, msgs = 3, 20
	type convState struct {
		mu       sync.Mutex
		next     int // index of the message expected
		requests int
		active   atomic.Int32
	}
	states := make([]*convState, convs)
	for i := range states {
		states[i] = &convState{}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/c"))
		st := states[c]
		if st.active.Add(1) != 1 {
			t.Errorf("conversation %d: two requests at once", c)
		}
		defer st.active.Add(-1)
		st.mu.Lock()
		defer st.mu.Unlock()
		id := r.Header.Get("webhook-id")
		if want := fmt.Sprintf("c%d-m%02d", c, st.next); id != want {
			t.Errorf("conversation %d: got %s, want %s", c, id, want)
		}
		st.requests++
		if st.requests%3 == 0 {
			w.WriteHeader(500) // retried at once (the schedule is 0)
			return
		}
		st.next++
	}))
	defer srv.Close()
	clk := clock.NewFake(t0)
	q := newFakeQueue()
	for m := range msgs {
		for c := range convs {
			q.add(fmt.Sprintf("conv_%d", c), fmt.Sprintf("c%d-m%02d", c, m), fmt.Sprintf("%s/c%d", srv.URL, c), "text", t0)
		}
	}
	w := &Worker{Queue: q, Sender: &Sender{Network: loopback}, Clock: clk, Schedule: Schedule{0}, PollInterval: time.Hour,
		Log: slog.New(slog.DiscardHandler), Concurrency: 8, Batch: 2}
	start(t, w)
	// The clock never moves: each delivery makes the next one claimable.
	q.waitFor(t, "all delivered", func() bool { return q.done == convs*msgs })
	for c, st := range states {
		st.mu.Lock()
		if st.next != msgs {
			t.Errorf("conversation %d: %d messages delivered", c, st.next)
		}
		st.mu.Unlock()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.finished <= convs*msgs {
		t.Errorf("%d attempts: the failures were not retried?", q.finished)
	}
	if q.leased != 0 {
		t.Errorf("%d deliveries still leased", q.leased)
	}
}

// Wake makes a sleeping worker claim at once; without it, the poll finds
// the delivery.
func TestWakeAndPoll(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer srv.Close()
	clk := clock.NewFake(t0)
	q := newFakeQueue()
	w := &Worker{Queue: q, Sender: &Sender{Network: loopback}, Clock: clk, Log: slog.New(slog.DiscardHandler)}
	w.Wake() // before Run: harmless
	start(t, w)
	poll := t0.Add(DefaultPollInterval)
	if !clk.WaitForTimer(poll, wait) {
		t.Fatalf("the idle worker does not poll at %v; timers %v", poll, clk.Timers())
	}
	q.add("conv_1", "msg_1", srv.URL, "hi", t0)
	w.Wake()
	q.waitFor(t, "delivered after Wake", func() bool { return q.done == 1 })

	if !clk.WaitForTimer(poll, wait) {
		t.Fatalf("the idle worker does not poll at %v; timers %v", poll, clk.Timers())
	}
	q.add("conv_2", "msg_2", srv.URL, "hi", t0) // by another process: no Wake
	clk.Set(poll)
	q.waitFor(t, "delivered at the poll", func() bool { return q.done == 2 })
	if got.Load() != 2 {
		t.Errorf("%d requests", got.Load())
	}
}

// Queue errors are logged and retried after a short wait.
func TestQueueErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	clk := clock.NewFake(t0)
	q := newFakeQueue()
	q.claimErrs, q.finishErrs = 2, 1
	q.add("conv_1", "msg_1", srv.URL, "hi", t0)
	log, logs := newLogger(t)
	start(t, &Worker{Queue: q, Sender: &Sender{Network: loopback}, Clock: clk, PollInterval: time.Hour, Log: log})
	at := t0
	for _, step := range []time.Duration{errBackoffMin, 2 * errBackoffMin} { // two failed claims
		at = at.Add(step)
		if !clk.WaitForTimer(at, wait) {
			t.Fatalf("no retry of the claim at %v; timers %v", at, clk.Timers())
		}
		clk.Set(at)
	}
	at = at.Add(errBackoffMin) // one failed finish
	if !clk.WaitForTimer(at, wait) {
		t.Fatalf("no retry of the finish at %v; timers %v", at, clk.Timers())
	}
	clk.Set(at)
	q.waitFor(t, "delivered", func() bool { return q.done == 1 })
	if a := q.waitAttempts(t, "msg_1", 1); len(a) != 1 || !a[0].Delivered {
		t.Errorf("attempts %+v", a)
	}
	out := logs.String()
	for _, s := range []string{"cannot claim deliveries", `error="database is locked"`, "cannot record delivery attempts; trying again"} {
		if !strings.Contains(out, s) {
			t.Errorf("the logs lack %q", s)
		}
	}
}

// Cancelling Run interrupts the request in flight, records it as an
// interrupted attempt due again at once, and returns.
func TestRunStopsOnCancel(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	clk := clock.NewFake(t0)
	q := newFakeQueue()
	q.add("conv_1", "msg_1", srv.URL, "hi", t0)
	w := &Worker{Queue: q, Sender: &Sender{Network: loopback}, Clock: clk, Log: slog.New(slog.DiscardHandler)}
	stop := start(t, w)
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("no request")
	}
	stop() // fails the test if Run does not return
	a := q.waitAttempts(t, "msg_1", 1)
	if len(a) != 1 || a[0].Delivered || a[0].Status != 0 || a[0].Error != "interrupted by shutdown" || !a[0].Retry.Equal(t0) {
		t.Errorf("attempts %+v", a)
	}
	if m := q.message("msg_1"); m.owner != "" || m.delivered || !m.d.DueAt.Equal(t0) {
		t.Errorf("after shutdown: %+v", m)
	}

	// An idle worker stops too, and can run again.
	stop = start(t, w)
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("no request after the restart")
	}
	stop()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&Worker{Queue: q, Sender: &Sender{Network: loopback}, Clock: clk}).Run(ctx); err != nil {
		t.Errorf("Run with a cancelled context: %v", err)
	}
	if err := (&Worker{Sender: &Sender{Network: loopback}}).Run(ctx); err == nil {
		t.Errorf("Run without a Queue: no error")
	}
}

func TestWorkerDefaults(t *testing.T) {
	w := &Worker{Queue: newFakeQueue(), Sender: &Sender{Network: loopback}}
	w.init()
	r := w.newRun()
	if r.sender.Timeout != DefaultTimeout || r.lease != DefaultLease || r.conc != DefaultConcurrency ||
		r.batch != DefaultBatch || r.poll != DefaultPollInterval || len(r.schedule) != len(DefaultSchedule) ||
		!strings.HasPrefix(r.owner, "delivery-") {
		t.Errorf("defaults: %+v", r)
	}
	w = &Worker{Queue: newFakeQueue(), Sender: &Sender{Timeout: time.Minute}, Lease: 10 * time.Second}
	if got := w.newRun().sender.Timeout; got != 5*time.Second {
		t.Errorf("timeout with a 10s lease = %v, want 5s", got)
	}
	w = &Worker{Queue: newFakeQueue(), Sender: &Sender{Timeout: time.Second}}
	if got := w.newRun().sender.Timeout; got != time.Second {
		t.Errorf("timeout = %v, want 1s", got)
	}
}

// BenchmarkDeliver measures deliveries per second to a local webhook that
// answers 200, through the in-memory queue (so the store is not measured).
func BenchmarkDeliver(b *testing.B) {
	for _, conc := range []int{16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			defer srv.Close()
			q := newFakeQueue()
			now := time.Now()
			for i := range b.N {
				q.add(fmt.Sprintf("conv_%d", i%256), fmt.Sprintf("msg_%d", i), srv.URL, "hello, this is a bot message", now)
			}
			signer, _ := NewSigner(testSecret)
			w := &Worker{Queue: q, Sender: &Sender{Signer: signer, Network: loopback}, Concurrency: conc, Log: slog.New(slog.DiscardHandler)}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			b.ResetTimer()
			begin := time.Now()
			go func() { done <- w.Run(ctx) }()
			q.waitFor(b, "all delivered", func() bool { return q.done == b.N })
			elapsed := time.Since(begin)
			b.StopTimer()
			cancel()
			<-done
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
		})
	}
}

// TestRefusedWebhookIsRetried: a webhook on a refused address (loopback,
// not allowed) is a failed attempt with the guard's error, retried on the
// schedule like any other failure; the webhook is never called.
func TestRefusedWebhookIsRetried(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	clk := clock.NewFake(t0)
	q := newFakeQueue()
	q.add("conv_1", "msg_1", srv.URL+"/hook", "hi", t0)
	log, logs := newLogger(t)
	obs := &observer{}
	start(t, &Worker{Queue: q, Sender: &Sender{}, Clock: clk, PollInterval: time.Hour, Log: log, Observer: obs, Rand: half})

	want := "POST failed: refusing to connect to " + strings.TrimPrefix(srv.URL, "http://") +
		" (loopback): allow it with --allow-network loopback (or FLOWBOT_ALLOW_NETWORK=loopback)"
	at := t0
	for i, step := range []time.Duration{5 * time.Second, 5 * time.Minute} {
		a := q.waitAttempts(t, "msg_1", i+1)[i]
		next := at.Add(step)
		if a.Delivered || a.Status != 0 || a.Error != want || !a.Retry.Equal(next) {
			t.Fatalf("attempt %d: %+v\nwant error %q, retry at %v", i+1, a, want, next)
		}
		if !clk.WaitForTimer(next, wait) {
			t.Fatalf("after attempt %d: no timer at %v; timers %v", i+1, next, clk.Timers())
		}
		clk.Set(next)
		at = next
	}
	q.waitAttempts(t, "msg_1", 3)
	if m := q.message("msg_1"); m.delivered || m.d.LastError != want {
		t.Errorf("message: %+v", m.d)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the webhook got %d requests", n)
	}
	if !strings.Contains(logs.String(), "allow it with --allow-network loopback") {
		t.Errorf("the logs do not say how to allow the address:\n%s", logs)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.statuses) < 3 {
		t.Errorf("observed %d attempts", len(obs.statuses))
	}
}
