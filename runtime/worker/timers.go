package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/userlike"
)

// wakeTimers wakes the timer loop if a timer due at due is earlier than
// it plans to look (or it is looking now, and might miss it).
func (w *Worker) wakeTimers(due time.Time) {
	if at := w.timerAt.Load(); at == 0 || due.UnixNano() < at {
		wake(w.timerWake)
	}
}

// timerLoop fires the follow-ups that fall due while it has free workers,
// and sleeps until one is free, the next is due, a lease expires, an
// earlier one is armed, or Poll passes (timers armed by another process).
func (w *Worker) timerLoop() {
	defer w.loops.Done()
	ctx := w.workCtx
	slots := make(chan struct{}, w.cfg.Workers)
	freed := make(chan struct{}, 1)
	for !w.stopped() {
		w.timerAt.Store(0) // looking: any SetTimer wakes the next round
		now := w.clock.Now()
		for len(slots) < cap(slots) && !w.stopped() {
			t, err := w.store.ClaimTimer(ctx, w.cfg.Lease)
			if err != nil && t == nil {
				w.log.Error("outbox: cannot claim a follow-up", "error", err.Error())
				break
			}
			if t == nil {
				break
			}
			slots <- struct{}{}
			w.inflight.Add(1)
			go func() {
				defer w.inflight.Done()
				defer func() { <-slots; wake(freed) }()
				defer w.recoverTimer(t)
				w.runTimer(t, err)
			}()
		}
		if len(slots) == cap(slots) {
			select {
			case <-w.stop:
				return
			case <-freed:
			}
			continue
		}
		next := now.Add(w.cfg.Poll)
		if at, ok, err := w.store.NextTimerAt(ctx, now); err != nil {
			w.log.Error("outbox: cannot read when the next follow-up is due", "error", err.Error())
		} else if ok {
			next = earliest(next, at)
		}
		w.timerAt.Store(next.UnixNano())
		if !w.sleepUntil(next, w.timerWake, freed) {
			return
		}
	}
}

// followUp counts a follow-up by outcome, if the Observer counts them.
func (w *Worker) followUp(bot, outcome string) {
	if w.followObs != nil {
		w.followObs.FollowUp(bot, outcome)
	}
}

