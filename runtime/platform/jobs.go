package platform

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/turn"
)

// MaxJobAttempts is how many claims of a job may end unfinished (its
// worker crashed or the process was killed each time) before it is given
// up: the flow then sees an error result and takes its error path
// (turn.GiveUp, the same rule as Userlike mode's).
const MaxJobAttempts = turn.MaxJobAttempts

// RunJobs runs the flows' background HTTP requests until ctx is done: it
// claims due jobs from the store (any process's), makes each request, and
// steps the conversation with the result, storing the replies like any
// other turn. A job whose conversation moved on is dropped by the engine.
func (a *API) RunJobs(ctx context.Context) error {
	sem := make(chan struct{}, a.workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		free := a.workers - len(sem)
		var jobs []store.Job
		var err error
		if free > 0 {
			jobs, err = a.store.ClaimJobs(ctx, a.owner, a.clock.Now(), a.lease, free)
		}
		if err != nil && ctx.Err() == nil {
			a.log.Error("cannot claim background jobs; retrying", "error", err.Error())
		}
		for _, j := range jobs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				a.runJob(ctx, j)
			}()
		}
		if len(jobs) > 0 && len(jobs) == free {
			continue // maybe more are due
		}
		wait := a.clock.Now().Add(a.poll)
		if at, ok, err := a.store.NextJob(ctx); err == nil && ok && at.Before(wait) {
			wait = at
		}
		t := a.clock.NewTimerAt(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.jobWake:
		case <-t.C():
		}
		t.Stop()
	}
}

// RunDueJobs claims the jobs due now, runs them and stores their results,
// and returns how many it ran (tests and tools drive the queue with it).
func (a *API) RunDueJobs(ctx context.Context) (int, error) {
	jobs, err := a.store.ClaimJobs(ctx, a.owner, a.clock.Now(), a.lease, a.workers)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.runJob(ctx, j)
		}()
	}
	wg.Wait()
	return len(jobs), nil
}

// runJob makes one job's request and feeds the result to its conversation.
func (a *API) runJob(ctx context.Context, j store.Job) {
	if j.Timer != "" {
		a.runTimer(ctx, j)
		return
	}
	var q queuedJob
	var result engine.HTTPResult
	job := &q.Job
	if err := json.Unmarshal(j.Spec, &q); err != nil {
		result = engine.HTTPResult{Err: "the queued request cannot be read: " + err.Error()}
	} else if refusal, refused := turn.Refusal(job, q.Chain, j.Attempts, 0); refused {
		result = refusal // one too many in a row, or its worker died too often
	} else {
		start := a.clock.Now()
		result = a.jobs.Run(ctx, job)
		attrs := []any{"conversation", j.ConversationID, "state", job.State, "method", job.Method,
			"status", result.Status, "duration", a.clock.Now().Sub(start)}
		if result.Err != "" {
			attrs = append(attrs, "error", result.Err)
		}
		a.log.Info("http request", attrs...)
	}
	if ctx.Err() != nil {
		return // shutting down: the lease expires and the job runs again
	}
	c, bot, ok := a.jobConversation(ctx, j)
	if !ok {
		return
	}
	now := a.clock.Now()
	var st stepped
	res, err := a.store.Turn(ctx, store.TurnRequest{ConversationID: c.ID, Job: j.ID, Now: now}, func(c store.Conversation) (store.TurnOutput, error) {
		var err error
		st, err = a.step(ctx, bot, c, engine.Event{Name: engine.EvHTTPResult, HTTP: &result, Now: now}, turnOpts{chain: q.Chain})
		if err == nil && st.res.Ignored {
			return store.TurnOutput{}, store.ErrSkip // the conversation moved on
		}
		return st.out, err
	})
	switch {
	case errors.Is(err, errFlowGone):
		a.log.Error("a background job's flow is no longer loaded; the job waits", "conversation", c.ID, "error", err.Error())
	case err != nil:
		a.log.Error("cannot store a background job's result; it runs again when its lease expires", "conversation", c.ID, "error", err.Error())
	case res.Skipped:
		a.log.Info("background job result dropped: the conversation moved on", "conversation", c.ID)
	default:
		a.wakeWorkers(res.Deliveries, res.Jobs)
	}
}

// runTimer fires a conversation's timer: the reply to the messages
// aggregated during the response delay, or a follow-up after silence. A
// follow-up set for a context the conversation has left (it moved on) is
// dropped.
func (a *API) runTimer(ctx context.Context, j store.Job) {
	c, bot, ok := a.jobConversation(ctx, j)
	if !ok {
		return
	}
	now := a.clock.Now()
	var st stepped
	res, err := a.store.Turn(ctx, store.TurnRequest{ConversationID: c.ID, Job: j.ID, Now: now}, func(c store.Conversation) (store.TurnOutput, error) {
		var err error
		switch j.Timer {
		case timerReply:
			var spec replySpec
			if json.Unmarshal(j.Spec, &spec) != nil {
				return store.TurnOutput{}, store.ErrSkip
			}
			ev := userEvent(strings.Join(spec.Texts, "\n"), "")
			ev.Now = now
			st, err = a.step(ctx, bot, c, ev, turnOpts{})
		case timerSilence:
			var spec silenceSpec
			if json.Unmarshal(j.Spec, &spec) != nil || spec.Context != turn.ContextHash(c.Context) {
				return store.TurnOutput{}, store.ErrSkip // the conversation moved on
			}
			ev := engine.Event{Name: engine.EvSilence, Silence: &engine.SilenceEvent{State: spec.State, Rule: spec.Rule}, Now: now}
			st, err = a.step(ctx, bot, c, ev, turnOpts{silenceBase: spec.base(now)})
			if err == nil && st.res.Ignored {
				return store.TurnOutput{}, store.ErrSkip
			}
		default:
			return store.TurnOutput{}, store.ErrSkip
		}
		return st.out, err
	})
	switch {
	case errors.Is(err, errFlowGone):
		a.log.Error("a timer's flow is no longer loaded; the timer waits", "conversation", c.ID, "error", err.Error())
	case err != nil:
		a.log.Error("cannot store a timer's turn; it fires again when its lease expires", "conversation", c.ID, "timer", j.Timer, "error", err.Error())
	case res.Skipped:
		a.obs.Timer(j.Timer, "dropped")
		a.log.Info("timer dropped: the conversation moved on", "conversation", c.ID, "timer", j.Timer)
	default:
		a.obs.Timer(j.Timer, "fired")
		a.log.Info("timer fired", "conversation", c.ID, "timer", j.Timer, "state", st.state, "replies", len(st.out.BotMessages))
		a.wakeWorkers(res.Deliveries, res.Jobs)
	}
}

// jobConversation reads the conversation of a job or timer and its bot;
// on failure it logs, and the job runs again when its lease expires.
func (a *API) jobConversation(ctx context.Context, j store.Job) (store.Conversation, store.Bot, bool) {
	c, err := a.store.Conversation(ctx, j.ConversationID)
	if err != nil {
		a.log.Error("a background job's conversation cannot be read", "conversation", j.ConversationID, "timer", j.Timer, "error", err.Error())
		return c, store.Bot{}, false
	}
	bot, err := a.bot(ctx, c.BotID)
	if err != nil {
		a.log.Error("a background job's bot cannot be read", "conversation", j.ConversationID, "timer", j.Timer, "error", err.Error())
		return c, bot, false
	}
	return c, bot, true
}
