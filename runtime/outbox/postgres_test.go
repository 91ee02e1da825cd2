package outbox

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

// TestOnPostgres runs the outbox's contract on PostgreSQL (skipped when
// it is unreachable, failed when CI=true).
func TestOnPostgres(t *testing.T) {
	storetest.Address(t, "postgres") // skips or fails early
	kind = "postgres"
	defer func() { kind = "sqlite" }()
	for name, fn := range map[string]func(*testing.T){
		"ClaimLeaseExpiry":            TestClaimLeaseExpiry,
		"Supersede":                   TestSupersede,
		"BatchesPerConversation":      TestBatchesPerConversationInOrder,
		"LeaseExpiryResendsSamePush":  TestLeaseExpiryResendsSamePushID,
		"DeferAndPrune":               TestDeferAndPrune,
		"ConcurrentClaims":            TestConcurrentClaims,
		"TimerSetReplaceCancel":       TestTimerSetReplaceCancel,
		"TimerFinishNeedsTheClaim":    TestTimerFinishNeedsTheClaim,
		"FinishJobArmsTimer":          TestFinishJobArmsTimer,
		"TimerPlanned":                TestTimerPlanned,
		"InstancesClaimEachOnce":      testInstancesClaimEachOnce,
		"ActivityOnOtherInstanceWins": testActivityOnOtherInstanceWins,
		"RateLimitShared":             TestRateLimitShared,
		"StaleInFlight":               TestStaleInFlight,
	} {
		t.Run(name, fn)
	}
}

