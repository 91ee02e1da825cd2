// Package turn owns one event's way through a deployment of a flow, up to
// what is ready to store or send. It is the only implementation of the
// work around engine.Bot.Step that every adapter needs:
//
//   - decode and verify the context (sealed for the conversation with the
//     key ring, or unsigned);
//   - pick the version that runs the event (engine.Deployment.For);
//   - step the engine, then chain the synchronous jobs (http and llm steps)
//     the flow asks for, at most MaxChainedJobs in a row without the user
//     speaking (the next one gets an error result);
//   - render the actions for the channel (channels.Render, or
//     channels.RenderText for text transports), mark a choice shown as a
//     numbered list in the session, and seal the new context; a context
//     that would be too big restarts the conversation politely;
//   - say which job the conversation no longer waits for (Outcome.Supersede,
//     answered by the engine itself: engine.Bot.Awaits), for http and llm
//     jobs alike;
//   - plan the follow-up the turn arms (PlanFollowUp);
//   - name every problem with one vocabulary of error kinds (Kind*);
//   - give up, with one rule, on a job whose worker died too often
//     (GiveUp).
//
// Userlike mode (runtime/userlike) is HTTP decode → Run → encode; platform
// mode (runtime/platform) calls Run inside store.Turn; runtime/flowtest and
// `flowbot chat` call it with a mock Runner. The package does no I/O of its
// own: jobs go through the Runner it is given.
package turn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/engine/script"
)

// Error kinds: the one vocabulary adapters count problems by
// (flowbot_errors_total{kind}).
const (
	// KindFlow: the flow took an error path (a template, a variable too
	// big for the context, a failed request, …); the turn still answered.
	KindFlow = "flow"
	// KindScriptTimeout: a script step was stopped by its time limit (and
	// the flow took its error path).
	KindScriptTimeout = "script_timeout"
	// KindContextTooBig: the new context would exceed 10,240 bytes; the
	// conversation restarted politely instead.
	KindContextTooBig = "context_too_big"
	// KindContextLost: the state changed but the turn produced no event to
	// carry the new context. No longer counted: a transport that keeps the
	// context only with the events (Userlike) gets a carrier packet
	// (Request.Carry), and platform mode stores it. Kept for dashboards.
	KindContextLost = "context_lost"
	// KindContextForged: with a key ring, a context whose signature does
	// not verify; the conversation restarted politely.
	KindContextForged = "context_forged"
	// KindContextUnsigned: with a key ring, a flowbot context without a
	// signature; restarted politely.
	KindContextUnsigned = "context_unsigned"
	// KindContextUnknownKey: with a key ring, a context signed with a key
	// id the ring does not list; restarted politely.
	KindContextUnknownKey = "context_unknown_key"
)

// KindOf is the kind of an error a turn's flow met: KindScriptTimeout for
// a script's time-out, else KindFlow.
func KindOf(err error) string {
	if errors.Is(err, script.ErrTimeout) {
		return KindScriptTimeout
	}
	return KindFlow
}

// ContextKindOf is the kind of a context refused for its signature, or ""
// for any other decoding error (a foreign context, which is only a
// recovery).
func ContextKindOf(err error) string {
	switch {
	case errors.Is(err, engine.ErrContextUnknownKey):
		return KindContextUnknownKey
	case errors.Is(err, engine.ErrContextUnsigned):
		return KindContextUnsigned
	case errors.Is(err, engine.ErrContextForged):
		return KindContextForged
	}
	return ""
}

// Runner makes the request of a job — an HTTP request, or an llm step's
// chat completion — and returns its outcome (runtime/httpjob,
// runtime/llm's Runner, a test's mock). It is the one job-runner interface
// of flowbot.
type Runner interface {
	Run(ctx context.Context, job *engine.Job) engine.HTTPResult
}

// RunnerFunc makes a function a Runner.
type RunnerFunc func(ctx context.Context, job *engine.Job) engine.HTTPResult

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, job *engine.Job) engine.HTTPResult { return f(ctx, job) }

// MaxChainedJobs bounds the jobs a flow makes one after the other without
// the user speaking (a flow chaining http or llm states, or looping over
// them): the next one is not made and the flow sees an error result. It
// is the same in every mode, synchronous and background jobs alike.
const MaxChainedJobs = 4

