package clock

import (
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fired(t Timer) bool {
	select {
	case <-t.C():
		return true
	default:
		return false
	}
}

func TestFake(t *testing.T) {
	f := NewFake(t0)
	a := f.NewTimer(10 * time.Second)
	b := f.NewTimer(5 * time.Second)
	c := f.NewTimer(20 * time.Second)
	if now := f.NewTimer(0); !fired(now) {
		t.Fatal("a zero timer did not fire at once")
	}
	if got := f.Timers(); len(got) != 3 || !got[0].Equal(t0.Add(5*time.Second)) || !got[2].Equal(t0.Add(20*time.Second)) {
		t.Fatalf("timers %v", got)
	}
	f.Advance(5 * time.Second)
	if !fired(b) || fired(a) || fired(c) {
		t.Fatal("wrong timers fired at 5 s")
	}
	if !c.Stop() || c.Stop() {
		t.Fatal("stop")
	}
	f.Set(t0) // never backwards
	if !f.Now().Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("now %v", f.Now())
	}
	f.Advance(time.Hour)
	if !fired(a) || fired(c) || len(f.Timers()) != 0 {
		t.Fatal("after an hour")
	}
}

// TestFakeTimerAt: a deadline timer keeps its deadline however far the
// time moved since the deadline was computed, and fires at once when the
// time already passed it.
func TestFakeTimerAt(t *testing.T) {
	f := NewFake(t0)
	deadline := f.Now().Add(time.Minute)
	f.Advance(time.Second) // the time moves between computing and waiting
	tm := f.NewTimerAt(deadline)
	if got := f.Timers(); len(got) != 1 || !got[0].Equal(deadline) {
		t.Fatalf("timers %v, want [%v]", got, deadline)
	}
	f.Advance(59*time.Second - time.Nanosecond)
	if fired(tm) {
		t.Fatal("fired before its deadline")
	}
	f.Advance(time.Nanosecond)
	if !fired(tm) {
		t.Fatal("did not fire at its deadline")
	}
	if past := f.NewTimerAt(t0); !fired(past) || len(f.Timers()) != 0 {
		t.Fatal("a timer for a past deadline did not fire at once")
	}
}

func TestFakeWaitForTimer(t *testing.T) {
	f := NewFake(t0)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tm := f.NewTimer(time.Minute) // the code under test reaches its wait
		<-tm.C()
	}()
	if !f.WaitForTimer(t0.Add(time.Minute), 10*time.Second) {
		t.Fatal("the timer did not appear")
	}
	if at, ok := f.WaitForTimerAfter(t0, time.Second); !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after: %v %v", at, ok)
	}
	if f.WaitForTimer(t0.Add(time.Hour), 10*time.Millisecond) {
		t.Fatal("found a timer that does not exist")
	}
	f.Advance(time.Minute)
	wg.Wait()
}

func TestReal(t *testing.T) {
	var c Clock = Real{}
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	if c.Now().IsZero() || tm.Stop() {
		t.Fatal("real clock")
	}
	at := c.NewTimerAt(c.Now().Add(time.Millisecond))
	if when := <-at.C(); when.IsZero() {
		t.Fatal("real deadline timer")
	}
	if past := c.NewTimerAt(c.Now().Add(-time.Hour)); (<-past.C()).IsZero() {
		t.Fatal("real deadline timer in the past")
	}
}
