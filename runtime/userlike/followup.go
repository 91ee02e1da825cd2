package userlike

import (
	"context"
	"log/slog"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/turn"
)

// ErrKindTimer: the conversation's follow-up timer could not be stored
// (Timers.SetTimer or CancelTimer failed); the answer was still sent.
const ErrKindTimer = "timer"

// Timers keeps the conversations' follow-ups (`on_silence`) until they
// fall due; runtime/worker implements it over runtime/outbox. After every
// webhook turn of a flow that has `on_silence` rules, the Handler arms the
// conversation's follow-up (SetTimer, replacing any) or cancels it
// (CancelTimer) before it writes the answer. Turns of flows without
// `on_silence` never call it.
type Timers interface {
	// SetTimer arms f, replacing the follow-up armed for the conversation
	// (f.Bot, f.CID), if any.
	SetTimer(ctx context.Context, f FollowUp) error
	// CancelTimer cancels the follow-up of conversation cid of bot, if any.
	CancelTimer(ctx context.Context, bot, cid string) error
}

// FollowUp is a conversation's follow-up timer: the `on_silence` rule to
// fire when the contact stays silent until Due, and what is needed to
// continue the conversation then.
type FollowUp struct {
	Bot         string            // the flow's name
	FlowVersion string            // the flow's short hash (for logs)
	CID         string            // the conversation
	Channel     string            // the contact's channel (normalized), for rendering
	Contact     map[string]string // the contact fields of the turn (nil when the flow reads none)
	State       string            // the state it was set for
	Rule        int               // the index of the rule in the state's `on_silence`
	Due         time.Time         // when it fires: Planned, or the end of the state's quiet hours it falls in
	Planned     time.Time         // when the rule is due: Base + the rule's after (zero: Due)
	Base        time.Time         // the activity the rule counts from
	Context     []byte            // the sealed context of the turn that armed it
}

// silenceInfo is what the Handler knows of a deployment's follow-ups.
type silenceInfo struct{ armed bool }

// maxSilenceCache bounds the per-deployment cache (reloads make new
// deployments); past it the cache starts over.
const maxSilenceCache = 256

// followUps reports whether turns of dep arm follow-ups: some version of
// its flow has `on_silence` rules, the Handler has Timers and the current
// flow has an api_url to push them to. Computed once per deployment; a
// flow whose follow-ups cannot work is logged then.
func (h *Handler) followUps(dep *engine.Deployment) bool {
	if v, ok := h.silence.Load(dep); ok {
		return v.(silenceInfo).armed
	}
	has := hasSilence(dep.Current())
	for _, b := range dep.Older() {
		has = has || hasSilence(b)
	}
	f := dep.Current().Flow()
	armed, why := has, ""
	switch {
	case !has:
	case h.timers == nil:
		armed, why = false, "the flow has on_silence rules but flowbot keeps no data (serve --data): its follow-ups are never sent"
	case f.APIURL.IsZero():
		armed, why = false, "the flow has on_silence rules but no api_url: its follow-ups cannot be pushed and are never sent"
	}
	if h.silenceN.Add(1) > maxSilenceCache {
		h.silence.Clear()
		h.silenceN.Store(1)
	}
	if _, loaded := h.silence.LoadOrStore(dep, silenceInfo{armed: armed}); !loaded && why != "" {
		h.log.Warn(why, "bot", f.Name)
	}
	return armed
}

func hasSilence(b *engine.Bot) bool {
	for _, st := range b.Flow().States {
		if len(st.Silence) > 0 {
			return true
		}
	}
	return false
}

// followUpOf is the follow-up t asks for after a turn at now that answered
// with ctx; base is, when a rule fired, the activity that rule counted from
// (moved by its lateness). It is planned by turn.PlanFollowUp, with the
// quiet hours of the state's `timing` (of a state's timing, only they and
// its time_zone apply in Userlike mode). Nil for no timer.
func followUpOf(t *engine.Timer, bot *engine.Bot, name, cid, channel string, contact map[string]string, ctx []byte, now, base time.Time) *FollowUp {
	p := (*turn.FollowUp)(nil)
	if t != nil {
		p = turn.PlanFollowUp(t, now, base, turn.StatePace(bot.Flow(), t.State))
	}
	if p == nil {
		return nil
	}
	return &FollowUp{Bot: name, FlowVersion: bot.Flow().ShortHash(), CID: cid, Channel: channel, Contact: contact,
		State: p.State, Rule: p.Rule, Due: p.Due, Planned: p.Planned, Base: p.Base, Context: ctx}
}

