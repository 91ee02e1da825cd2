package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/userlikeapi"
)

// pushLoop sends the conversations' pending pushes: for each conversation
// whose oldest push is due, not already being sent, and within the rate
// limit, it claims a batch and sends it; then it sleeps until the next push
// is due, a push is added, a send ends, or Poll passes.
func (w *Worker) pushLoop() {
	defer w.loops.Done()
	ctx := w.workCtx
	busy := map[string]bool{} // conversations with a request in flight
	done := make(chan string, w.cfg.Senders)
	lastSweep := w.clock.Now()
	for !w.stopped() {
		// Collect the sends that ended.
		for drained := false; !drained; {
			select {
			case cid := <-done:
				delete(busy, cid)
			default:
				drained = true
			}
		}
		now := w.clock.Now()
		if now.Sub(lastSweep) >= w.window() {
			w.limiter.Sweep(now)
			lastSweep = now
		}
		next := now.Add(w.cfg.Poll)
		ready, err := w.store.ReadyCIDs(ctx, 4*w.cfg.Senders+64)
		if err != nil {
			w.log.Error("outbox: cannot list pending pushes", "error", err.Error())
			ready = nil
		}
		for _, r := range ready {
			if r.At.After(now) {
				next = earliest(next, r.At)
				break // sorted: the rest are later
			}
			if busy[r.CID] {
				continue
			}
			if len(busy) >= w.cfg.Senders {
				break // a send's end wakes the loop
			}
			if ok, at := w.limiter.Allow(r.CID, now); !ok {
				// Over 20 requests in the last minute: wait, keeping the work queued.
				if err := w.store.Defer(ctx, r.CID, at); err != nil {
					w.log.Error("outbox: cannot defer a push", "cid", r.CID, "error", err.Error())
				}
				w.log.Debug("push waits for the rate limit", "cid", r.CID, "until", at)
				next = earliest(next, at)
				continue
			}
			// The limit again, counted in the attempt log: other
			// instances on the database send for the cid too.
			b, wait, err := w.store.ClaimBatchWithin(ctx, r.CID, w.cfg.Lease, w.cfg.MaxBatchPushes, w.cfg.MaxBatchBytes, w.limit(), w.window())
			if err != nil {
				w.log.Error("outbox: cannot claim pushes", "cid", r.CID, "error", err.Error())
				continue
			}
			if b == nil && !wait.IsZero() {
				if err := w.store.Defer(ctx, r.CID, wait); err != nil {
					w.log.Error("outbox: cannot defer a push", "cid", r.CID, "error", err.Error())
				}
				w.log.Debug("push waits for the rate limit (requests of other instances)", "cid", r.CID, "until", wait)
				next = earliest(next, wait)
				continue
			}
			if b == nil {
				continue // another process holds them
			}
			w.limiter.Record(b.CID, b.At)
			busy[b.CID] = true
			w.inflight.Add(1)
			go func() {
				defer w.inflight.Done()
				defer func() {
					if v := recover(); v != nil {
						w.log.Error("panic while sending a push; it is retried when its lease expires", "cid", b.CID,
							"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					}
					done <- b.CID
					wake(w.pushWake)
				}()
				w.send(b)
			}()
		}
		if !w.sleepUntil(next, w.pushWake, nil) {
			return
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// send makes one request for a claimed batch and records its outcome.
func (w *Worker) send(b *outbox.Batch) {
	ctx, cancel := context.WithCancel(w.workCtx)
	defer cancel()
	bg := context.WithoutCancel(ctx)
	ids := b.PushIDs()
	log := w.log.With(slog.String("bot", b.Bot), slog.String("cid", b.CID), slog.String("push", strings.Join(ids, ",")))
	url, token, err := w.res.APITarget(b.Bot)
	if err != nil {
		log.Error("push failed: the flow has no API URL (set its api_url; for the example flows USERLIKE_API_URL and USERLIKE_API_TOKEN)", "error", err.Error(), "reason", PushNoAPIURL)
		if err := w.store.FailBatch(bg, b, 0, err.Error()); err != nil {
			log.Error("outbox: cannot record a failed push", "error", err.Error())
		}
		w.obs.PushAttempt(userlikeapi.Failed.String())
		w.pushFailed(b.Bot, PushNoAPIURL)
		return
	}
	stopRenew := make(chan struct{})
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		w.keepLease(stopRenew, func() error { return w.store.RenewBatch(bg, b, w.cfg.Lease) }, func(error) {})
	}()
	res := w.api.Send(ctx, url, token, ids, b.Events())
	close(stopRenew)
	<-renewDone
	now := w.clock.Now()
	if ctx.Err() != nil {
		// Shutdown interrupted the request: it may or may not have
		// arrived. Send it again later, with the same push ids.
		if err := w.store.Retry(bg, b, now, 0, "interrupted", "interrupted by shutdown"); err != nil {
			log.Error("outbox: cannot release an interrupted push (it is sent again when its lease expires)", "error", err.Error())
		}
		return
	}
	w.obs.PushAttempt(res.Outcome.String())
	attrs := []any{slog.Int("status", res.Status), slog.Int("events", b.NEvents()), slog.Int("attempt", b.Attempts())}
	switch res.Outcome {
	case userlikeapi.Sent:
		n, err := w.store.MarkSent(bg, b, res.Status)
		if err != nil {
			// It is sent again when its lease expires, with the same push id.
			log.Error("outbox: cannot record a sent push; it may be sent again", "error", err.Error())
			return
		}
		if n < len(b.Pushes) {
			attrs = append(attrs, slog.Int("superseded_meanwhile", len(b.Pushes)-n))
		}
		log.Info("pushed to the API URL", attrs...)
	case userlikeapi.Failed:
		switch reason := failure(res.Status); {
		case len(b.Pushes) > 1:
			// One refused event takes no other push down with it.
			log.Warn("the API URL refused a request of several pushes; each is sent again alone", append(attrs, slog.String("error", res.Err))...)
			if err := w.store.Split(bg, b, res.Status, res.Err); err != nil && !errors.Is(err, outbox.ErrLost) {
				log.Error("outbox: cannot split a refused batch (it is sent again when its lease expires)", "error", err.Error())
			}
			wake(w.pushWake)
		case reason == PushUnauthorized:
			// A wrong api_token can be fixed (and the flow reloaded)
			// without losing the push: retried like an error.
			w.retry(b, log, now, res, reason, attrs)
		default:
			log.Error("push refused by the API URL; not retried", append(attrs, slog.String("error", res.Err), slog.String("reason", reason))...)
			if err := w.store.FailBatch(bg, b, res.Status, res.Err); err != nil {
				log.Error("outbox: cannot record a failed push", "error", err.Error())
			}
			w.pushFailed(b.Bot, reason)
		}
	default: // Retry, RateLimited
		w.retry(b, log, now, res, "", attrs)
	}
}

// retry schedules a batch that was not delivered for another request,
// with backoff (or the answer's Retry-After), or fails it for good once
// its oldest push is older than MaxPushAge. reason is the failure's
// class when the API URL refused it (PushUnauthorized), else "".
func (w *Worker) retry(b *outbox.Batch, log *slog.Logger, now time.Time, res userlikeapi.Result, reason string, attrs []any) {
	bg := context.WithoutCancel(w.workCtx)
	if age := now.Sub(b.Pushes[0].CreatedAt); age > w.cfg.MaxPushAge {
		why := res.Err + "; gave up after " + age.Round(time.Second).String()
		log.Error("push failed for too long; not retried", append(attrs, slog.String("error", why), slog.String("reason", PushExpired))...)
		if err := w.store.FailBatch(bg, b, res.Status, why); err != nil {
			log.Error("outbox: cannot record a failed push", "error", err.Error())
		}
		w.pushFailed(b.Bot, PushExpired)
		return
	}
	wait := w.cfg.Backoff.Delay(b.Attempts())
	if res.HasRetryAfter {
		wait = res.RetryAfter
	}
	attrs = append(attrs, slog.String("error", res.Err), slog.Duration("retry_in", wait))
	switch {
	case reason == PushUnauthorized:
		log.Error("the API URL refuses the flow's api_token; the push is retried until it is fixed", attrs...)
	case res.Outcome == userlikeapi.RateLimited:
		log.Warn("the API URL asks to slow down (429)", attrs...)
	default:
		log.Warn("push not delivered; will retry", attrs...)
	}
	if err := w.store.Retry(bg, b, now.Add(wait), res.Status, res.Outcome.String(), res.Err); err != nil && !errors.Is(err, outbox.ErrLost) {
		log.Error("outbox: cannot schedule a retry (it is retried when its lease expires)", "error", err.Error())
	}
}

// Why a push failed for good (PushFailureObserver, the "reason" of the
// log record).
const (
	PushRefused      = "refused"      // a 4xx for the push alone: the API URL does not take its events
	PushGone         = "gone"         // 404 or 410: the conversation is unknown to the platform
	PushUnauthorized = "unauthorized" // 401 or 403: the api_token is refused (retried until MaxPushAge)
	PushExpired      = "expired"      // still not delivered after MaxPushAge
	PushNoAPIURL     = "no_api_url"   // the flow has no usable api_url
)

// failure classifies a refusal's status.
func failure(status int) string {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return PushUnauthorized
	case http.StatusNotFound, http.StatusGone:
		return PushGone
	}
	return PushRefused
}

// PushFailureObserver is implemented by an Observer that also counts the
// pushes that failed for good, by reason. It is optional.
type PushFailureObserver interface {
	PushFailed(flow, reason string)
}

// pushFailed reports a push failed for good to the Observer, if it counts
// them.
func (w *Worker) pushFailed(flow, reason string) {
	if o, ok := w.obs.(PushFailureObserver); ok {
		o.PushFailed(flow, reason)
	}
}
