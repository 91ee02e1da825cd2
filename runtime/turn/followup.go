package turn

import (
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
)

// FollowUp is when a conversation's follow-up (an `on_silence` rule) falls
// due, as planned after a turn.
type FollowUp struct {
	State   string    // the state it is set for
	Rule    int       // the index of the rule in the state's `on_silence`
	Base    time.Time // the activity the rule counts from
	Planned time.Time // Base + the rule's after
	Due     time.Time // Planned, or the end of the quiet hours it falls in
}

// PlanFollowUp is the follow-up the engine's timer t asks for after a turn,
// or nil for none (any armed one is cancelled). activity is when the turn's
// last message reached the contact: the turn's time, or when the last
// message of a paced reply is sent. base is, for a turn in which a rule
// fired, the activity the next rule counts from (NextBase); zero
// otherwise. The rule is due its after past its base, deferred to the end
// of the quiet hours of p it falls in. Both modes plan with it.
func PlanFollowUp(t *engine.Timer, activity, base time.Time, p Pace) *FollowUp {
	if t == nil {
		return nil
	}
	from := activity
	if t.Continue && !base.IsZero() {
		from = base
	}
	planned := from.Add(t.After)
	return &FollowUp{State: t.State, Rule: t.Rule, Base: from, Planned: planned, Due: p.Defer(planned)}
}

// StatePace is the pace of a state's own `timing` (zero without one): in
// Userlike mode, only its quiet hours and time zone apply, to follow-ups.
func StatePace(f *flows.Flow, state string) Pace {
	st := f.States[state]
	if st == nil || st.Timing == nil || st.Timing.QuietHours == nil {
		return Pace{}
	}
	return PaceOf(flows.Timing{QuietHours: st.Timing.QuietHours, TimeZone: st.Timing.TimeZone})
}
