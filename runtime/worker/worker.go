// Package worker runs flowbot's background work from the outbox
// (runtime/outbox): the async HTTP jobs of flows, and the pushes that
// deliver their results to each bot's Userlike API URL.
//
// A Worker is the Handler's Queue (userlike.Queue): the webhook turn that
// asks for an async job stores it with Enqueue and answers at once. Two
// loops then do the rest:
//
//   - the job loop claims jobs (with a lease it renews while it works), makes
//     the request (httpjob), continues the conversation with the result
//     (userlike.Handler.Resume: the same stepping, chained sync jobs,
//     rendering and context encoding as a webhook turn), and in one
//     transaction marks the job done and writes the result as a push;
//   - the push loop sends each conversation's pending pushes, oldest first,
//     batched into one request per conversation, at most 20 requests per
//     minute per cid (userlikeapi.Limiter, checked before sending), with
//     backoff on errors and Retry-After on 429. A push is marked sent only
//     after a 2xx; if the process dies in between, the push is sent again,
//     with the same push id;
//   - the timer loop fires the conversations' follow-ups (`on_silence`). A
//     Worker is also the Handler's userlike.Timers: every webhook turn of a
//     flow with `on_silence` rules arms the conversation's follow-up
//     (replacing the one armed) or cancels it, so an armed timer is always
//     the one set for the last context flowbot answered with. When it falls
//     due the loop claims it (with a lease), continues the conversation with
//     an engine.EvSilence (userlike.Handler.FireFollowUp: the same path as
//     Resume) and, in one transaction that holds only if no webhook call
//     re-armed or cancelled the timer meanwhile, deletes it, writes the
//     events as a push and arms the next rule's timer. A follow-up whose
//     conversation moved on is dropped, and nothing is pushed.
//
// Any number of Workers may run on one outbox — processes on one SQLite
// file, or instances on one PostgreSQL database: claims and leases keep
// each piece of work with one of them, the rate limit is counted in the
// shared attempt log, and a webhook turn on any instance supersedes the
// work of the others (docs/userlike.md, "Many instances").
//
// Every schedule reads the injected clock, so that tests move time by hand.
//
// The worker never reads or writes a context itself: the job keeps the
// context the webhook turn wrote, and Resume verifies it for the job's cid
// and seals the new one with the Handler's keys (userlike.Options
// .ContextKeys), so pushed contexts are signed (and encrypted) exactly as
// webhook answers are, and a stored context that does not verify restarts
// the conversation.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/observe"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlikeapi"
)

// Defaults of a Worker.
const (
	DefaultWorkers        = 4
	DefaultSenders        = 4
	DefaultLease          = 30 * time.Second
	DefaultPoll           = 2 * time.Second
	DefaultMaxBatchPushes = 50
	DefaultMaxBatchBytes  = 512 << 10
	DefaultMaxJobAttempts = turn.MaxJobAttempts
	DefaultMaxPushAge     = 24 * time.Hour
	DefaultRetention      = 7 * 24 * time.Hour
)

// Resumer continues conversations with their jobs' results and knows where
// each bot's pushes go; *userlike.Handler implements it.
type Resumer interface {
	Resume(ctx context.Context, c userlike.Continuation, result engine.HTTPResult) (userlike.Resumed, error)
	// FireFollowUp continues a conversation whose follow-up (on_silence)
	// fell due.
	FireFollowUp(ctx context.Context, f userlike.FollowUp) (userlike.Resumed, error)
	APITarget(bot string) (url, token string, err error)
}

// JobRunner makes a job's request (*httpjob.Runner, llm.Runner):
// runtime/turn's one Runner interface.
type JobRunner = turn.Runner

// Job outcomes reported to Observer.JobFinished.
const (
	JobDone       = "done"       // the result was continued (and pushed, if it said anything)
	JobIgnored    = "ignored"    // the stored context no longer waited for it
	JobSuperseded = "superseded" // the conversation moved on meanwhile; nothing pushed
	JobFailed     = "failed"     // no API URL, unknown bot, too many attempts
	JobReleased   = "released"   // interrupted by shutdown; it will run again
)

// Observer receives what a Worker measures; runtime/metrics implements it.
// Methods are called concurrently.
type Observer interface {
	// JobFinished counts a job by outcome, with the duration of its HTTP
	// request (0 when none was made).
	JobFinished(flow, outcome string, d time.Duration)
	// PushAttempt counts one request to an API URL by outcome: sent,
	// retry, rate_limited or failed (userlikeapi.Outcome's names).
	PushAttempt(outcome string)
}

