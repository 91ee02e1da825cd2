package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/looplab/fsm"

	"github.com/flowbot/flowbot/engine/script"
	"github.com/flowbot/flowbot/flows"
)

// newState is the machine state of a conversation that has not started.
const newState = "(new)"

// MaxStepsPerTurn bounds the states one event may pass through, so that a
// loop of states that never wait cannot spin forever.
const MaxStepsPerTurn = 64

// MaxMessagesPerTurn bounds the messages (texts, media, buttons, choices)
// the bot sends for one event: a turn that would send more sends the first
// MaxMessagesPerTurn-1 and the error text, and stops.
const MaxMessagesPerTurn = 25

// Bot runs conversations on one compiled flow. It is safe for concurrent use.
type Bot struct {
	flow    *flows.Flow
	events  []fsm.EventDesc
	pool    sync.Pool // *fsm.FSM, reused: building one costs microseconds
	host    *script.Host
	limits  scriptLimits
	scripts map[string]*script.Program // by state
	broken  map[string]error           // scripts that do not compile, by state
	lints   flows.Lints
	contact bool // the flow may read contact data
	meta    bool // the flow reads the conversation's metadata
}

// Options tune a Bot.
type Options struct {
	// ScriptTimeout is a script step's time limit when the flow sets none
	// (script.DefaultTimeout when zero).
	ScriptTimeout time.Duration
	// MaxScriptTimeout and MaxScriptMemory cap what a flow may ask for in
	// its `scripts` limits (DefaultMaxScriptTimeout, DefaultMaxScriptMemory
	// when zero).
	MaxScriptTimeout time.Duration
	MaxScriptMemory  int64
	// Scripts is the pool scripts run on: script.Shared() when nil, so
	// every flow and version of a process shares one.
	Scripts *script.Host
}

// The server-wide caps of a flow's script limits, by default.
const (
	DefaultMaxScriptTimeout = time.Second
	DefaultMaxScriptMemory  = 128 << 20
)

// scriptLimits are the resolved limits of a bot's script steps.
type scriptLimits struct {
	timeout time.Duration
	memory  int64
}

// resolveScriptLimits applies the flow's own limits within the caps, and
// warns where a flow asks for more than the server allows.
func (b *Bot) resolveScriptLimits(f *flows.Flow, opts Options) {
	maxTime, maxMem := opts.MaxScriptTimeout, opts.MaxScriptMemory
	if maxTime <= 0 {
		maxTime = DefaultMaxScriptTimeout
	}
	if maxMem <= 0 {
		maxMem = DefaultMaxScriptMemory
	}
	warn := func(format string, args ...any) {
		b.lints = append(b.lints, flows.Lint{File: f.File, Line: f.Scripts.Pos.Line, Column: f.Scripts.Pos.Column, Level: flows.Warning,
			What: fmt.Sprintf(format, args...)})
	}
	b.limits = scriptLimits{timeout: opts.ScriptTimeout}
	if t := f.Scripts.Timeout; t > 0 {
		b.limits.timeout = min(t, maxTime)
		if t > maxTime {
			warn("scripts.timeout %s is more than this server allows; scripts get %s", t, maxTime)
		}
	}
	if m := f.Scripts.Memory; m > 0 {
		b.limits.memory = min(m, maxMem)
		if m > maxMem {
			warn("scripts.memory %dMiB is more than this server allows; scripts get %dMiB", m>>20, maxMem>>20)
		}
	}
}

// New compiles a flow's transitions into a finite-state machine and its
// scripts into programs, with default options.
func New(f *flows.Flow) *Bot { return NewWithOptions(f, Options{}) }

