// Package server is flowbot serve's HTTP server: it hosts every loaded flow
// behind the Userlike webhook protocol (runtime/userlike) and adds health
// and Prometheus endpoints.
//
//	POST /bots/{name}/webhook   a Userlike webhook event for the flow named name
//	GET  /healthz               200 {"status":"ok","flows":[…]}; 503 while shutting down
//	GET  /metrics               Prometheus metrics (runtime/metrics, Go and process collectors)
//
// Every answer, errors included, is JSON. The server holds no conversation
// state, so any number of instances can run behind a load balancer and a
// restart loses nothing. Run shuts down gracefully: it stops accepting,
// finishes the requests in flight, then returns.
//
// With a DataPath, the server also runs the background work of async HTTP
// steps (runtime/worker over the SQLite outbox of runtime/outbox): a webhook
// turn that asks for one answers at once, and the result is pushed to the
// bot's API URL later. The outbox survives restarts; on shutdown the worker
// finishes (or hands back) the work in flight before the file is closed.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/delivery"
	"github.com/flowbot/flowbot/runtime/flowset"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/llm"
	"github.com/flowbot/flowbot/runtime/metrics"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/platform"
	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/worker"
)

// Default timeouts of the HTTP server. Webhook turns take microseconds; the
// limits are there to shed slow or stuck clients.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 15 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 20 * time.Second
)

// Config configures a Server. FlowSet or Flows is required; every other
// field has a usable zero value.
type Config struct {
	// Addr is the HOST:PORT Run listens on; empty is 127.0.0.1:8080.
	Addr string
	// FlowSet is the reloadable set of flows to serve (flowbot serve uses
	// it); with a DataPath, its versions are kept in the data file.
	FlowSet *flowset.Set
	// Watch, with a FlowSet, reloads the flows when their folder changes,
	// checking this often; zero never watches (Reload still works).
	Watch time.Duration
	// Flows are fixed flows to serve, each under its name (when FlowSet is nil).
	Flows []*flows.Flow
	// Token, if set, is required in the TokenHeader of every webhook call.
	Token string
	// TokenHeader names the token header; empty is API-SECURITY-TOKEN.
	TokenHeader string
	// LogBodies puts message texts and contact data into the logs.
	LogBodies bool
	// Logger receives the server's logs; nil is slog.Default().
	Logger *slog.Logger
	// Registry receives the metrics; nil creates one with the Go and process
	// collectors.
	Registry *prometheus.Registry
	// Timeouts of the http.Server and of the graceful shutdown; zero means
	// the Default of each.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout, ShutdownTimeout time.Duration
	// Now is the clock given to the engine; nil is time.Now.
	Now func() time.Time
	// DataPath is the outbox that keeps async HTTP jobs, follow-ups, the
	// pushes of their results and the flow versions served: a SQLite file
	// (its folder is created) or a postgres:// URL that instances share.
	// Empty keeps nothing: async steps then run during the webhook call.
	DataPath string
	// Worker tunes the background work (workers, lease, backoff, clock…);
	// its Store, Logger and Observer are set by New.
	Worker worker.Config
	// Platform configures the Chat API (platform mode); nil serves none.
	Platform *Platform
	// ContextKeys sign (and maybe encrypt) the Userlike contexts
	// (FLOWBOT_CONTEXT_KEYS); nil leaves them unsigned.
	ContextKeys *engine.ContextKeys
	// Network says which addresses the flows' HTTP steps (during webhook
	// calls, in the background worker and in platform mode) and the Chat
	// API's webhook deliveries may connect to (--allow-network); nil is
	// public addresses only. Refusals are counted in
	// flowbot_ssrf_refused_total. The pushes to a Userlike bot's API URL
	// are not guarded: that URL is the operator's (the flow's api_url).
	// A Worker.Jobs given here is used as it is.
	Network *netguard.Policy
	// LLM is the chat-completions endpoint of the flows' llm steps and of
	// persona bots (FLOWBOT_LLM_*); nil: llm steps take their error path
	// and the Chat API refuses persona bots.
	LLM *llm.Config
	// TurnLog, when set, is told of every turn of both modes (the turn
	// log, runtime/turnlog); one with a Dropped() int64 method has it
	// exported as flowbot_turn_log_dropped_total.
	TurnLog turn.Observer
	// Mount serves more handlers, each under its path prefix (ending in
	// "/"; the prefix is stripped), such as the playground of flowbot
	// serve --playground. They answer for themselves (authentication
	// included) and are counted as handler "other".
	Mount map[string]http.Handler
}