// MaxJobAttempts is how many claims of a background job may end without
// finishing (its worker crashed, or the process was killed each time)
// before it is given up: see GiveUp.
const MaxJobAttempts = 5

// Refusal is the result a job gets instead of being made, or ok false when
// it is to be made: the job is the (chain)th in a row without the user
// speaking and chain is over MaxChainedJobs, or it was claimed died times
// before without finishing and GiveUp(died, limit) holds. The flow sees
// the error result and takes its error path (`on: error`), in every mode.
func Refusal(job *engine.Job, chain, died, limit int) (engine.HTTPResult, bool) {
	switch {
	case chain > MaxChainedJobs:
		return engine.HTTPResult{Seq: job.Seq, Err: fmt.Sprintf("more than %d requests in a row without the user speaking", MaxChainedJobs)}, true
	case GiveUp(died, limit):
		return engine.HTTPResult{Seq: job.Seq, Err: fmt.Sprintf("the request was started %d times without finishing", died)}, true
	}
	return engine.HTTPResult{}, false
}

// GiveUp is the one give-up rule for background jobs: a job claimed died
// times before without finishing (its worker died each time) is not made
// again once died reaches limit (MaxJobAttempts when limit is 0 or less).
// Its conversation is stepped with an error result instead (see Refusal),
// so the flow takes its error path in both modes; the job is never dropped
// silently.
func GiveUp(died, limit int) bool {
	if limit <= 0 {
		limit = MaxJobAttempts
	}
	return died >= limit
}

// Request is one event to run through a deployment.
type Request struct {
	// Deployment is the flow's current version and the older ones live
	// conversations may be on.
	Deployment *engine.Deployment
	// Context is the conversation's context as received or stored. It is
	// decoded with Keys for Binding, unless Session is set.
	Context []byte
	// Session, when not nil, is Context already decoded (with
	// ContextErr its error, if any).
	Session    *engine.Session
	ContextErr error
	// Keys seal the new context, and verify Context, for Binding (the
	// conversation's id); nil: unsigned contexts.
	Keys    *engine.ContextKeys
	Binding string
	// Event is the event; its Now is the turn's time.
	Event engine.Event
	// Text renders for a transport that carries text only
	// (channels.RenderText: every choice a numbered list); otherwise for
	// the channel's packets (channels.Render).
	Text bool
	// Jobs makes the jobs the turn asks for, one after the other, stepping
	// the flow with each result. Nil: the first job is left in the
	// outcome's Result.Job for the caller to queue.
	Jobs Runner
	// QueueAsync leaves an async job in Result.Job for the caller to queue
	// (Jobs still makes the synchronous ones).
	QueueAsync bool
	// Chain is how many jobs led to this turn since the user last spoke:
	// 0 for a user's event, the result's place in the chain for a job's
	// result.
	Chain int
	// Now, when set, times the jobs made (Outcome.Jobs); the turn reads
	// no clock of its own.
	Now func() time.Time
	// Carry: the transport keeps the conversation's context only with the
	// events it is sent (Userlike): a turn that answered but rendered
	// nothing gets a zero-second delay packet, so that its new context is
	// not lost (a message while an llm step waits asks again, and says
	// nothing).
	Carry bool
	// Observe, when set, is told of the turn once it is complete (the
	// turn log, runtime/turnlog; the funnel metrics, runtime/metrics).
	Observe Observer
}

// Observer is told of every turn Run completes, dropped follow-ups
// included, and of each turn Inline completes again (with the request as
// Run would have made it: QueueAsync off). It is called on the turn's
// goroutine and must return quickly; it may keep copies of r and o for
// later (the turn log does): what they point to is not changed after the
// turn, and must not be changed by the observer.
type Observer interface {
	Observe(r *Request, o *Outcome)
}

// Observers tells each of its observers, in order.
type Observers []Observer

// Observe tells each observer.
func (obs Observers) Observe(r *Request, o *Outcome) {
	for _, ob := range obs {
		ob.Observe(r, o)
	}
}