// NewWithOptions is New with options.
func NewWithOptions(f *flows.Flow, opts Options) *Bot {
	host := opts.Scripts
	if host == nil {
		host = script.Shared()
	}
	b := &Bot{flow: f, host: host,
		scripts: map[string]*script.Program{}, broken: map[string]error{}, contact: f.UsesContact(), meta: f.UsesConversation()}
	b.resolveScriptLimits(f, opts)
	for _, name := range f.Order {
		sc := f.States[name].Script
		if sc == nil {
			continue
		}
		prog, err := script.Compile(sc)
		if err != nil {
			b.broken[name] = err
			var se *script.Error
			if errors.As(err, &se) {
				b.lints = append(b.lints, flows.Lint{File: se.File, Line: se.Line, Column: se.Column, Level: flows.Error, What: se.Msg})
			}
			continue
		}
		b.scripts[name] = prog
		b.lints = append(b.lints, scriptReturnLints(f.States[name])...)
	}
	all := append([]string{newState}, f.Order...)
	b.events = append(b.events, fsm.EventDesc{Name: "start", Src: all, Dst: f.Start})
	for _, name := range f.Order {
		for _, e := range f.States[name].Edges() {
			b.events = append(b.events, fsm.EventDesc{Name: e.Trigger, Src: []string{name}, Dst: e.Target.State})
		}
	}
	for i, c := range f.Commands {
		b.events = append(b.events, fsm.EventDesc{Name: commandTrigger(i), Src: all, Dst: c.Goto.State})
	}
	for _, ev := range sortedKeys(f.On) {
		var src []string
		for _, name := range all {
			if st := f.States[name]; st == nil || st.On[ev].State == "" {
				src = append(src, name)
			}
		}
		b.events = append(b.events, fsm.EventDesc{Name: "on:" + ev, Src: src, Dst: f.On[ev].State})
	}
	b.pool.New = func() any { return fsm.NewFSM(newState, b.events, nil) }
	return b
}

func commandTrigger(i int) string { return "command:" + strconv.Itoa(i) }

// Lints lists the scripts that do not compile, as file:line:col errors.
// Their states take the error path when they run.
func (b *Bot) Lints() flows.Lints { return b.lints }

// UsesContact reports whether the flow may read contact data, so adapters
// can skip decoding it otherwise.
func (b *Bot) UsesContact() bool { return b.contact }

// Flow returns the compiled flow the bot runs.
func (b *Bot) Flow() *flows.Flow { return b.flow }

// Transition is one move of the machine during a turn.
type Transition struct {
	From    string
	Trigger string
	To      string
}

// Recovery says how a session that did not match the flow was handled.
type Recovery string

// Recoveries.
const (
	RecoveryNone      Recovery = ""
	RecoveryMigrated  Recovery = "migrated"  // older flow version, state still exists: continued
	RecoveryRestarted Recovery = "restarted" // state gone or context foreign: restarted politely
)

// Result is what one event produced.
type Result struct {
	Actions  []Action
	Session  Session
	Trace    []Transition
	Recovery Recovery
	Errors   []error // problems the flow handled (error paths taken); for logs
	Ignored  bool    // the event means nothing to the flow (unknown event, no handler, stale result)
	Job      *Job    // an HTTP request to make; the session waits for its result
	// Timer is the follow-up to arm for the state the turn ended in (its
	// next `on_silence` rule); nil: none, and any armed one is cancelled.
	Timer *Timer
}

// Restore prepares a session for this flow: it adopts sessions of this flow,
// marks older versions as migrated when their state still exists, and
// restarts foreign or broken ones. ok is false when the conversation must
// restart.
func (b *Bot) restore(s Session) (Session, Recovery, bool) {
	f := b.flow
	if s.Foreign {
		return Session{}, RecoveryRestarted, false
	}
	if s.Flow == "" && s.State == "" {
		return Session{}, RecoveryNone, true
	}
	if s.Flow != f.Name {
		return Session{}, RecoveryRestarted, false
	}
	if s.State != "" && f.States[s.State] == nil {
		t, ok := f.Migrate[s.State]
		if !ok || s.Version == f.ShortHash() {
			return Session{}, RecoveryRestarted, false
		}
		// Renamed or removed in this version: continue where the flow says.
		s.State, s.Pending, s.Retries, s.AwaitSeq = t.State, nil, 0, 0
		s.Version = f.ShortHash()
		return s, RecoveryMigrated, true
	}
	if s.Version != f.ShortHash() {
		s.Version = f.ShortHash()
		if st := f.States[s.State]; st != nil && st.Choice == nil {
			s.Pending = nil
		}
		return s, RecoveryMigrated, true
	}
	return s, RecoveryNone, true
}

// Step runs one event through the flow. It never panics on any session or
// event: what the flow cannot handle restarts or takes the error path.
func (b *Bot) Step(s Session, ev Event) Result { return b.StepContext(context.Background(), s, ev) }

// StepContext is Step whose scripts stop when ctx is done.
func (b *Bot) StepContext(ctx context.Context, s Session, ev Event) Result {
	return b.StepSealed(ctx, s, ev, nil)
}