// Platform configures platform mode: the Chat API (runtime/platform) over
// a store (runtime/store), with webhook delivery (runtime/delivery) and the
// flows' background jobs.
type Platform struct {
	// Database is a SQLite file path or a postgres:// URL.
	Database string
	// SQLiteSynchronous is "full" (default) or "normal" (see store.Options).
	SQLiteSynchronous string
	// APIKeys are the accepted bearer tokens; InsecureNoAuth accepts any
	// request (local development only).
	APIKeys        []string
	InsecureNoAuth bool
	// WebhookSecret (whsec_…) signs webhook deliveries (Standard Webhooks);
	// empty sends them unsigned.
	WebhookSecret string
	// Schedule is the retry schedule of deliveries; nil is
	// delivery.DefaultSchedule.
	Schedule delivery.Schedule
	// Lease is how long a claimed delivery or job is reserved for this
	// process; 0 is 60 s. A crashed process's claims expire after it.
	Lease time.Duration
	// Concurrency bounds the webhook requests in flight; 0 is 16.
	Concurrency int
	// Clock is the time source of the API and its workers; nil is real.
	Clock clock.Clock
}

// Server serves flows over HTTP. Build it with New.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	webhook  *userlike.Handler
	metrics  *metrics.Metrics
	network  *netguard.Policy // Config.Network, reporting to metrics
	turns    turn.Observer    // the funnel metrics and Config.TurnLog, told of every turn
	store    *outbox.Store    // nil without DataPath
	worker   *worker.Worker   // nil without DataPath
	stopping atomic.Bool

	// Platform mode (nil without Config.Platform).
	chat       *platform.API
	chatStore  store.Store
	deliveries *delivery.Worker
}

// New compiles the flows' bots, builds the router and registers the metrics.
func New(cfg Config) (*Server, error) {
	if len(cfg.Flows) == 0 && cfg.FlowSet == nil {
		return nil, errors.New("no flows to serve")
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.cfg.Addr == "" {
		s.cfg.Addr = "127.0.0.1:8080"
	}
	setDefault(&s.cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&s.cfg.ReadTimeout, DefaultReadTimeout)
	setDefault(&s.cfg.WriteTimeout, DefaultWriteTimeout)
	setDefault(&s.cfg.IdleTimeout, DefaultIdleTimeout)
	setDefault(&s.cfg.ShutdownTimeout, DefaultShutdownTimeout)
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	var bots userlike.Bots
	var current []*engine.Bot
	if cfg.FlowSet != nil {
		bots, current = cfg.FlowSet, cfg.FlowSet.Bots()
	} else {
		for _, f := range cfg.Flows {
			b, ls := compile.Flow(f, compile.Options{})
			if ls.HasErrors() {
				return nil, &flows.LoadError{Lints: ls.Errors()}
			}
			current = append(current, b)
		}
	}
	loaded := make([]*flows.Flow, len(current))
	for i, b := range current {
		loaded[i] = b.Flow()
	}
	m, err := metrics.New(reg, loaded)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s.metrics = m
	funnel, err := metrics.NewFunnel(reg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s.turns = funnel
	if cfg.TurnLog != nil {
		s.turns = turn.Observers{funnel, cfg.TurnLog}
		if d, ok := cfg.TurnLog.(interface{ Dropped() int64 }); ok {
			if err := metrics.WatchTurnLog(reg, d.Dropped); err != nil {
				return nil, fmt.Errorf("metrics: %w", err)
			}
		}
	}
	// One policy, reporting its refusals to the metrics, for every guarded
	// client; one runner for the flows' HTTP steps.
	s.network = cfg.Network.WithObserver(m)
	jobs := &llm.Runner{Next: &httpjob.Runner{Network: s.network}, Observer: m}
	if cfg.LLM != nil {
		jobs.Client = llm.New(*cfg.LLM, nil)
	}
	var queue userlike.Queue
	if cfg.DataPath != "" {
		wc := cfg.Worker
		st, err := outbox.Open(context.Background(), cfg.DataPath, outbox.Options{Clock: wc.Clock})
		if err != nil {
			return nil, err
		}
		wc.Store, wc.Logger, wc.Observer = st, s.log, m
		if wc.Jobs == nil {
			wc.Jobs = jobs
		}
		s.store, s.worker = st, worker.New(wc)
		queue = s.worker
		if err := m.WatchOutbox(func() (int, int, error) { return st.Depth(context.Background()) }); err != nil {
			st.Close()
			return nil, fmt.Errorf("metrics: %w", err)
		}
		if cfg.FlowSet != nil {
			// Keep every flow version served in the data file, so that
			// conversations on an earlier version survive restarts.
			newStore := flowset.NewSQLStore
			if st.Postgres() {
				newStore = flowset.NewPostgresStore
			}
			vs, err := newStore(context.Background(), st.DB())
			if err == nil {
				err = cfg.FlowSet.UseStore(context.Background(), vs)
			}
			if err != nil {
				st.Close()
				return nil, fmt.Errorf("flow versions: %w", err)
			}
		}
	}
	opts := userlike.Options{
		Token: cfg.Token, TokenHeader: cfg.TokenHeader, LogBodies: cfg.LogBodies,
		Logger: s.log, Observer: m, Now: cfg.Now, Queue: queue, ContextKeys: cfg.ContextKeys, Jobs: jobs, Turns: s.turns,
	}
	if bots == nil {
		s.webhook, err = userlike.New(current, opts)
	} else {
		s.webhook, err = userlike.NewWithBots(bots, opts)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	s.warnAsync(current)

	r := mux.NewRouter()
	r.SkipClean(true) // odd paths (//, ..) get the JSON 404, not a bare redirect
	if cfg.Platform != nil {
		if err := s.openPlatform(*cfg.Platform, bots, current, m, jobs, cfg.LLM != nil); err != nil {
			s.Close()
			return nil, err
		}
		api := mux.NewRouter()
		s.chat.Register(api)
		r.PathPrefix("/api/").Handler(s.counted("api", api))
	}
	for prefix, h := range cfg.Mount {
		r.PathPrefix(prefix).Handler(s.counted("other", http.StripPrefix(strings.TrimSuffix(prefix, "/"), h)))
	}
	r.Handle("/bots/{name}/webhook", s.webhook)
	r.Handle("/healthz", s.counted("healthz", http.HandlerFunc(s.healthz))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", s.counted("metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError)}))).Methods(http.MethodGet)
	r.NotFoundHandler = s.counted("other", jsonError(http.StatusNotFound, "no such endpoint; webhooks are POST /bots/{name}/webhook"))
	r.MethodNotAllowedHandler = s.counted("other", jsonError(http.StatusMethodNotAllowed, "method not allowed here"))
	s.handler = s.recoverer(r)
	return s, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Handler returns the server's HTTP handler (router and all), for tests and
