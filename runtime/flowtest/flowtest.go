// Package flowtest runs conversation tests written in YAML against flows,
// without a server: each turn goes through the engine and the channel
// renderer exactly as `flowbot serve` would (through runtime/turn), and the
// context is serialized and read back between turns, as the chat platform
// echoes it.
//
// A test file sits beside its flow as NAME_test.yaml:
//
//	env: {ORDER_API_URL: http://orders.test}
//	tests:
//	  - name: order found
//	    channels: [web, sms]
//	    state: ask_order
//	    http:
//	      - url: http://orders.test/orders/A-12345
//	        json: {status: shipped}
//	    turns:
//	      - send: A-12345
//	        expect:
//	          - "Thanks! Let me check order A-12345…"
//	          - match: "^Order A-12345: shipped"
//	          - choice: [delivery, returns, hours, human]
//	        state: menu
//
// docs/testing.md is the reference of the format; Fields is the one list
// of its keys, from which the strict parser (Parse, RunFile) knows them
// and the reference in the docs is made. Every problem of a test file is
// reported at its file:line:col. Recording writes a conversation as a test
// file; Coverage tells what tests reached of their flows.
package flowtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/turn"
)

// File is a parsed test file.
type File struct {
	Flow  string            `yaml:"flow,omitempty"`
	Env   map[string]string `yaml:"env,omitempty"` // ${env.NAME} values for the flow; they win over the process environment
	Tests []Test            `yaml:"tests,omitempty"`
}

// Test is one conversation.
type Test struct {
	Name     string            `yaml:"name,omitempty"`
	Channels []string          `yaml:"channels,omitempty"`
	Locales  []string          `yaml:"locales,omitempty"` // platform locales to run the test in, each as contact.locale (none: the contact's own)
	State    string            `yaml:"state,omitempty"`
	Vars     map[string]string `yaml:"vars,omitempty"`
	Contact  map[string]string `yaml:"contact,omitempty"`
	// Conversation is the platform's metadata every event carries
	// (conversation.NAME in flows, e.g. approach_mode: proactive).
	Conversation map[string]string `yaml:"conversation,omitempty"`
	Now          string            `yaml:"now,omitempty"` // RFC 3339; the clock scripts see
	HTTP         []Mock            `yaml:"http,omitempty"`
	Turns        []Turn            `yaml:"turns,omitempty"`
}

// Mock answers an HTTP step (URL set) or an llm step (LLM set).
type Mock struct {
	Method string `yaml:"method,omitempty"` // default: any
	URL    string `yaml:"url,omitempty"`    // exact, or a regular expression between slashes
	// Request, when set, is what the request must carry.
	Request *Request `yaml:"request,omitempty"`
	Status  int      `yaml:"status,omitempty"` // default 200
	JSON    any      `yaml:"json,omitempty"`
	Body    string   `yaml:"body,omitempty"`
	Error   string   `yaml:"error,omitempty"` // a network error (or failed llm request) instead of an answer

	// LLM makes this an llm mock: it answers llm steps whose last user
	// message is this text (exact, or a regular expression between
	// slashes; "" for any message).
	LLM *string `yaml:"llm,omitempty"`
	// Reply is the model's reply (llm mocks).
	Reply *string `yaml:"reply,omitempty"`
	// SystemContains, when set, must occur in the request's system prompt.
	SystemContains string `yaml:"system_contains,omitempty"`
	// HistoryContains, when set, must occur in a message of the transcript
	// before the last user message.
	HistoryContains string `yaml:"history_contains,omitempty"`
	// Line is the mock's line in its file.
	Line int `yaml:"-"`
}

// UnmarshalYAML reads a mock and remembers its line (the strict parser
// has checked its keys).
func (m *Mock) UnmarshalYAML(n *yaml.Node) error {
	type plain Mock
	var raw plain
	if err := n.Decode(&raw); err != nil {
		return err
	}
	*m = Mock(raw)
	m.Line = n.Line
	return nil
}

// checkPattern compiles a matcher written as a regular expression between slashes.
func checkPattern(pattern string) error {
	if !isPattern(pattern) {
		return nil
	}
	_, err := regexp.Compile(pattern[1 : len(pattern)-1])
	return err
}

func isPattern(s string) bool {
	return len(s) > 1 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/")
}