// Outcome is one event run through a deployment, ready to store or send.
type Outcome struct {
	// Bot is the version of the flow that ran the event.
	Bot *engine.Bot
	// From is the session before the turn; ContextErr says why the context
	// could not be read (the conversation restarted), nil if it could.
	From       engine.Session
	ContextErr error
	// Result holds the actions, trace and errors of every step of the turn
	// (jobs' results included) and the last session. Its Job, if set, is
	// a job the caller must queue (see Request.Jobs and QueueAsync).
	Result engine.Result
	// Rendered are the actions as the channel (or text transport) shows
	// them.
	Rendered channels.Rendered
	// Context is the new context, sealed for the binding.
	Context []byte
	// TooBig: the turn's context would not fit; the conversation restarted
	// politely and Result is the restart's.
	TooBig bool
	// Chain is the place of Result.Job in its chain of jobs without the
	// user speaking (store it with the job; give it back as Request.Chain
	// with its result).
	Chain int
	// Supersede is the number of the job the conversation waited for before the
	// turn and no longer does (it moved on): its result must not be
	// delivered. 0: none. Never set for a job's result event, which is
	// the awaited job itself.
	Supersede int
	// Jobs are the jobs made during the turn, in order, for logs.
	Jobs []JobRun
	// Dropped: a follow-up (engine.EvSilence) whose conversation cannot
	// continue from its context (it no longer verifies, or its state is
	// gone): nothing is to be sent or stored, and Result is empty.
	Dropped bool
}

// JobRun is a job made during a turn: the request, its result and, with
// Request.Now, how long it took.
type JobRun struct {
	Job    *engine.Job
	Result engine.HTTPResult
	Took   time.Duration
}

// ErrFlowGone: the request names no deployment (its flow was removed).
var ErrFlowGone = errors.New("flow not loaded")

// Run runs one event through the deployment: decode, pick the version,
// step, chain jobs, render, mark, seal (see the package documentation).
// It fails only without a deployment (ErrFlowGone).
func Run(ctx context.Context, r Request) (Outcome, error) {
	if r.Deployment == nil {
		return Outcome{}, ErrFlowGone
	}
	var o Outcome
	if r.Session != nil {
		o.From, o.ContextErr = *r.Session, r.ContextErr
	} else {
		o.From, o.ContextErr = r.Keys.Decode(r.Context, r.Binding)
	}
	bot := r.Deployment.For(o.From)
	o.Bot = bot
	ev := r.Event
	res := bot.StepSealed(ctx, o.From, ev, r.Keys)
	if ev.Name == engine.EvSilence && (o.ContextErr != nil || res.Recovery == engine.RecoveryRestarted) {
		// A follow-up never restarts a silent conversation.
		o.Dropped = true
		o.Result = engine.Result{Session: o.From, Ignored: true}
		r.observe(&o)
		return o, nil
	}
	o.finish(ctx, &r, ev, res)
	r.observe(&o)
	return o, nil
}

// observe tells r.Observe of the completed turn o.
func (r *Request) observe(o *Outcome) {
	if r.Observe != nil {
		r.Observe.Observe(r, o)
	}
}

// Inline completes an outcome whose Result.Job was left to queue (an async
// job with QueueAsync) by making that job and the ones after it with
// r.Jobs during the turn instead (the queue refused it), then rendering
// and sealing again. r is the request that made o.
func Inline(ctx context.Context, r Request, o Outcome) Outcome {
	if o.Result.Job == nil || r.Jobs == nil {
		return o
	}
	r.QueueAsync = false
	asRun := r            // the request as Run would have made this turn
	r.Chain = o.Chain - 1 // the left job's place, counted again
	ev := r.Event
	o.TooBig, o.Supersede = false, 0
	o.finish(ctx, &r, ev, o.Result)
	asRun.observe(&o)
	return o
}

// finish chains the jobs of res, renders, marks and seals: a context too
// big restarts the conversation politely. It sets Supersede.
func (o *Outcome) finish(ctx context.Context, r *Request, ev engine.Event, res engine.Result) {
	bot := o.Bot
	res, o.Chain = r.jobs(ctx, bot, &ev, res, &o.Jobs)
	o.Result = res
	o.render(r)
	var err error
	if o.Context, err = r.Keys.Encode(o.Result.Session, r.Binding); err != nil {
		// The turn's outcome cannot be kept: restart the conversation
		// politely instead of answering with a state that would be lost.
		o.TooBig = true
		res = bot.StepSealed(ctx, engine.Session{Foreign: true}, ev, r.Keys)
		res, o.Chain = r.jobs(ctx, bot, &ev, res, &o.Jobs)
		o.Result = res
		o.render(r)
		if o.Context, err = r.Keys.Encode(o.Result.Session, r.Binding); err != nil {
			f := bot.Flow() // cannot happen: a restarted session is tiny
			o.Context, _ = r.Keys.Encode(engine.Session{Flow: f.Name, Version: f.ShortHash()}, r.Binding)
		}
	}
	if ev.Name != engine.EvHTTPResult {
		if seq := bot.Awaits(o.From); seq != 0 && bot.Awaits(o.Result.Session) != seq {
			o.Supersede = seq
		}
	}
}

