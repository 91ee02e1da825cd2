package userlike_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

// examplesDir is the project's real examples folder.
const examplesDir = "../../examples"

// loadExamples compiles the example flows as flowbot serve does (with an
// empty environment, as on a fresh machine).
func loadExamples(t testing.TB) []*flows.Flow {
	t.Helper()
	return loadExamplesEnv(t, nil)
}

// loadExamplesEnv compiles the example flows with env as the environment.
func loadExamplesEnv(t testing.TB, env map[string]string) []*flows.Flow {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	fl, lints, err := flows.LoadDir(examplesDir, flows.Options{Env: lookup})
	if err != nil {
		t.Fatal(err)
	}
	if lints.HasErrors() {
		t.Fatalf("example flows have errors:\n%s", lints)
	}
	return fl
}

func botsOf(fl []*flows.Flow) []*engine.Bot {
	bots := make([]*engine.Bot, len(fl))
	for i, f := range fl {
		bots[i] = engine.New(f)
	}
	return bots
}

// quietLogger discards logs.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testLogger writes logs to the test's log at every level, so that a
// failing test shows them.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// recordingObserver keeps what the handler reports.
type recordingObserver struct {
	mu         sync.Mutex
	statuses   map[int]int
	errors     map[string]int
	recoveries map[string]int
	turns      int
}

func newRecordingObserver() *recordingObserver {
	return &recordingObserver{statuses: map[int]int{}, errors: map[string]int{}, recoveries: map[string]int{}}
}

func (o *recordingObserver) Request(status int) {
	o.mu.Lock()
	o.statuses[status]++
	o.mu.Unlock()
}

func (o *recordingObserver) Turn(flow, state string, d time.Duration) {
	o.mu.Lock()
	o.turns++
	o.mu.Unlock()
}

func (o *recordingObserver) Error(flow, kind string) {
	o.mu.Lock()
	o.errors[kind]++
	o.mu.Unlock()
}

func (o *recordingObserver) Recovery(flow, kind string) {
	o.mu.Lock()
	o.recoveries[kind]++
	o.mu.Unlock()
}

func (o *recordingObserver) errorCount(kind string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.errors[kind]
}

func (o *recordingObserver) recoveryCount(kind string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.recoveries[kind]
}

// loopbackJobs runs HTTP steps that may reach the tests' servers on
// 127.0.0.1 (the default runner connects to public addresses only).
func loopbackJobs() *httpjob.Runner {
	return &httpjob.Runner{Network: netguard.MustParsePolicy("loopback")}
}

// newHandler builds a handler for the example flows.
func newHandler(t testing.TB, opts userlike.Options) *userlike.Handler {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	h, err := userlike.New(botsOf(loadExamples(t)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// serveHTTP starts a real HTTP server on loopback for h.
func serveHTTP(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// platformFor returns an emulated Userlike platform calling bot's webhook.
func platformFor(srv *httptest.Server, bot string) *platformtest.Platform {
	p := platformtest.New(srv.URL + "/bots/" + bot + "/webhook")
	p.Client = srv.Client()
	return p
}

// must fails the test on a transport or protocol error, or a non-200:
// must(t)(c.Say("hi")).
func must(t testing.TB) func(platformtest.Reply, error) platformtest.Reply {
	return func(r platformtest.Reply, err error) platformtest.Reply {
		t.Helper()
		if err != nil {
			t.Fatalf("webhook call: %v (body %s)", err, r.Body)
		}
		if r.Status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", r.Status, r.Body)
		}
		return r
	}
}