// Turn is what the contact does and what the bot must answer.
type Turn struct {
	Send     *string           `yaml:"send,omitempty"`
	Click    string            `yaml:"click,omitempty"`
	Media    string            `yaml:"media,omitempty"`
	Location *engine.Location  `yaml:"location,omitempty"`
	Event    string            `yaml:"event,omitempty"`
	Silence  *Silence          `yaml:"silence,omitempty"`
	Expect   []Expect          `yaml:"expect,omitempty"`
	State    string            `yaml:"state,omitempty"`
	Vars     map[string]string `yaml:"vars,omitempty"`
	Line     int               `yaml:"-"`
}

// Silence is a turn in which the contact stays silent until the armed
// follow-up fires: `silence: true`, or `silence: DURATION` to also check
// how long after the contact's last message that follow-up is due.
type Silence struct {
	After time.Duration // 0: any
}

// UnmarshalYAML reads `true` or a duration.
func (s *Silence) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseSilence(n)
	*s = v
	return err
}

// Expect is one expected packet.
type Expect struct {
	Text    *string        // a message with exactly this body
	Match   *regexp.Regexp // a message whose body matches
	Choice  []string       // a choice with these option ids (numbered text: these labels' numbers)
	Event   string         // a packet of this name …
	Payload map[string]any // … whose payload contains these fields
}

// UnmarshalYAML reads the short and long forms of an expectation.
func (e *Expect) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s := n.Value
		e.Text = &s
		return nil
	}
	var raw struct {
		Text    *string        `yaml:"text,omitempty"`
		Match   string         `yaml:"match,omitempty"`
		Choice  []string       `yaml:"choice,omitempty"`
		Event   string         `yaml:"event,omitempty"`
		Payload map[string]any `yaml:"payload,omitempty"`
	}
	if err := n.Decode(&raw); err != nil {
		return err
	}
	e.Text, e.Choice, e.Event, e.Payload = raw.Text, raw.Choice, raw.Event, raw.Payload
	if raw.Match != "" {
		re, err := regexp.Compile(raw.Match)
		if err != nil {
			return fmt.Errorf("line %d: match: %v", n.Line, err)
		}
		e.Match = re
	}
	return nil
}

func (e Expect) String() string {
	switch {
	case e.Text != nil:
		return fmt.Sprintf("text %q", *e.Text)
	case e.Match != nil:
		return fmt.Sprintf("text matching /%s/", e.Match)
	case e.Choice != nil:
		return fmt.Sprintf("choice [%s]", strings.Join(e.Choice, ", "))
	}
	b, _ := json.Marshal(e.Payload)
	if e.Payload == nil {
		return e.Event
	}
	return e.Event + " " + string(b)
}

// Failure is one failed test on one channel.
type Failure struct {
	File    string
	Test    string
	Channel string
	Turn    int    // 1-based
	Line    int    // the turn's line in the test file
	Diff    string // what differs, readable
}

