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
			for _, o := range c.Options {
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
// whether the read happens on entry (before the state's own answer is saved).
func stateUses(st *State, fn func(path string, pos Pos, early bool)) {
	tpl := func(t Template, pos Pos, early bool) {
		for _, v := range t.Vars() {
			fn(v, pos, early)
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
			fn(b.If.Var, b.If.Pos, false)
		}
	}
}

// stateSets lists the variables a state sets when it completes.
func stateSets(st *State) []string {
	var out []string
	if st.Ask != nil && st.Ask.Save != "" {
		out = append(out, st.Ask.Save)
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
	return reservedVar(root)
}

func checkVars(p *parser, f *Flow) {
	setAnywhere := map[string]bool{}
	for _, name := range f.Order {
		for _, v := range stateSets(f.States[name]) {
			setAnywhere[v] = true
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
		stateUses(st, func(path string, pos Pos, early bool) {
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
			if in[name][root] || (!early && contains(own, root)) {
				return
			}
			reported[key] = true
			p.add(Warning, pos, "variable %q may be read in state %q before any state sets it; it would be empty", root, name)
		})
	}
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
}

// ContextBound is an upper bound of the serialized context of a flow, and
// the variables that dominate it, largest first.
func ContextBound(f *Flow) (int, []VarBound) {
	size := map[string]int{}
	for _, name := range f.Order {
		st := f.States[name]
		if q := st.Ask; q != nil && q.Save != "" {
			size[q.Save] = max(size[q.Save], q.MaxLength*bytesPerRune)
		}
		if st.HTTP != nil {
			for _, fs := range st.HTTP.Save {
				size[fs.Var] = max(size[fs.Var], MaxSavedField*bytesPerRune)
			}
		}
		if l := st.LLM; l != nil {
			if l.History > 0 {
				size[HistoryVar] = max(size[HistoryVar], MaxHistoryBytes)
			}
			if l.Save != "" {
				size[l.Save] = max(size[l.Save], MaxLLMReply*bytesPerRune)
			}
		}
		for _, v := range scriptVars(st.Script) {
			size[v] = max(size[v], DefaultMaxLength["text"]*bytesPerRune)
		}
	}
	for _, name := range f.Order {
		for _, a := range f.States[name].Set {
			n := a.Value.MaxLiteralLen() * 2
			for _, v := range a.Value.Vars() {
				if s, ok := size[v]; ok {
					n += s
				} else {
					n += DefaultMaxLength["text"] * bytesPerRune
				}
			}
			size[a.Var] = max(size[a.Var], n)
		}
	}
	var vars []VarBound
	total := contextOverhead + len(f.Name) + 12
	longestState := 0
	for _, name := range f.Order {
		longestState = max(longestState, len(name))
	}
	total += longestState
	for v, n := range size {
		vars = append(vars, VarBound{Name: v, Bytes: n + len(v) + 6})
		total += n + len(v) + 6
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

func checkContextBound(p *parser, f *Flow) {
	total, vars := ContextBound(f)
	if total <= MaxContextBytes {
		return
	}
	llmVars := map[string]bool{HistoryVar: true}
	for _, name := range f.Order {
		if l := f.States[name].LLM; l != nil && l.Save != "" {
			llmVars[l.Save] = true
		}
	}
	var top []string
	hint := "lower their questions' max_length"
	for i, v := range vars {
		if i == 3 {
			break
		}
		top = append(top, fmt.Sprintf("%s (%d bytes)", v.Name, v.Bytes))
		if llmVars[v.Name] {
			hint = fmt.Sprintf("lower their questions' max_length; an llm step's `save` may take %d bytes and its transcript (%s) %d (`history: 0` keeps none)",
				MaxLLMReply*bytesPerRune, HistoryVar, MaxHistoryBytes)
		}
	}
	p.add(Error, Pos{1, 1}, "the context may grow to %d bytes, over the platform's limit of %d; the largest variables are %s — %s",
		total, MaxContextBytes, strings.Join(top, ", "), hint)
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
		stateUses(st, func(path string, _ Pos, _ bool) {
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
		stateUses(f.States[name], func(path string, _ Pos, _ bool) {
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