// for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Flows returns the names of the flows served, sorted.
func (s *Server) Flows() []string { return s.webhook.Names() }

// Reload loads the flow folder again (with a FlowSet): changed flows that
// compile are swapped in; a flow with errors keeps its version serving.
func (s *Server) Reload(ctx context.Context) ([]flowset.Change, error) {
	if s.cfg.FlowSet == nil {
		return nil, errors.New("this server serves fixed flows; there is nothing to reload")
	}
	return s.cfg.FlowSet.Reload(ctx)
}

// Addr is the address Run listens on.
func (s *Server) Addr() string { return s.cfg.Addr }

// warnAsync logs, for each flow with async HTTP steps, where their results
// go — or why they cannot be delivered.
func (s *Server) warnAsync(bots []*engine.Bot) {
	for _, b := range bots {
		f := b.Flow()
		var async []string
		for _, name := range f.Order {
			if h := f.States[name].HTTP; h != nil && h.Async {
				async = append(async, name)
			}
		}
		if len(async) == 0 {
			continue
		}
		if s.worker == nil {
			s.log.Warn("no data file: async HTTP steps run during the webhook call", "flow", f.Name, "states", async)
			continue
		}
		if _, _, err := s.webhook.APITarget(f.Name); err != nil {
			s.log.Warn("async HTTP steps cannot deliver their results: they will be recorded as failed", "flow", f.Name, "states", async, "error", err.Error())
		}
	}
}

// openPlatform opens the Chat API's store and builds the API and its
// delivery worker.
func (s *Server) openPlatform(p Platform, bots userlike.Bots, current []*engine.Bot, m *metrics.Metrics, jobs *llm.Runner, withLLM bool) error {
	if p.Database == "" {
		return errors.New("platform mode needs a database (a SQLite file path or a postgres:// URL)")
	}
	st, err := store.Open(context.Background(), p.Database, store.Options{SQLiteSynchronous: p.SQLiteSynchronous})
	if err != nil {
		return err
	}
	s.chatStore = st
	sender := &delivery.Sender{Network: s.network}
	if p.WebhookSecret != "" {
		if sender.Signer, err = delivery.NewSigner(p.WebhookSecret); err != nil {
			return err
		}
	}
	s.deliveries = &delivery.Worker{Queue: st, Sender: sender, Schedule: p.Schedule, Clock: p.Clock, Lease: p.Lease,
		Concurrency: p.Concurrency, Log: s.log, Observer: m}
	if bots == nil {
		fixed := fixedDeployments{}
		for _, b := range current {
			fixed[b.Flow().Name] = engine.NewDeployment(b)
		}
		bots = fixed
	}
	s.chat, err = platform.New(platform.Options{Store: st, Bots: bots, APIKeys: p.APIKeys, InsecureNoAuth: p.InsecureNoAuth,
		Deliveries: s.deliveries, Clock: p.Clock, Logger: s.log, JobLease: p.Lease, Observer: m, Jobs: jobs, Network: s.network, LLM: withLLM, Turns: s.turns})
	if err != nil {
		return err
	}
	if err := m.WatchPlatform(func() (int, int, error) { return st.Depth(context.Background()) }); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	kind := "sqlite"
	if store.IsPostgres(p.Database) {
		kind = "postgres"
	}
	s.log.Info("chat API enabled", "store", kind, "signed_webhooks", sender.Signer != nil, "auth", len(p.APIKeys) > 0 || p.InsecureNoAuth)
	return nil
}

