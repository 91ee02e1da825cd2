package flows

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// MaxContextBytes is the largest serialized context a chat platform accepts.
const MaxContextBytes = 10240

// contextOverhead bounds the bytes of a context beyond its variables and
// pending choice: keys, flow name, version hash, state, counters.
const contextOverhead = 160

// check runs the whole-flow checks after parsing: every state reference
// resolves, every state is reachable, no dead ends, variables are set before
// they are read, and the context always fits.
func check(p *parser, f *Flow) {
	names := f.Order
	ref := func(t Target, what string) {
		if t.State == "" {
			return
		}
		if _, ok := f.States[t.State]; !ok {
			p.add(Error, t.Pos, "unknown state %q in %s%s", t.State, what, didYouMean(t.State, names))
		}
	}
	if f.Start != "" {
		if _, ok := f.States[f.Start]; !ok && len(f.States) > 0 {
			p.add(Error, f.StartPos, "unknown start state %q%s", f.Start, didYouMean(f.Start, names))
		}
	}
	for _, name := range names {
		st := f.States[name]
		for edge := range edges(st) {
			ref(edge.Target, edge.What)
		}
	}
	for _, c := range f.Commands {
		ref(c.Goto, "a command's `goto`")
	}
	for ev, t := range f.On {
		ref(t, fmt.Sprintf("`on: %s`", ev))
	}
	for _, k := range f.migrateKeys {
		ref(f.Migrate[k.State], fmt.Sprintf("`migrate: %s`", k.State))
		if t := f.States[f.Migrate[k.State].State]; t != nil && !t.Waits() {
			p.add(Error, f.Migrate[k.State].Pos, "`migrate: %s` must lead to a state that waits for the contact (ask, choice, wait, http or llm), and %q does not", k.State, t.Name)
		}
		if _, exists := f.States[k.State]; exists {
			p.add(Warning, k.Pos, "`migrate: %s` has no effect: %q is still a state of this flow, and conversations in it stay there", k.State, k.State)
		}
	}
	if p.lints.HasErrors() {
		return
	}
	checkReachable(p, f)
	checkDeadEnds(p, f)
	checkLoops(p, f)
	checkProtocol(p, f)
	checkVars(p, f)
	checkContextBound(p, f)
	checkEnv(p, f)
}

// BranchTrigger names the machine event of branch i of a state's `next`:
// "next" for a lone unconditional first branch, "next#i" otherwise, so that
// every branch is its own transition.
func BranchTrigger(i int, b Branch) string {
	if i == 0 && b.If == nil {
		return "next"
	}
	return fmt.Sprintf("next#%d", i)
}

// Edge is one transition of a flow, for checks and graphs.
type Edge struct {
	Target  Target
	Trigger string // next, option:<id>, give_up, otherwise, on:<event>
	What    string // how an error message names it
	Error   bool   // an error or give-up path
}

// edges yields the outgoing transitions of a state.
func edges(st *State) func(func(Edge) bool) {
	return func(yield func(Edge) bool) {
		for i, b := range st.Next {
			if !yield(Edge{Target: b.Goto, Trigger: BranchTrigger(i, b), What: fmt.Sprintf("`next` of state %q", st.Name)}) {
				return
			}
		}
		if st.Ask != nil && st.Ask.OnGiveUp.State != "" {
			if !yield(Edge{Target: st.Ask.OnGiveUp, Trigger: "give_up", What: fmt.Sprintf("`on_give_up` of state %q", st.Name), Error: true}) {
				return
			}
		}
		if c := st.Choice; c != nil {
			if c.OnGiveUp.State != "" {
				if !yield(Edge{Target: c.OnGiveUp, Trigger: "give_up", What: fmt.Sprintf("`on_give_up` of state %q", st.Name), Error: true}) {
					return
				}
			}
			for _, o := range c.Options {
				if o.Goto.State == "" {
					continue
				}
				if !yield(Edge{Target: o.Goto, Trigger: "option:" + o.ID, What: fmt.Sprintf("option %q of state %q", o.ID, st.Name)}) {
					return
				}
			}
			if c.Otherwise.State != "" {
				if !yield(Edge{Target: c.Otherwise, Trigger: "otherwise", What: fmt.Sprintf("`otherwise` of state %q", st.Name)}) {
					return
				}
			}
		}
		for _, code := range sortedInts(st.OnStatus) {
			if !yield(Edge{Target: st.OnStatus[code], Trigger: fmt.Sprintf("status:%d", code), What: fmt.Sprintf("`on_status: %d` of state %q", code, st.Name), Error: true}) {
				return
			}
		}
		for i, sl := range st.Silence {
			if sl.Goto.State == "" {
				continue
			}
			if !yield(Edge{Target: sl.Goto, Trigger: SilenceTrigger(i), What: fmt.Sprintf("`on_silence` rule %d of state %q", i+1, st.Name)}) {
				return
			}
		}
		for _, ev := range sortedKeys(st.On) {
			if !yield(Edge{Target: st.On[ev], Trigger: "on:" + ev, What: fmt.Sprintf("`on: %s` of state %q", ev, st.Name), Error: ev == "error"}) {
				return
			}
		}
	}
}