// Follow-up outcomes reported to FollowUpObserver.FollowUp.
const (
	FollowUpFired    = "fired"    // the follow-up's events were queued for the API URL (or its turn said nothing)
	FollowUpDropped  = "dropped"  // the conversation had moved on: nothing pushed
	FollowUpFailed   = "failed"   // no API URL, unknown bot, unreadable row, too many attempts
	FollowUpReleased = "released" // interrupted by shutdown; it fires again
)

// FollowUpObserver is implemented by an Observer that also counts
// follow-up timers (on_silence) by outcome. It is optional: an Observer
// without it sees no follow-ups.
type FollowUpObserver interface {
	FollowUp(flow, outcome string)
}

// Config configures a Worker. Store is required.
type Config struct {
	Store    *outbox.Store
	Jobs     JobRunner           // nil: an httpjob.Runner
	API      *userlikeapi.Client // nil: a default client
	Clock    clock.Clock         // nil: the system clock
	Logger   *slog.Logger        // nil: slog.Default()
	Observer Observer            // nil: discards

	Workers int           // jobs run at once (and, apart, follow-ups fired at once); DefaultWorkers when 0
	Senders int           // push requests at once (one per cid); DefaultSenders when 0
	Lease   time.Duration // of a claimed job or batch, renewed at a third of it; DefaultLease when 0
	// Poll is how often the loops look for work written by another process
	// on the same file or database; DefaultPoll when 0. Work of this process wakes them
	// at once.
	Poll           time.Duration
	Backoff        userlikeapi.Backoff  // retry spacing; the zero value is 1 s doubling to 5 min, with jitter
	Limiter        *userlikeapi.Limiter // nil: 20 requests per minute per cid
	MaxBatchPushes int                  // pushes per request; DefaultMaxBatchPushes when 0
	MaxBatchBytes  int                  // event bytes per request (the oldest push always goes); DefaultMaxBatchBytes when 0
	MaxJobAttempts int                  // claims of a job that may end unfinished before it is given up (turn.GiveUp: its flow gets an error result; a timer is failed); DefaultMaxJobAttempts when 0
	MaxPushAge     time.Duration        // a push still failing after this fails for good; DefaultMaxPushAge when 0
	Retention      time.Duration        // finished rows are deleted after this; DefaultRetention when 0
}

// Worker runs the outbox's jobs and pushes. Build it with New, hand it to
// the Handler as its Queue, then Start it with the Handler.
type Worker struct {
	cfg     Config
	store   *outbox.Store
	clock   clock.Clock
	log     *slog.Logger
	obs     Observer
	jobs    JobRunner
	api     *userlikeapi.Client
	limiter *userlikeapi.Limiter

	res       Resumer
	jobWake   chan struct{}
	pushWake  chan struct{}
	timerWake chan struct{}
	// timerAt is when the timer loop plans to look next (UnixNano), 0
	// while it is looking: SetTimer wakes it for an earlier timer.
	timerAt atomic.Int64
	// warnedUnknown is when Supersede last warned of a job it does not
	// have (UnixNano).
	warnedUnknown atomic.Int64
	followObs     FollowUpObserver // nil: not counted
	stop          chan struct{}    // closed by Stop: claim nothing more
	workCtx       context.Context
	cancel        context.CancelFunc // interrupts the work in flight
	loops         sync.WaitGroup
	inflight      sync.WaitGroup
	started       bool
	stopOnce      sync.Once
}

