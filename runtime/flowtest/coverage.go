package flowtest

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
)

// Coverage gathers what conversation tests reached of their flows: the
// states entered (or started in), and the transitions taken, among them
// the choices' options, the error paths (`on_status`, `on: error`) and
// the give-ups (`on_give_up`). Pass one to RunFileCoverage for each file
// and read Flows at the end. It is safe for concurrent use.
type Coverage struct {
	mu    sync.Mutex
	flows map[string]*reached // by flow file
}

// reached is what the tests reached of one flow.
type reached struct {
	flow        *flows.Flow
	states      map[string]bool
	transitions map[string]bool // transitionKey
}

// transitionKey names a transition as Trace reports it: a state's own
// edge by its state and trigger; a command or a flow-wide handler, which
// leave any state, by trigger alone.
func transitionKey(from, trigger string) string { return from + " --" + trigger + "-->" }

// RunFileCoverage runs a test file as RunFile does and adds what its
// conversations reached to cov.
func RunFileCoverage(path string, opts flows.Options, cov *Coverage) (Report, error) {
	rep, _, err := run(path, RunOptions{Flows: opts, Coverage: cov})
	return rep, err
}

func (c *Coverage) of(f *flows.Flow) *reached {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flows == nil {
		c.flows = map[string]*reached{}
	}
	key := f.File + "\x00" + f.Name
	r := c.flows[key]
	if r == nil {
		r = &reached{flow: f, states: map[string]bool{}, transitions: map[string]bool{}}
		c.flows[key] = r
	}
	return r
}

// start notes the state a test starts in.
func (c *Coverage) start(f *flows.Flow, state string) {
	if c == nil || state == "" {
		return
	}
	r := c.of(f)
	c.mu.Lock()
	defer c.mu.Unlock()
	r.states[state] = true
}

// trace notes the transitions of one exchange.
func (c *Coverage) trace(f *flows.Flow, trace []engine.Transition) {
	if c == nil {
		return
	}
	r := c.of(f)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range trace {
		if t.To != "" {
			r.states[t.To] = true
		}
		r.transitions[transitionKey(t.From, t.Trigger)] = true
		if !ownEdge(f.States[t.From], t.Trigger) {
			r.transitions[transitionKey("", t.Trigger)] = true // a command or a flow-wide handler
		}
	}
}

// ownEdge reports whether a state has its own transition by trigger.
func ownEdge(st *flows.State, trigger string) bool {
	if st == nil {
		return false
	}
	for _, e := range st.Edges() {
		if e.Trigger == trigger {
			return true
		}
	}
	return false
}

// Count is how many of a flow's things the tests reached.
type Count struct {
	Reached int `json:"reached"`
	Total   int `json:"total"`
}

func (n Count) String() string {
	if n.Total == 0 {
		return "–"
	}
	return fmt.Sprintf("%d/%d", n.Reached, n.Total)
}

// FlowCoverage is what the tests reached of one flow.
type FlowCoverage struct {
	Flow        string   `json:"flow"`
	File        string   `json:"file"`
	States      Count    `json:"states"`
	Options     Count    `json:"options"`
	Transitions Count    `json:"transitions"`
	ErrorPaths  Count    `json:"error_paths"`
	GiveUps     Count    `json:"give_ups"`
	Missed      []string `json:"missed"` // what no test reached, one line each
}

// Flows is the coverage of every flow a test ran, by file name.
func (c *Coverage) Flows() []FlowCoverage {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []FlowCoverage{}
	for _, r := range c.flows {
		out = append(out, r.coverage())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

func (r *reached) coverage() FlowCoverage {
	f := r.flow
	fc := FlowCoverage{Flow: f.Name, File: f.File, Missed: []string{}}
	count := func(n *Count, ok bool, missed string) {
		n.Total++
		if ok {
			n.Reached++
		} else if missed != "" {
			fc.Missed = append(fc.Missed, missed)
		}
	}
	for _, name := range f.Order {
		count(&fc.States, r.states[name], "state "+name)
	}
	for _, name := range f.Order {
		for _, e := range f.States[name].Edges() {
			ok := r.transitions[transitionKey(name, e.Trigger)] || r.byCommand(name, e.Trigger)
			line := fmt.Sprintf("transition %s --%s--> %s", name, e.Trigger, e.Target.State)
			count(&fc.Transitions, ok, line)
			switch {
			case strings.HasPrefix(e.Trigger, "option:"):
				count(&fc.Options, ok, "")
			case e.Trigger == "give_up":
				count(&fc.GiveUps, ok, "")
			case e.Error:
				count(&fc.ErrorPaths, ok, "")
			}
		}
	}
	for i, cmd := range f.Commands {
		trigger := fmt.Sprintf("command:%d", i)
		count(&fc.Transitions, r.transitions[transitionKey("", trigger)], fmt.Sprintf("command %q --> %s", strings.Join(cmd.Match, ", "), cmd.Goto.State))
	}
	for _, ev := range sortedKeys(f.On) {
		ok := r.transitions[transitionKey("", "on:"+ev)]
		line := fmt.Sprintf("flow-wide on: %s --> %s", ev, f.On[ev].State)
		count(&fc.Transitions, ok, line)
		if ev == "error" {
			count(&fc.ErrorPaths, ok, "")
		}
	}
	return fc
}

// byCommand reports whether a command took an option's clicks in a state:
// a command with `clicks:` fires before the option (engine), so the
// option counts as reached when that command fired there.
func (r *reached) byCommand(state, trigger string) bool {
	id, ok := strings.CutPrefix(trigger, "option:")
	if !ok {
		return false
	}
	for i, c := range r.flow.Commands {
		if slices.Contains(c.Clicks, id) && r.transitions[transitionKey(state, fmt.Sprintf("command:%d", i))] {
			return true
		}
	}
	return false
}

// WriteTable prints the coverage as a table, then what no test reached.
func WriteTable(w io.Writer, fcs []FlowCoverage) {
	fmt.Fprintf(w, "%-24s %-8s %-8s %-12s %-12s %-8s\n", "flow", "states", "options", "transitions", "error paths", "give-ups")
	for _, fc := range fcs {
		fmt.Fprintf(w, "%-24s %-8s %-8s %-12s %-12s %-8s\n", fc.Flow, fc.States, fc.Options, fc.Transitions, fc.ErrorPaths, fc.GiveUps)
	}
	for _, fc := range fcs {
		if len(fc.Missed) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nnot reached in %s (%s):\n", fc.Flow, fc.File)
		for _, m := range fc.Missed {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
}