// SilenceTrigger is the machine event of a state's i-th `on_silence` rule.
func SilenceTrigger(i int) string { return "silence:" + strconv.Itoa(i) }

// Edges lists the outgoing transitions of a state, in a stable order.
func (s *State) Edges() []Edge {
	var out []Edge
	for e := range edges(s) {
		out = append(out, e)
	}
	return out
}

func sortedInts[V any](m map[int]V) []int { return slices.Sorted(maps.Keys(m)) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// roots are the states a conversation can be in without a transition from
// another state: the start, command targets and flow-wide handlers.
func roots(f *Flow) []string {
	out := []string{f.Start}
	for _, c := range f.Commands {
		out = append(out, c.Goto.State)
	}
	for _, ev := range sortedKeys(f.On) {
		out = append(out, f.On[ev].State)
	}
	return out
}

func checkReachable(p *parser, f *Flow) {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		if seen[name] || f.States[name] == nil {
			return
		}
		seen[name] = true
		for e := range edges(f.States[name]) {
			visit(e.Target.State)
		}
	}
	for _, r := range roots(f) {
		visit(r)
	}
	for _, name := range f.Order {
		if !seen[name] {
			p.add(Warning, f.States[name].Pos, "state %q is unreachable: no transition, command or handler leads to it", name)
		}
	}
}

// checkLoops reports cycles of states that never wait and always go on to
// the next state of the cycle: entering one, a turn would loop until the
// engine stops it.
func checkLoops(p *parser, f *Flow) {
	// sure is the state a state always moves on to without waiting.
	sure := func(st *State) string {
		if st.Waits() || st.Terminal() || len(st.Next) == 0 || st.Next[0].If != nil {
			return ""
		}
		return st.Next[0].Goto.State
	}
	done := map[string]bool{}
	for _, name := range f.Order {
		path := []string{}
		at := map[string]int{}
		for cur := name; cur != "" && !done[cur]; cur = sure(f.States[cur]) {
			if i, ok := at[cur]; ok {
				cycle := append(path[i:], cur)
				st := f.States[cycle[0]]
				p.add(Error, st.Next[0].Goto.Pos, "states %s never wait for the contact and always go on to each other, so a conversation entering them loops; make one wait (ask, choice, wait) or leave the loop with an `if` branch",
					strings.Join(quoteAll(cycle), " → "))
				break
			}
			at[cur] = len(path)
			path = append(path, cur)
		}
		for _, n := range path {
			done[n] = true
		}
	}
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strconv.Quote(n)
	}
	return out
}

// The web widget's limits of the platform's templates (seed 003): a
// button template shows at most 3 buttons, a list template 10 rows.
const (
	WebButtonTemplateMax = 3
	WebListTemplateMax   = 10
)

