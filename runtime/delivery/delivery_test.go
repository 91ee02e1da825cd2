package delivery

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/store"
)

// loopback lets the tests' senders reach their httptest servers.
var loopback = netguard.MustParsePolicy("loopback")

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func testDelivery(url string) store.Delivery {
	return store.Delivery{
		MessageID:      "msg_1",
		ConversationID: "conv_1",
		Seq:            3,
		URL:            url,
		Text:           `Hello "Ann" <b>&</b> — ünïcode`,
		MediaURL:       "https://cdn.example.com/a.png?x=1&y=2",
		CreatedAt:      time.Date(2026, 1, 1, 0, 0, 0, 999_000_000, time.UTC),
		State:          store.DeliveryPending,
	}
}

func TestBody(t *testing.T) {
	d := testDelivery("http://example.com/hook")
	want := `{"conversation_id":"conv_1","message":{"id":"msg_1","text":"Hello \"Ann\" <b>&</b> — ünïcode","from_bot":true,"sent_at":1767225600,"attached_media":{"url":"https://cdn.example.com/a.png?x=1&y=2"}}}`
	if got := string(Body(d)); got != want {
		t.Errorf("Body:\n got %s\nwant %s", got, want)
	}
	// The same bytes on every attempt, whatever else changed.
	d2 := d
	d2.Attempts, d2.DueAt, d2.LastStatus, d2.LastError, d2.URL = 4, time.Now(), 500, "webhook answered 500", "http://other/"
	if string(Body(d2)) != want {
		t.Errorf("Body changed between attempts: %s", Body(d2))
	}

	d.MediaURL = ""
	d.Text = ""
	want = `{"conversation_id":"conv_1","message":{"id":"msg_1","text":"","from_bot":true,"sent_at":1767225600,"attached_media":null}}`
	if got := string(Body(d)); got != want {
		t.Errorf("Body without media:\n got %s\nwant %s", got, want)
	}
}

func TestSignerMatchesReference(t *testing.T) {
	s, err := NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := Body(testDelivery(""))
	now := time.Now()
	sig := s.Sign("msg_1", now, body)
	refSig, err := ref.Sign("msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if sig != refSig {
		t.Errorf("Sign = %q, reference %q", sig, refSig)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(HeaderSignature, sig)
	if err := ref.Verify(body, h); err != nil {
		t.Errorf("reference rejects the signature: %v", err)
	}
	tampered := []byte(strings.Replace(string(body), "Ann", "Bob", 1))
	if err := ref.Verify(tampered, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("tampered body: got %v, want no matching signature", err)
	}
	h.Set(HeaderID, "msg_2")
	if err := ref.Verify(body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("other id: got %v, want no matching signature", err)
	}
	other, _ := NewSigner("whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of 24 bytes!")))
	h.Set(HeaderID, "msg_1")
	h.Set(HeaderSignature, other.Sign("msg_1", now, body))
	if err := ref.Verify(body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("other key: got %v, want no matching signature", err)
	}
}

func TestNewSignerErrors(t *testing.T) {
	for _, s := range []string{"", "secret", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"} {
		_, err := NewSigner(s)
		if err == nil {
			t.Errorf("NewSigner(%q): no error", s)
			continue
		}
		if !strings.HasPrefix(err.Error(), "FLOWBOT_WEBHOOK_SECRET must look like whsec_<base64>: ") {
			t.Errorf("NewSigner(%q): unclear error %q", s, err)
		}
		if s != "" && strings.Contains(err.Error(), strings.TrimPrefix(s, "whsec_")) && len(s) > 10 {
			t.Errorf("NewSigner(%q): the error shows the secret: %q", s, err)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Schedule
		str  string
	}{
		{"0s,5s,5m", Schedule{0, 5 * time.Second, 5 * time.Minute}, "0s,5s,5m"},
		{" 0s , 5s,5m,30m,2h,5h,10h ", DefaultSchedule, "0s,5s,5m,30m,2h,5h,10h"},
		{"1h30m", Schedule{90 * time.Minute}, "1h30m"},
		{"1m30s,2h0m5s", Schedule{90 * time.Second, 2*time.Hour + 5*time.Second}, "1m30s,2h0m5s"},
		{"500ms", Schedule{500 * time.Millisecond}, "500ms"},
	} {
		got, err := ParseSchedule(c.in)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", c.in, err)
			continue
		}
		if got.String() != c.str || len(got) != len(c.want) {
			t.Errorf("ParseSchedule(%q) = %v, want %v", c.in, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("ParseSchedule(%q)[%d] = %v, want %v", c.in, i, got[i], c.want[i])
			}
		}
		again, err := ParseSchedule(got.String())
		if err != nil || again.String() != got.String() {
			t.Errorf("String does not round-trip: %q → %v, %v", got.String(), again, err)
		}
	}
	if DefaultSchedule.String() != "0s,5s,5m,30m,2h,5h,10h" {
		t.Errorf("DefaultSchedule = %s", DefaultSchedule)
	}
	for _, c := range []struct{ in, err string }{
		{"", "retry schedule is empty"},
		{"  ", "retry schedule is empty"},
		{"0s,,5m", `step 2 is empty`},
		{"0s,5s,", `step 3 is empty`},
		{"0s,5x", `step 2, "5x", is not a duration`},
		{"5", `step 1, "5", is not a duration`},
		{"0s,-5s,5m", `step 2, "-5s", is negative`},
		{"0s", "the last step repeats forever and must be above 0"},
		{"5s,0s", "the last step repeats forever and must be above 0"},
	} {
		_, err := ParseSchedule(c.in)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParseSchedule(%q) error = %v, want one with %q", c.in, err, c.err)
		}
	}
}

