package engine

import "github.com/flowbot/flowbot/flows"

// silence handles a follow-up timer that fired: the rule's messages are
// said and, with a `goto`, the conversation moves on. A timer set for a
// state or rule the conversation is no longer in changes nothing.
func (r *run) silence() {
	sv := r.ev.Silence
	st := r.current()
	if sv == nil || st == nil || r.s.Done || sv.State != r.s.State || sv.Rule < 0 || sv.Rule >= len(st.Silence) {
		r.res.Ignored = true
		return
	}
	rule := st.Silence[sv.Rule]
	// Whatever happens next (a message that fails to render takes the
	// error path), this rule has fired: in this state, the next one is armed.
	r.stayedAfter, r.stayedIn = sv.Rule+1, st.Name
	for _, m := range rule.Say {
		if !r.message(m) {
			return
		}
	}
	if rule.Goto.State != "" {
		r.fire(flows.SilenceTrigger(sv.Rule))
		r.enter()
		return
	}
}

// timer is the follow-up to arm after the turn: the first `on_silence`
// rule of the state the conversation waits in, or, when a rule just fired
// and the conversation stayed, the rule after it.
func (r *run) timer() *Timer {
	st := r.current()
	if r.res.Ignored || st == nil || r.s.Done || len(st.Silence) == 0 {
		return nil
	}
	if r.stayedAfter > 0 && r.stayedIn == st.Name {
		if r.stayedAfter >= len(st.Silence) {
			return nil
		}
		return &Timer{State: st.Name, Rule: r.stayedAfter, After: st.Silence[r.stayedAfter].After, Continue: true}
	}
	return &Timer{State: st.Name, Rule: 0, After: st.Silence[0].After}
}