// checkProtocol reports what the chat platform's protocol makes
// impossible or lossy: forward_failed handlers that can never fire,
// forwards that ask for feedback nobody handles, states that are entered
// silently and wait after an answer (the new state travels only with a
// message; a silent start is fine, since its first message answers it), and
// templates longer than the web widget shows.
func checkProtocol(p *parser, f *Flow) {
	feedback := false // some forward asks for forward_failed
	for _, name := range f.Order {
		st := f.States[name]
		forwards, asks := forwardsOf(st)
		feedback = feedback || asks
		if t, ok := st.On["forward_failed"]; ok {
			switch {
			case !forwards:
				p.add(Error, t.Pos, "`on: forward_failed` of state %q never fires: the platform sends forward_failed only to the state that forwarded; move it to the state with the forward action, or to the flow's `on`", name)
			case !asks:
				p.add(Error, t.Pos, "`on: forward_failed` of state %q never fires: its forward has no `on_failure: feedback`, so the platform never sends forward_failed; add it to the forward's payload", name)
			}
		}
		if asks && st.On["forward_failed"].State == "" && f.On["forward_failed"].State == "" {
			p.add(Warning, st.Pos, "state %q forwards with `on_failure: feedback`, but no `on: forward_failed` handles the platform's answer; add one to the state or the flow", name)
		}
		if c := st.Choice; c != nil {
			switch {
			case c.Form == "button_template" && len(c.Options) > WebButtonTemplateMax:
				p.add(Warning, c.Pos, "state %q: a button_template shows at most %d buttons on web, and this one has %d; use bubbles or list_template, or fewer options", name, WebButtonTemplateMax, len(c.Options))
			case c.Form == "list_template" && len(c.Options) > WebListTemplateMax:
				p.add(Warning, c.Pos, "state %q: a list_template shows at most %d rows on web, and this one has %d; use bubbles, or fewer options", name, WebListTemplateMax, len(c.Options))
			}
		}
	}
	if t, ok := f.On["forward_failed"]; ok && !feedback {
		p.add(Error, t.Pos, "`on: forward_failed` never fires: no forward of this flow has `on_failure: feedback`, so the platform never sends forward_failed; add it to the forwards' payloads")
	}
	for _, name := range f.Order {
		st := f.States[name]
		if (st.Ask == nil && st.Choice == nil && !st.Wait) || st.Script != nil || len(st.Do) > 0 {
			continue // requests say their result; scripts and actions may send something
		}
		for e := range edges(st) {
			if t := f.States[e.Target.State]; t != nil && t != st && silentWait(t) && !e.Error {
				p.add(Warning, e.Target.Pos, "%s leads to state %q, which says nothing and waits; on Userlike the new state travels only with a message, so the conversation would stay in %q — give %q a `say`", e.What, t.Name, name, t.Name)
			}
		}
	}
}

// forwardsOf reports whether a state forwards, and whether a forward asks
// for forward_failed (on_failure: feedback).
func forwardsOf(st *State) (forwards, feedback bool) {
	for _, a := range st.Do {
		if !strings.HasPrefix(a.Name, "forward_") {
			continue
		}
		forwards = true
		if v, ok := a.Payload["on_failure"]; ok && v.Str != nil && v.Str.Source == "feedback" {
			feedback = true
		}
	}
	return forwards, feedback
}

// silentWait reports whether a state waits for the contact (wait: true)
// without saying anything on entry.
func silentWait(st *State) bool { return st.Wait && len(st.Say) == 0 }

func checkDeadEnds(p *parser, f *Flow) {
	for _, name := range f.Order {
		st := f.States[name]
		if st.HTTP != nil && st.HTTP.Async && f.APIURL.IsZero() {
			p.add(Warning, st.HTTP.Pos, "state %q makes an async request, but the flow has no `api_url` to push its result to; add api_url (e.g. ${env.USERLIKE_API_URL}) and api_token, or remove `async`", name)
		}
		if st.HTTP != nil && len(st.Next) == 0 {
			p.add(Error, st.HTTP.Pos, "state %q makes an http request but has no `next` for a successful answer", name)
		}
		if st.LLM != nil && len(st.Next) == 0 && !st.Terminal() {
			p.add(Error, st.LLM.Pos, "state %q asks the language model but has no `next` to go on with after the reply", name)
		}
		if st.Waits() || len(st.Next) > 0 || st.Terminal() {
			continue
		}
		p.add(Warning, st.Pos, "state %q is a dead end: it does not wait, has no `next` and does not end or forward; the conversation stops here (add `next`, or `do: [end]`)", name)
	}
}