// StepSealed is StepContext for a conversation whose context the runtime
// seals with keys (nil: unsigned): a variable is measured against the
// sealed context's size, so that one that would not fit takes the error
// path.
func (b *Bot) StepSealed(ctx context.Context, s Session, ev Event, keys *ContextKeys) Result {
	m := b.pool.Get().(*fsm.FSM)
	defer b.pool.Put(m)
	r := &run{bot: b, flow: b.flow, m: m, ev: ev, ctx: ctx, keys: keys}
	restored, rec, ok := b.restore(s)
	r.res.Recovery = rec
	r.s = restored.clone()
	if len(b.flow.Locales) > 1 {
		if l := b.flow.MatchLocale(ev.Locale); l != "" {
			r.s.Locale = l
		}
	}
	switch {
	case !ok:
		// The reply belonged to a conversation we lost: greet, don't guess.
		r.say(b.flow.Texts.Restart)
		r.begin(false)
	case ev.Name == EvStart || r.s.State == "":
		r.begin(ev.Name == EvStart || ev.Text != "" || ev.ClickID != "")
	default:
		r.handle()
	}
	r.s.Flow, r.s.Version = b.flow.Name, b.flow.ShortHash()
	if len(r.s.Vars) == 0 {
		r.s.Vars = nil
	}
	r.capMessages()
	if st := r.current(); r.s.Done || st == nil || st.Ask == nil && st.Choice == nil {
		r.s.Recent = "" // only a question or a choice reads late taps
	}
	r.res.Session = r.s
	r.res.Actions = r.out
	r.res.Timer = r.timer()
	return r.res
}

// clone copies a session so that Step never changes its caller's maps.
func (s Session) clone() Session {
	c := s
	if s.Vars != nil {
		c.Vars = make(map[string]string, len(s.Vars))
		for k, v := range s.Vars {
			c.Vars[k] = v
		}
	}
	if s.Pending != nil {
		p := *s.Pending
		p.Options = append([]PendingOption(nil), s.Pending.Options...)
		c.Pending = &p
	}
	return c // Recent is a string: leftChoice replaces it
}

// run is one turn in progress.
type run struct {
	ctx   context.Context
	goTo  string // the next state a script chose
	bot   *Bot
	flow  *flows.Flow
	m     *fsm.FSM
	s     Session
	ev    Event
	keys  *ContextKeys // the context's seal, for size checks (nil: unsigned)
	out   []Action
	res   Result
	steps int
	// stayedAfter is the next `on_silence` rule after one that fired in
	// state stayedIn (0: none fired); it is armed if the conversation
	// stays there.
	stayedAfter int
	stayedIn    string
	// picked is the option the turn's event answered a choice with (zero:
	// none); with ev.ClickID it makes a typed answer read as its click.
	picked picked
	// failed is set once the turn took the error path; a second failure
	// then only says the error text (once: erred) and stops the turn.
	failed, erred, stop bool
	// seen and visits remember the states entered in this turn: entering
	// the same state with the same variables again is a loop that can
	// never end, since the engine is deterministic.
	seen   uint64   // a bit per state entered (by a hash of its name)
	visits []uint64 // fingerprints of states entered again
}

// begin starts the flow from its start state. When the starting event carries
// a text (messaging channels send the first message with start), a global
// command or an option of the first choice may answer at once.
func (r *run) begin(withInput bool) {
	vars := r.s.Vars
	r.s = Session{Vars: vars, Locale: r.s.Locale} // the platform's locale outlives a restart
	if r.res.Recovery == RecoveryRestarted {
		r.s.Vars = nil
	}
	for _, a := range r.flow.Defaults {
		if _, set := r.s.Vars[a.Var]; set {
			continue
		}
		v, err := a.Value.Render(r.lookup)
		if err != nil {
			r.fail(fmt.Errorf("defaults: %s: %w", a.Var, err))
			return
		}
		if !r.setVar(a.Var, clean(v)) {
			return
		}
	}
	if withInput && r.command() {
		return
	}
	mark := len(r.out)
	r.fire("start")
	r.enter()
	st := r.current()
	if withInput && st != nil && st.Wait && len(st.Say) == 0 && r.ev.Name != EvStart && r.steps == 1 {
		// A message without a context, to a flow that starts by waiting
		// silently: the start said nothing, so the platform kept no
		// context; the message is the one the start waits for.
		r.seen, r.visits = 0, nil // the wait takes the input: what follows is a new chain
		r.answerStep(st.Waiting(), st)
		return
	}
	if !withInput || st == nil || st.Choice == nil || r.ev.Text == "" && r.ev.ClickID == "" {
		return
	}
	id, ok := r.s.Pending.Read(r.ev.Text)
	if r.ev.ClickID != "" && r.s.Pending.Has(r.ev.ClickID) {
		id, ok = r.ev.ClickID, true
	}
	if !ok || optionOf(st.Choice, id) == nil {
		return
	}
	// The first message already answers the first choice: drop the choice
	// just rendered and take the option.
	for i := len(r.out) - 1; i >= mark; i-- {
		if r.out[i].Kind == ActChoice {
			r.out = append(r.out[:i], r.out[i+1:]...)
			break
		}
	}
	r.seen, r.visits = 0, nil
	r.choose(st, id)
}

