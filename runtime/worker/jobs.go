package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/userlike"
)

// jobLoop claims jobs while it has free workers, and sleeps until one is
// free, a job is enqueued, a lease expires or Poll passes.
func (w *Worker) jobLoop() {
	defer w.loops.Done()
	ctx := w.workCtx
	slots := make(chan struct{}, w.cfg.Workers)
	freed := make(chan struct{}, 1)
	nextPrune := w.clock.Now().Add(time.Hour)
	for !w.stopped() {
		// The time before claiming: a job due by then that ClaimJob did not
		// take is not claimable (it cannot be read, or another process took
		// it), while one falling due during the claims is taken next turn.
		now := w.clock.Now()
		// Claim while there are free workers.
		for len(slots) < cap(slots) && !w.stopped() {
			j, err := w.store.ClaimJob(ctx, w.cfg.Lease)
			if err != nil && j == nil {
				w.log.Error("outbox: cannot claim a job", "error", err.Error())
				break
			}
			if j == nil {
				break
			}
			slots <- struct{}{}
			w.inflight.Add(1)
			go func() {
				defer w.inflight.Done()
				defer func() { <-slots; wake(freed) }()
				defer w.recoverJob(j)
				w.runJob(j, err)
			}()
		}
		if !now.Before(nextPrune) {
			w.prune(ctx)
			nextPrune = now.Add(time.Hour)
		}
		if len(slots) == cap(slots) {
			// Busy: wait for a free worker.
			select {
			case <-w.stop:
				return
			case <-freed:
			}
			continue
		}
		next := now.Add(w.cfg.Poll)
		if at, ok, err := w.store.NextJobAt(ctx); err == nil && ok && at.After(now) {
			next = earliest(next, at) // a lease expires
		} // else none, or one was ready but not claimable: do not spin
		if !w.sleepUntil(next, w.jobWake, freed) {
			return
		}
	}
}

