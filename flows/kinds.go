package flows

// StepKind declares one kind of step a state may have, in one place: the
// state keys it owns, whether a state with it waits, how a graph draws it
// and labels its `next` edge, and how to find it in a compiled state. The
// parts of flowbot that must know every kind read this table: the key
// table's classification (TestStepKindsOwnTheirKeys), State.Waits, the
// graphs, the engine's dispatch when a state is entered
// (engine/kinds.go), and the test that every kind has a golden
// conversation and a schema entry (runtime/flowtest's
// TestEveryStepKindHasAGoldenConversation). Adding a kind is described
// in docs/step-kinds.md.
type StepKind struct {
	// Name is the state key that introduces the step ("ask", "http", …).
	Name string
	// Keys are the further state keys that belong to this step only
	// (an ask's expect, save, …).
	Keys []string
	// Waits: a state with this step waits — for the contact (ask, choice,
	// wait) or for a job's result (http, llm) — instead of moving on.
	Waits bool
	// Mermaid and DOT are the node shapes graphs draw a state with this
	// step in (Mermaid: a format with one %q; DOT: a shape name); empty:
	// a plain box.
	Mermaid, DOT string
	// Next labels the state's unconditional `next` edge in graphs ("2xx",
	// "answer", …); empty: no label.
	Next string
	// In reports whether a compiled state has this step.
	In func(*State) bool

	index int // its place in StepKinds, set at init
}

func init() {
	if len(StepKinds) > 31 {
		panic("flows: more step kinds than State.kinds has bits")
	}
	for i := range StepKinds {
		StepKinds[i].index = i
	}
}

// StepKinds are the step kinds of the flow language. Their order is the
// order the engine runs them in when a state is entered (messages first)
// and the order graphs look for a node shape (the first kind with a shape
// wins).
var StepKinds = []StepKind{
	{Name: "say", In: func(s *State) bool { return len(s.Say) > 0 }},
	{Name: "choice", Waits: true, Mermaid: "{%q}", DOT: "diamond",
		In: func(s *State) bool { return s.Choice != nil }},
	{Name: "ask", Keys: []string{"expect", "pattern", "invalid", "retries", "on_give_up", "save", "max_length", "markdown", "min", "max", "integer"}, Waits: true,
		Mermaid: "[/%q/]", DOT: "parallelogram", Next: "answer", In: func(s *State) bool { return s.Ask != nil }},
	{Name: "wait", Waits: true, Mermaid: "[/%q/]", DOT: "parallelogram", Next: "any input",
		In: func(s *State) bool { return s.Wait }},
	{Name: "http", Keys: []string{"on_status"}, Waits: true, Mermaid: "[[%q]]", DOT: "box3d", Next: "2xx",
		In: func(s *State) bool { return s.HTTP != nil }},
	{Name: "llm", Waits: true, Mermaid: "[[%q]]", DOT: "box3d", Next: "reply",
		In: func(s *State) bool { return s.LLM != nil }},
	{Name: "script", Keys: []string{"script_file"}, In: func(s *State) bool { return s.Script != nil }},
	{Name: "set", In: func(s *State) bool { return len(s.Set) > 0 }},
	{Name: "do", In: func(s *State) bool { return len(s.Do) > 0 }},
}

// StateKeys are the state keys that belong to no step kind: where a state
// goes and how it behaves whatever its steps.
var StateKeys = []string{"next", "on", "on_silence", "timing"}

// Waiting returns the step kind the state waits on (a state waits on one
// at most), or nil when the state does not wait.
func (s *State) Waiting() *StepKind {
	switch w := s.kindWaiting; w {
	case 0:
		w = s.findWaiting()
		if w == 1 {
			return nil
		}
		return &StepKinds[w-2]
	case 1:
		return nil
	default:
		return &StepKinds[w-2]
	}
}

// kindsKnown marks State.kinds as computed.
const kindsKnown = 1 << 31

// Has reports whether the state has a step of kind k (k.In), from the
// cache of a parsed flow.
func (s *State) Has(k *StepKind) bool {
	if s.kinds&kindsKnown != 0 {
		return s.kinds&(1<<k.index) != 0
	}
	return k.In(s)
}

// cacheKinds fills the caches of Waiting and Has.
func (s *State) cacheKinds() {
	s.kindWaiting = s.findWaiting()
	s.kinds = kindsKnown
	for i := range StepKinds {
		if StepKinds[i].In(s) {
			s.kinds |= 1 << i
		}
	}
}

// findWaiting computes the cache of Waiting.
func (s *State) findWaiting() int8 {
	for i := range StepKinds {
		if k := &StepKinds[i]; k.Waits && k.In(s) {
			return int8(i + 2)
		}
	}
	return 1
}