func TestDelay(t *testing.T) {
	s := DefaultSchedule
	for attempt, base := range []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour} {
		if got := s.Delay(attempt, 0.5); got != base {
			t.Errorf("Delay(%d, 0.5) = %v, want %v", attempt, got, base)
		}
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		if got := s.Delay(attempt, 0); got != lo {
			t.Errorf("Delay(%d, 0) = %v, want %v", attempt, got, lo)
		}
		for i := range 100 {
			rnd := float64(i) / 100
			if got := s.Delay(attempt, rnd); got < lo || got > hi {
				t.Errorf("Delay(%d, %v) = %v, outside [%v, %v]", attempt, rnd, got, lo, hi)
			}
		}
		if got := s.Delay(attempt, 0.999999); got > hi || (base > 0 && got <= base) {
			t.Errorf("Delay(%d, 0.999999) = %v, want just under %v", attempt, got, hi)
		}
	}
	if got := s.Delay(1_000_000, 0.5); got != 10*time.Hour {
		t.Errorf("Delay far past the end = %v, want the last step", got)
	}
	if got := s.Delay(-1, 0.9); got != 0 {
		t.Errorf("Delay(-1) = %v, want the first step", got)
	}
	if got := (Schedule{}).Delay(1, 0.5); got != 5*time.Second {
		t.Errorf("empty schedule: Delay(1) = %v, want DefaultSchedule's 5s", got)
	}
	if got := s.Delay(1, 7); got != 6*time.Second {
		t.Errorf("Delay(1, 7) = %v, want rnd clamped (6s)", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"0", 0, true},
		{"86400", 24 * time.Hour, true},
		{"86401", 24 * time.Hour, true},
		{"99999999999999999999999999", 24 * time.Hour, true},
		{"1.5", 0, false},
		{"-3", 0, false},
		{"12abc", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(72 * time.Hour).Format(http.TimeFormat), 24 * time.Hour, true},
		{now.Add(time.Hour).Format(time.RFC850), time.Hour, true},
		{now.Add(time.Hour).Format(time.ANSIC), time.Hour, true},
	} {
		got, ok := ParseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// recorder is a webhook receiver that records the requests.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	path   string
	header http.Header
	body   []byte
}

func (r *recorder) record(req *http.Request) recorded {
	b, _ := io.ReadAll(req.Body)
	rec := recorded{path: req.URL.Path, header: req.Header.Clone(), body: b}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
	return rec
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func TestSenderRequest(t *testing.T) {
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	signer, err := NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	d := testDelivery(srv.URL + "/hook?token=abc")
	now := time.Now()
	res := (&Sender{Signer: signer, Network: loopback}).Send(context.Background(), d, now)
	if !res.Delivered || res.Status != 204 || res.Err != "" || res.RetryAfter != 0 {
		t.Fatalf("Send = %+v, want delivered with 204", res)
	}
	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	for k, v := range map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "flowbot",
		"webhook-id":        "msg_1",
		"webhook-timestamp": strconv.FormatInt(now.Unix(), 10),
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if string(r.body) != string(Body(d)) {
		t.Errorf("body = %s", r.body)
	}
	ref, _ := standardwebhooks.NewWebhook(testSecret)
	if err := ref.Verify(r.body, r.header); err != nil {
		t.Errorf("the reference library rejects the request: %v", err)
	}
	if err := ref.Verify(append(r.body, ' '), r.header); err == nil {
		t.Errorf("the reference library accepts a tampered body")
	}

	// Without a signer: no signature header.
	if res := (&Sender{Network: loopback}).Send(context.Background(), d, now); !res.Delivered {
		t.Fatalf("unsigned Send = %+v", res)
	}
	if r := rec.all()[1]; r.header.Get(HeaderSignature) != "" || r.header.Get(HeaderID) != "msg_1" {
		t.Errorf("unsigned request headers: %v", r.header)
	}
}

func TestSenderFailures(t *testing.T) {
	var targetHits sync.Map
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mux := http.NewServeMux()
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "soon") // unreadable: ignored
		http.Error(w, "boom", 500)
	})
	mux.HandleFunc("/503", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(503)
	})
	mux.HandleFunc("/429", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", now.Add(time.Hour).Format(http.TimeFormat))
		w.WriteHeader(429)
	})
	mux.HandleFunc("/400", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) {
		targetHits.Store(r.URL.Path, true)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 1<<20))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := &Sender{Client: &http.Client{}} // a client that would follow redirects
	for _, c := range []struct {
		path       string
		status     int
		retryAfter time.Duration
		err        string
	}{
		{"/500", 500, 0, "webhook answered 500"},
		{"/503", 503, 30 * time.Second, "webhook answered 503"},
		{"/429", 429, time.Hour, "webhook answered 429"},
		{"/400", 400, 0, "webhook answered 400"},
		{"/redirect", 307, 0, "webhook answered 307, a redirect: redirects are not followed, set the final URL as the webhook"},
		{"/big", 200, 0, ""},
	} {
		res := s.Send(context.Background(), testDelivery(srv.URL+c.path), now)
		want := Result{Status: c.status, RetryAfter: c.retryAfter, Err: c.err, Delivered: c.err == ""}
		if res != want {
			t.Errorf("%s: Send = %+v, want %+v", c.path, res, want)
		}
	}
	if _, hit := targetHits.Load("/target"); hit {
		t.Errorf("the redirect was followed")
	}
}

func TestSenderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	res := (&Sender{Timeout: 50 * time.Millisecond, Network: loopback}).Send(context.Background(), testDelivery(srv.URL), time.Now())
	if res != (Result{Err: "no answer within 50ms"}) {
		t.Errorf("Send = %+v", res)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = (&Sender{Network: loopback}).Send(ctx, testDelivery(srv.URL), time.Now())
	if res.Delivered || res.Status != 0 || !strings.HasPrefix(res.Err, "interrupted") {
		t.Errorf("Send with a cancelled context = %+v", res)
	}
}

func TestSenderNoAnswer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?token=s3cr3t"
	srv.Close() // connection refused from now on
	res := (&Sender{Network: loopback}).Send(context.Background(), testDelivery(url), time.Now())
	if res.Delivered || res.Status != 0 || !strings.HasPrefix(res.Err, "POST failed: ") {
		t.Errorf("Send = %+v", res)
	}
	if strings.Contains(res.Err, "s3cr3t") {
		t.Errorf("the error shows the URL's token: %q", res.Err)
	}
	res = (&Sender{Network: loopback}).Send(context.Background(), testDelivery("http://[::1/?token=s3cr3t"), time.Now())
	if !strings.HasPrefix(res.Err, "invalid webhook URL: ") || strings.Contains(res.Err, "s3cr3t") {
		t.Errorf("Send to a bad URL = %+v", res)
	}
	res = (&Sender{Network: loopback}).Send(context.Background(), testDelivery("ftp://example.com/"), time.Now())
	if res.Delivered || res.Err == "" {
		t.Errorf("Send to ftp = %+v", res)
	}
}

// TestSenderRefusesNonPublic: by default a webhook on the loopback
// interface (or any non-public address) is not called; the attempt fails
// with an error that says how to allow it, and shows no token of the URL.
func TestSenderRefusesNonPublic(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	res := (&Sender{}).Send(context.Background(), testDelivery(srv.URL+"/hook?token=s3cr3t"), time.Now())
	want := Result{Err: "POST failed: refusing to connect to " + host + " (loopback): allow it with --allow-network loopback (or FLOWBOT_ALLOW_NETWORK=loopback)"}
	if res != want {
		t.Errorf("Send = %+v\nwant %+v", res, want)
	}
	res = (&Sender{}).Send(context.Background(), testDelivery("http://169.254.169.254/latest/meta-data/"), time.Now())
	if !strings.Contains(res.Err, "refusing to connect to 169.254.169.254:80 (link-local, the cloud metadata service): allow it with --allow-network link-local") {
		t.Errorf("Send to the metadata service = %+v", res)
	}
	// Refusals are counted under the webhook client's name.
	var clients []string
	var mu sync.Mutex
	s := &Sender{Network: netguard.MustParsePolicy("private").WithObserver(netguard.ObserverFunc(func(client string, _ *netguard.RefusedError) {
		mu.Lock()
		defer mu.Unlock()
		clients = append(clients, client)
	}))}
	if res := s.Send(context.Background(), testDelivery(srv.URL), time.Now()); !strings.Contains(res.Err, "(loopback)") {
		t.Errorf("Send with private allowed = %+v", res)
	}
	mu.Lock()
	if len(clients) != 1 || clients[0] != netguard.ClientWebhook {
		t.Errorf("observed %q", clients)
	}
	mu.Unlock()
	if n := hits.Load(); n != 0 {
		t.Errorf("the webhook got %d requests", n)
	}
	// Allowed: delivered.
	if res := (&Sender{Network: loopback}).Send(context.Background(), testDelivery(srv.URL), time.Now()); !res.Delivered || hits.Load() != 1 {
		t.Errorf("Send with loopback allowed = %+v", res)
	}
}