// fixedDeployments serves fixed bots under their flows' names.
type fixedDeployments map[string]*engine.Deployment

func (f fixedDeployments) Get(name string) *engine.Deployment { return f[name] }
func (f fixedDeployments) Names() []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Close releases the data files when Serve was not called (Serve closes
// them itself). It is safe to call more than once.
func (s *Server) Close() error {
	if s.network != nil {
		s.network.CloseIdleConnections()
	}
	if s.chatStore != nil {
		s.chatStore.Close()
		s.chatStore = nil
	}
	if s.store == nil {
		return nil
	}
	st := s.store
	s.store = nil
	if s.worker != nil {
		s.worker.Stop(context.Background())
	}
	return st.Close()
}

// Run listens on the configured address and serves until ctx is cancelled,
// then shuts down gracefully (see Serve).
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled. It then stops accepting
// connections, answers /healthz with 503, waits up to ShutdownTimeout for
// the requests in flight to finish, and returns nil (or the error that
// stopped it early).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.worker != nil {
		if err := s.worker.Start(s.webhook); err != nil {
			ln.Close()
			s.Close()
			return fmt.Errorf("background worker: %w", err)
		}
		s.log.Info("background work enabled", "data", s.store.Where())
	}
	var platformDone chan struct{}
	stopPlatform := func() {}
	if s.chat != nil {
		pctx, cancel := context.WithCancel(context.Background())
		platformDone = make(chan struct{})
		go func() {
			defer close(platformDone)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); s.deliveries.Run(pctx) }()
			go func() { defer wg.Done(); s.chat.RunJobs(pctx) }()
			wg.Wait()
		}()
		stopPlatform = func() {
			cancel()
			<-platformDone
			if s.chatStore != nil {
				s.chatStore.Close()
				s.chatStore = nil
			}
		}
	}
	// The outgoing connections of HTTP steps and deliveries go last, once
	// their work is done or handed back.
	defer s.network.CloseIdleConnections()
	defer stopPlatform()
	s.log.Info("serving", "addr", ln.Addr().String(), "flows", s.Flows())
	if s.cfg.FlowSet != nil && s.cfg.Watch > 0 {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go s.cfg.FlowSet.Watch(wctx, s.cfg.Watch)
		s.log.Info("watching the flows for changes", "every", s.cfg.Watch)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.stopWorker(context.Background())
		return err
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	s.log.Info("shutting down: finishing requests in flight", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		srv.Close()
	}
	// The webhooks are answered (their jobs queued): now the background
	// work in flight, within what is left of the timeout.
	if werr := s.stopWorker(sctx); werr != nil && err == nil {
		s.log.Warn("background work interrupted by the shutdown timeout; it resumes on the next start", "error", werr.Error())
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// stopWorker stops the background worker (finishing or handing back the
// work in flight) and closes the data file.
func (s *Server) stopWorker(ctx context.Context) error {
	if s.worker == nil || s.store == nil {
		return nil
	}
	err := s.worker.Stop(ctx)
	if cerr := s.store.Close(); cerr != nil {
		s.log.Error("closing the data file", "error", cerr.Error())
	}
	s.store = nil
	return err
}

// healthz answers 200 with the flows served, or 503 while shutting down.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if s.stopping.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"stopping","flows":` + jsonStrings(s.Flows()) + "}\n"))
		return
	}
	w.Write([]byte(`{"status":"ok","flows":` + jsonStrings(s.Flows()) + "}\n"))
}

// counted counts a non-webhook handler's answers by status.
func (s *Server) counted(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		s.metrics.HTTPRequest(name, sw.status)
	})
}

// recoverer is the last line of defence: a panic outside the webhook
// handler (which recovers its own) is logged and answered 500.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.metrics.Error("", userlike.ErrKindPanic)
				s.log.Error("panic while handling a request; answered 500", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				jsonError(http.StatusInternalServerError, "internal error; the problem was logged").ServeHTTP(w, r)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// jsonError answers status with {"error": msg}.
func jsonError(status int, msg string) http.Handler {
	body := []byte(`{"error":` + jsonString(msg) + "}\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	})
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsonStrings(list []string) string {
	if list == nil {
		list = []string{}
	}
	b, _ := json.Marshal(list)
	return string(b)
}
