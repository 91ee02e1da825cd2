package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/observe"
	"github.com/flowbot/flowbot/runtime/store"
)

// Defaults of a Worker.
const (
	DefaultLease        = 60 * time.Second
	DefaultConcurrency  = 16
	DefaultBatch        = 64
	DefaultPollInterval = 250 * time.Millisecond
)

const (
	// errBackoffMin and errBackoffMax bound the wait after a queue error;
	// it doubles from the first to the second while the errors go on.
	errBackoffMin = 250 * time.Millisecond
	errBackoffMax = 10 * time.Second
	// finishTimeout bounds one FinishDeliveries call (real time).
	finishTimeout = 10 * time.Second
	// maxFinishBatch is how many outcomes one FinishDeliveries records at
	// most.
	maxFinishBatch = 256
)

// Queue is the part of the store (store.Store) a Worker uses.
type Queue interface {
	// ClaimDeliveries leases up to limit due deliveries, at most one per
	// conversation (its oldest undelivered message), until now+lease.
	ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error)
	// FinishDeliveries records attempts: delivered, or due again at Retry.
	FinishDeliveries(ctx context.Context, outcomes []store.Outcome) error
	// NextDelivery is when the next pending delivery is due (ok false
	// when none is pending).
	NextDelivery(ctx context.Context) (at time.Time, ok bool, err error)
}

// A store.Store is a Queue.
var _ Queue = store.Store(nil)

// Observer receives what a Worker measures; its methods are called
// concurrently.
type Observer interface {
	// Attempt counts one webhook request: its status (0 when there was no
	// answer), whether it delivered the message, and how long it took.
	Attempt(status int, delivered bool, d time.Duration)
}

// Worker delivers the queue's messages to their webhooks: it claims the due
// deliveries, POSTs them concurrently, records each attempt, and schedules
// failed ones again. Set its fields, then call Run; the zero value of every
// field but Queue and Sender is a default. A Worker must not be copied
// once used.
type Worker struct {
	// Queue holds the deliveries (a store.Store). Required.
	Queue Queue
	// Sender makes the requests. Required. Its timeout is lowered to half
	// the lease when it is longer, so that a lease never ends during its
	// request.
	Sender *Sender
	// Schedule spaces the attempts of a delivery; nil is DefaultSchedule.
	Schedule Schedule
	// Clock tells the time and waits; nil is the system clock.
	Clock clock.Clock
	// Owner names this worker's claims; empty is a random id.
	Owner string
	// Lease is how long a claim lasts: a claim of a worker that dies is
	// taken over when it ends. 0 is DefaultLease.
	Lease time.Duration
	// Concurrency is how many requests run at once; 0 is
	// DefaultConcurrency.
	Concurrency int
	// Batch is how many deliveries one claim takes at most; 0 is
	// DefaultBatch.
	Batch int
	// PollInterval is how often the worker looks for deliveries it was not
	// told about (queued by another process, or left by a dead worker);
	// 0 is DefaultPollInterval. Wake makes it look at once.
	PollInterval time.Duration
	// Log receives a warning for each failed attempt; nil is slog.Default().
	Log *slog.Logger
	// Observer, when set, is told about every attempt.
	Observer Observer
	// Rand returns the random numbers in [0, 1) of the schedule's jitter;
	// nil is math/rand/v2.Float64. It is called concurrently.
	Rand func() float64

	once    sync.Once
	wake    chan struct{}
	running atomic.Bool
}

func (w *Worker) init() {
	w.once.Do(func() { w.wake = make(chan struct{}, 1) })
}