// stateUses calls fn for each variable path a state reads; early reports
// whether the read happens on entry (before the state's own answer is
// saved), guarded whether an unset variable is expected there (a template
// default, a present/absent test).
func stateUses(st *State, fn func(path string, pos Pos, early, guarded bool)) {
	tpl := func(t Template, pos Pos, early bool) {
		for _, r := range t.Reads() {
			fn(r.Path, pos, early, r.Defaulted)
		}
	}
	for _, m := range st.Say {
		tpl(m.Text, m.Pos, true)
		tpl(m.URL, m.Pos, true)
		for _, b := range m.Buttons {
			tpl(b.Label, m.Pos, true)
			tpl(b.URL, m.Pos, true)
		}
	}
	if q := st.Ask; q != nil {
		tpl(q.Prompt, q.Pos, true)
		tpl(q.Invalid, q.Pos, true)
	}
	if c := st.Choice; c != nil {
		for _, t := range []Template{c.Body, c.Fallback, c.Header, c.Footer, c.Button, c.Invalid} {
			tpl(t, c.Pos, true)
		}
		for _, o := range c.Options {
			tpl(o.Label, o.Pos, true)
			tpl(o.Description, o.Pos, true)
			tpl(o.Image, o.Pos, true)
		}
	}
	if h := st.HTTP; h != nil {
		tpl(h.URL, h.Pos, true)
		for _, hd := range h.Headers {
			tpl(hd.Value, h.Pos, true)
		}
		if h.Body != nil {
			tpl(*h.Body, h.Pos, true)
		}
		if h.JSON != nil {
			h.JSON.templates(func(t Template) { tpl(t, h.Pos, true) })
		}
	}
	if l := st.LLM; l != nil {
		tpl(l.System, l.systemPos, true)
		tpl(l.Prompt, l.promptPos, true)
	}
	for _, sl := range st.Silence {
		for _, m := range sl.Say {
			tpl(m.Text, m.Pos, true)
			tpl(m.URL, m.Pos, true)
			for _, b := range m.Buttons {
				tpl(b.Label, m.Pos, true)
				tpl(b.URL, m.Pos, true)
			}
		}
	}
	for _, a := range st.Set {
		tpl(a.Value, a.Pos, false)
	}
	for _, a := range st.Do {
		for _, v := range a.Payload {
			v.templates(func(t Template) { tpl(t, a.Pos, false) })
		}
	}
	for _, b := range st.Next {
		if b.If != nil {
			fn(b.If.Var, b.If.Pos, false, b.If.Op == "present" || b.If.Op == "absent")
		}
	}
}

// stateSets lists the variables a state sets when it completes.
func stateSets(st *State) []string {
	var out []string
	if st.Ask != nil && st.Ask.Save != "" {
		out = append(out, st.Ask.Save)
	}
	if st.Choice != nil && st.Choice.Save != "" {
		out = append(out, st.Choice.Save)
	}
	if st.HTTP != nil {
		for _, fs := range st.HTTP.Save {
			out = append(out, fs.Var)
		}
	}
	if st.LLM != nil && st.LLM.Save != "" {
		out = append(out, st.LLM.Save)
	}
	out = append(out, scriptVars(st.Script)...)
	for _, a := range st.Set {
		out = append(out, a.Var)
	}
	return out
}

var scriptVarRe = regexp.MustCompile(`\bvars\.([A-Za-z_][A-Za-z0-9_]*)\s*(=[^=]|\+=)|\bvars\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\]\s*=[^=]`)

// scriptVars finds the variables a script assigns (vars.x = …), so that the
// variable checks know about them.
func scriptVars(sc *Script) []string {
	if sc == nil {
		return nil
	}
	var out []string
	for _, m := range scriptVarRe.FindAllStringSubmatch(sc.Source, -1) {
		if m[1] != "" {
			out = append(out, m[1])
		} else {
			out = append(out, m[3])
		}
	}
	return out
}

// carriesSets reports whether an edge leaves a state that completed (so the
// variables it sets are set on arrival).
func carriesSets(trigger string) bool {
	return strings.HasPrefix(trigger, "next") || strings.HasPrefix(trigger, "option:")
}

// builtinRoot reports whether a variable path reads platform data rather
// than a flow variable.
func builtinRoot(path string) bool {
	root, _, _ := strings.Cut(path, ".")
	return reservedVar(root) || path == LocaleVar
}