// runJob runs one claimed job to its end. claimErr is a problem reading
// the job's row (its request or contact could not be decoded).
func (w *Worker) runJob(j *outbox.Job, claimErr error) {
	ctx, cancel := context.WithCancel(w.workCtx)
	defer cancel()
	log := w.log.With(slog.String("bot", j.Bot), slog.String("cid", j.CID), slog.Int64("job", j.ID), slog.Int("seq", j.Job.Seq))
	var lostErr error
	lostCh := make(chan struct{})
	stopRenew := make(chan struct{})
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		w.keepLease(stopRenew, func() error { return w.store.RenewJob(context.WithoutCancel(ctx), j, w.cfg.Lease) },
			func(err error) { lostErr = err; close(lostCh); cancel() })
	}()
	finish := func() { close(stopRenew); <-renewDone }

	fail := func(reason string) {
		finish()
		log.Error("background job failed: its result will not be pushed", "reason", reason)
		if err := w.store.FailJob(context.WithoutCancel(ctx), j, reason); err != nil && !errors.Is(err, outbox.ErrLost) {
			log.Error("outbox: cannot record a failed job", "error", err.Error())
		}
		w.obs.JobFinished(j.Bot, JobFailed, 0)
	}
	if claimErr != nil {
		fail(claimErr.Error())
		return
	}
	if _, _, err := w.res.APITarget(j.Bot); err != nil {
		fail(err.Error() + " (set the flow's api_url, for the example flows USERLIKE_API_URL and USERLIKE_API_TOKEN)")
		return
	}
	start := w.clock.Now()
	// A job whose worker died too often, or one too many in a chain, is not
	// made: the flow sees an error result (runtime/turn's one rule).
	result, refused := turn.Refusal(&j.Job, j.Chain, j.Attempts-1, w.cfg.MaxJobAttempts)
	if refused {
		log.Warn("background job not made; its flow gets an error result", "reason", result.Err, "attempt", j.Attempts)
	} else {
		result = w.run(ctx, j, log)
	}
	took := w.clock.Now().Sub(start)
	if ctx.Err() != nil {
		finish()
		select {
		case <-lostCh:
			w.lost(ctx, j, log, lostErr, took)
			return
		default:
		}
		// Shutdown interrupted the request: run it again next time.
		if err := w.store.ReleaseJob(context.Background(), j); err != nil && !errors.Is(err, outbox.ErrLost) {
			log.Error("outbox: cannot release an interrupted job (it will be taken up when its lease expires)", "error", err.Error())
		}
		log.Info("background job interrupted by shutdown; it will run again")
		w.obs.JobFinished(j.Bot, JobReleased, took)
		return
	}
	attrs := []any{slog.String("state", j.Job.State), slog.Int("status", result.Status), slog.Duration("duration", took), slog.Int("attempt", j.Attempts)}
	if result.Err != "" {
		attrs = append(attrs, slog.String("error", result.Err))
	}
	log.Info("background http request", attrs...)

	resumed, err := w.res.Resume(ctx, userlike.Continuation{Bot: j.Bot, CID: j.CID, Channel: j.Channel,
		Context: j.Context, Contact: j.Contact, JobID: j.ID, Chain: j.Chain}, result)
	if err != nil {
		fail(err.Error())
		return
	}
	var f outbox.Finish
	outcome := JobDone
	switch {
	case resumed.Ignored:
		outcome = JobIgnored
		f.Note = "the stored context did not wait for this result"
	case resumed.Packets == 0:
		f.Note = "the result turn said nothing"
	default:
		f.Push = &outbox.NewPush{Bot: j.Bot, CID: j.CID, Events: resumed.Events, NEvents: resumed.Packets}
		// The result turn arms the conversation's follow-up, if its flow
		// has any, with its push.
		if resumed.Timer != nil {
			nt := newTimer(*resumed.Timer)
			f.Timer = &nt
		}
		f.CancelTimer = resumed.CancelTimer
	}
	if resumed.Next != nil {
		nj := newJob(*resumed.Next)
		f.Next = &nj
	}
	finish()
	done, err := w.store.FinishJob(context.WithoutCancel(ctx), j, f)
	if errors.Is(err, outbox.ErrLost) {
		w.lost(ctx, j, log, err, took)
		return
	}
	if err != nil {
		// The claim is kept: the job runs again when its lease expires.
		log.Error("outbox: cannot record a finished job; it will run again", "error", err.Error())
		return
	}
	w.obs.JobFinished(j.Bot, outcome, took)
	switch {
	case done.PushID != "":
		log.Info("background job done; result queued for the API URL", "push", done.PushID, "events", resumed.Packets, "to", resumed.To)
		wake(w.pushWake)
	case resumed.Ignored:
		log.Info("background job done; the conversation did not wait for its result any more: nothing to push")
	default:
		log.Info("background job done; nothing to push", "to", resumed.To)
	}
	if done.NextID != 0 {
		log.Info("background job queued by the result", "next_job", done.NextID)
		wake(w.jobWake)
	}
	if f.Timer != nil {
		w.wakeTimers(f.Timer.DueAt)
	}
}

// run makes j's request. A panic while making it (a bug of a runner) is
// the job's own failure: the flow gets an error result and takes its
// error path, pushed like any result, rather than the job failing
// silently.
func (w *Worker) run(ctx context.Context, j *outbox.Job, log *slog.Logger) (res engine.HTTPResult) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic while making a background request; its flow gets an error result", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			res = engine.HTTPResult{Seq: j.Job.Seq, Err: "the request failed (an internal error)"}
		}
	}()
	return w.jobs.Run(ctx, &j.Job)
}

// recoverJob turns a panic while running j (a bug) into a failed job and
// an error log, instead of a crashed process.
func (w *Worker) recoverJob(j *outbox.Job) {
	v := recover()
	if v == nil {
		return
	}
	w.log.Error("panic while running a background job; it is recorded as failed", "bot", j.Bot, "cid", j.CID, "job", j.ID,
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if err := w.store.FailJob(context.Background(), j, fmt.Sprintf("panic: %v", v)); err != nil && !errors.Is(err, outbox.ErrLost) {
		w.log.Error("outbox: cannot record a failed job", "job", j.ID, "error", err.Error())
	}
	w.obs.JobFinished(j.Bot, JobFailed, 0)
}

// lost handles a job whose claim is gone: superseded (the contact moved
// on) or taken by another worker after the lease expired.
func (w *Worker) lost(ctx context.Context, j *outbox.Job, log *slog.Logger, err error, took time.Duration) {
	state, _, serr := w.store.JobState(context.WithoutCancel(ctx), j.ID)
	if serr == nil && state == outbox.JobSuperseded {
		log.Info("background job superseded: the conversation moved on; its result is not pushed")
		w.obs.JobFinished(j.Bot, JobSuperseded, took)
		return
	}
	log.Warn("background job lost its lease; another worker has it", "state", state, "error", err.Error())
}