// runTimer fires one claimed follow-up. claimErr is a problem with its
// row (its context does not match its hash, its contact cannot be read).
func (w *Worker) runTimer(t *outbox.Timer, claimErr error) {
	ctx, cancel := context.WithCancel(w.workCtx)
	defer cancel()
	bg := context.WithoutCancel(ctx)
	log := w.log.With(slog.String("bot", t.Bot), slog.String("cid", t.CID), slog.String("state", t.State), slog.Int("rule", t.Rule))
	var lost bool
	lostCh := make(chan struct{})
	stopRenew := make(chan struct{})
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		w.keepLease(stopRenew, func() error { return w.store.RenewTimer(bg, t, w.cfg.Lease) },
			func(error) { lost = true; close(lostCh); cancel() })
	}()
	var once sync.Once
	finish := func() { once.Do(func() { close(stopRenew); <-renewDone }) }
	defer finish() // a panic, too, stops the renewals

	drop := func(outcome string, level slog.Level, msg string, attrs ...any) {
		finish()
		switch err := w.store.DropTimer(bg, t); {
		case errors.Is(err, outbox.ErrLost):
			// Re-armed or cancelled meanwhile: nothing of ours to drop.
		case err != nil:
			log.Error("outbox: cannot drop a follow-up (it fires again when its lease expires)", "error", err.Error())
		}
		log.Log(bg, level, msg, attrs...)
		w.followUp(t.Bot, outcome)
	}
	if claimErr != nil {
		drop(FollowUpFailed, slog.LevelError, "follow-up dropped: its stored row cannot be used", "error", claimErr.Error())
		return
	}
	if t.Attempts > w.cfg.MaxJobAttempts {
		drop(FollowUpFailed, slog.LevelError, "follow-up dropped", "reason",
			fmt.Sprintf("gave up after %d attempts (did the process stop each time?)", t.Attempts-1))
		return
	}
	if _, _, err := w.res.APITarget(t.Bot); err != nil {
		drop(FollowUpFailed, slog.LevelError, "follow-up dropped: it cannot be pushed",
			"error", err.Error()+" (set the flow's api_url, for the example flows USERLIKE_API_URL and USERLIKE_API_TOKEN)")
		return
	}
	resumed, err := w.res.FireFollowUp(ctx, userlike.FollowUp{Bot: t.Bot, FlowVersion: t.FlowVersion, CID: t.CID, Channel: t.Channel,
		Contact: t.Contact, State: t.State, Rule: t.Rule, Due: t.DueAt, Planned: t.Planned, Base: t.Base, Context: t.Context})
	if err != nil {
		drop(FollowUpFailed, slog.LevelError, "follow-up dropped", "error", err.Error())
		return
	}
	if ctx.Err() != nil {
		finish()
		select {
		case <-lostCh:
			log.Info("follow-up dropped: the conversation moved on while it fired")
			w.followUp(t.Bot, FollowUpDropped)
			return
		default:
		}
		// Shutdown interrupted its turn (an HTTP step): fire it again later.
		if err := w.store.ReleaseTimer(bg, t); err != nil && !errors.Is(err, outbox.ErrLost) {
			log.Error("outbox: cannot release an interrupted follow-up (it fires when its lease expires)", "error", err.Error())
		}
		log.Info("follow-up interrupted by shutdown; it fires again")
		w.followUp(t.Bot, FollowUpReleased)
		return
	}
	if resumed.Ignored {
		drop(FollowUpDropped, slog.LevelInfo, "follow-up dropped: the conversation is no longer where it was set")
		return
	}
	var f outbox.TimerFinish
	if resumed.Packets > 0 {
		f.Push = &outbox.NewPush{Bot: t.Bot, CID: t.CID, Events: resumed.Events, NEvents: resumed.Packets}
		if resumed.Timer != nil {
			nt := newTimer(*resumed.Timer)
			f.Timer = &nt
		}
	} // else: the turn said nothing, so the platform keeps the context the timer was set for; arm nothing new
	if resumed.Next != nil {
		nj := newJob(*resumed.Next)
		f.Next = &nj
	}
	f.Supersede = resumed.Supersede
	finish()
	if lost {
		log.Info("follow-up dropped: the conversation moved on while it fired")
		w.followUp(t.Bot, FollowUpDropped)
		return
	}
	done, err := w.store.FinishTimer(bg, t, f)
	if errors.Is(err, outbox.ErrLost) {
		log.Info("follow-up dropped: the conversation moved on while it fired")
		w.followUp(t.Bot, FollowUpDropped)
		return
	}
	if err != nil {
		// The claim is kept: the timer fires again when its lease expires.
		log.Error("outbox: cannot record a fired follow-up; it fires again", "error", err.Error())
		return
	}
	w.followUp(t.Bot, FollowUpFired)
	attrs := []any{slog.String("to", resumed.To), slog.Int("events", resumed.Packets)}
	if done.PushID != "" {
		attrs = append(attrs, slog.String("push", done.PushID))
		wake(w.pushWake)
	}
	if done.NextID != 0 {
		attrs = append(attrs, slog.Int64("next_job", done.NextID))
		wake(w.jobWake)
	}
	if f.Timer != nil {
		attrs = append(attrs, slog.Time("next_follow_up", f.Timer.DueAt))
		w.wakeTimers(f.Timer.DueAt)
	}
	log.Info("follow-up fired", attrs...)
}

// recoverTimer turns a panic while firing t (a bug) into a dropped
// follow-up and an error log, instead of a crashed process.
func (w *Worker) recoverTimer(t *outbox.Timer) {
	v := recover()
	if v == nil {
		return
	}
	w.log.Error("panic while firing a follow-up; it is dropped", "bot", t.Bot, "cid", t.CID,
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if err := w.store.DropTimer(context.Background(), t); err != nil && !errors.Is(err, outbox.ErrLost) {
		w.log.Error("outbox: cannot drop a follow-up", "cid", t.CID, "error", err.Error())
	}
	w.followUp(t.Bot, FollowUpFailed)
}