// Wake tells the worker that deliveries were queued: it looks for due ones
// at once instead of at its next poll. It never blocks, and may be called
// before Run.
func (w *Worker) Wake() {
	w.init()
	signal(w.wake)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// run is the state of one Run.
type run struct {
	queue    Queue
	sender   Sender
	schedule Schedule
	clock    clock.Clock
	owner    string
	lease    time.Duration
	conc     int
	batch    int
	poll     time.Duration
	log      *slog.Logger
	obs      Observer
	rand     func() float64
	wake     <-chan struct{}

	// inflight counts the claimed deliveries whose outcome is not recorded
	// yet; kick tells the loop that some were.
	inflight atomic.Int64
	kick     chan struct{}
	outcomes chan finished
	sends    sync.WaitGroup
}

// finished is the outcome of a claimed delivery, on its way to the store.
type finished struct {
	o         store.Outcome
	claimedAt time.Time
}

// Run delivers until ctx is done. It then stops claiming, interrupts the
// requests in flight, records what they did (an interrupted one is due
// again at once, for another worker or the next start), and returns nil.
// Errors of the queue are logged and retried after a short wait; Run
// returns an error only when the Worker lacks its Queue or Sender, or is
// running already.
func (w *Worker) Run(ctx context.Context) error {
	if w.Queue == nil || w.Sender == nil {
		return errors.New("delivery: Worker needs a Queue and a Sender")
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("delivery: Worker is running already")
	}
	defer w.running.Store(false)
	w.init()
	r := w.newRun()
	finDone := make(chan struct{})
	go func() {
		defer close(finDone)
		r.finisher(ctx)
	}()
	r.loop(ctx)
	r.sends.Wait()
	close(r.outcomes)
	<-finDone
	return nil
}

func (w *Worker) newRun() *run {
	r := &run{
		queue:    w.Queue,
		sender:   *w.Sender,
		schedule: w.Schedule,
		clock:    w.Clock,
		owner:    w.Owner,
		lease:    w.Lease,
		conc:     w.Concurrency,
		batch:    w.Batch,
		poll:     w.PollInterval,
		log:      w.Log,
		obs:      w.Observer,
		rand:     w.Rand,
		wake:     w.wake,
		kick:     make(chan struct{}, 1),
	}
	if len(r.schedule) == 0 {
		r.schedule = DefaultSchedule
	}
	if r.clock == nil {
		r.clock = clock.Real{}
	}
	if r.owner == "" {
		r.owner = randomOwner()
	}
	if r.lease <= 0 {
		r.lease = DefaultLease
	}
	if r.conc <= 0 {
		r.conc = DefaultConcurrency
	}
	if r.batch <= 0 {
		r.batch = DefaultBatch
	}
	if r.poll <= 0 {
		r.poll = DefaultPollInterval
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.obs == nil {
		r.obs = observe.Nop{}
	}
	if r.rand == nil {
		r.rand = mrand.Float64
	}
	timeout := r.sender.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	r.sender.Timeout = min(timeout, r.lease/2)
	r.outcomes = make(chan finished, r.conc)
	return r
}

func randomOwner() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "delivery-" + hex.EncodeToString(b[:])
}

// loop claims due deliveries while requests slots are free, then sleeps
// until the next delivery is due, PollInterval passes, Wake is called, or
// an outcome is recorded (the conversation's next message may be due).
func (r *run) loop(ctx context.Context) {
	var backoff time.Duration
	for ctx.Err() == nil {
		free := r.conc - int(r.inflight.Load())
		if free <= 0 {
			r.wait(ctx, time.Time{}) // until an outcome is recorded
			continue
		}
		now := r.clock.Now()
		limit := min(r.batch, free)
		ds, err := r.queue.ClaimDeliveries(ctx, r.owner, now, r.lease, limit)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = nextBackoff(backoff)
			r.log.Error("delivery: cannot claim deliveries; trying again", "error", err.Error(), "retry_in", backoff)
			r.sleep(ctx, now.Add(backoff))
			continue
		}
		for _, d := range ds {
			r.start(ctx, d, now)
		}
		if len(ds) == limit {
			continue // more may be due
		}
		next := now.Add(r.poll)
		at, ok, err := r.queue.NextDelivery(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = nextBackoff(backoff)
			r.log.Error("delivery: cannot read when the next delivery is due; trying again", "error", err.Error(), "retry_in", backoff)
			r.sleep(ctx, now.Add(backoff))
			continue
		}
		backoff = 0
		// A time not after now is a delivery that was due when we claimed
		// and was not handed out: another worker holds it, or an older
		// message of its conversation is pending. Polling finds it.
		if ok && at.After(now) && at.Before(next) {
			next = at
		}
		r.wait(ctx, next)
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d <= 0 {
		return errBackoffMin
	}
	return min(2*d, errBackoffMax)
}

// wait sleeps until at (forever when zero), a Wake, a recorded outcome or
// the end of ctx. It computes nothing from a new reading of the clock: at
// was computed from the time of the claim, and a wait of at.Sub(now) would
// end late by however long the queries took.
func (r *run) wait(ctx context.Context, at time.Time) {
	var fire <-chan time.Time
	if !at.IsZero() {
		t := r.clock.NewTimerAt(at)
		defer t.Stop()
		fire = t.C()
	}
	select {
	case <-ctx.Done():
	case <-r.wake:
	case <-r.kick:
	case <-fire:
	}
}

// sleep waits until at or the end of ctx.
func (r *run) sleep(ctx context.Context, at time.Time) {
	t := r.clock.NewTimerAt(at)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	}
}

