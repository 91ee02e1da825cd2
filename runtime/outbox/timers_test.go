package outbox

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/turn"
)

func timer(cid string, due time.Duration, ctxState string) NewTimer {
	return NewTimer{Bot: "remind", FlowVersion: "v1", CID: cid, Channel: "web", Contact: map[string]string{"name": "Ada"},
		State: ctxState, Rule: 0, DueAt: t0.Add(due), Base: t0, Context: []byte(fmt.Sprintf(`{"fb":1,"f":"remind","s":%q}`, ctxState))}
}

// TestTimerSetReplaceCancel: one timer per conversation; setting replaces
// (and takes it from a worker holding it), cancelling deletes; both
// supersede the conversation's pending follow-up pushes, and only those.
func TestTimerSetReplaceCancel(t *testing.T) {
	s, clk := open(t)
	if err := s.SetTimer(ctx, timer("c1", 10*time.Minute, "ask")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTimer(ctx, timer("c2", 5*time.Minute, "ask")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimTimer(ctx, time.Minute); got != nil {
		t.Fatalf("claimed before due: %+v", got)
	}
	if at, ok, err := s.NextTimerAt(ctx, t0); !ok || err != nil || !at.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("next %v %v %v", at, ok, err)
	}
	clk.Set(t0.Add(10 * time.Minute))
	first, err := s.ClaimTimer(ctx, time.Minute)
	if err != nil || first == nil || first.CID != "c2" || first.Attempts != 1 || first.Contact["name"] != "Ada" ||
		first.Hash != turn.ContextHash(first.Context) || !first.Base.Equal(t0) || !first.DueAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("first claim %+v %v", first, err)
	}
	second, _ := s.ClaimTimer(ctx, time.Minute)
	if second == nil || second.CID != "c1" {
		t.Fatalf("second claim %+v", second)
	}
	if again, _ := s.ClaimTimer(ctx, time.Minute); again != nil {
		t.Fatalf("claimed twice: %+v", again)
	}
	// The lease of the claimed ones is what comes next.
	if at, ok, _ := s.NextTimerAt(ctx, clk.Now()); !ok || !at.Equal(t0.Add(11*time.Minute)) {
		t.Fatalf("next while claimed %v %v", at, ok)
	}
	// c1 fires: its follow-up push waits to be sent. c2 fires and says
	// nothing; a job's push of c2 waits too.
	fu, _ := s.FinishTimer(ctx, second, TimerFinish{Push: &NewPush{Bot: "remind", CID: "c1", Events: []byte(`[]`)}})
	if fu.PushID == "" {
		t.Fatal("no push written")
	}
	if _, err := s.AddPush(ctx, NewPush{Bot: "remind", CID: "c2", Events: []byte(`[]`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishTimer(ctx, first, TimerFinish{}); err != nil {
		t.Fatal(err)
	}
	// Activity: c2 re-armed, c1 cancelled. c1's pending follow-up push is
	// superseded; c2's is a job's and stays.
	if err := s.SetTimer(ctx, timer("c2", 20*time.Minute, "ask")); err != nil {
		t.Fatal(err)
	}
	if err := s.CancelTimer(ctx, "remind", "c1"); err != nil {
		t.Fatal(err)
	}
	ps, _ := s.Pushes(ctx, "")
	if len(ps) != 2 || ps[0].CID != "c1" || !ps[0].FollowUp || ps[0].State != PushSuperseded || ps[1].FollowUp || ps[1].State != PushPending {
		t.Fatalf("pushes %+v", ps)
	}
	rows, _ := s.Timers(ctx, "")
	if len(rows) != 1 || rows[0].CID != "c2" || rows[0].Claimed || !rows[0].DueAt.Equal(t0.Add(20*time.Minute)) {
		t.Fatalf("timers %+v", rows)
	}
	if n, _ := s.ArmedTimers(ctx); n != 1 {
		t.Fatalf("%d armed", n)
	}
}

// TestTimerFinishNeedsTheClaim: a timer re-armed or cancelled after it was
// claimed cannot be finished, renewed or dropped by its worker: nothing is
// written. One whose lease expired is claimed again.
func TestTimerFinishNeedsTheClaim(t *testing.T) {
	s, clk := open(t)
	s.SetTimer(ctx, timer("c1", time.Minute, "ask"))
	clk.Set(t0.Add(time.Minute))
	tm, _ := s.ClaimTimer(ctx, 30*time.Second)
	if tm == nil {
		t.Fatal("not claimed")
	}
	if err := s.RenewTimer(ctx, tm, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	next := timer("c1", 30*time.Minute, "ask")
	s.SetTimer(ctx, timer("c1", 10*time.Minute, "ask2")) // the contact wrote
	f := TimerFinish{Push: &NewPush{Bot: "remind", CID: "c1", Events: []byte(`[]`)}, Timer: &next, Next: ptr(job("c1", 3))}
	if _, err := s.FinishTimer(ctx, tm, f); !errors.Is(err, ErrLost) {
		t.Fatalf("finish after activity: %v", err)
	}
	for name, err := range map[string]error{"renew": s.RenewTimer(ctx, tm, time.Minute), "drop": s.DropTimer(ctx, tm), "release": s.ReleaseTimer(ctx, tm)} {
		if !errors.Is(err, ErrLost) {
			t.Fatalf("%s after activity: %v", name, err)
		}
	}
	ps, _ := s.Pushes(ctx, "")
	jobs, _ := s.Jobs(ctx, "")
	rows, _ := s.Timers(ctx, "c1")
	if len(ps) != 0 || len(jobs) != 0 || len(rows) != 1 || rows[0].State != "ask2" || rows[0].Claimed {
		t.Fatalf("after a lost finish: pushes %+v jobs %+v timers %+v", ps, jobs, rows)
	}

	// A worker that died: its lease expires and the timer is claimed again.
	clk.Set(t0.Add(10 * time.Minute))
	dead, _ := s.ClaimTimer(ctx, 30*time.Second)
	if dead == nil || dead.Attempts != 1 {
		t.Fatalf("claim %+v", dead)
	}
	clk.Advance(31 * time.Second)
	again, _ := s.ClaimTimer(ctx, 30*time.Second)
	if again == nil || again.Attempts != 2 {
		t.Fatalf("reclaim %+v", again)
	}
	if _, err := s.FinishTimer(ctx, dead, TimerFinish{}); !errors.Is(err, ErrLost) {
		t.Fatalf("the dead worker finished: %v", err)
	}
	// The holder finishes: push, job and next timer in one go.
	done, err := s.FinishTimer(ctx, again, f)
	if err != nil || done.PushID == "" || done.NextID == 0 {
		t.Fatalf("finish %+v %v", done, err)
	}
	rows, _ = s.Timers(ctx, "c1")
	if len(rows) != 1 || !rows[0].DueAt.Equal(t0.Add(30*time.Minute)) || rows[0].Claimed || rows[0].Attempts != 0 {
		t.Fatalf("next timer %+v", rows)
	}
	ps, _ = s.Pushes(ctx, "c1")
	if len(ps) != 1 || !ps[0].FollowUp {
		t.Fatalf("push %+v", ps)
	}
	// Released (shutdown): claimable at once, the attempt not counted.
	clk.Set(t0.Add(30 * time.Minute))
	r, _ := s.ClaimTimer(ctx, time.Minute)
	if err := s.ReleaseTimer(ctx, r); err != nil {
		t.Fatal(err)
	}
	r, _ = s.ClaimTimer(ctx, time.Minute)
	if r == nil || r.Attempts != 1 {
		t.Fatalf("after release %+v", r)
	}
	if err := s.DropTimer(ctx, r); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.ArmedTimers(ctx); n != 0 {
		t.Fatalf("%d armed after drop", n)
	}
}

func ptr[T any](v T) *T { return &v }

// TestTimerContextHashChecked: a row whose context does not match the
// hash it was armed for is returned with an error, for the caller to drop.
func TestTimerContextHashChecked(t *testing.T) {
	s, clk := open(t)
	s.SetTimer(ctx, timer("c1", time.Minute, "ask"))
	s.db.Exec(`UPDATE outbox_timers SET context = '{"s":"other"}'`)
	clk.Set(t0.Add(time.Minute))
	tm, err := s.ClaimTimer(ctx, time.Minute)
	if tm == nil || err == nil {
		t.Fatalf("claim %+v %v", tm, err)
	}
	if err := s.DropTimer(ctx, tm); err != nil {
		t.Fatal(err)
	}
}

// TestFinishJobArmsTimer: a job's result arms (or cancels) the
// conversation's follow-up in the transaction that finishes the job.
func TestFinishJobArmsTimer(t *testing.T) {
	s, _ := open(t)
	s.Enqueue(ctx, job("c1", 1))
	j, _ := s.ClaimJob(ctx, time.Minute)
	tm := timer("c1", time.Hour, "menu")
	tm.Bot = "webshop"
	if _, err := s.FinishJob(ctx, j, Finish{Push: &NewPush{Bot: "webshop", CID: "c1", Events: []byte(`[]`)}, Timer: &tm}); err != nil {
		t.Fatal(err)
	}
	if rows, _ := s.Timers(ctx, "c1"); len(rows) != 1 || rows[0].State != "menu" {
		t.Fatalf("timers %+v", rows)
	}
	s.Enqueue(ctx, job("c1", 2))
	j, _ = s.ClaimJob(ctx, time.Minute)
	if _, err := s.FinishJob(ctx, j, Finish{CancelTimer: true}); err != nil {
		t.Fatal(err)
	}
	if rows, _ := s.Timers(ctx, "c1"); len(rows) != 0 {
		t.Fatalf("timers after cancel %+v", rows)
	}
}

// TestMigrateFromVersion1: a data file of schema 1 (before timers) with
// work in it is migrated on open; its pushes are not follow-ups.
func TestMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{legacySQL(t, 1),
		`INSERT INTO pushes (push_id, bot, cid, events, n_events, state, next_at, created_at, updated_at) VALUES ('p-old', 'b', 'c1', '[]', 0, 'pending', 0, 0, 0)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	s.db.QueryRow(`SELECT MAX(version) FROM flowbot_migrations`).Scan(&v)
	if v != SchemaVersion {
		t.Fatalf("version %d of %d", v, SchemaVersion)
	}
	ps, err := s.Pushes(ctx, "c1")
	if err != nil || len(ps) != 1 || ps[0].FollowUp || ps[0].State != PushPending {
		t.Fatalf("old push %+v %v", ps, err)
	}
	if err := s.SetTimer(ctx, timer("c1", time.Minute, "ask")); err != nil {
		t.Fatal(err)
	}
}

// TestTimerPlanned: a timer keeps when its rule was due before quiet hours
// moved it (by default, when it is due); a claim reads it back.
func TestTimerPlanned(t *testing.T) {
	s, clk := open(t)
	deferred := timer("c1", 10*time.Hour, "ask")
	deferred.Planned = t0.Add(10 * time.Minute)
	if err := s.SetTimer(ctx, deferred); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTimer(ctx, timer("c2", 20*time.Minute, "ask")); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Timers(ctx, "")
	if err != nil || len(rows) != 2 || !rows[0].Planned.Equal(t0.Add(20*time.Minute)) || !rows[1].Planned.Equal(t0.Add(10*time.Minute)) ||
		!rows[1].DueAt.Equal(t0.Add(10*time.Hour)) {
		t.Fatalf("timers %+v %v", rows, err)
	}
	clk.Set(t0.Add(10 * time.Hour))
	for _, want := range []struct {
		cid     string
		planned time.Duration
	}{{"c2", 20 * time.Minute}, {"c1", 10 * time.Minute}} {
		c, err := s.ClaimTimer(ctx, time.Minute)
		if err != nil || c == nil || c.CID != want.cid || !c.Planned.Equal(t0.Add(want.planned)) {
			t.Fatalf("claimed %+v %v; want %s planned at %v", c, err, want.cid, want.planned)
		}
	}
}

// TestMigrateFromVersion2: a timer armed before the planned column is
// planned at its due time.
func TestMigrateFromVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	due := ms(t0.Add(10 * time.Minute))
	for _, q := range []string{legacySQL(t, 2),
		fmt.Sprintf(`INSERT INTO timers (bot, cid, flow_version, channel, state, rule, due_at, base, context, context_hash, created_at, updated_at)
VALUES ('remind', 'c1', 'v1', 'web', 'ask', 0, %d, %d, X'7B7D', %q, 0, 0)`, due, ms(t0), turn.ContextHash([]byte("{}")))} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.Timers(ctx, "c1")
	if err != nil || len(rows) != 1 || !rows[0].Planned.Equal(rows[0].DueAt) || !rows[0].DueAt.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("old timer %+v %v", rows, err)
	}
}

// legacySQL is a data file of the outbox's schema version as flowbot
// wrote it before runtime/schema (runtime/schema/testdata/legacy).
func legacySQL(t *testing.T, version int) string {
	t.Helper()
	var b strings.Builder
	for v := 1; v <= version; v++ {
		q, err := os.ReadFile(filepath.Join("..", "schema", "testdata", "legacy", fmt.Sprintf("outbox-sqlite-%d.sql", v)))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(q)
	}
	fmt.Fprintf(&b, "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (%d);", version)
	return b.String()
}