func checkVars(p *parser, f *Flow) {
	setAnywhere := map[string]bool{}
	for _, a := range f.Defaults {
		setAnywhere[a.Var] = true
	}
	for _, name := range f.Order {
		for _, v := range stateSets(f.States[name]) {
			setAnywhere[v] = true
		}
	}
	for _, v := range sortedKeys(f.Sizes) {
		if !setAnywhere[v] {
			p.add(Warning, f.sizesPos[v], "`sizes` declares %q, but no state sets it%s", v, didYouMean(v, sortedKeys(setAnywhere)))
		}
	}
	// Must-analysis: in[s] is the set of variables set on every path to s.
	all := map[string]bool{}
	for v := range setAnywhere {
		all[v] = true
	}
	in := map[string]map[string]bool{}
	isRoot := map[string]bool{}
	for _, r := range roots(f) {
		isRoot[r] = true
	}
	for _, name := range f.Order {
		if isRoot[name] {
			in[name] = map[string]bool{}
			for _, a := range f.Defaults {
				in[name][a.Var] = true // set before anything runs, even a command
			}
		} else {
			in[name] = copySet(all)
		}
	}
	for changed := true; changed; {
		changed = false
		for _, name := range f.Order {
			st := f.States[name]
			for e := range edges(st) {
				out := copySet(in[name])
				if carriesSets(e.Trigger) {
					for _, v := range stateSets(st) {
						out[v] = true
					}
				}
				if c := branchOf(st, e.Trigger); c != nil && c.Op == "present" && !builtinRoot(c.Var) {
					out[c.Var] = true // the branch is taken only when it is set
				}
				dst := in[e.Target.State]
				for v := range dst {
					if !out[v] {
						delete(dst, v)
						changed = true
					}
				}
			}
		}
	}
	reported := map[string]bool{}
	for _, name := range f.Order {
		st := f.States[name]
		own := stateSets(st)
		stateUses(st, func(path string, pos Pos, early, guarded bool) {
			if builtinRoot(path) {
				return
			}
			root, _, _ := strings.Cut(path, ".")
			key := fmt.Sprintf("%s@%d:%d", root, pos.Line, pos.Column)
			if reported[key] {
				return
			}
			if !setAnywhere[root] {
				reported[key] = true
				var known []string
				for v := range setAnywhere {
					known = append(known, v)
				}
				p.add(Error, pos, "variable %q is used in state %q but no state sets it (with `save` or `set`)%s", root, name, didYouMean(root, known))
				return
			}
			if guarded || in[name][root] || (!early && contains(own, root)) {
				return
			}
			reported[key] = true
			p.add(Warning, pos, "variable %q may be read in state %q before any state sets it; it would be empty", root, name)
		})
	}
}

// branchOf is the condition of the `next` branch an edge's trigger names
// (nil: not a branch, or one without `if`).
func branchOf(st *State, trigger string) *Condition {
	i := 0
	switch {
	case trigger == "next":
	case strings.HasPrefix(trigger, "next#"):
		i, _ = strconv.Atoi(trigger[len("next#"):])
	default:
		return nil
	}
	if i < 0 || i >= len(st.Next) {
		return nil
	}
	return st.Next[i].If
}