// start sends a claimed delivery in its own goroutine.
func (r *run) start(ctx context.Context, d store.Delivery, claimedAt time.Time) {
	r.inflight.Add(1)
	r.sends.Add(1)
	go func() {
		defer r.sends.Done()
		defer func() {
			if v := recover(); v != nil {
				r.log.Error("delivery: panic while sending; the message is sent again when its lease ends",
					"conversation_id", d.ConversationID, "message_id", d.MessageID,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				r.inflight.Add(-1)
				signal(r.kick)
			}
		}()
		o := r.attempt(ctx, d)
		r.outcomes <- finished{o: o, claimedAt: claimedAt}
	}()
}

// attempt makes one request and returns its outcome.
func (r *run) attempt(ctx context.Context, d store.Delivery) store.Outcome {
	start := r.clock.Now()
	res := r.sender.Send(ctx, d, start)
	end := r.clock.Now()
	o := store.Outcome{
		MessageID: d.MessageID,
		Owner:     r.owner,
		At:        start,
		Duration:  end.Sub(start),
		Status:    res.Status,
		Error:     res.Err,
		Delivered: res.Delivered,
	}
	n := d.Attempts + 1 // this attempt's number, counting from 1
	if res.Delivered {
		r.obs.Attempt(res.Status, true, o.Duration)
		r.log.Debug("delivery: delivered to the webhook", "conversation_id", d.ConversationID, "message_id", d.MessageID,
			"attempt", n, "status", res.Status)
		return o
	}
	if res.Status == 0 && ctx.Err() != nil {
		// Shutdown interrupted the request: it may or may not have
		// arrived. It is due again at once, with the same webhook-id.
		o.Error = "interrupted by shutdown"
		o.Retry = end
		r.log.Info("delivery: attempt interrupted by shutdown; it will be made again",
			"conversation_id", d.ConversationID, "message_id", d.MessageID, "attempt", n)
		return o
	}
	r.obs.Attempt(res.Status, false, o.Duration)
	wait := res.RetryAfter
	if wait <= 0 {
		wait = r.schedule.Delay(n, r.rand())
	}
	o.Retry = end.Add(wait)
	r.log.Warn("delivery: webhook did not accept the message; will retry",
		"conversation_id", d.ConversationID, "message_id", d.MessageID, "attempt", n,
		"status", res.Status, "error", res.Err, "retry_in", wait)
	return o
}

// finisher records the outcomes, batching those that arrive together.
func (r *run) finisher(ctx context.Context) {
	batch := make([]store.Outcome, 0, maxFinishBatch)
	for f := range r.outcomes {
		batch = append(batch[:0], f.o)
		oldest := f.claimedAt
	drain:
		for len(batch) < maxFinishBatch {
			select {
			case g, ok := <-r.outcomes:
				if !ok {
					break drain
				}
				batch = append(batch, g.o)
				if g.claimedAt.Before(oldest) {
					oldest = g.claimedAt
				}
			default:
				break drain
			}
		}
		r.finish(ctx, batch, oldest)
		r.inflight.Add(-int64(len(batch)))
		signal(r.kick)
	}
}

// finish records a batch of outcomes, trying again after queue errors
// while the claims last. Outcomes it cannot record are lost, and their
// deliveries are made again when their leases end.
func (r *run) finish(ctx context.Context, batch []store.Outcome, claimedAt time.Time) {
	bg := context.WithoutCancel(ctx) // record what shutdown interrupted, too
	var backoff time.Duration
	for {
		fctx, cancel := context.WithTimeout(bg, finishTimeout)
		err := r.queue.FinishDeliveries(fctx, batch)
		cancel()
		if err == nil {
			return
		}
		now := r.clock.Now()
		backoff = nextBackoff(backoff)
		if ctx.Err() != nil || !now.Add(backoff).Before(claimedAt.Add(r.lease)) {
			r.log.Error("delivery: cannot record delivery attempts; their messages will be sent again when their leases end",
				"error", err.Error(), "attempts", len(batch))
			return
		}
		r.log.Error("delivery: cannot record delivery attempts; trying again",
			"error", err.Error(), "attempts", len(batch), "retry_in", backoff)
		r.sleep(ctx, now.Add(backoff))
	}
}