// openTwo opens one PostgreSQL outbox twice, as two instances do.
func openTwo(t *testing.T) (a, b *Store, clk *clock.Fake) {
	t.Helper()
	addr := storetest.Address(t, "postgres")
	clk = clock.NewFake(t0)
	var err error
	if a, err = Open(ctx, addr, Options{Clock: clk}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = Open(ctx, addr, Options{Clock: clk}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b, clk
}

// testInstancesClaimEachOnce: two instances claiming jobs, timers and
// pushes of one database at once each get different work, and all of it
// (FOR UPDATE SKIP LOCKED).
func testInstancesClaimEachOnce(t *testing.T) {
	a, b, clk := openTwo(t)
	const n = 30
	for i := range n {
		cid := fmt.Sprintf("c%d", i)
		a.Enqueue(ctx, job(cid, 1))
		b.SetTimer(ctx, timer(cid, time.Minute, "ask"))
		a.AddPush(ctx, NewPush{Bot: "webshop", CID: cid, Events: []byte(`[]`)})
	}
	clk.Set(t0.Add(time.Minute))
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, err := s.ClaimJob(ctx, time.Minute)
				tm, terr := s.ClaimTimer(ctx, time.Minute)
				if err != nil || terr != nil {
					t.Error(err, terr)
					return
				}
				if j == nil && tm == nil {
					break
				}
				mu.Lock()
				if j != nil {
					seen["job "+j.CID]++
				}
				if tm != nil {
					seen["timer "+tm.CID]++
				}
				mu.Unlock()
			}
			for i := range n {
				cid := fmt.Sprintf("c%d", i)
				bt, err := s.ClaimBatch(ctx, cid, time.Minute, 10, 1<<20)
				if err != nil {
					t.Error(err)
					return
				}
				if bt != nil {
					mu.Lock()
					seen["push "+cid]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != 3*n {
		t.Errorf("%d pieces of work claimed, want %d", len(seen), 3*n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s claimed %d times", k, c)
		}
	}
}

// testActivityOnOtherInstanceWins: a follow-up claimed on instance A
// cannot fire once instance B answered the conversation (re-armed or
// cancelled its timer), and B's activity supersedes A's follow-up push.
func testActivityOnOtherInstanceWins(t *testing.T) {
	a, b, clk := openTwo(t)
	a.SetTimer(ctx, timer("c1", time.Minute, "ask"))
	clk.Set(t0.Add(time.Minute))
	tm, err := a.ClaimTimer(ctx, time.Minute)
	if err != nil || tm == nil {
		t.Fatalf("claim %v %v", tm, err)
	}
	if err := b.SetTimer(ctx, timer("c1", 2*time.Minute, "ask_color")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.FinishTimer(ctx, tm, TimerFinish{Push: &NewPush{Bot: "remind", CID: "c1", Events: []byte(`[]`)}}); err != ErrLost {
		t.Fatalf("a stale follow-up finished on A: %v", err)
	}
	// A follow-up that fired before B's turn is superseded by it.
	clk.Set(t0.Add(3 * time.Minute))
	tm, _ = a.ClaimTimer(ctx, time.Minute)
	if tm == nil || tm.State != "ask_color" {
		t.Fatalf("claim %+v", tm)
	}
	if _, err := a.FinishTimer(ctx, tm, TimerFinish{Push: &NewPush{Bot: "remind", CID: "c1", Events: []byte(`[]`)}}); err != nil {
		t.Fatal(err)
	}
	if err := b.CancelTimer(ctx, "remind", "c1"); err != nil {
		t.Fatal(err)
	}
	ps, _ := a.Pushes(ctx, "c1")
	if len(ps) != 1 || ps[0].State != PushSuperseded {
		t.Fatalf("pushes %+v", ps)
	}
}

// TestRateLimitShared: the rate limit counts the requests of every
// process on the database (the attempt log), not one process's.
func TestRateLimitShared(t *testing.T) {
	s, clk := open(t)
	for i := range 3 {
		s.AddPush(ctx, NewPush{Bot: "webshop", CID: "c1", Events: []byte(fmt.Sprintf(`[{"n":%d}]`, i))})
	}
	for i := range 2 {
		clk.Set(t0.Add(time.Duration(i) * time.Second))
		b, wait, err := s.ClaimBatchWithin(ctx, "c1", time.Minute, 1, 1<<20, 2, time.Minute)
		if err != nil || b == nil || !wait.IsZero() {
			t.Fatalf("claim %d: %v %v %v", i, b, wait, err)
		}
		if _, err := s.MarkSent(ctx, b, 200); err != nil {
			t.Fatal(err)
		}
	}
	b, wait, err := s.ClaimBatchWithin(ctx, "c1", time.Minute, 1, 1<<20, 2, time.Minute)
	if err != nil || b != nil || !wait.Equal(t0.Add(time.Minute)) {
		t.Fatalf("third claim within the minute: %v, wait %v (want %v), %v", b, wait, t0.Add(time.Minute), err)
	}
	clk.Set(t0.Add(time.Minute + time.Millisecond))
	if b, wait, err = s.ClaimBatchWithin(ctx, "c1", time.Minute, 1, 1<<20, 2, time.Minute); err != nil || b == nil {
		t.Fatalf("claim after the window: %v %v %v", b, wait, err)
	}
}

// TestStaleInFlight: a push claimed for a request, then superseded (the
// conversation moved on), is reported on its way until its request ends;
// a pending push that is not superseded is not.
func TestStaleInFlight(t *testing.T) {
	s, _ := open(t)
	s.Enqueue(ctx, job("c1", 1))
	j, _ := s.ClaimJob(ctx, time.Minute)
	if _, err := s.FinishJob(ctx, j, Finish{Push: &NewPush{Bot: "webshop", CID: "c1", Events: []byte(`[]`)}}); err != nil {
		t.Fatal(err)
	}
	b, err := s.ClaimBatch(ctx, "c1", time.Minute, 10, 1<<20)
	if err != nil || b == nil {
		t.Fatalf("claim %v %v", b, err)
	}
	if _, ok, _ := s.StaleInFlight(ctx, "webshop", "c1"); ok {
		t.Fatal("a push on its way that nothing superseded is reported stale")
	}
	if n, err := s.Supersede(ctx, "webshop", "c1", 1); err != nil || n.Pushes != 1 {
		t.Fatalf("supersede %+v %v", n, err)
	}
	if until, ok, err := s.StaleInFlight(ctx, "webshop", "c1"); !ok || err != nil || !until.Equal(t0.Add(time.Minute)) {
		t.Fatalf("stale in flight: %v %v %v", until, ok, err)
	}
	if _, err := s.MarkSent(ctx, b, 200); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.StaleInFlight(ctx, "webshop", "c1"); ok {
		t.Fatal("still in flight after its request ended")
	}
	if ps, _ := s.Pushes(ctx, "c1"); len(ps) != 1 || ps[0].State != PushSuperseded {
		t.Fatalf("pushes %+v", ps)
	}
}