// nextBase is the activity the next rule counts from when f fires at now
// (turn.NextBase).
func nextBase(f FollowUp, now time.Time) time.Time {
	planned := f.Planned
	if planned.IsZero() {
		planned = f.Due
	}
	return turn.NextBase(f.Base, planned, now)
}

// contactFor is what a follow-up keeps of the turn's contact fields: only
// what the flow may read.
func contactFor(dep *engine.Deployment, contact map[string]string) map[string]string {
	if !dep.UsesContact() {
		return nil
	}
	return contact
}

// armAfterTurn sets or cancels the conversation's follow-up after a
// webhook turn from session (cerr: its context did not decode): any turn
// that answered is activity. A turn the flow ignored that sent nothing
// (Userlike keeps its context) changes nothing, and so does one that arms
// nothing when no follow-up can be armed for the conversation.
func (h *Handler) armAfterTurn(ctx context.Context, dep *engine.Deployment, name, cid string, ev *engine.Event, o *turn.Outcome, now time.Time) {
	if o.Result.Ignored && len(o.Rendered.Packets) == 0 {
		return
	}
	bot := o.Bot
	// Silence counts from when the contact sees the reply: after its
	// delay steps.
	f := followUpOf(o.Result.Timer, bot, name, cid, ev.Channel, contactFor(dep, ev.Contact), o.Context, now.Add(o.Delays()), time.Time{})
	if f == nil && o.ContextErr == nil && !mayBeArmed(bot, o.From) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	var err error
	if f != nil {
		err = h.timers.SetTimer(ctx, *f)
	} else {
		err = h.timers.CancelTimer(ctx, name, cid)
	}
	if err != nil {
		h.obs.Error(name, ErrKindTimer)
		h.log.LogAttrs(ctx, slog.LevelError, "cannot store the conversation's follow-up; an earlier one may still fire",
			slog.String("bot", name), slog.String("cid", cid), slog.String("error", err.Error()))
		return
	}
	if f != nil && h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.LogAttrs(ctx, slog.LevelDebug, "follow-up armed", slog.String("bot", name), slog.String("cid", cid),
			slog.String("state", f.State), slog.Int("rule", f.Rule), slog.Time("due", f.Due))
	}
}

// FireFollowUp continues a conversation whose follow-up fell due: it steps
// the flow from the stored context with an engine.EvSilence for f's state
// and rule, and completes the turn exactly as Resume does (chained
// synchronous HTTP jobs, rendering for f.Channel, a sealed context bound
// to f.CID). The result's Timer is the next follow-up, counting from f's
// base (moved by how late it fired after f.Planned, quiet hours included)
// when a rule fired and the conversation stayed. Ignored means the stored
// context is no longer in that state or rule: nothing is to be pushed or
// armed. It fails only for a bot it does not serve.
func (h *Handler) FireFollowUp(ctx context.Context, f FollowUp) (Resumed, error) {
	now := h.now()
	ev := engine.Event{Name: engine.EvSilence, Silence: &engine.SilenceEvent{State: f.State, Rule: f.Rule}, Channel: f.Channel,
		Contact: f.Contact, Now: now}
	c := Continuation{Bot: f.Bot, CID: f.CID, Channel: f.Channel, Context: f.Context, Contact: f.Contact}
	return h.continueTurn(ctx, c, ev, now, nextBase(f, now), "follow-up turn",
		slog.String("for_state", f.State), slog.Int("rule", f.Rule), slog.Duration("late", max(now.Sub(f.Due), 0)))
}

// mayBeArmed reports whether a follow-up may be armed for a conversation
// whose webhook call carried session: flowbot armed one after the turn
// that wrote it if its state has `on_silence` rules. A new conversation
// (the cid may have had another context before), a session of another
// flow or version, a state the flow does not have, and one waiting for an
// async job (whose pushed result may have armed one) may have one too.
// Turns between states without follow-ups thus write nothing.
func mayBeArmed(bot *engine.Bot, s engine.Session) bool {
	f := bot.Flow()
	if s.Foreign || s.State == "" || s.Flow != f.Name || s.Version != f.ShortHash() || s.AwaitSeq != 0 {
		return true
	}
	st := f.States[s.State]
	return st == nil || len(st.Silence) > 0
}
