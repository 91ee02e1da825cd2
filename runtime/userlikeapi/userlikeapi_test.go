package userlikeapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{" 0 ", 0, true},
		{"120", 2 * time.Minute, true},
		{"999999999999999999999", MaxRetryAfter, true},
		{"Sun, 01 Mar 2026 12:00:45 GMT", 45 * time.Second, true}, // IMF-fixdate
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute, true},     // RFC 850
		{"Sun Mar  1 12:00:10 2026", 10 * time.Second, true},      // asctime
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true},                // in the past: now
		{"Mon, 02 Mar 2026 12:00:00 GMT", MaxRetryAfter, true},    // capped
		{"", 0, false},
		{"soon", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
	} {
		got, ok := ParseRetryAfter(c.in, t0)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status int
		ra     string
		want   Outcome
		after  time.Duration
		has    bool
	}{
		{200, "", Sent, 0, false},
		{204, "", Sent, 0, false},
		{429, "7", RateLimited, 7 * time.Second, true},
		{429, "", RateLimited, 0, false},
		{503, "3", Retry, 3 * time.Second, true},
		{500, "3", Retry, 0, false}, // Retry-After is read on 429 and 503 only
		{502, "", Retry, 0, false},
		{408, "", Retry, 0, false},
		{400, "", Failed, 0, false},
		{401, "", Failed, 0, false},
		{404, "", Failed, 0, false},
		{301, "", Failed, 0, false},
	} {
		r := Classify(c.status, c.ra, []byte("  nope "), t0)
		if r.Outcome != c.want || r.RetryAfter != c.after || r.HasRetryAfter != c.has || r.Status != c.status {
			t.Errorf("Classify(%d, %q) = %+v", c.status, c.ra, r)
		}
		if c.want != Sent && r.Err != "HTTP "+strconv.Itoa(c.status)+": nope" {
			t.Errorf("Classify(%d): error %q", c.status, r.Err)
		}
	}
}

func TestBackoff(t *testing.T) {
	top := Backoff{Base: time.Second, Max: 5 * time.Minute, Rand: func() float64 { return 0.999999999 }}
	low := top
	low.Rand = func() float64 { return 0 }
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 1000: 5 * time.Minute} {
		if got := top.Delay(n); got < want-time.Millisecond || got > want {
			t.Errorf("Delay(%d) at most %v, want %v", n, got, want)
		}
		if got := low.Delay(n); got != want/2 {
			t.Errorf("Delay(%d) at least %v, want %v", n, got, want/2)
		}
	}
	// Real jitter stays in [d/2, d] and varies.
	var zero Backoff
	seen := map[time.Duration]bool{}
	for range 50 {
		d := zero.Delay(3)
		if d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("Delay(3) = %v", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("no jitter: %v", seen)
	}
}

func TestLimiterSlidingWindow(t *testing.T) {
	var l Limiter // 20 per minute
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for i := range 20 {
		if ok, _ := l.Allow("c1", at(float64(i))); !ok {
			t.Fatalf("request %d refused", i+1)
		}
		l.Record("c1", at(float64(i)))
	}
	ok, next := l.Allow("c1", at(20))
	if ok || !next.Equal(at(60)) {
		t.Fatalf("21st: %v, next %v; want refused until %v", ok, next, at(60))
	}
	if ok, _ := l.Allow("c2", at(20)); !ok {
		t.Fatal("another cid is limited too")
	}
	if ok, _ := l.Allow("c1", at(59.999)); ok {
		t.Fatal("allowed before the window slid")
	}
	if ok, _ := l.Allow("c1", at(60)); !ok {
		t.Fatal("refused once the oldest left the window")
	}
	l.Record("c1", at(60))
	// Sliding, not fixed: the next slot frees when the second oldest leaves.
	if ok, next := l.Allow("c1", at(60.5)); ok || !next.Equal(at(61)) {
		t.Fatalf("after 21: %v %v", ok, next)
	}
	// Records out of order are kept in order.
	var m Limiter
	m.Max, m.Window = 2, 10*time.Second
	m.Record("k", at(5))
	m.Record("k", at(1))
	if ok, next := m.Allow("k", at(6)); ok || !next.Equal(at(11)) {
		t.Fatalf("out of order: %v %v", ok, next)
	}
	m.Sweep(at(200))
	l.Sweep(at(200))
	if m.Keys() != 0 || l.Keys() != 0 {
		t.Fatalf("sweep kept %d %d keys", m.Keys(), l.Keys())
	}
}

func TestSend(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		if r.URL.Path == "/slow" {
			w.Header().Set("Retry-After", "12")
			w.WriteHeader(429)
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	c := &Client{HTTP: srv.Client()}
	r := c.Send(context.Background(), srv.URL+"/api", "tok", []string{"p-1", "p-2"}, []byte(`[{"a":1}]`))
	if r.Outcome != Sent || r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	if got.Method != "POST" || got.Header.Get("SECURITY-TOKEN") != "tok" || got.Header.Get("Content-Type") != "application/json" ||
		got.Header.Get("X-Flowbot-Push-Id") != "p-1, p-2" || string(body) != `[{"a":1}]` {
		t.Fatalf("request %s %v %s", got.Method, got.Header, body)
	}
	r = c.Send(context.Background(), srv.URL+"/slow", "tok", []string{"p-1"}, []byte(`[]`))
	if r.Outcome != RateLimited || r.RetryAfter != 12*time.Second || !r.HasRetryAfter {
		t.Fatalf("429: %+v", r)
	}
	srv.Close()
	r = c.Send(context.Background(), srv.URL+"/api", "tok", []string{"p-1"}, []byte(`[]`))
	if r.Outcome != Retry || r.Status != 0 || r.Err == "" {
		t.Fatalf("network error: %+v", r)
	}
	r = c.Send(context.Background(), "::not a url", "tok", nil, nil)
	if r.Outcome != Failed {
		t.Fatalf("bad URL: %+v", r)
	}
}