// jobs makes the jobs res asks for with the Runner, stepping the flow with
// each result, until one is to be queued or none is left; the result holds
// the actions, trace and errors of every step. chain is the place of the
// job left in the result, if any.
func (r *Request) jobs(ctx context.Context, bot *engine.Bot, ev *engine.Event, res engine.Result, made *[]JobRun) (engine.Result, int) {
	chain := r.Chain
	for res.Job != nil {
		chain++
		job := res.Job
		if r.Jobs == nil || (job.Async && r.QueueAsync) {
			break
		}
		out, refused := Refusal(job, chain, 0, 0)
		if !refused {
			var start time.Time
			if r.Now != nil {
				start = r.Now()
			}
			out = r.Jobs.Run(ctx, job)
			run := JobRun{Job: job, Result: out}
			if r.Now != nil {
				run.Took = r.Now().Sub(start)
			}
			*made = append(*made, run)
		}
		hev := engine.Event{Name: engine.EvHTTPResult, HTTP: &out, Channel: ev.Channel, Contact: ev.Contact, Bot: ev.Bot,
			Now: ev.Now}
		next := bot.StepSealed(ctx, res.Session, hev, r.Keys)
		next.Actions = append(res.Actions, next.Actions...)
		next.Trace = append(res.Trace, next.Trace...)
		next.Errors = append(res.Errors, next.Errors...)
		if next.Recovery == engine.RecoveryNone {
			next.Recovery = res.Recovery
		}
		next.Ignored = res.Ignored
		res = next
	}
	return res, chain
}

// render renders the result for the transport and marks a choice shown
// numbered in the session.
func (o *Outcome) render(r *Request) {
	if r.Text {
		o.Rendered = channels.RenderText(o.Result.Actions, r.Event.Channel)
	} else {
		o.Rendered = channels.Render(o.Result.Actions, r.Event.Channel)
	}
	if o.Rendered.Numbered && o.Result.Session.Pending != nil {
		p := *o.Result.Session.Pending
		p.Numbered = true
		o.Result.Session.Pending = &p
	}
	if r.Carry && len(o.Rendered.Packets) == 0 && !o.Result.Ignored {
		o.Rendered.Packets = append(o.Rendered.Packets, channels.Packet{Name: channels.PacketDelay, Payload: channels.DelayPayload{}})
	}
}

// Delays is how long the `delay` steps of the turn's answer hold its last
// message: the contact sees the reply that much after the turn (the
// follow-up's silence counts from then).
func (o *Outcome) Delays() time.Duration {
	var d time.Duration
	for _, p := range o.Rendered.Packets {
		if dp, ok := p.Payload.(channels.DelayPayload); ok && p.Name == channels.PacketDelay && dp.Seconds > 0 {
			d += time.Duration(dp.Seconds * float64(time.Second))
		}
	}
	return d
}

// Recovery is how the turn recovered the conversation's context, for
// metrics: "foreign" when it could not be read, else the engine's
// recovery ("migrated", "restarted"), or "".
func (o *Outcome) Recovery() string {
	if o.ContextErr != nil {
		return RecoveryForeign
	}
	return string(o.Result.Recovery)
}

// RecoveryForeign: the context was not written by flowbot (garbage,
// another bot's, forged, oversized); the flow restarted politely.
const RecoveryForeign = "foreign"

// Kinds are the error kinds of the turn's problems, one per problem, in
// the order met: a refused context, each error path the flow took, a
// context too big.
func (o *Outcome) Kinds() []string {
	var out []string
	if k := ContextKindOf(o.ContextErr); k != "" {
		out = append(out, k)
	}
	for _, e := range o.Result.Errors {
		out = append(out, KindOf(e))
	}
	if o.TooBig {
		out = append(out, KindContextTooBig)
	}
	return out
}
