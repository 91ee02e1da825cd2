package worker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
	"github.com/flowbot/flowbot/runtime/userlikeapi"
)

// orderService is a fake order API whose answers wait until released.
type orderService struct {
	arrived chan string   // the path of each request, when it arrives
	release chan struct{} // closed: answer
	gone    chan string   // the path of each request whose client went away
}

func newOrderService(t *testing.T) (*orderService, *httptest.Server) {
	o := &orderService{arrived: make(chan string, 16), release: make(chan struct{}), gone: make(chan string, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.arrived <- r.URL.Path
		select {
		case <-o.release:
		case <-r.Context().Done():
			o.gone <- r.URL.Path
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
		select {
		case <-o.release:
		default:
			close(o.release)
		}
		srv.Close()
	})
	return o, srv
}

func (o *orderService) waitArrived(t *testing.T) string {
	t.Helper()
	select {
	case p := <-o.arrived:
		return p
	case <-time.After(wait):
		t.Fatal("the order service got no request")
		return ""
	}
}

// jobEnv is the webshop served by a Handler whose Queue is a Worker on a
// fake clock, with a fake order service and an emulated API URL.
type jobEnv struct {
	clk    *clock.Fake
	store  *outbox.Store
	w      *Worker
	h      *userlike.Handler
	orders *orderService
	api    *platformtest.API
	plat   *platformtest.Platform
	obs    *counts
	flows  []*flows.Flow
	cfg    Config
}

func newJobEnv(t *testing.T, withAPI bool) *jobEnv {
	t.Helper()
	return newJobEnvKeys(t, withAPI, nil)
}

// newJobEnvKeys is newJobEnv whose Handler seals contexts with keys.
func newJobEnvKeys(t *testing.T, withAPI bool, keys *engine.ContextKeys) *jobEnv {
	t.Helper()
	e := &jobEnv{clk: clock.NewFake(t0), obs: newCounts()}
	var orderSrv *httptest.Server
	e.orders, orderSrv = newOrderService(t)
	e.plat = platformtest.New("")
	e.api = e.plat.API("tok")
	apiSrv := httptest.NewServer(e.api)
	t.Cleanup(apiSrv.Close)
	env := map[string]string{"ORDER_API_URL": orderSrv.URL}
	if withAPI {
		env["USERLIKE_API_URL"] = apiSrv.URL + "/api/v1"
		env["USERLIKE_API_TOKEN"] = "tok"
	}
	fl, lints, err := flows.LoadDir("../../examples", flows.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil || lints.HasErrors() {
		t.Fatal(err, lints)
	}
	e.flows = fl
	e.store, err = outbox.Open(context.Background(), filepath.Join(t.TempDir(), "flowbot.db"), outbox.Options{Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	// The order service is on 127.0.0.1: the runner must be allowed there.
	e.cfg = Config{Store: e.store, Clock: e.clk, Logger: testLogger(t), Observer: e.obs, Poll: time.Hour, Lease: 30 * time.Second,
		API: &userlikeapi.Client{HTTP: apiSrv.Client()}, Jobs: &httpjob.Runner{Network: netguard.MustParsePolicy("loopback")}}
	e.w = New(e.cfg)
	bots := make([]*engine.Bot, len(fl))
	for i, f := range fl {
		bots[i] = engine.New(f)
	}
	e.h, err = userlike.New(bots, userlike.Options{Queue: e.w, Logger: testLogger(t), ContextKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.w.Start(e.h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.w.Stop(context.Background()) })
	web := httptest.NewServer(e.h)
	t.Cleanup(web.Close)
	e.plat.SetURL(web.URL + "/bots/webshop/webhook")
	return e
}

// askOrder talks the webshop to its order lookup and returns the answer.
func (e *jobEnv) askOrder(t *testing.T, cid string) (*platformtest.Conversation, platformtest.Reply) {
	t.Helper()
	c := e.plat.Conversation(cid, "web")
	if _, err := c.Start(""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Click("delivery"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Say("a 12345")
	if err != nil || !slices.Equal(r.Texts(), []string{"Thanks! Let me check order A-12345…"}) {
		t.Fatalf("interim answer %v %q", err, r.Texts())
	}
	return c, r
}

// TestJobSuperseded: the contact types a command while the lookup runs.
// That webhook turn marks the job superseded; the worker notices at its
// next lease renewal, stops the request, and pushes nothing.
func TestJobSuperseded(t *testing.T) {
	e := newJobEnv(t, true)
	c, _ := e.askOrder(t, "c-super")
	e.orders.waitArrived(t)
	// While waiting, a message only gets the busy text: the job stays wanted.
	r, err := c.Say("hello?")
	if err != nil || len(r.Texts()) != 1 || !strings.Contains(r.Texts()[0], "moment") && !strings.Contains(r.Texts()[0], "still") {
		t.Logf("busy answer %q", r.Texts())
	}
	if jobs, _ := e.store.Jobs(context.Background(), "c-super"); len(jobs) != 1 || jobs[0].State != outbox.JobRunning {
		t.Fatalf("jobs after a busy turn %+v", jobs)
	}
	r, err = c.Say("menu")
	if err != nil || !slices.Contains(r.Names(), "bubbles") {
		t.Fatalf("menu: %v %v", err, r.Names())
	}
	jobs, _ := e.store.Jobs(context.Background(), "c-super")
	if len(jobs) != 1 || jobs[0].State != outbox.JobSuperseded {
		t.Fatalf("jobs after the command %+v", jobs)
	}
	// The lease renewal finds the job gone and stops the request.
	advanceToTimer(t, e.clk, t0.Add(10*time.Second))
	select {
	case <-e.orders.gone:
	case <-time.After(wait):
		t.Fatal("the superseded request was not stopped")
	}
	waitFor(t, "the job reported superseded", func() bool { return e.obs.get(e.obs.jobs, JobSuperseded) == 1 })
	if ps, _ := e.store.Pushes(context.Background(), ""); len(ps) != 0 {
		t.Fatalf("pushes %+v", ps)
	}
	// The conversation goes on from the menu.
	r, err = c.Click("hours")
	if err != nil || !strings.Contains(strings.Join(r.Texts(), " "), "Monday to Friday") {
		t.Fatalf("hours: %v %q", err, r.Texts())
	}
}

// TestJobSupersededAfterResult: the result is computed but the command
// arrives before the worker commits it: FinishJob refuses, nothing is
// pushed.
func TestJobSupersededAfterResult(t *testing.T) {
	e := newJobEnv(t, true)
	c, _ := e.askOrder(t, "c-late")
	e.orders.waitArrived(t)
	if _, err := c.Say("menu"); err != nil {
		t.Fatal(err)
	}
	close(e.orders.release)
	waitFor(t, "the job reported superseded", func() bool { return e.obs.get(e.obs.jobs, JobSuperseded) == 1 })
	if ps, _ := e.store.Pushes(context.Background(), ""); len(ps) != 0 {
		t.Fatalf("pushes %+v", ps)
	}
	if n := len(e.api.Requests()); n != 0 {
		t.Fatalf("%d pushes sent", n)
	}
}

// TestJobWithoutAPIURL: without USERLIKE_API_URL the job is recorded as
// failed with the reason, and the order service is not even called.
func TestJobWithoutAPIURL(t *testing.T) {
	e := newJobEnv(t, false)
	e.askOrder(t, "c-noapi")
	waitFor(t, "the job failed", func() bool { return e.obs.get(e.obs.jobs, JobFailed) == 1 })
	jobs, _ := e.store.Jobs(context.Background(), "c-noapi")
	if len(jobs) != 1 || jobs[0].State != outbox.JobFailed || !strings.Contains(jobs[0].Error, "USERLIKE_API_URL") {
		t.Fatalf("jobs %+v", jobs)
	}
	select {
	case p := <-e.orders.arrived:
		t.Fatalf("the order service was called: %s", p)
	default:
	}
}

// TestStopHandsBackWork: a shutdown whose timeout passes while a request
// is in flight hands the job back (pending, attempt not counted); the next
// worker on the same file runs it and pushes the result.
func TestStopHandsBackWork(t *testing.T) {
	e := newJobEnv(t, true)
	e.askOrder(t, "c-stop")
	e.orders.waitArrived(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.w.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop: %v", err)
	}
	jobs, _ := e.store.Jobs(context.Background(), "c-stop")
	if len(jobs) != 1 || jobs[0].State != outbox.JobPending || jobs[0].Attempts != 0 {
		t.Fatalf("jobs after stop %+v", jobs)
	}
	if e.obs.get(e.obs.jobs, JobReleased) != 1 {
		t.Fatal("no released job counted")
	}
	// Next start.
	close(e.orders.release)
	w2 := New(e.cfg)
	if err := w2.Start(e.h); err != nil {
		t.Fatal(err)
	}
	defer w2.Stop(context.Background())
	wake(w2.jobWake)
	reqs := e.api.Wait(1, wait)
	if len(reqs) != 1 || !reqs[0].Accepted || !slices.Contains(bodies(reqs[0].Packets), "Order A-12345: shipped.") {
		t.Fatalf("push %+v", reqs)
	}
	waitFor(t, "the job done", func() bool {
		jobs, _ := e.store.Jobs(context.Background(), "c-stop")
		return jobs[0].State == outbox.JobDone && jobs[0].Attempts == 1
	})
}

// TestJobRunnerPanicTakesErrorPath: a runner that panics while making the
// request (a bug) fails the job as its own failure: the flow takes its
// error path and that turn is pushed, rather than nothing.
func TestJobRunnerPanicTakesErrorPath(t *testing.T) {
	e := newJobEnv(t, true)
	if err := e.w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Jobs = turn.RunnerFunc(func(context.Context, *engine.Job) engine.HTTPResult { panic("runner bug") })
	w2 := New(cfg)
	if err := w2.Start(e.h); err != nil {
		t.Fatal(err)
	}
	defer w2.Stop(context.Background())
	e.askOrder(t, "c-panic")
	wake(w2.jobWake)
	reqs := e.api.Wait(1, wait)
	if len(reqs) != 1 || !reqs[0].Accepted || !strings.Contains(strings.Join(bodies(reqs[0].Packets), " "), "can't reach the order system") {
		t.Fatalf("push %+v", reqs)
	}
	waitFor(t, "the job done", func() bool {
		jobs, _ := e.store.Jobs(context.Background(), "c-panic")
		return len(jobs) == 1 && jobs[0].State == outbox.JobDone
	})
}

// TestMoveOnWaitsForStalePushOnItsWay: the result's push is on its way
// (the API URL has not answered yet) when the contact types a command.
// The command's answer waits until that request ended, so that the
// platform receives the newer context last.
func TestMoveOnWaitsForStalePushOnItsWay(t *testing.T) {
	e := newJobEnv(t, true)
	arrived, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free()             // a failed test lets the held request go
	var answered atomic.Bool // the API URL answered the push
	var once sync.Once
	e.api.Respond = func(n int, r *http.Request) (int, http.Header) {
		once.Do(func() { close(arrived) })
		<-release
		answered.Store(true)
		return 0, nil
	}
	c, _ := e.askOrder(t, "c-onway")
	close(e.orders.release)
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("the result was not pushed")
	}
	menu := make(chan bool)
	go func() {
		c.Say("menu")
		menu <- answered.Load()
	}()
	waitFor(t, "the push on its way superseded", func() bool {
		ps, _ := e.store.Pushes(context.Background(), "c-onway")
		return len(ps) == 1 && ps[0].State == outbox.PushSuperseded
	})
	// The answer must not come while the push is held (it would, at once,
	// without the wait).
	select {
	case <-menu:
		t.Fatal("the command was answered while the older push was still on its way")
	case <-time.After(300 * time.Millisecond):
	}
	free()
	if !<-menu {
		t.Fatal("the command was answered before the older push's request ended")
	}
}