func (f Failure) String() string {
	return fmt.Sprintf("%s:%d: %s [%s] turn %d:\n%s", f.File, f.Line, f.Test, f.Channel, f.Turn, indent(f.Diff))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// Report is the outcome of running test files.
type Report struct {
	Passed   int // (test, channel) runs that passed
	Failures []Failure
}

// IsTestFile reports whether a file name is a conversation test.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}

// Find lists the test files in paths (files, or folders searched one level deep).
func Find(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() && IsTestFile(e.Name()) {
				out = append(out, filepath.Join(p, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Parse reads a test file strictly: every unknown key (with a hint for
// typos), value of the wrong shape and impossible combination is an
// error at its file:line:col, and all of them are listed. RunFile also
// checks what the file names in its flow (states, channels, options,
// variables).
func Parse(path string, src []byte) (File, error) {
	tf, _, l := parse(path, src)
	return tf, l.err()
}

// parse reads a test file and returns it, its YAML tree (nil if it is
// not YAML) and its problems so far.
func parse(path string, src []byte) (File, *yaml.Node, *linter) {
	l := &linter{file: path}
	var tf File
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		l.yamlError(err)
		return tf, nil, l
	}
	if len(doc.Content) == 0 {
		l.lints = append(l.lints, flows.Lint{File: path, Line: 1, Column: 1, Level: flows.Error, What: "the file is empty; a test file has tests: (see docs/testing.md)"})
		return tf, nil, l
	}
	expandMerges(&doc, map[*yaml.Node]bool{})
	l.check(resolve(doc.Content[0]), "file")
	if err := doc.Decode(&tf); err != nil && len(l.lints) == 0 {
		l.yamlError(err)
	}
	turnLines(&doc, &tf)
	return tf, &doc, l
}

// ParseMocks reads a file holding a list of mocks, in the format of a
// test's `http:` (flowbot chat --mocks), as strictly as a test file.
func ParseMocks(path string, src []byte) ([]Mock, error) {
	l := &linter{file: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		l.yamlError(err)
		return nil, l.err()
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	l.value("http", resolve(doc.Content[0]), Field{Key: "http", Kind: StructSeq, Child: "mock"})
	var mocks []Mock
	if err := doc.Decode(&mocks); err != nil && len(l.lints) == 0 {
		l.yamlError(err)
	}
	return mocks, l.err()
}

// FlowPath is the flow a test file tests: its `flow:`, relative to the
// file, or the file's name without _test.
func FlowPath(testPath string, tf File) string {
	flowPath := tf.Flow
	if flowPath == "" {
		base := filepath.Base(testPath)
		flowPath = strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
		flowPath = strings.TrimSuffix(flowPath, "_test") + ".yaml"
	}
	if !filepath.IsAbs(flowPath) {
		flowPath = filepath.Join(filepath.Dir(testPath), flowPath)
	}
	return flowPath
}

// RunFile runs one test file. Load problems (a broken test file or flow) are
// returned as an error listing each; failing conversations are in the report.
func RunFile(path string, opts flows.Options) (Report, error) {
	rep, _, err := run(path, RunOptions{Flows: opts})
	return rep, err
}

// RunOptions says how Run runs a test file.
type RunOptions struct {
	Flows flows.Options // parsing the flow: ${env.NAME} lookups
	// Coverage, when not nil, is told what each conversation reached.
	Coverage *Coverage
	// Locales runs every test that names no `locales:` once in each of
	// these platform locales (flowbot test --locale), as if it named them.
	Locales []string
}

// Run runs one test file as RunFile does, with more options.
func Run(path string, o RunOptions) (Report, error) {
	rep, _, err := run(path, o)
	return rep, err
}

// run runs one test file, telling o.Coverage (if not nil) what each run reached.
func run(path string, o RunOptions) (Report, *engine.Bot, error) {
	opts, cov := o.Flows, o.Coverage
	src, err := os.ReadFile(path)
	if err != nil {
		return Report{}, nil, err
	}
	tf, doc, l := parse(path, src)
	if doc == nil {
		return Report{}, nil, l.err()
	}
	if len(tf.Env) > 0 {
		outer := opts.Env
		opts.Env = func(name string) (string, bool) {
			if v, ok := tf.Env[name]; ok {
				return v, true
			}
			if outer != nil {
				return outer(name)
			}
			return "", false
		}
	}
	flowPath := FlowPath(path, tf)
	if _, err := os.Stat(flowPath); err != nil {
		l.missingFlow(doc, path, flowPath)
		return Report{}, nil, l.err()
	}
	bot, _, err := compile.File(flowPath, compile.Options{Flows: opts})
	if err != nil {
		if le, ok := err.(*flows.LoadError); ok && len(l.lints) > 0 {
			l.lints = append(l.lints, le.Lints.Errors()...)
			return Report{}, nil, l.err()
		}
		if len(l.lints) > 0 {
			return Report{}, nil, fmt.Errorf("%w\n%v", l.err(), err)
		}
		return Report{}, nil, err
	}
	l.against(doc, bot.Flow())
	if err := l.err(); err != nil {
		return Report{}, nil, err
	}
	env := func(name string) string {
		if opts.Env == nil {
			return ""
		}
		v, _ := opts.Env(name)
		return v
	}
	var rep Report
	for _, t := range tf.Tests {
		chans := t.Channels
		if len(chans) == 0 {
			chans = []string{channels.Web}
		}
		if len(t.Locales) == 0 {
			t.Locales = o.Locales
		}
		for _, lt := range inLocales(t) {
			for _, ch := range chans {
				if f := runTest(bot, lt, ch, env, cov); f != nil {
					f.File = path
					rep.Failures = append(rep.Failures, *f)
				} else {
					rep.Passed++
				}
			}
		}
	}
	return rep, bot, nil
}

// inLocales is the test once per locale it names, the platform's locale
// given as contact.locale and named in the test's name; the test itself
// when it names none.
func inLocales(t Test) []Test {
	if len(t.Locales) == 0 {
		return []Test{t}
	}
	out := make([]Test, 0, len(t.Locales))
	for _, loc := range t.Locales {
		lt := t
		lt.Name = fmt.Sprintf("%s [%s]", t.Name, loc)
		lt.Contact = maps.Clone(t.Contact)
		if lt.Contact == nil {
			lt.Contact = map[string]string{}
		}
		lt.Contact["locale"] = loc
		out = append(out, lt)
	}
	return out
}

// turnLines records each turn's line for failure messages.
func turnLines(doc *yaml.Node, tf *File) {
	if len(doc.Content) == 0 {
		return
	}
	tests := mapValue(doc.Content[0], "tests")
	if tests == nil {
		return
	}
	for i, tn := range tests.Content {
		if i >= len(tf.Tests) {
			break
		}
		turns := mapValue(tn, "turns")
		if turns == nil {
			continue
		}
		for j, turn := range turns.Content {
			if j < len(tf.Tests[i].Turns) {
				tf.Tests[i].Turns[j].Line = turn.Line
			}
		}
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// runTest plays one conversation on one channel.
func runTest(bot *engine.Bot, t Test, ch string, env func(string) string, cov *Coverage) *Failure {
	flow := bot.Flow()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if t.Now != "" {
		if parsed, err := time.Parse(time.RFC3339, t.Now); err == nil {
			now = parsed
		}
	}
	var ctx []byte
	if t.State != "" || len(t.Vars) > 0 {
		s := engine.Session{Flow: flow.Name, Version: flow.ShortHash(), State: t.State, Vars: t.Vars}
		var err error
		if ctx, err = engine.EncodeContext(s); err != nil {
			return &Failure{Test: t.Name, Channel: ch, Diff: err.Error()}
		}
	}
	// The follow-up the last turn armed; a test that starts in a state
	// starts as if the contact had just got there.
	var timer *engine.Timer
	state, done := t.State, false
	cov.start(flow, t.State)
	mocks := withEnv(t.HTTP, env)
	if st := flow.States[state]; st != nil && len(st.Silence) > 0 {
		timer = &engine.Timer{State: state, After: st.Silence[0].After}
	}
	for i, turn := range t.Turns {
		fail := func(format string, args ...any) *Failure {
			return &Failure{Test: t.Name, Channel: ch, Turn: i + 1, Line: turn.Line, Diff: fmt.Sprintf(format, args...)}
		}
		ev, err := turn.event(now, ch, t.Contact)
		if err != nil {
			return fail("%v", err)
		}
		ev.Conversation = t.Conversation
		if l := t.Conversation["locale"]; l != "" {
			ev.Locale = l // the platform's locale: the conversation's, else the contact's
		}
		if turn.Silence != nil {
			if timer == nil {
				return fail("silence: %s", noTimer(flow, state, done))
			}
			if turn.Silence.After != 0 && timer.After != turn.Silence.After {
				return fail("silence: the armed follow-up (rule %d of %q) is due after %s, not %s", timer.Rule+1, timer.State, flows.ShortDuration(timer.After), flows.ShortDuration(turn.Silence.After))
			}
			ev.Silence = &engine.SilenceEvent{State: timer.State, Rule: timer.Rule}
		}
		ex, err := Exchange(bot, ctx, ev, func(job *engine.Job) (engine.HTTPResult, error) { return Answer(mocks, job) })
		if err != nil {
			return fail("%v", err)
		}
		cov.trace(flow, ex.Result.Trace)
		ctx = ex.Context
		r, res := ex.Rendered, ex.Result
		timer, state, done = res.Timer, res.Session.State, res.Session.Done
		if d := compare(turn.Expect, r.Packets, choicesOf(ex.Actions)); d != "" {
			return fail("%s", d)
		}
		if turn.State != "" && res.Session.State != turn.State {
			return fail("state: want %q, got %q", turn.State, res.Session.State)
		}
		for k, want := range turn.Vars {
			if got := res.Session.Vars[k]; got != want {
				return fail("variable %s: want %q, got %q", k, want, got)
			}
		}
	}
	return nil
}

// noTimer explains why a silence turn has no follow-up to fire.
func noTimer(flow *flows.Flow, state string, done bool) string {
	st := flow.States[state]
	switch {
	case state == "":
		return "the conversation has not started, so no `on_silence` rule is armed"
	case done:
		return fmt.Sprintf("the conversation ended in state %q, so no `on_silence` rule is armed", state)
	case st == nil || len(st.Silence) == 0:
		return fmt.Sprintf("the state %q has no `on_silence` rule armed (give it one, or let the contact write instead)", state)
	}
	return fmt.Sprintf("the state %q has no `on_silence` rule armed: its rules have already fired (a message from the contact arms the first again)", state)
}

func (turn Turn) event(now time.Time, ch string, contact map[string]string) (engine.Event, error) {
	ev := engine.Event{Channel: ch, Contact: contact, Locale: contact["locale"], Now: now}
	n := 0
	if turn.Send != nil {
		ev.Name, ev.Text = engine.EvMessage, *turn.Send
		if *turn.Send == "start" && turn.Event == "" {
			ev.Name, ev.Text = engine.EvStart, ""
		}
		n++
	}
	if turn.Click != "" {
		ev.Name, ev.ClickID = engine.EvClick, turn.Click
		n++
	}
	if turn.Media != "" {
		ev.Name, ev.MediaURL = engine.EvMedia, turn.Media
		n++
	}
	if turn.Location != nil {
		ev.Name, ev.Location = engine.EvLocation, turn.Location
		n++
	}
	if turn.Event != "" {
		if turn.Event == engine.EvSilence {
			return ev, fmt.Errorf("event: silence carries no rule; write silence: true to let the armed follow-up fire")
		}
		ev.Name = turn.Event
		n++
	}
	if turn.Silence != nil {
		ev.Name = engine.EvSilence
		n++
	}
	if n != 1 {
		return ev, fmt.Errorf("a turn needs exactly one of send, click, media, location, event or silence")
	}
	return ev, nil
}

// ExchangeResult is the outcome of Exchange.
type ExchangeResult struct {
	Result   engine.Result     // the last step's result (Session is the final one)
	Actions  []engine.Action   // every action of the exchange, jobs' results included
	Rendered channels.Rendered // the actions as the channel shows them
	Context  []byte            // the encoded context after the exchange
}

// Answerer makes (or mocks) the HTTP or llm request of a job.
type Answerer func(*engine.Job) (engine.HTTPResult, error)

// Exchange plays one event against a bot the way a server does, through
// the same turn (runtime/turn): restore the session from the context,
// step, answer jobs (at most turn.MaxChainedJobs in a row; the next gets
// an error result, as in both server modes), render for the event's
// channel, remember whether a choice was numbered, and encode the new
// context. A click given by label is mapped to its id. A context that
// would be too big is an error (a server restarts the conversation).
func Exchange(bot *engine.Bot, contextJSON []byte, ev engine.Event, answer Answerer) (ExchangeResult, error) {
	var out ExchangeResult
	s, cerr := engine.DecodeContext(contextJSON)
	if ev.Name == engine.EvClick && s.Pending != nil && !s.Pending.Has(ev.ClickID) {
		for _, o := range s.Pending.Options {
			if strings.EqualFold(o.Label, ev.ClickID) {
				ev.ClickID = o.ID
			}
		}
	}
	var failed error
	jobs := turn.RunnerFunc(func(_ context.Context, job *engine.Job) engine.HTTPResult {
		if failed != nil {
			return engine.HTTPResult{Seq: job.Seq, Err: failed.Error()}
		}
		res, err := answer(job)
		if err != nil {
			failed = err
			return engine.HTTPResult{Seq: job.Seq, Err: err.Error()}
		}
		return res
	})
	o, err := turn.Run(context.Background(), turn.Request{Deployment: engine.NewDeployment(bot), Session: &s, ContextErr: cerr, Event: ev, Jobs: jobs})
	if err != nil {
		return out, err
	}
	if failed != nil {
		return out, failed
	}
	if o.TooBig {
		return out, fmt.Errorf("the context does not fit: %w", engine.ErrContextTooBig)
	}
	out.Result, out.Actions, out.Rendered, out.Context = o.Result, o.Result.Actions, o.Rendered, o.Context
	return out, nil
}

// compare checks the packets against the expectations and describes every
// difference. choices are the choices the bot sent (before rendering), for
// telling which options a numbered text lists.
func compare(want []Expect, got []channels.Packet, choices []*engine.Choice) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		switch {
		case i >= len(got):
			fmt.Fprintf(&b, "- want %s\n+ got nothing\n", want[i])
		case i >= len(want):
			fmt.Fprintf(&b, "- want nothing more\n+ got  %s\n", describe(got[i]))
		default:
			if why := matches(want[i], got[i], choices); why != "" {
				fmt.Fprintf(&b, "- want %s\n+ got  %s\n  (%s)\n", want[i], describe(got[i]), why)
			}
		}
	}
	return b.String()
}

// choicesOf lists the choices among actions.
func choicesOf(actions []engine.Action) []*engine.Choice {
	var out []*engine.Choice
	for _, a := range actions {
		if a.Kind == engine.ActChoice && a.Choice != nil {
			out = append(out, a.Choice)
		}
	}
	return out
}

func describe(p channels.Packet) string {
	b, _ := json.Marshal(p.Payload)
	return p.Name + " " + string(b)
}

// payloadMap turns any payload into generic JSON data.
func payloadMap(p any) map[string]any {
	b, _ := json.Marshal(p)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// textOf is the text a packet shows: a message's (or a choice's, or URL
// buttons') body, a media's caption; ok is false for packets without text
// (platform actions, navigate, delay).
func textOf(p channels.Packet, m map[string]any) (text string, ok bool) {
	for _, k := range []string{"body", "caption"} {
		if s, isText := m[k].(string); isText {
			return s, true
		}
	}
	return "", false
}

func matches(e Expect, p channels.Packet, choices []*engine.Choice) string {
	m := payloadMap(p.Payload)
	text, hasText := textOf(p, m)
	switch {
	case e.Text != nil:
		if !hasText {
			return "a packet without text"
		}
		if text != *e.Text {
			return "different text"
		}
	case e.Match != nil:
		if !hasText {
			return "a packet without text"
		}
		if !e.Match.MatchString(text) {
			return "text does not match"
		}
	case e.Choice != nil:
		return matchChoice(e.Choice, p, m, choices)
	default:
		if p.Name != e.Event {
			return "different event"
		}
		for _, k := range sortedKeys(e.Payload) {
			if !sameJSON(e.Payload[k], m[k]) {
				return fmt.Sprintf("payload field %s differs", k)
			}
		}
	}
	return ""
}

// matchChoice checks a packet against a choice's option ids, however the
// channel shows it: the ids of clickable options, or — for a numbered
// text — one "N. Label" line for each option, in order, with the labels
// of the choice the bot sent with those ids.
func matchChoice(ids []string, p channels.Packet, m map[string]any, choices []*engine.Choice) string {
	if p.Name == channels.PacketMessage {
		body, _ := m["body"].(string)
		var sent *engine.Choice
		var offered []string
		for _, c := range choices {
			got := optionIDs(c)
			if slices.Equal(got, ids) {
				sent = c
				break
			}
			offered = append(offered, "["+strings.Join(got, ", ")+"]")
		}
		if sent == nil {
			if len(offered) == 0 {
				return "not a choice: the bot sent no choice in this turn"
			}
			return "the bot sent no choice with these options; it sent " + strings.Join(offered, " and ")
		}
		lines := strings.Split(body, "\n")
		start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "1. ") })
		if start < 0 {
			return "not a numbered list of options"
		}
		for i, o := range sent.Options {
			want := strconv.Itoa(i+1) + ". " + o.Label
			if start+i >= len(lines) || lines[start+i] != want && !strings.HasPrefix(lines[start+i], want+" — ") {
				return fmt.Sprintf("numbered line %d is not %q (option %s)", i+1, want, o.ID)
			}
		}
		if start+len(sent.Options) < len(lines) && strings.HasPrefix(lines[start+len(sent.Options)], strconv.Itoa(len(sent.Options)+1)+". ") {
			return fmt.Sprintf("more than %d numbered options", len(sent.Options))
		}
		return ""
	}
	opts, ok := m["options"].([]any)
	if !ok {
		return "not a choice"
	}
	var got []string
	for _, o := range opts {
		if om, ok := o.(map[string]any); ok {
			id, _ := om["id"].(string)
			got = append(got, id)
		}
	}
	if !slices.Equal(got, ids) {
		return fmt.Sprintf("options [%s]", strings.Join(got, ", "))
	}
	return ""
}

func optionIDs(c *engine.Choice) []string {
	out := make([]string, len(c.Options))
	for i, o := range c.Options {
		out[i] = o.ID
	}
	return out
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
