package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

// loadExamples loads the real example flows, afresh each time (as a new
// process would).
func loadExamples(t testing.TB) []*flows.Flow {
	t.Helper()
	fl, lints, err := flows.LoadDir("../../examples", flows.Options{})
	if err != nil || lints.HasErrors() {
		t.Fatalf("examples: %v\n%s", err, lints)
	}
	return fl
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// running is a server serving on a loopback port.
type running struct {
	srv  *server.Server
	url  string
	stop func() error // cancels Serve and returns its result
}

// notifyListener reports when the server asks an accepted connection for
// more bytes after it has been given `after` bytes. With `after` the size
// of the request headers plus a part of the body, that read comes from the
// handler reading the rest of the body: the request is in flight.
type notifyListener struct {
	net.Listener
	after   int
	reading chan struct{}
}

func (l notifyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	return &notifyConn{Conn: c, after: l.after, reading: l.reading}, nil
}

type notifyConn struct {
	net.Conn
	after   int
	reading chan struct{}
	mu      sync.Mutex
	got     int
	done    bool
}

func (c *notifyConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.got >= c.after && !c.done {
		c.done = true
		c.reading <- struct{}{}
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.got += n
	c.mu.Unlock()
	return n, err
}

// serve starts a fresh server (freshly loaded flows) on 127.0.0.1:0.
func serve(t testing.TB, cfg server.Config, wrap func(net.Listener) net.Listener) *running {
	t.Helper()
	if cfg.Flows == nil {
		cfg.Flows = loadExamples(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	}
	if cfg.Network == nil {
		// The tests' order services and webhooks are on 127.0.0.1.
		cfg.Network = netguard.MustParsePolicy("loopback")
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			result = <-done
		})
		return result
	}
	t.Cleanup(func() { stop() })
	return &running{srv: srv, url: url, stop: stop}
}

func must(t *testing.T) func(platformtest.Reply, error) platformtest.Reply {
	return func(r platformtest.Reply, err error) platformtest.Reply {
		t.Helper()
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("status %d, %v: %s", r.Status, err, r.Body)
		}
		return r
	}
}

// TestStatelessAcrossRestart stops the server between two turns and
// continues the conversation on a new instance (new port, flows loaded
// afresh) from the echoed context alone.
func TestStatelessAcrossRestart(t *testing.T) {
	a := serve(t, server.Config{}, nil)
	p := platformtest.New(a.url + "/bots/name-email-forward/webhook")
	c := p.Conversation("chatbot::restart", "whatsapp_business")
	must(t)(c.Start(""))
	r := must(t)(c.Say("Grace Hopper"))
	if got := r.Texts(); len(got) != 1 || got[0] != "Hello Grace Hopper! Could you tell me your email as well?" {
		t.Fatalf("texts %q", got)
	}
	if err := a.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if _, err := c.Say("grace@example.com"); err == nil {
		t.Fatal("the stopped server still answers")
	}

	b := serve(t, server.Config{}, nil)
	if b.url == a.url {
		t.Fatal("same address")
	}
	p.SetURL(b.url + "/bots/name-email-forward/webhook")
	r = must(t)(c.Say("grace@example.com"))
	if got := r.Names(); !slices.Equal(got, []string{"contact_update", "message", "forward_any"}) {
		t.Fatalf("packets %v: %s", got, r.Body)
	}
	if cu, _ := r.Find("contact_update"); cu.Payload["email"] != "grace@example.com" {
		t.Fatalf("contact_update %v", cu.Payload)
	}
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestHealthzMetricsAndRoutes(t *testing.T) {
	s := serve(t, server.Config{Token: "tok"}, nil)

	code, body, h := get(t, s.url+"/healthz")
	var health struct {
		Status string   `json:"status"`
		Flows  []string `json:"flows"`
	}
	if code != 200 || h.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &health) != nil {
		t.Fatalf("healthz %d %s", code, body)
	}
	if health.Status != "ok" || !slices.Contains(health.Flows, "name-email-forward") || !slices.Contains(health.Flows, "campaign-signup") {
		t.Fatalf("healthz %+v", health)
	}

	p := platformtest.New(s.url + "/bots/name-email-forward/webhook")
	p.Token = "tok"
	c := p.Conversation("chatbot::m", "web")
	must(t)(c.Start(""))
	must(t)(c.Say("Ada"))
	p.Token = "wrong"
	if r, _ := c.Say("x"); r.Status != 401 {
		t.Fatalf("wrong token: %d", r.Status)
	}

	code, body, _ = get(t, s.url+"/metrics")
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	for _, want := range []string{
		`flowbot_turns_total{flow="name-email-forward",state="ask_name"} 1`,
		`flowbot_turns_total{flow="name-email-forward",state="ask_email"} 1`,
		`flowbot_turn_duration_seconds_count{flow="name-email-forward"} 2`,
		`flowbot_http_requests_total{code="200",handler="webhook"} 2`,
		`flowbot_http_requests_total{code="401",handler="webhook"} 1`,
		`flowbot_http_requests_total{code="200",handler="healthz"} 1`,
		`flowbot_flows_loaded 5`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404},
		{"POST", "/healthz", 405},
		{"GET", "/bots/name-email-forward/webhook", 405},
		{"POST", "/bots/nope/webhook", 401}, // the token is checked first
	} {
		req, _ := http.NewRequest(tc.method, s.url+tc.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s %s: %d %q %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
}

// TestGracefulShutdownFinishesInFlight starts a request, begins the
// shutdown while the server is still reading it, then completes it: the
// request gets its full answer and Serve returns nil.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	body := `{"info":{"cid":"c-inflight"},"packet":{"name":"start","payload":{}}}`
	head := fmt.Sprintf("POST /bots/name-email-forward/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	first := head + body[:10]
	reading := make(chan struct{}, 1)
	s := serve(t, server.Config{}, func(ln net.Listener) net.Listener { return notifyListener{ln, len(first), reading} })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, first); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reading: // the handler waits for the rest of the body
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start handling the request")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()

	// The shutdown must wait for this request.
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "What is your name?") {
		t.Fatalf("in-flight answer %d: %s", resp.StatusCode, b)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after the shutdown")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	if _, err := server.New(server.Config{}); err == nil {
		t.Error("no flows: no error")
	}
	fl := loadExamples(t)
	if _, err := server.New(server.Config{Flows: append(fl, fl[0])}); err == nil || !strings.Contains(err.Error(), fl[0].Name) {
		t.Errorf("duplicate flow: %v", err)
	}
}
