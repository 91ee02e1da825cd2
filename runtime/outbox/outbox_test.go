package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// kind is the database the tests open: "sqlite" (by default) or
// "postgres" (TestOnPostgres).
var kind = "sqlite"

func open(t *testing.T) (*Store, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	addr := filepath.Join(t.TempDir(), "sub", "outbox.db")
	if kind == "postgres" {
		addr = storetest.Address(t, kind)
	}
	s, err := Open(context.Background(), addr, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

func job(cid string, seq int) NewJob {
	return NewJob{Bot: "webshop", FlowVersion: "abc123", CID: cid, Channel: "web",
		Context: []byte(fmt.Sprintf(`{"fb":1,"f":"webshop","jw":%d}`, seq)), Contact: map[string]string{"name": "Ada"},
		Job: engine.Job{Seq: seq, State: "lookup", Method: "GET", URL: "http://orders/A-1", Headers: [][2]string{{"X", "y"}},
			Body: []byte("{}"), Timeout: 3 * time.Second, Async: true}}
}

var ctx = context.Background()

func TestOpenMigratesOnceAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "flowbot.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, job("c1", 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v, n int
	if err := s.db.QueryRow(`SELECT MAX(version), COUNT(*) FROM flowbot_migrations`).Scan(&v, &n); err != nil || v != SchemaVersion || n != SchemaVersion {
		t.Fatalf("version %d of %d rows %v, want %d", v, n, err, SchemaVersion)
	}
	if jobs, _, _ := s.Depth(ctx); jobs != 1 {
		t.Fatalf("the job did not survive reopening: %d", jobs)
	}
	var mode string
	s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Fatalf("journal mode %q", mode)
	}
	// A file from a newer flowbot is refused.
	s.db.Exec(`INSERT INTO flowbot_migrations (version, name, applied_at) VALUES (99, 'newer', 0)`)
	s.Close()
	if _, err := Open(ctx, path, Options{}); err == nil || !strings.Contains(err.Error(), "newer flowbot") {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestClaimLeaseExpiry(t *testing.T) {
	s, clk := open(t)
	id1, _ := s.Enqueue(ctx, job("c1", 1))
	id2, _ := s.Enqueue(ctx, job("c2", 1))

	a, err := s.ClaimJob(ctx, 30*time.Second)
	if err != nil || a == nil || a.ID != id1 || a.Attempts != 1 {
		t.Fatalf("first claim %+v %v", a, err)
	}
	// The row round-trips.
	want := job("c1", 1)
	if a.Bot != want.Bot || a.CID != "c1" || a.Channel != "web" || string(a.Context) != string(want.Context) ||
		a.Contact["name"] != "Ada" || a.Job.URL != want.Job.URL || a.Job.Timeout != 3*time.Second || !a.Job.Async ||
		a.Job.Headers[0] != [2]string{"X", "y"} || string(a.Job.Body) != "{}" || a.Job.Seq != 1 {
		t.Fatalf("claimed job %+v", a)
	}
	b, _ := s.ClaimJob(ctx, 30*time.Second)
	if b == nil || b.ID != id2 {
		t.Fatalf("second claim %+v", b)
	}
	if c, _ := s.ClaimJob(ctx, 30*time.Second); c != nil {
		t.Fatalf("a third claim got %d while both are leased", c.ID)
	}
	if at, ok, _ := s.NextJobAt(ctx); !ok || !at.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("next job at %v %v", at, ok)
	}
	// b renews its lease; a's expires (its worker died): a is claimed again.
	clk.Advance(20 * time.Second)
	if err := s.RenewJob(ctx, b, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	a2, _ := s.ClaimJob(ctx, 30*time.Second)
	if a2 == nil || a2.ID != id1 || a2.Attempts != 2 {
		t.Fatalf("expired lease not re-claimed: %+v", a2)
	}
	if c, _ := s.ClaimJob(ctx, 30*time.Second); c != nil {
		t.Fatalf("b's renewed lease was taken: %d", c.ID)
	}
	// The first claimer lost it: it can neither renew nor finish.
	if err := s.RenewJob(ctx, a, time.Minute); !errors.Is(err, ErrLost) {
		t.Fatalf("renew by the old claimer: %v", err)
	}
	if _, err := s.FinishJob(ctx, a, Finish{Push: &NewPush{Bot: "webshop", CID: "c1", Events: []byte(`[{}]`), NEvents: 1}}); !errors.Is(err, ErrLost) {
		t.Fatalf("finish by the old claimer: %v", err)
	}
	// The new claimer finishes: job done and push written together.
	f, err := s.FinishJob(ctx, a2, Finish{Push: &NewPush{Bot: "webshop", CID: "c1", Events: []byte(`[{}]`), NEvents: 1}})
	if err != nil || f.PushID == "" {
		t.Fatalf("finish %+v %v", f, err)
	}
	if st, _, _ := s.JobState(ctx, id1); st != JobDone {
		t.Fatalf("state %s", st)
	}
	ps, _ := s.Pushes(ctx, "c1")
	if len(ps) != 1 || ps[0].PushID != f.PushID || ps[0].JobID != id1 || ps[0].State != PushPending {
		t.Fatalf("pushes %+v", ps)
	}
	// Release gives a job back for another try, without counting the attempt.
	if err := s.ReleaseJob(ctx, b); err != nil {
		t.Fatal(err)
	}
	b2, _ := s.ClaimJob(ctx, time.Second)
	if b2 == nil || b2.ID != id2 || b2.Attempts != 1 {
		t.Fatalf("released job: %+v", b2)
	}
	if err := s.FailJob(ctx, b2, "no api_url"); err != nil {
		t.Fatal(err)
	}
	if st, why, _ := s.JobState(ctx, id2); st != JobFailed || why != "no api_url" {
		t.Fatalf("failed job: %s %q", st, why)
	}
	if jobs, pushes, _ := s.Depth(ctx); jobs != 0 || pushes != 1 {
		t.Fatalf("depth %d %d", jobs, pushes)
	}
}

func TestSupersede(t *testing.T) {
	s, _ := open(t)
	idA, _ := s.Enqueue(ctx, job("c1", 1))
	idB, _ := s.Enqueue(ctx, job("c2", 1))
	a, _ := s.ClaimJob(ctx, time.Minute)
	// Another conversation's job, or another job number, is not touched.
	if n, err := s.Supersede(ctx, "webshop", "c1", 2); err != nil || n.Jobs != 0 {
		t.Fatalf("seq 2: %+v %v", n, err)
	}
	if n, err := s.Supersede(ctx, "other-bot", "c1", 1); err != nil || n.Jobs != 0 {
		t.Fatalf("other bot: %+v %v", n, err)
	}
	n, err := s.Supersede(ctx, "webshop", "c1", 1)
	if err != nil || n.Jobs != 1 {
		t.Fatalf("supersede %+v %v", n, err)
	}
	// The running worker can no longer finish it, nor renew its lease.
	if _, err := s.FinishJob(ctx, a, Finish{Push: &NewPush{Bot: "webshop", CID: "c1", Events: []byte(`[{}]`)}}); !errors.Is(err, ErrLost) {
		t.Fatalf("finishing a superseded job: %v", err)
	}
	if err := s.RenewJob(ctx, a, time.Minute); !errors.Is(err, ErrLost) {
		t.Fatalf("renewing a superseded job: %v", err)
	}
	if st, _, _ := s.JobState(ctx, idA); st != JobSuperseded {
		t.Fatalf("state %s", st)
	}
	if ps, _ := s.Pushes(ctx, "c1"); len(ps) != 0 {
		t.Fatalf("a superseded job left a push: %+v", ps)
	}
	// A finished job's pending push, and the job its result asked for, are
	// superseded too; a sent push is left alone.
	b, _ := s.ClaimJob(ctx, time.Minute)
	if b.ID != idB {
		t.Fatalf("claimed %d", b.ID)
	}
	next := job("c2", 2)
	f, err := s.FinishJob(ctx, b, Finish{Push: &NewPush{Bot: "webshop", CID: "c2", Events: []byte(`[{"n":1}]`), NEvents: 1}, Next: &next})
	if err != nil || f.NextID == 0 {
		t.Fatal(f, err)
	}
	n, err = s.Supersede(ctx, "webshop", "c2", 1)
	if err != nil || n.Jobs != 1 || n.Pushes != 1 {
		t.Fatalf("supersede a finished job: %+v %v", n, err)
	}
	jobs, _ := s.Jobs(ctx, "c2")
	if len(jobs) != 2 || jobs[0].State != JobDone || jobs[1].State != JobSuperseded || jobs[1].ParentID != idB {
		t.Fatalf("jobs %+v", jobs)
	}
	if ps, _ := s.Pushes(ctx, "c2"); len(ps) != 1 || ps[0].State != PushSuperseded {
		t.Fatalf("pushes %+v", ps)
	}
	if r, _ := s.ReadyCIDs(ctx, 10); len(r) != 0 {
		t.Fatalf("superseded pushes are ready: %+v", r)
	}
}

func push(s *Store, t *testing.T, bot, cid, body string) string {
	t.Helper()
	id, err := s.AddPush(ctx, NewPush{Bot: bot, CID: cid, Events: []byte(`[` + body + `]`), NEvents: strings.Count(body, "{")})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestBatchesPerConversationInOrder(t *testing.T) {
	s, clk := open(t)
	p1 := push(s, t, "webshop", "c1", `{"n":1}`)
	push(s, t, "webshop", "c2", `{"n":"x"}`)
	p2 := push(s, t, "webshop", "c1", `{"n":2},{"n":3}`)
	p3 := push(s, t, "webshop", "c1", `{"n":4}`)
	push(s, t, "other", "c1", `{"n":5}`) // another bot's URL: not in the same request
	ready, err := s.ReadyCIDs(ctx, 10)
	if err != nil || len(ready) != 2 || ready[0].CID != "c1" || ready[1].CID != "c2" || !ready[0].At.Equal(t0) {
		t.Fatalf("ready %+v %v", ready, err)
	}
	b, err := s.ClaimBatch(ctx, "c1", time.Minute, 50, 1<<20)
	if err != nil || b == nil {
		t.Fatal(b, err)
	}
	if got := strings.Join(b.PushIDs(), ","); got != p1+","+p2+","+p3 {
		t.Fatalf("batch %s", got)
	}
	if got := string(b.Events()); got != `[{"n":1},{"n":2},{"n":3},{"n":4}]` {
		t.Fatalf("events %s", got)
	}
	if b.NEvents() != 4 || b.Attempts() != 1 || b.Bot != "webshop" {
		t.Fatalf("batch %+v", b)
	}
	// While claimed, the conversation is not ready, and cannot be claimed twice.
	if again, _ := s.ClaimBatch(ctx, "c1", time.Minute, 50, 1<<20); again != nil {
		t.Fatalf("claimed twice: %v", again.PushIDs())
	}
	ready, _ = s.ReadyCIDs(ctx, 10)
	if len(ready) != 2 || ready[0].CID != "c2" || ready[1].CID != "c1" || !ready[1].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("ready while sending %+v", ready)
	}
	// A retry keeps the order and the ids, and counts the attempt.
	if err := s.Retry(ctx, b, t0.Add(5*time.Second), 500, "retry", "HTTP 500"); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.ClaimBatch(ctx, "c1", time.Minute, 50, 1<<20); again != nil {
		t.Fatal("claimed before its retry time")
	}
	clk.Advance(5 * time.Second)
	b2, _ := s.ClaimBatch(ctx, "c1", time.Minute, 2, 1<<20) // at most 2 pushes
	if b2 == nil || strings.Join(b2.PushIDs(), ",") != p1+","+p2 || b2.Attempts() != 2 {
		t.Fatalf("retry batch %+v", b2)
	}
	if n, err := s.MarkSent(ctx, b2, 200); err != nil || n != 2 {
		t.Fatalf("sent %d %v", n, err)
	}
	// The byte limit: the oldest always goes.
	b3, _ := s.ClaimBatch(ctx, "c1", time.Minute, 50, 1)
	if b3 == nil || strings.Join(b3.PushIDs(), ",") != p3 || b3.Attempts() != 2 {
		t.Fatalf("byte-limited batch %+v", b3)
	}
	if err := s.FailBatch(ctx, b3, 400, "HTTP 400: bad payload"); err != nil {
		t.Fatal(err)
	}
	rows, _ := s.Pushes(ctx, "c1")
	var states []string
	for _, r := range rows {
		states = append(states, fmt.Sprintf("%s/%d/%d", r.State, r.Attempts, r.LastStatus))
	}
	if got := strings.Join(states, " "); got != "sent/2/200 sent/2/200 failed/2/400 pending/0/0" {
		t.Fatalf("states %s", got)
	}
	// Now the other bot's push is the conversation's oldest.
	b4, _ := s.ClaimBatch(ctx, "c1", time.Minute, 50, 1<<20)
	if b4 == nil || b4.Bot != "other" {
		t.Fatalf("other bot's batch %+v", b4)
	}
	// The attempt log remembers every request, for the rate limit.
	at, err := s.AttemptsSince(ctx, t0.Add(-time.Minute))
	if err != nil || len(at) != 4 {
		t.Fatalf("attempts %+v %v", at, err)
	}
	if at[0].CID != "c1" || !at[0].At.Equal(t0) || !at[3].At.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("attempts %+v", at)
	}
}

func TestLeaseExpiryResendsSamePushID(t *testing.T) {
	s, clk := open(t)
	p1 := push(s, t, "webshop", "c1", `{"n":1}`)
	b, _ := s.ClaimBatch(ctx, "c1", 10*time.Second, 50, 1<<20)
	// The sender dies mid-request. Until its lease expires nobody sends.
	clk.Advance(9 * time.Second)
	if again, _ := s.ClaimBatch(ctx, "c1", 10*time.Second, 50, 1<<20); again != nil {
		t.Fatal("claimed under a live lease")
	}
	clk.Advance(time.Second)
	again, _ := s.ClaimBatch(ctx, "c1", 10*time.Second, 50, 1<<20)
	if again == nil || again.PushIDs()[0] != p1 || again.Attempts() != 2 {
		t.Fatalf("after expiry %+v", again)
	}
	// The first sender's late success changes nothing for the new claimer.
	if n, _ := s.MarkSent(ctx, b, 200); n != 0 {
		t.Fatalf("old claim marked %d", n)
	}
	if n, _ := s.MarkSent(ctx, again, 200); n != 1 {
		t.Fatalf("new claim marked %d", n)
	}
}

func TestDeferAndPrune(t *testing.T) {
	s, clk := open(t)
	push(s, t, "webshop", "c1", `{"n":1}`)
	if err := s.Defer(ctx, "c1", t0.Add(1500*time.Microsecond)); err != nil {
		t.Fatal(err)
	}
	ready, _ := s.ReadyCIDs(ctx, 10)
	if len(ready) != 1 || !ready[0].At.Equal(t0.Add(2*time.Millisecond)) {
		t.Fatalf("deferred to %v, want rounded up to 2ms", ready[0].At)
	}
	if b, _ := s.ClaimBatch(ctx, "c1", time.Minute, 50, 1<<20); b != nil {
		t.Fatal("claimed before its deferred time")
	}
	clk.Advance(2 * time.Millisecond)
	b, _ := s.ClaimBatch(ctx, "c1", time.Minute, 50, 1<<20)
	if b == nil || b.Attempts() != 1 {
		t.Fatalf("deferral counted as an attempt: %+v", b)
	}
	s.MarkSent(ctx, b, 200)
	id, _ := s.Enqueue(ctx, job("c1", 1))
	j, _ := s.ClaimJob(ctx, time.Minute)
	s.FinishJob(ctx, j, Finish{})
	clk.Advance(48 * time.Hour)
	s.Enqueue(ctx, job("c2", 1)) // open: kept
	n, err := s.Prune(ctx, clk.Now().Add(-24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if _, _, err := s.JobState(ctx, id); err == nil {
		t.Fatal("finished job kept")
	}
	if jobs, _, _ := s.Depth(ctx); jobs != 1 {
		t.Fatalf("open job pruned: %d", jobs)
	}
}

// TestConcurrentClaims: many goroutines claiming at once each get a
// different job, and every job is claimed once.
func TestConcurrentClaims(t *testing.T) {
	s, _ := open(t)
	const n = 40
	for i := range n {
		s.Enqueue(ctx, job(fmt.Sprintf("c%d", i), 1))
	}
	got := make(chan int64, n)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for {
				j, err := s.ClaimJob(ctx, time.Minute)
				if err != nil || j == nil {
					errs <- err
					return
				}
				got <- j.ID
			}
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(got)
	seen := map[int64]bool{}
	for id := range got {
		if seen[id] {
			t.Fatalf("job %d claimed twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d jobs claimed, want %d", len(seen), n)
	}
}