func (r *run) current() *flows.State { return r.flow.States[r.s.State] }

// handle processes an event for a conversation in progress.
func (r *run) handle() {
	switch r.ev.Name {
	case EvMessage, EvClick, EvMedia, EvLocation:
	case EvHTTPResult:
		if st := r.current(); st != nil {
			if k := st.Waiting(); k != nil && r.resultStep(k) {
				return
			}
		}
		r.res.Ignored = true
		return
	case EvSilence:
		r.silence()
		return
	case EvForwardFailed, EvCampaignUnsubscribe:
		if !r.on(r.ev.Name) {
			r.res.Ignored = true
		}
		return
	default:
		r.res.Ignored = true
		return
	}
	if r.command() {
		return
	}
	if r.s.Done {
		// The flow ended (or handed off) and the contact writes again: start over.
		r.begin(true)
		return
	}
	st := r.current()
	if k := st.Waiting(); k != nil {
		r.answerStep(k, st)
		return
	}
	r.begin(true)
}

// command fires the first global command the event matches.
func (r *run) command() bool {
	text := strings.TrimSpace(r.ev.Text)
	for i, c := range r.flow.Commands {
		hit := false
		if r.ev.Name == EvClick {
			hit = containsStr(c.Clicks, r.ev.ClickID)
		} else if text != "" {
			for _, k := range c.Match {
				if strings.EqualFold(strings.TrimSpace(k), text) {
					hit = true
				}
			}
			if !hit && c.Pattern != nil {
				hit = c.Pattern.MatchString(text)
			}
		}
		if hit {
			r.s.Done = false
			r.fire(commandTrigger(i))
			r.enter()
			return true
		}
	}
	return false
}

