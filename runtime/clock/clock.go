// Package clock is the time source of flowbot's background work (the job
// worker and the push sender). Production code uses Real; tests use Fake,
// whose time moves only when the test advances it, so that schedules
// (backoff, Retry-After, rate limits, leases) are tested without sleeping.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now.
	NewTimer(d time.Duration) Timer
	// NewTimerAt returns a timer that fires once, when the time reaches at
	// (at once if it already has). Use it to wait for a deadline computed
	// from an earlier reading of Now: NewTimer(at.Sub(now)) would fire late
	// by however long passed since that reading.
	NewTimerAt(at time.Time) Timer
}

// Timer is a one-shot timer, like time.Timer.
type Timer interface {
	// C delivers the time when the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTimerAt returns a time.Timer firing at at.
func (Real) NewTimerAt(at time.Time) Timer { return realTimer{time.NewTimer(time.Until(at))} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// Fake is a clock for tests: its time changes only by Advance and Set, and
// its timers fire when the time passes their deadline. It is safe for
// concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed *sync.Cond
}

// NewFake returns a fake clock showing start.
func NewFake(start time.Time) *Fake {
	f := &Fake{now: start}
	f.changed = sync.NewCond(&f.mu)
	return f
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer firing when the fake time reaches now+d (at once
// if d <= 0).
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newTimer(f.now.Add(d))
}

// NewTimerAt returns a timer firing when the fake time reaches at (at once
// if it already has). Reading the time and making the timer are one step:
// a concurrent Advance cannot move the deadline.
func (f *Fake) NewTimerAt(at time.Time) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newTimer(at)
}

// newTimer makes a timer due at at; f.mu is held.
func (f *Fake) newTimer(at time.Time) Timer {
	t := &fakeTimer{f: f, at: at, c: make(chan time.Time, 1)}
	if !at.After(f.now) {
		t.c <- f.now
		return t
	}
	f.timers = append(f.timers, t)
	f.changed.Broadcast()
	return t
}

// Advance moves the time forward by d, firing the timers that fall due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set(f.now.Add(d))
}

// Set moves the time to t (never backwards), firing the timers that fall
// due.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set(t)
}

// set is Set with f.mu held.
func (f *Fake) set(t time.Time) {
	if t.Before(f.now) {
		return
	}
	f.now = t
	kept := f.timers[:0]
	for _, tm := range f.timers {
		if !tm.at.After(t) {
			tm.c <- t
			continue
		}
		kept = append(kept, tm)
	}
	clear(f.timers[len(kept):])
	f.timers = kept
	f.changed.Broadcast()
}

// Timers returns the deadlines of the timers waiting to fire, earliest
// first.
func (f *Fake) Timers() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Time, len(f.timers))
	for i, t := range f.timers {
		out[i] = t.at
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// WaitForTimer blocks until a timer with exactly the deadline at is waiting,
// or until timeout (real time) passes; it reports whether one appeared.
// Tests use it to know that the code under test has reached its wait before
// they advance the clock.
func (f *Fake) WaitForTimer(at time.Time, timeout time.Duration) bool {
	return f.waitFor(timeout, func() bool {
		for _, t := range f.timers {
			if t.at.Equal(at) {
				return true
			}
		}
		return false
	})
}

// WaitForTimerAfter blocks until a timer with a deadline after t is waiting
// (or timeout passes) and returns the earliest such deadline.
func (f *Fake) WaitForTimerAfter(t time.Time, timeout time.Duration) (time.Time, bool) {
	var found time.Time
	ok := f.waitFor(timeout, func() bool {
		found = time.Time{}
		for _, tm := range f.timers {
			if tm.at.After(t) && (found.IsZero() || tm.at.Before(found)) {
				found = tm.at
			}
		}
		return !found.IsZero()
	})
	return found, ok
}

// waitFor waits, with f.mu held while cond runs, until cond holds.
func (f *Fake) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	stop := time.AfterFunc(timeout, func() {
		f.mu.Lock()
		f.changed.Broadcast()
		f.mu.Unlock()
	})
	defer stop.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		f.changed.Wait()
	}
	return true
}

type fakeTimer struct {
	f  *Fake
	at time.Time
	c  chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	for i, tm := range t.f.timers {
		if tm == t {
			t.f.timers = append(t.f.timers[:i], t.f.timers[i+1:]...)
			t.f.changed.Broadcast()
			return true
		}
	}
	return false
}
