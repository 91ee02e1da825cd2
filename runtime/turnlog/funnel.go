package turnlog

import (
	"sort"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/turn"
)

// Funnel outcomes: what happened to a conversation at a state.
const (
	FunnelEntered = "entered" // it came into the state
	FunnelLeft    = "left"    // it left the state by a transition (to the state named with it)
	FunnelDone    = "done"    // the flow ended there
	FunnelError   = "error"   // a turn there took an error path
	FunnelGaveUp  = "gave_up" // the question there was given up (retries: on_give_up)
	FunnelSilent  = "silent"  // the contact went silent there (see Facts and Funnel)
)

// Facts tells fact each funnel fact of one turn: the conversation was in
// from and is in to after taking the trace's transitions, with the
// turn's problems by kind (turn.Outcome.Kinds). next is the state a
// FunnelLeft fact left for, "" for the others. A follow-up (an
// EvSilence event) is a FunnelSilent fact at the state it fired in. The
// Prometheus funnel (runtime/metrics) and Funnel count these.
func Facts(event string, from, to engine.Session, trace []engine.Transition, kinds []string, fact func(state, outcome, next string)) {
	if event == engine.EvSilence && from.State != "" {
		fact(from.State, FunnelSilent, "")
	}
	errorPath := false
	for _, t := range trace {
		if t.From != "" && t.From != newState {
			fact(t.From, FunnelLeft, t.To)
		}
		fact(t.To, FunnelEntered, "")
		switch t.Trigger {
		case "give_up":
			fact(t.From, FunnelGaveUp, "")
		case "on:error":
			fact(t.From, FunnelError, "")
			errorPath = true
		}
	}
	if !errorPath {
		for _, k := range kinds {
			if k == turn.KindFlow || k == turn.KindScriptTimeout {
				state := from.State
				if state == "" {
					state = to.State
				}
				fact(state, FunnelError, "")
				break
			}
		}
	}
	if to.Done && !from.Done && to.State != "" {
		fact(to.State, FunnelDone, "")
	}
}

// newState is the engine's name for "before the start state" in traces.
const newState = "(new)"

// FunnelOptions choose the turns of a funnel.
type FunnelOptions struct {
	// From and Until bound the turns counted by their clock (Until
	// excluded); zero: unbounded.
	From, Until time.Time
	// Flow, when set, counts only that flow's turns.
	Flow string
	// SilentAfter is how long a conversation not done must have had no
	// further turn to count as gone silent at its last state, by the end
	// of the log (its last turn's clock) or Until; 0: DefaultSilentAfter.
	SilentAfter time.Duration
}

// DefaultSilentAfter is the default of FunnelOptions.SilentAfter.
const DefaultSilentAfter = 30 * time.Minute

// FunnelRow is one state of a flow's funnel: how many conversations (each
// counted once per row) met each outcome there.
type FunnelRow struct {
	Flow    string         `json:"flow"`
	State   string         `json:"state"`
	Entered int            `json:"entered"`
	Left    map[string]int `json:"left,omitempty"` // by the state left for
	Done    int            `json:"done"`
	Error   int            `json:"error"`
	GaveUp  int            `json:"gave_up"`
	Silent  int            `json:"silent"`
}

// Funnel counts the conversations of the turns at each state of each
// flow: entered, left for each next state, done, error, gave up, and
// went silent — a follow-up fired there, or their last turn left them
// there (not done) at least SilentAfter before the end. Rows come by
// flow, then in the order their states were first entered.
func Funnel(turns []Record, opts FunnelOptions) []FunnelRow {
	if opts.SilentAfter <= 0 {
		opts.SilentAfter = DefaultSilentAfter
	}
	type key struct{ flow, state, outcome, next string }
	seen := map[key]map[string]bool{} // → conversations
	rows := map[[2]string]*FunnelRow{}
	var order [][2]string
	count := func(flow, conv, state, outcome, next string) {
		k := key{flow, state, outcome, next}
		if seen[k] == nil {
			seen[k] = map[string]bool{}
		}
		if seen[k][conv] {
			return
		}
		seen[k][conv] = true
		rk := [2]string{flow, state}
		row := rows[rk]
		if row == nil {
			row = &FunnelRow{Flow: flow, State: state}
			rows[rk] = row
			order = append(order, rk)
		}
		switch outcome {
		case FunnelEntered:
			row.Entered++
		case FunnelLeft:
			if row.Left == nil {
				row.Left = map[string]int{}
			}
			row.Left[next]++
		case FunnelDone:
			row.Done++
		case FunnelError:
			row.Error++
		case FunnelGaveUp:
			row.GaveUp++
		case FunnelSilent:
			row.Silent++
		}
	}
	var end time.Time
	last := map[[2]string]*Record{} // flow, conversation → its last turn
	var convs [][2]string
	for i := range turns {
		t := &turns[i]
		if t.Now.After(end) {
			end = t.Now
		}
		if (opts.Flow != "" && t.Flow != opts.Flow) || (!opts.From.IsZero() && t.Now.Before(opts.From)) ||
			(!opts.Until.IsZero() && !t.Now.Before(opts.Until)) || t.Outcome == OutcomeDropped {
			continue
		}
		Facts(t.Event.Name, t.From.Engine(), t.To.Engine(), t.Trace, t.Errors, func(state, outcome, next string) {
			count(t.Flow, t.Conversation, state, outcome, next)
		})
		ck := [2]string{t.Flow, t.Conversation}
		if last[ck] == nil {
			convs = append(convs, ck)
		}
		last[ck] = t
	}
	if !opts.Until.IsZero() {
		end = opts.Until
	}
	for _, ck := range convs {
		t := last[ck]
		if !t.To.Done && t.To.State != "" && end.Sub(t.Now) >= opts.SilentAfter {
			count(t.Flow, t.Conversation, t.To.State, FunnelSilent, "")
		}
	}
	flowOrder := map[string]int{}
	for _, rk := range order {
		if _, ok := flowOrder[rk[0]]; !ok {
			flowOrder[rk[0]] = len(flowOrder)
		}
	}
	out := make([]FunnelRow, 0, len(order))
	for _, rk := range order {
		out = append(out, *rows[rk])
	}
	sort.SliceStable(out, func(i, j int) bool { return flowOrder[out[i].Flow] < flowOrder[out[j].Flow] })
	return out
}
