package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
	"github.com/flowbot/flowbot/runtime/worker"
)

const wait = 30 * time.Second

// orderService is a fake order API whose answers wait until released.
type orderService struct {
	srv     *httptest.Server
	arrived chan string
	release chan struct{}
}

func newOrderService(t *testing.T) *orderService {
	o := &orderService{arrived: make(chan string, 16), release: make(chan struct{})}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.arrived <- r.URL.Path
		select {
		case <-o.release:
		case <-r.Context().Done():
			return
		}
		if r.URL.Path != "/orders/A-12345" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"A-12345","status":"shipped"}`))
	}))
	t.Cleanup(func() {
		o.free()
		o.srv.Close()
	})
	return o
}

func (o *orderService) free() {
	select {
	case <-o.release:
	default:
		close(o.release)
	}
}

func (o *orderService) waitArrived(t *testing.T) {
	t.Helper()
	select {
	case <-o.arrived:
	case <-time.After(wait):
		t.Fatal("the order service got no request")
	}
}

// asyncSetup is the webshop's world: a fake order service, the platform
// emulator and its API URL.
type asyncSetup struct {
	orders *orderService
	plat   *platformtest.Platform
	api    *platformtest.API
	apiURL string
	data   string
	env    map[string]string
}

func newAsyncSetup(t *testing.T) *asyncSetup {
	s := &asyncSetup{orders: newOrderService(t), plat: platformtest.New(""), data: filepath.Join(t.TempDir(), "data", "flowbot.db")}
	s.api = s.plat.API("api-token")
	apiSrv := httptest.NewServer(s.api)
	t.Cleanup(apiSrv.Close)
	s.apiURL = apiSrv.URL + "/api/v3/chatbot"
	s.env = map[string]string{"ORDER_API_URL": s.orders.srv.URL, "USERLIKE_API_URL": s.apiURL, "USERLIKE_API_TOKEN": "api-token"}
	return s
}

func (s *asyncSetup) flows(t *testing.T) []*flows.Flow {
	t.Helper()
	fl, lints, err := flows.LoadDir("../../examples", flows.Options{Env: func(k string) (string, bool) { v, ok := s.env[k]; return v, ok }})
	if err != nil || lints.HasErrors() {
		t.Fatalf("examples: %v\n%s", err, lints)
	}
	return fl
}

func (s *asyncSetup) serve(t *testing.T, cfg server.Config) *running {
	t.Helper()
	cfg.Flows, cfg.DataPath = s.flows(t), s.data
	r := serve(t, cfg, nil)
	s.plat.SetURL(r.url + "/bots/webshop/webhook")
	return r
}

// askOrder talks the webshop to its order lookup and checks the interim
// answer.
func askOrder(t *testing.T, p *platformtest.Platform, cid string) *platformtest.Conversation {
	t.Helper()
	c := p.Conversation(cid, "web")
	must(t)(c.Start(""))
	must(t)(c.Click("delivery"))
	r := must(t)(c.Say("A-12345"))
	if !slices.Equal(r.Texts(), []string{"Thanks! Let me check order A-12345…"}) || len(r.Packets) != 1 {
		t.Fatalf("interim answer %q %v", r.Texts(), r.Names())
	}
	return c
}

// checkResult checks a push carrying the order's result for cid.
func checkResult(t *testing.T, req platformtest.APIRequest, cid string) {
	t.Helper()
	if !req.Accepted || req.Token != "api-token" || req.ContentType != "application/json" || req.CID != cid || len(req.PushIDs) != 1 {
		t.Fatalf("push: accepted %v token %q content type %q cid %q ids %v (%s)", req.Accepted, req.Token, req.ContentType, req.CID, req.PushIDs, req.Error)
	}
	var names, texts []string
	for _, p := range req.Packets {
		names = append(names, p.Name)
		if p.Name == "message" {
			texts = append(texts, p.Payload["body"].(string))
		}
		var ctx struct {
			State string `json:"s"`
			Await int    `json:"jw"`
		}
		if err := json.Unmarshal(p.Context, &ctx); err != nil || ctx.State != "menu" || ctx.Await != 0 {
			t.Errorf("%s event: context %s", p.Name, p.Context)
		}
	}
	if !slices.Equal(names, []string{"message", "bubbles"}) || !slices.Equal(texts, []string{"Order A-12345: shipped."}) {
		t.Fatalf("pushed %v %q", names, texts)
	}
}

// TestAsyncLookupOverHTTP: the webshop's interim answer comes back while
// the order service is still blocked; the result arrives at the API URL
// with the cid, the token and a context that continues the conversation.
func TestAsyncLookupOverHTTP(t *testing.T) {
	s := newAsyncSetup(t)
	r := s.serve(t, server.Config{})
	start := time.Now()
	c := askOrder(t, s.plat, "chatbot::async-1")
	answered := time.Since(start)
	// The order service has the request and is still blocked: the webhook
	// answered without waiting for it.
	s.orders.waitArrived(t)
	if n := len(s.api.Requests()); n != 0 {
		t.Fatalf("%d pushes before the order service answered", n)
	}
	s.orders.free()
	reqs := s.api.Wait(1, wait)
	if len(reqs) != 1 {
		t.Fatalf("%d pushes", len(reqs))
	}
	checkResult(t, reqs[0], "chatbot::async-1")
	t.Logf("the three webhook turns took %v; the result was pushed afterwards", answered)

	// The platform keeps the pushed context: the next turn continues from
	// the menu the result offered.
	next := must(t)(c.Click("hours"))
	if !strings.Contains(strings.Join(next.Texts(), " "), "Monday to Friday") {
		t.Fatalf("next turn %q", next.Texts())
	}
	// The fake API saw the push before the worker recorded it as sent:
	// wait for the metrics to catch up.
	waitMetrics(t, r.url,
		`flowbot_outbox_pending{kind="jobs"} 0`,
		`flowbot_outbox_pending{kind="pushes"} 0`,
		`flowbot_push_attempts_total{outcome="sent"} 1`,
		`flowbot_jobs_total{flow="webshop",outcome="done"} 1`,
		`flowbot_job_duration_seconds_count{flow="webshop"} 1`,
	)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// waitMetrics polls /metrics until it has every wanted line, or fails
// after wait naming the lines missing.
func waitMetrics(t *testing.T, url string, wants ...string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		_, metrics, _ := get(t, url+"/metrics")
		var missing []string
		for _, want := range wants {
			if !strings.Contains(metrics, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %s", strings.Join(missing, ", "))
		}
		time.Sleep(10 * time.Millisecond) // polling the server's own report of its progress
	}
}

// logSignal is a slog handler that closes a channel when a message is
// logged.
type logSignal struct {
	slog.Handler
	msg  string
	seen chan struct{}
}

func (h *logSignal) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case <-h.seen:
		default:
			close(h.seen)
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *logSignal) WithAttrs(as []slog.Attr) slog.Handler {
	return &logSignal{Handler: h.Handler.WithAttrs(as), msg: h.msg, seen: h.seen}
}

// TestGracefulShutdownFinishesJobs: a shutdown that starts while a job's
// request is in flight waits for it and records its result; the next
// start delivers the push.
func TestGracefulShutdownFinishesJobs(t *testing.T) {
	s := newAsyncSetup(t)
	sig := &logSignal{Handler: slog.NewTextHandler(tWriter{t}, nil), msg: "shutting down: finishing requests in flight", seen: make(chan struct{})}
	r := s.serve(t, server.Config{Logger: slog.New(sig)})
	askOrder(t, s.plat, "chatbot::graceful")
	s.orders.waitArrived(t)
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	<-sig.seen
	select {
	case err := <-stopped:
		t.Fatalf("stopped before the job finished: %v", err)
	default:
	}
	s.orders.free()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	st, err := outbox.Open(context.Background(), s.data, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := st.Jobs(context.Background(), "")
	pushes, _ := st.Pushes(context.Background(), "")
	st.Close()
	if len(jobs) != 1 || jobs[0].State != outbox.JobDone || len(pushes) != 1 {
		t.Fatalf("after shutdown: jobs %+v pushes %+v", jobs, pushes)
	}
	// The push went out before the stop, or goes out at the next start.
	if pushes[0].State == outbox.PushPending {
		s.serve(t, server.Config{})
	}
	reqs := s.api.Wait(1, wait)
	if len(reqs) != 1 || reqs[0].PushIDs[0] != pushes[0].PushID {
		t.Fatalf("pushes %+v", reqs)
	}
	checkResult(t, reqs[0], "chatbot::graceful")
}

// TestShutdownTimeoutHandsBackJobs: when the shutdown timeout passes with
// a request still in flight, the job goes back to pending and runs at the
// next start.
func TestShutdownTimeoutHandsBackJobs(t *testing.T) {
	s := newAsyncSetup(t)
	r := s.serve(t, server.Config{ShutdownTimeout: 100 * time.Millisecond})
	askOrder(t, s.plat, "chatbot::timeout")
	s.orders.waitArrived(t)
	if err := r.stop(); err != nil {
		t.Fatal(err) // webhooks all answered: the worker's timeout is only logged
	}
	st, err := outbox.Open(context.Background(), s.data, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := st.Jobs(context.Background(), "")
	st.Close()
	if len(jobs) != 1 || jobs[0].State != outbox.JobPending {
		t.Fatalf("after shutdown: %+v", jobs)
	}
	s.orders.free()
	s.serve(t, server.Config{})
	reqs := s.api.Wait(1, wait)
	if len(reqs) != 1 {
		t.Fatalf("%d pushes", len(reqs))
	}
	checkResult(t, reqs[0], "chatbot::timeout")
}

// TestWithoutDataAsyncRunsInline: without a data file, async steps run
// during the webhook call, as before.
func TestWithoutDataAsyncRunsInline(t *testing.T) {
	s := newAsyncSetup(t)
	s.orders.free()
	r := serve(t, server.Config{Flows: s.flows(t), Worker: worker.Config{}}, nil)
	s.plat.SetURL(r.url + "/bots/webshop/webhook")
	c := s.plat.Conversation("chatbot::inline", "web")
	must(t)(c.Start(""))
	must(t)(c.Click("delivery"))
	r2 := must(t)(c.Say("A-12345"))
	if got := r2.Texts(); !slices.Equal(got, []string{"Thanks! Let me check order A-12345…", "Order A-12345: shipped."}) || !slices.Contains(r2.Names(), "bubbles") {
		t.Fatalf("texts %q %v", got, r2.Names())
	}
}

// TestHTTPStepsGuardedByDefault: with the default network policy (public
// addresses only), the order lookup on 127.0.0.1 is refused when it
// connects: the flow takes its error path at once, the order service gets
// no request, and the refusal is counted.
func TestHTTPStepsGuardedByDefault(t *testing.T) {
	s := newAsyncSetup(t)
	s.orders.free()
	r := serve(t, server.Config{Flows: s.flows(t), Network: netguard.MustParsePolicy("")}, nil)
	s.plat.SetURL(r.url + "/bots/webshop/webhook")
	c := s.plat.Conversation("chatbot::guarded", "web")
	must(t)(c.Start(""))
	must(t)(c.Click("delivery"))
	r2 := must(t)(c.Say("A-12345"))
	if got := r2.Texts(); !slices.Contains(got, "Sorry, I can't reach the order system right now. A colleague will look it up for you.") {
		t.Fatalf("texts %q %v", got, r2.Names())
	}
	select {
	case path := <-s.orders.arrived:
		t.Errorf("the order service got a request for %s", path)
	default:
	}
	_, metrics, _ := get(t, r.url+"/metrics")
	for _, want := range []string{`flowbot_ssrf_refused_total{client="http_step"} 1`, `flowbot_ssrf_refused_total{client="webhook"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