func containsStr(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// on takes a platform event's handler in the current state, else the flow's.
func (r *run) on(event string) bool {
	st := r.current()
	if st != nil && st.On[event].State != "" {
		r.s.Done = false
		r.fire("on:" + event)
		r.enter()
		return true
	}
	if r.flow.On[event].State != "" {
		r.s.Done = false
		r.fire("on:" + event)
		r.enter()
		return true
	}
	return false
}

func (r *run) answerChoice(st *flows.State) {
	if r.s.Pending == nil {
		// A context without the pending choice (migrated, or set up by a
		// test): read replies against the state's own options, unnumbered.
		r.s.Pending = r.pendingOf(st.Choice)
	}
	var id string
	var ok bool
	switch r.ev.Name {
	case EvClick:
		id = r.ev.ClickID
		ok = r.s.Pending.Has(id)
	case EvMessage:
		id, ok = r.s.Pending.Read(r.ev.Text)
		if !ok && len(r.flow.Locales) > 1 {
			id, ok = r.anyLocaleLabel(st.Choice)
		}
	case EvMedia, EvLocation:
		if r.on(r.ev.Name) {
			return
		}
	}
	if ok && optionOf(st.Choice, id) != nil {
		r.choose(st, id)
		return
	}
	if r.lateTap() {
		return
	}
	if st.Choice.Otherwise.State != "" {
		r.fire("otherwise")
		r.enter()
		return
	}
	if n := st.Choice.Retries; n > 0 {
		if r.s.Retries++; r.s.Retries >= n {
			r.fire("give_up")
			r.enter()
			return
		}
	}
	inv := st.Choice.Invalid
	if inv.IsZero() {
		inv = r.flow.Texts.Invalid
	}
	r.say(inv)
	r.offer(st)
}

// pendingOf lists a choice's options with their labels rendered.
func (r *run) pendingOf(c *flows.Choice) *Pending {
	p := &Pending{Options: make([]PendingOption, 0, len(c.Options))}
	for _, o := range c.Options {
		label, _ := o.Label.Render(r.lookup)
		p.Options = append(p.Options, PendingOption{ID: o.ID, Label: label})
	}
	return p
}

// anyLocaleLabel reads the event's text as an option's label in another of
// the flow's locales (the contact switched language after the choice was sent).
func (r *run) anyLocaleLabel(c *flows.Choice) (string, bool) {
	text := strings.TrimSpace(r.ev.Text)
	if text == "" {
		return "", false
	}
	for _, o := range c.Options {
		if r.labelIn(o, text) {
			return o.ID, true
		}
	}
	return "", false
}

func optionOf(c *flows.Choice, id string) *flows.Option {
	for _, o := range c.Options {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// choose takes option id of st's choice, however the contact picked it
// (a click, a typed number, a typed label): from here on the turn's event
// reads as a click on it (event.click, event.label, event.index), the
// choice's `save` receives the id, and the option's `goto` (or the state's
// `next`) moves on.
func (r *run) choose(st *flows.State, id string) {
	o := optionOf(st.Choice, id)
	r.ev.ClickID = id
	label, _ := o.Label.Render(r.lookup)
	r.picked = picked{label: label, index: slices.Index(st.Choice.Options, o) + 1}
	r.s.Pending = nil
	if c := st.Choice; c.Save != "" && !r.setVar(c.Save, id) {
		return
	}
	if !r.complete(st) {
		return
	}
	if o.Goto.State == "" {
		if !r.next(st) {
			r.s.Done = true
		}
		return
	}
	r.fire("option:" + id)
	r.enter()
}

// picked is the option a choice was answered with in this turn.
type picked struct {
	label string
	index int // 1-based; 0: no choice was answered
}

func (r *run) answerQuestion(st *flows.State) {
	q := st.Ask
	if (r.ev.Name == EvMedia && q.Expect != "media") || (r.ev.Name == EvLocation && q.Expect != "location") {
		if r.on(r.ev.Name) {
			return
		}
	}
	value, ok := answer(q, r.ev)
	if ok && q.Save != "" {
		ok = r.setVar(q.Save, value)
		if !ok {
			return
		}
	}
	if ok {
		if r.complete(st) {
			r.next(st)
		}
		return
	}
	if r.lateTap() {
		return
	}
	r.s.Retries++
	if q.Retries > 0 && r.s.Retries >= q.Retries {
		r.fire("give_up")
		r.enter()
		return
	}
	if !q.Invalid.IsZero() {
		r.say(q.Invalid)
		return
	}
	r.say(r.flow.Texts.Invalid)
	r.ask(q)
}

// setVar stores a variable unless the context would outgrow its limit; then
// it takes the error path and reports false.
func (r *run) setVar(name, value string) bool {
	if n, ok := r.flow.Sizes[name]; ok && len(value) > n && utf8.RuneCountInString(value) > n {
		r.fail(fmt.Errorf("variable %q refused: %d characters, more than its declared size (sizes: %d)", name, utf8.RuneCountInString(value), n))
		return false
	}
	if r.s.Vars == nil {
		r.s.Vars = map[string]string{}
	}
	old, had := r.s.Vars[name]
	r.s.Vars[name] = value
	if err := r.keys.fits(r.s); err != nil {
		if had {
			r.s.Vars[name] = old
		} else {
			delete(r.s.Vars, name)
		}
		r.fail(fmt.Errorf("variable %q refused: %w", name, err))
		return false
	}
	return true
}

// enter runs the states from the machine's current state until one waits or
// the flow ends.
func (r *run) enter() {
	for {
		if r.stop {
			return
		}
		r.steps++
		if r.steps > MaxStepsPerTurn {
			r.res.Errors = append(r.res.Errors, fmt.Errorf("state %q: more than %d states in one turn without waiting; is there a loop?", r.s.State, MaxStepsPerTurn))
			r.sayError()
			r.s.Done = true
			return
		}
		st := r.current()
		if st == nil {
			return
		}
		if r.looped(st) {
			r.res.Errors = append(r.res.Errors, fmt.Errorf("state %q: entered again in the same turn with the same variables; the states it passes through never wait, so it would loop forever", st.Name))
			r.sayError()
			r.s.Done = true
			return
		}
		r.s.Retries = 0
		r.s.Pending = nil
		r.s.Done = false
		r.s.AwaitSeq = 0 // a request of the state left behind is no longer awaited
		for i := range entering {
			if k := &entering[i]; st.Has(k) && !r.runStep(k, st) {
				return
			}
		}
		if k := st.Waiting(); k != nil {
			r.enterStep(k, st)
			return
		}
		if !r.complete(st) || r.s.Done {
			return // a step failed, or the state ended or handed off the conversation
		}
		if !r.next(st) {
			r.s.Done = true
			return
		}
	}
}

// next takes the first branch of `next` whose condition holds; it reports
// false when the state has nowhere to go.
func (r *run) next(st *flows.State) bool {
	goTo := r.goTo
	r.goTo = ""
	if goTo != "" && !slices.ContainsFunc(st.Next, func(b flows.Branch) bool { return b.Goto.State == goTo }) {
		r.fail(fmt.Errorf("state %q: the script returned %q, which is not one of the states its `next` lists", st.Name, goTo))
		return true
	}
	for i, b := range st.Next {
		if goTo != "" && b.Goto.State != goTo {
			continue
		}
		if goTo == "" && b.If != nil && !r.holds(b.If) {
			continue
		}
		r.fire(flows.BranchTrigger(i, b))
		if !st.Waits() {
			return true
		}
		r.enter()
		return true
	}
	return false
}

// complete runs a state's `set` and `do`. It reports false if a step failed
// (the error path was taken).
func (r *run) complete(st *flows.State) bool {
	for i := range completing {
		if k := &completing[i]; st.Has(k) && !r.runStep(k, st) {
			return false
		}
	}
	return true
}

// setVars runs a state's `set`; false means a step failed.
func (r *run) setVars(st *flows.State) bool {
	for _, a := range st.Set {
		v, err := a.Value.Render(r.lookup)
		if err != nil {
			r.fail(fmt.Errorf("state %q: set %s: %w", st.Name, a.Var, err))
			return false
		}
		if !r.setVar(a.Var, clean(v)) {
			return false
		}
	}
	return true
}

// act runs a state's `do`: its platform actions; false means a step failed.
func (r *run) act(st *flows.State) bool {
	for _, a := range st.Do {
		payload := make(map[string]any, len(a.Payload))
		for k, v := range a.Payload {
			out, err := v.Render(r.lookup)
			if err != nil {
				r.fail(fmt.Errorf("state %q: %s.%s: %w", st.Name, a.Name, k, err))
				return false
			}
			payload[k] = out
		}
		if a.Name == "delay" {
			sec, _ := payload["seconds"].(float64)
			r.out = append(r.out, Action{Kind: ActDelay, Seconds: sec})
			continue
		}
		r.out = append(r.out, Action{Kind: ActPlatform, Name: a.Name, Payload: payload})
		if flows.TerminalActions[a.Name] {
			r.s.Done = true
		}
	}
	return true
}

// fire moves the machine by trigger; the destination comes from the FSM.
func (r *run) fire(trigger string) {
	from := r.s.State
	if from == "" {
		from = newState
	}
	r.m.SetState(from)
	err := r.m.Event(context.Background(), trigger)
	var noTransition fsm.NoTransitionError
	if err != nil && !errors.As(err, &noTransition) {
		// Cannot happen for a checked flow; keep the conversation where it is.
		r.res.Errors = append(r.res.Errors, fmt.Errorf("state %q: %s: %w", from, trigger, err))
		return
	}
	to := r.m.Current()
	r.res.Trace = append(r.res.Trace, Transition{From: from, Trigger: trigger, To: to})
	if st := r.flow.States[from]; st != nil && st.Choice != nil && to != from {
		r.leftChoice(from) // its buttons may still be tapped
	}
	r.s.State = to
}

// fail takes the error path: the state's `on: error`, the flow's, or the
// error text while staying in the current state.
//
// A failure ends the chain of states the turn was running: the
// conversation waits for the contact's next message. A failure on the
// error path itself (the handler fails too) only says the error text, so
// one message never yields the error text twice.
func (r *run) fail(err error) {
	r.res.Errors = append(r.res.Errors, err)
	st := r.current()
	if !r.failed && ((st != nil && st.On["error"].State != "") || r.flow.On["error"].State != "") {
		if r.steps < MaxStepsPerTurn {
			r.failed = true
			r.fire("on:error")
			r.enter()
			r.stop = true
			return
		}
	}
	r.failed = true
	r.sayError()
	r.stop = true
}

// sayError says the flow's error text, at most once a turn.
func (r *run) sayError() {
	if !r.erred {
		r.erred = true
		r.say(r.flow.Texts.Error)
	}
}

// looped reports whether st was entered before in this turn with the
// same variables, and records this visit. An ordinary turn costs a bit
// test per state: only a state whose bit in seen is already set (entered
// before, or sharing a bit with one that was) is fingerprinted, so a loop
// is caught on its third time round.
func (r *run) looped(st *flows.State) bool {
	bit := uint64(1) << (fnv(fnvOffset, st.Name) & 63)
	if r.seen&bit == 0 {
		r.seen |= bit
		return false
	}
	h := fnvInt(fnv(fnv(fnvOffset, st.Name), r.ev.ClickID), varsHash(r.s.Vars))
	if slices.Contains(r.visits, h) {
		return true
	}
	r.visits = append(r.visits, h)
	return false
}

// isMessage reports whether an action is something the contact sees.
func isMessage(a Action) bool {
	switch a.Kind {
	case ActText, ActMedia, ActButtons, ActChoice:
		return true
	}
	return false
}

// capMessages keeps a turn within MaxMessagesPerTurn messages: past the
// limit, the last message kept is the error text and the rest is dropped.
func (r *run) capMessages() {
	if len(r.out) < MaxMessagesPerTurn {
		return
	}
	n := 0
	for i, a := range r.out {
		if !isMessage(a) {
			continue
		}
		n++
		if n == MaxMessagesPerTurn {
			rest := 0
			for _, b := range r.out[i:] {
				if isMessage(b) {
					rest++
				}
			}
			if rest == 1 {
				return
			}
			r.res.Errors = append(r.res.Errors, fmt.Errorf("state %q: the turn would send more than %d messages; the rest was dropped", r.s.State, MaxMessagesPerTurn))
			r.out = r.out[:i]
			r.erred = false
			r.sayError()
			return
		}
	}
}

func (r *run) say(t flows.Template) {
	text, err := t.Render(r.lookup)
	if err != nil || text == "" {
		return
	}
	r.out = append(r.out, Action{Kind: ActText, Text: text})
}

func (r *run) ask(q *flows.Question) {
	text, err := q.Prompt.Render(r.lookup)
	if err != nil {
		r.fail(err)
		return
	}
	r.out = append(r.out, Action{Kind: ActText, Text: text, Markdown: q.Markdown})
}

// sayAll renders a state's `say`; false means a step failed.
func (r *run) sayAll(st *flows.State) bool {
	for _, m := range st.Say {
		if !r.message(m) {
			return false
		}
	}
	return true
}

// message renders one `say` entry; false means a step failed.
func (r *run) message(m flows.Message) bool {
	text, err := m.Text.Render(r.lookup)
	if err != nil {
		r.fail(err)
		return false
	}
	url, err := m.URL.Render(r.lookup)
	if err != nil {
		r.fail(err)
		return false
	}
	switch m.Kind {
	case flows.MsgText:
		r.out = append(r.out, Action{Kind: ActText, Text: text})
	case flows.MsgMarkdown:
		r.out = append(r.out, Action{Kind: ActText, Text: text, Markdown: true})
	case flows.MsgImage, flows.MsgVideo, flows.MsgAudio, flows.MsgFile:
		r.out = append(r.out, Action{Kind: ActMedia, Media: &Media{Type: string(m.Kind), URL: url, Caption: text}})
	case flows.MsgNavigate:
		r.out = append(r.out, Action{Kind: ActNavigate, URL: url})
	case flows.MsgDelay:
		r.out = append(r.out, Action{Kind: ActDelay, Seconds: m.Seconds})
	case flows.MsgButtons:
		a := Action{Kind: ActButtons, Text: text}
		for _, b := range m.Buttons {
			label, err1 := b.Label.Render(r.lookup)
			u, err2 := b.URL.Render(r.lookup)
			if err := errors.Join(err1, err2); err != nil {
				r.fail(err)
				return false
			}
			a.Buttons = append(a.Buttons, URLButton{Label: label, URL: u})
		}
		r.out = append(r.out, a)
	}
	return true
}

// offer renders a choice and remembers it as pending.
func (r *run) offer(st *flows.State) {
	c := st.Choice
	ch := &Choice{Form: c.Form}
	var errs []error
	render := func(t flows.Template) string {
		s, err := t.Render(r.lookup)
		if err != nil {
			errs = append(errs, err)
		}
		return s
	}
	ch.Body, ch.Fallback = render(c.Body), render(c.Fallback)
	ch.Header, ch.Footer, ch.Button = render(c.Header), render(c.Footer), render(c.Button)
	pending := &Pending{Options: make([]PendingOption, 0, len(c.Options))}
	for _, o := range c.Options {
		opt := Option{ID: o.ID, Label: render(o.Label), Description: render(o.Description), Image: render(o.Image)}
		ch.Options = append(ch.Options, opt)
		pending.Options = append(pending.Options, PendingOption{ID: opt.ID, Label: opt.Label})
	}
	if len(errs) > 0 {
		r.fail(errors.Join(errs...))
		return
	}
	r.out = append(r.out, Action{Kind: ActChoice, Choice: ch})
	r.s.Pending = pending
}

// leftChoice remembers that the conversation left the choice of state
// name, newest first, for late taps (at most LateTapDepth choices).
func (r *run) leftChoice(name string) {
	if first, _, _ := strings.Cut(r.s.Recent, " "); first == name {
		return
	}
	recent, n := name, 1
	for other := range strings.FieldsSeq(r.s.Recent) {
		if other != name && n < LateTapDepth {
			recent += " " + other
			n++
		}
	}
	r.s.Recent = recent
}

// lateTap reads the event as a late tap on an earlier choice: a click on,
// or the typed label of, an option of one of the LateTapDepth choices the
// conversation left last (newest first). The conversation goes
// back to that choice's state and takes the option there. Callers try it
// only where the event is no valid answer to the current state, so a late
// tap never takes the place of one.
func (r *run) lateTap() bool {
	if r.ev.Name != EvClick && r.ev.Name != EvMessage {
		return false
	}
	text := strings.TrimSpace(r.ev.Text)
	seen := 0
	for name := range strings.FieldsSeq(r.s.Recent) {
		if name == r.s.State {
			continue
		}
		if seen++; seen > LateTapDepth {
			return false
		}
		st := r.flow.States[name]
		if st == nil || st.Choice == nil {
			continue // a state of an earlier version
		}
		for _, o := range st.Choice.Options {
			hit := r.ev.Name == EvClick && o.ID == r.ev.ClickID
			if r.ev.Name == EvMessage && text != "" {
				hit = r.labelIn(o, text)
			}
			if hit {
				r.res.Trace = append(r.res.Trace, Transition{From: r.s.State, Trigger: "late_tap", To: name})
				r.s.State, r.s.Retries = name, 0
				r.choose(st, o.ID)
				return true
			}
		}
	}
	return false
}

// lookup resolves template and condition variables.
func (r *run) lookup(path string) (string, bool) {
	root, rest, dotted := strings.Cut(path, ".")
	switch root {
	case "contact":
		v, ok := r.ev.Contact[rest]
		return v, ok
	case "conversation":
		v, ok := r.ev.Conversation[rest]
		return v, ok
	case "event":
		switch rest {
		case "text":
			return r.ev.Text, true
		case "click":
			return r.ev.ClickID, true
		case "media":
			return r.ev.MediaURL, true
		case "name":
			return r.ev.Name, true
		case "label":
			return r.picked.label, true
		case "index":
			if r.picked.index > 0 {
				return strconv.Itoa(r.picked.index), true
			}
			return "", true
		}
		return "", false
	case "channel":
		return r.ev.Channel, !dotted
	case flows.LocaleVar:
		if !dotted && len(r.flow.Locales) > 0 {
			return r.locale(), true
		}
	case "bot":
		v, ok := r.ev.Bot[rest]
		return v, ok
	}
	if dotted {
		return "", false
	}
	v, ok := r.s.Vars[path]
	return v, ok
}

// locale is the contact's language in a multilingual flow: the `locale`
// variable when it names one of the flow's locales, else the platform's
// locale (this event's, or the last one seen: Session.Locale), else the
// flow's first locale.
func (r *run) locale() string {
	if l := r.flow.MatchLocale(r.s.Vars[flows.LocaleVar]); l != "" {
		return l
	}
	if l := r.flow.MatchLocale(r.s.Locale); l != "" {
		return l
	}
	return r.flow.Locales[0]
}

// labelIn reports whether text is o's label in any of the flow's locales,
// so that a label typed in one language is the same click in every other.
func (r *run) labelIn(o *flows.Option, text string) bool {
	label, _ := o.Label.Render(r.lookup)
	if strings.EqualFold(strings.TrimSpace(label), text) {
		return true
	}
	for _, alt := range o.Label.Translations() {
		if l, _ := alt.Render(r.lookup); strings.EqualFold(strings.TrimSpace(l), text) {
			return true
		}
	}
	if len(r.flow.Locales) > 0 {
		l, _ := o.Label.In(r.flow.Locales[0]).Render(nil)
		return strings.EqualFold(strings.TrimSpace(l), text)
	}
	return false
}

// holds evaluates a condition.
func (r *run) holds(c *flows.Condition) bool {
	v, set := r.lookup(c.Var)
	switch c.Op {
	case "equals":
		return v == c.Value
	case "not_equals":
		return v != c.Value
	case "in":
		return containsStr(c.Values, v)
	case "matches":
		return c.Regexp != nil && c.Regexp.MatchString(v)
	case "present":
		return set && v != ""
	case "absent":
		return !set || v == ""
	case "greater_than", "less_than":
		a, err1 := strconv.ParseFloat(strings.TrimSpace(v), 64)
		b, err2 := strconv.ParseFloat(c.Value, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if c.Op == "greater_than" {
			return a > b
		}
		return a < b
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
