package userlikeapi

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults of the delivery policy.
const (
	// DefaultBackoffBase is the wait before the first retry.
	DefaultBackoffBase = time.Second
	// DefaultBackoffMax caps the wait between retries.
	DefaultBackoffMax = 5 * time.Minute
	// RequestsPerWindow and Window are Userlike's rate limit: at most 20
	// requests per minute that use the same cid.
	RequestsPerWindow = 20
	Window            = time.Minute
)

// Backoff spaces retries exponentially with jitter: the n-th retry (n ≥ 1)
// waits a random time in [d/2, d], where d = Base·2^(n-1) capped at Max.
// The zero value uses the defaults.
type Backoff struct {
	Base time.Duration // DefaultBackoffBase when zero
	Max  time.Duration // DefaultBackoffMax when zero
	// Rand returns a number in [0, 1); nil is math/rand/v2. Tests fix it.
	Rand func() float64
}

// Delay is the wait before retry number n (1 for the first retry).
func (b Backoff) Delay(n int) time.Duration {
	base, limit := b.Base, b.Max
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if limit <= 0 {
		limit = DefaultBackoffMax
	}
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	half := d / 2
	return half + time.Duration(r()*float64(d-half))
}

// Limiter keeps to a rate limit per key (a conversation's cid) with a
// sliding window: at most Max requests in any Window. It is safe for
// concurrent use; the zero value is Userlike's limit (20 per minute).
type Limiter struct {
	Max    int           // RequestsPerWindow when zero
	Window time.Duration // Window when zero

	mu   sync.Mutex
	sent map[string][]time.Time // per key, the times of the requests in the window, oldest first
}

func (l *Limiter) limits() (int, time.Duration) {
	n, w := l.Max, l.Window
	if n <= 0 {
		n = RequestsPerWindow
	}
	if w <= 0 {
		w = Window
	}
	return n, w
}

// prune drops key's requests that left the window at now; l.mu is held.
func (l *Limiter) prune(key string, now time.Time, w time.Duration) []time.Time {
	ts := l.sent[key]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-w)) {
		i++
	}
	if i == len(ts) {
		delete(l.sent, key)
		return nil
	}
	if i > 0 {
		ts = append(ts[:0], ts[i:]...)
		l.sent[key] = ts
	}
	return ts
}

// Allow reports whether a request for key may be made at now. When it may
// not, next is the earliest time it may.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, next time.Time) {
	n, w := l.limits()
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.prune(key, now, w)
	if len(ts) < n {
		return true, now
	}
	// The request that frees a slot is the len-n+1-th newest.
	return false, ts[len(ts)-n].Add(w)
}

// Record counts a request for key made at at (requests are recorded in
// time order).
func (l *Limiter) Record(key string, at time.Time) {
	_, w := l.limits()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil {
		l.sent = map[string][]time.Time{}
	}
	l.prune(key, at, w)
	ts := l.sent[key]
	i := len(ts)
	for i > 0 && ts[i-1].After(at) {
		i--
	}
	ts = append(ts, time.Time{})
	copy(ts[i+1:], ts[i:])
	ts[i] = at
	l.sent[key] = ts
}

// Sweep forgets the keys with no request in the window at now, to keep
// memory bounded by the conversations active in the last Window.
func (l *Limiter) Sweep(now time.Time) {
	_, w := l.limits()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.sent {
		l.prune(k, now, w)
	}
}

// Keys returns how many keys have requests in the window (for tests and
// metrics).
func (l *Limiter) Keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sent)
}