func copySet(s map[string]bool) map[string]bool {
	out := make(map[string]bool, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

// MaxSavedField is the longest value an http step saves into a variable, in
// characters; a longer field takes the error path.
const MaxSavedField = 1000

// bytesPerRune bounds the UTF-8 bytes of a character of a saved value;
// control characters are removed from answers.
const bytesPerRune = 4

// VarBound is the largest number of bytes a variable can take in a context.
type VarBound struct {
	Name  string
	Bytes int
	Kind  string // what sets it at its largest: question, choice, http, llm, script, set or sizes
	Pos   Pos    // where that is written
}

// lateTapStates is how many choice states a context remembers for late
// taps (engine.LateTapDepth).
const lateTapStates = 2

// Defaults of the context budget for variables whose length nothing
// bounds, in characters; `sizes` declares others.
const (
	DefaultScriptVarLength = 100 // a variable a script sets
	DefaultHTTPVarLength   = 250 // a field an http step saves (at most MaxSavedField)
)

// ContextBound is an upper bound of the serialized context of a flow, and
// the variables that dominate it, largest first. Variables the flow's
// `sizes` declares count their declared length; others count their
// question's max_length, or the defaults above.
func ContextBound(f *Flow) (int, []VarBound) {
	size := map[string]VarBound{}
	grow := func(v string, bytes int, kind string, pos Pos) {
		if n, ok := f.Sizes[v]; ok {
			bytes, kind, pos = n*bytesPerRune, "sizes", f.sizesPos[v]
		}
		if old, ok := size[v]; !ok || bytes > old.Bytes {
			size[v] = VarBound{Name: v, Bytes: bytes, Kind: kind, Pos: pos}
		}
	}
	for _, name := range f.Order {
		st := f.States[name]
		if q := st.Ask; q != nil && q.Save != "" {
			grow(q.Save, q.MaxLength*bytesPerRune, "question", q.Pos)
		}
		if c := st.Choice; c != nil && c.Save != "" {
			longest := 0
			for _, o := range c.Options {
				longest = max(longest, len(o.ID))
			}
			grow(c.Save, 2*longest, "choice", c.Pos)
		}
		if st.HTTP != nil {
			for _, fs := range st.HTTP.Save {
				grow(fs.Var, DefaultHTTPVarLength*bytesPerRune, "http", st.HTTP.Pos)
			}
		}
		if l := st.LLM; l != nil {
			if l.History > 0 {
				grow(HistoryVar, MaxHistoryBytes, "llm", l.Pos)
			}
			if l.Save != "" {
				grow(l.Save, MaxLLMReply*bytesPerRune, "llm", l.Pos)
			}
		}
		if sc := st.Script; sc != nil {
			for _, v := range scriptVars(sc) {
				grow(v, DefaultScriptVarLength*bytesPerRune, "script", Pos{sc.Line, sc.Column})
			}
		}
	}
	sets := slices.Clone(f.Defaults)
	for _, name := range f.Order {
		sets = append(sets, f.States[name].Set...)
	}
	for _, a := range sets {
		n := a.Value.MaxLiteralLen() * 2
		for _, v := range a.Value.Vars() {
			if s, ok := size[v]; ok {
				n += s.Bytes
			} else {
				n += DefaultMaxLength["text"] * bytesPerRune
			}
		}
		grow(a.Var, n, "set", a.Pos)
	}
	var vars []VarBound
	total := contextOverhead + len(f.Name) + 12
	longestState := 0
	for _, name := range f.Order {
		longestState = max(longestState, len(name))
	}
	total += longestState
	total += (lateTapStates) * (longestState + 3) // the recent choices (engine.Session.Recent)
	if len(f.Locales) > 1 {
		longest := 0
		for _, l := range f.Locales {
			longest = max(longest, len(l))
		}
		total += longest + 7 // the platform's locale (engine.Session.Locale)
	}
	for _, v := range size {
		v.Bytes += len(v.Name) + 6
		vars = append(vars, v)
		total += v.Bytes
	}
	pending := 0
	for _, name := range f.Order {
		c := f.States[name].Choice
		if c == nil {
			continue
		}
		n := 16
		for _, o := range c.Options {
			n += 2*len(o.ID) + 8
			n += 2 * o.Label.MaxLiteralLen()
			for range o.Label.Vars() {
				n += DefaultMaxLength["text"] * bytesPerRune
			}
		}
		pending = max(pending, n)
	}
	total += pending
	sort.Slice(vars, func(i, j int) bool {
		if vars[i].Bytes != vars[j].Bytes {
			return vars[i].Bytes > vars[j].Bytes
		}
		return vars[i].Name < vars[j].Name
	})
	return total, vars
}

// checkContextBound refuses a flow whose context may outgrow the
// platform's limit, at the line of its largest variable, with advice for
// what sets that variable.
func checkContextBound(p *parser, f *Flow) {
	total, vars := ContextBound(f)
	if total <= MaxContextBytes || len(vars) == 0 {
		return
	}
	var top []string
	for i, v := range vars {
		if i == 3 {
			break
		}
		top = append(top, fmt.Sprintf("%s (%d bytes)", v.Name, v.Bytes))
	}
	big := vars[0]
	over := total - MaxContextBytes
	chars := max(1, (big.Bytes-len(big.Name)-6-over)/bytesPerRune)
	var hint string
	switch big.Kind {
	case "question":
		hint = fmt.Sprintf("lower this question's max_length (to %d or less would do)", chars)
	case "llm":
		hint = fmt.Sprintf("an llm step's `save` may take %d bytes and its transcript (%s) %d: give `history: 0` to keep none, or drop the `save`",
			MaxLLMReply*bytesPerRune, HistoryVar, MaxHistoryBytes)
	case "sizes":
		hint = fmt.Sprintf("lower its declared size (to %d or less would do)", chars)
	default:
		hint = fmt.Sprintf("declare how long it gets at the top of the flow — sizes: {%s: %d} (characters) would do; a longer value then takes the error path", big.Name, chars)
	}
	pos := big.Pos
	if pos.Line == 0 {
		pos = Pos{1, 1}
	}
	p.add(Error, pos, "the context may grow to %d bytes, over the platform's limit of %d; the largest variables are %s — %s: %s",
		total, MaxContextBytes, strings.Join(top, ", "), big.Name, hint)
}

func checkEnv(p *parser, f *Flow) {
	seen := map[string]bool{}
	warn := func(t Template, pos Pos) {
		for _, name := range t.MissingEnv() {
			if seen[name] {
				continue
			}
			seen[name] = true
			p.add(Warning, pos, "environment variable %s is not set and has no default; the steps that use it will take their error path (set it, or write ${env.%s:-default})", name, name)
		}
	}
	warn(f.APIURL, f.apiPos)
	warn(f.APIToken, f.apiTokenPos)
	for _, name := range f.Order {
		st := f.States[name]
		for _, m := range st.Say {
			warn(m.Text, m.Pos)
			warn(m.URL, m.Pos)
		}
		if st.Ask != nil {
			warn(st.Ask.Prompt, st.Ask.Pos)
		}
		if l := st.LLM; l != nil {
			warn(l.System, l.systemPos)
			warn(l.Prompt, l.promptPos)
		}
		for _, sl := range st.Silence {
			for _, m := range sl.Say {
				warn(m.Text, m.Pos)
				warn(m.URL, m.Pos)
			}
		}
		for _, a := range st.Set {
			warn(a.Value, a.Pos)
		}
		if h := st.HTTP; h != nil {
			warn(h.URL, h.Pos)
			for _, hd := range h.Headers {
				warn(hd.Value, h.Pos)
			}
		}
		for _, a := range st.Do {
			for _, v := range a.Payload {
				v.templates(func(t Template) { warn(t, a.Pos) })
			}
		}
	}
}

// UsesContact reports whether the flow may read the contact's data: a
// {{ contact.… }} template, a condition on contact.…, or any script (scripts
// see the contact). Adapters may skip decoding contact data otherwise.
func (f *Flow) UsesContact() bool {
	uses := false
	for _, name := range f.Order {
		st := f.States[name]
		if st.Script != nil {
			return true
		}
		stateUses(st, func(path string, _ Pos, _, _ bool) {
			if root, _, _ := strings.Cut(path, "."); root == "contact" {
				uses = true
			}
		})
	}
	return uses
}

// UsesConversation reports whether the flow reads the platform's metadata
// of the chat: a {{ conversation.… }} template or a condition on it.
// Adapters may skip decoding that metadata otherwise.
func (f *Flow) UsesConversation() bool {
	uses := false
	for _, name := range f.Order {
		stateUses(f.States[name], func(path string, _ Pos, _, _ bool) {
			if root, _, _ := strings.Cut(path, "."); root == "conversation" {
				uses = true
			}
		})
	}
	return uses
}

// Disappeared lists the states of an earlier version that a conversation
// can rest in (it waits there, or ended there) and that the new version
// neither has nor migrates: conversations in them will restart. States a
// conversation only passes through need no migration.
func Disappeared(old, new *Flow) Lints {
	var out Lints
	for _, name := range old.Order {
		if st := old.States[name]; !st.Waits() && len(st.Next) > 0 {
			continue
		}
		if _, ok := new.States[name]; ok {
			continue
		}
		if _, ok := new.Migrate[name]; ok {
			continue
		}
		st := old.States[name]
		out = append(out, Lint{File: old.File, Line: st.Pos.Line, Column: st.Pos.Column, Level: Error,
			What: fmt.Sprintf("state %q disappears in %s without a migration; conversations in it will restart (add `migrate: {%s: <state>}` to %s)%s",
				name, new.File, name, new.File, didYouMeanFor(name, new.Order))})
	}
	return out
}

func didYouMeanFor(name string, states []string) string {
	if s := suggest(name, states); s != "" {
		return fmt.Sprintf(" — perhaps %q", s)
	}
	return ""
}