// New returns a Worker; it does nothing until Start.
func New(cfg Config) *Worker {
	setDefault(&cfg.Workers, DefaultWorkers)
	setDefault(&cfg.Senders, DefaultSenders)
	setDefault(&cfg.MaxBatchPushes, DefaultMaxBatchPushes)
	setDefault(&cfg.MaxBatchBytes, DefaultMaxBatchBytes)
	setDefault(&cfg.MaxJobAttempts, DefaultMaxJobAttempts)
	setDefault(&cfg.Lease, DefaultLease)
	setDefault(&cfg.Poll, DefaultPoll)
	setDefault(&cfg.MaxPushAge, DefaultMaxPushAge)
	setDefault(&cfg.Retention, DefaultRetention)
	w := &Worker{cfg: cfg, store: cfg.Store, clock: cfg.Clock, log: cfg.Logger, obs: cfg.Observer, jobs: cfg.Jobs,
		api: cfg.API, limiter: cfg.Limiter,
		jobWake: make(chan struct{}, 1), pushWake: make(chan struct{}, 1), timerWake: make(chan struct{}, 1), stop: make(chan struct{})}
	if w.clock == nil {
		w.clock = clock.Real{}
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.obs == nil {
		w.obs = observe.Nop{}
	}
	w.followObs, _ = w.obs.(FollowUpObserver)
	if w.jobs == nil {
		w.jobs = &httpjob.Runner{}
	}
	if w.api == nil {
		w.api = &userlikeapi.Client{}
	}
	if w.api.Now == nil {
		api := *w.api
		api.Now = w.clock.Now
		w.api = &api
	}
	if w.limiter == nil {
		w.limiter = &userlikeapi.Limiter{}
	}
	w.workCtx, w.cancel = context.WithCancel(context.Background())
	return w
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Store returns the outbox the worker runs.
func (w *Worker) Store() *outbox.Store { return w.store }

// Enqueue stores an async job durably and wakes the job loop
// (userlike.Queue).
func (w *Worker) Enqueue(ctx context.Context, j userlike.QueuedJob) (int64, error) {
	id, err := w.store.Enqueue(ctx, newJob(j))
	if err != nil {
		return 0, err
	}
	wake(w.jobWake)
	return id, nil
}

func newJob(j userlike.QueuedJob) outbox.NewJob {
	return outbox.NewJob{Bot: j.Bot, FlowVersion: j.FlowVersion, CID: j.CID, Channel: j.Channel,
		Context: j.Context, Contact: j.Contact, Job: *j.Job, Chain: j.Chain}
}

// Push stores events to deliver to a bot's API URL for a conversation
// (a self-initiated event that is not the result of a job) and wakes the
// push loop. It returns the push id.
func (w *Worker) Push(ctx context.Context, p outbox.NewPush) (string, error) {
	id, err := w.store.AddPush(ctx, p)
	if err != nil {
		return "", err
	}
	wake(w.pushWake)
	return id, nil
}

// SetTimer arms a conversation's follow-up, replacing the one armed, and
// supersedes the pending pushes of its earlier follow-ups
// (userlike.Timers).
func (w *Worker) SetTimer(ctx context.Context, f userlike.FollowUp) error {
	if err := w.store.SetTimer(ctx, newTimer(f)); err != nil {
		return err
	}
	w.wakeTimers(f.Due)
	w.awaitStale(ctx, f.Bot, f.CID)
	return nil
}

// CancelTimer cancels a conversation's follow-up and supersedes the
// pending pushes of its earlier follow-ups (userlike.Timers).
func (w *Worker) CancelTimer(ctx context.Context, bot, cid string) error {
	if err := w.store.CancelTimer(ctx, bot, cid); err != nil {
		return err
	}
	w.awaitStale(ctx, bot, cid)
	return nil
}

// MaxStaleWait bounds how long a webhook turn waits for a request already
// on its way with pushes it superseded (awaitStale): a push request's
// time-out, and a little more.
const MaxStaleWait = userlikeapi.DefaultTimeout + time.Second

// awaitStale waits, when the turn superseded pushes that a sender had
// already claimed (their request may be on its way), until that request
// ended — at most MaxStaleWait, or the sender's lease. The turn's answer
// then reaches the platform after the older context those pushes carry,
// and the platform keeps the answer's: the newest.
func (w *Worker) awaitStale(ctx context.Context, bot, cid string) {
	until, ok, err := w.store.StaleInFlight(ctx, bot, cid)
	if err != nil || !ok {
		return
	}
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ok && err == nil && time.Since(start) < MaxStaleWait && w.clock.Now().Before(until) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		until, ok, err = w.store.StaleInFlight(ctx, bot, cid)
	}
	w.log.LogAttrs(ctx, slog.LevelInfo, "the answer waited for a request on its way with the older context it supersedes",
		slog.String("bot", bot), slog.String("cid", cid), slog.Duration("waited", time.Since(start)), slog.Bool("ended", !ok))
}

func newTimer(f userlike.FollowUp) outbox.NewTimer {
	return outbox.NewTimer{Bot: f.Bot, FlowVersion: f.FlowVersion, CID: f.CID, Channel: f.Channel, Contact: f.Contact,
		State: f.State, Rule: f.Rule, DueAt: f.Due, Planned: f.Planned, Base: f.Base, Context: f.Context}
}

// Supersede marks the conversation's job seq (and its pending pushes)
// superseded (userlike.Queue).
func (w *Worker) Supersede(ctx context.Context, bot, cid string, seq int) error {
	n, err := w.store.Supersede(ctx, bot, cid, seq)
	if err != nil {
		return err
	}
	if n.Unknown {
		// The job was queued where this instance cannot see it: instances
		// behind one balancer with data files of their own. Said at most
		// once a minute (a context anyone can edit may name any job).
		if last := w.warnedUnknown.Load(); last != 0 && time.Since(time.Unix(0, last)) < time.Minute {
			return nil
		}
		w.warnedUnknown.Store(time.Now().UnixNano())
		w.log.LogAttrs(ctx, slog.LevelWarn, "the conversation moved on from a background job this instance's data does not have: "+
			"was it queued by another instance with a data file of its own? Instances behind a load balancer must share one database "+
			"(--database postgres://…); otherwise its result and follow-ups are pushed for a conversation that moved on",
			slog.String("bot", bot), slog.String("cid", cid), slog.Int("seq", seq), slog.String("data", w.store.Where()))
		return nil
	}
	level := slog.LevelDebug
	if n.Jobs > 0 || n.Pushes > 0 {
		level = slog.LevelInfo
	}
	w.log.LogAttrs(ctx, level, "background job superseded: the conversation moved on; its result will not be pushed",
		slog.String("bot", bot), slog.String("cid", cid), slog.Int("seq", seq), slog.Int("jobs", n.Jobs), slog.Int("pushes", n.Pushes))
	if n.Pushes > 0 {
		w.awaitStale(ctx, bot, cid)
	}
	return nil
}

// Start restores the rate limit's memory from the attempt log, prunes old
// rows and starts the loops. Work a crashed process left behind (jobs
// running, pushes unsent) is taken up when its lease expires.
func (w *Worker) Start(r Resumer) error {
	if w.started {
		return errors.New("worker: started twice")
	}
	w.started, w.res = true, r
	ctx := w.workCtx
	now := w.clock.Now()
	attempts, err := w.store.AttemptsSince(ctx, now.Add(-w.window()))
	if err != nil {
		return err
	}
	for _, a := range attempts {
		w.limiter.Record(a.CID, a.At)
	}
	w.prune(ctx)
	jobs, pushes, err := w.store.Depth(ctx)
	timers, terr := w.store.ArmedTimers(ctx)
	if err == nil && terr == nil && (jobs > 0 || pushes > 0 || timers > 0) {
		w.log.Info("outbox: resuming work left from before", "data", w.store.Where(), "jobs", jobs, "pushes", pushes, "follow_ups", timers)
	}
	w.loops.Add(3)
	go w.jobLoop()
	go w.pushLoop()
	go w.timerLoop()
	return nil
}

// limit is the rate limit's requests per window.
func (w *Worker) limit() int {
	if w.limiter.Max > 0 {
		return w.limiter.Max
	}
	return userlikeapi.RequestsPerWindow
}

func (w *Worker) window() time.Duration {
	if w.limiter.Window > 0 {
		return w.limiter.Window
	}
	return userlikeapi.Window
}

// Stop stops claiming work and waits for the work in flight to finish. When
// ctx ends first, the work in flight is interrupted: an interrupted job
// goes back to pending, an interrupted push is sent again later (same push
// id). Nothing is lost either way. Stop does not close the store.
func (w *Worker) Stop(ctx context.Context) error {
	w.stopOnce.Do(func() { close(w.stop) })
	done := make(chan struct{})
	go func() {
		w.loops.Wait()
		w.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		w.cancel()
		return nil
	case <-ctx.Done():
	}
	w.cancel()
	<-done
	return fmt.Errorf("worker: stopped before the work in flight finished (it will be taken up again): %w", ctx.Err())
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (w *Worker) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// sleepUntil waits until the clock reaches at, a wake-up on c1 or c2 (nil:
// none), or Stop; it reports false on Stop. The loops compute at from a
// time read before their queries: sleeping for at.Sub(thatTime) instead
// would wake late by however long the queries took (and, on a test's fake
// clock, by every step the test advanced meanwhile).
func (w *Worker) sleepUntil(at time.Time, c1, c2 <-chan struct{}) bool {
	t := w.clock.NewTimerAt(at)
	defer t.Stop()
	select {
	case <-w.stop:
		return false
	case <-c1:
	case <-c2:
	case <-t.C():
	}
	return true
}

// keepLease renews a lease every third of its length until stop is
// closed; lost is called (once) when the claim turns out to be gone.
func (w *Worker) keepLease(stop <-chan struct{}, renew func() error, lost func(error)) {
	for {
		t := w.clock.NewTimer(w.cfg.Lease / 3)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C():
		}
		if err := renew(); err != nil {
			if errors.Is(err, outbox.ErrLost) {
				lost(err)
				return
			}
			w.log.Warn("outbox: cannot renew a lease", "error", err.Error())
		}
	}
}

func (w *Worker) prune(ctx context.Context) {
	n, err := w.store.Prune(ctx, w.clock.Now().Add(-w.cfg.Retention))
	if err != nil {
		w.log.Warn("outbox: cannot delete old rows", "error", err.Error())
		return
	}
	if n > 0 {
		w.log.Info("outbox: deleted finished rows", "rows", n, "older_than", w.cfg.Retention.String())
	}
}
