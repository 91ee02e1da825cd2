package flowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
)

// Recording writes a conversation, as it happened, as a test that passes
// when it is run: each contact action becomes a turn, every packet the bot
// sent becomes an expectation (exact texts, choices by option ids, other
// packets by name and payload), the state after each turn is asserted,
// and each HTTP or llm request the flow made becomes a mock with the
// answer it got. `flowbot chat --record`, the playground and
// `flowbot replay --as-test` all write tests through it.
//
// A Recording is safe for concurrent use.
type Recording struct {
	mu       sync.Mutex
	test     Test
	env      map[string]string
	secrets  map[string]string // secret value → its placeholder
	mocked   map[string]int    // a mock's request key → its index in test.HTTP
	warnings []string
}

// NewRecording starts recording a test named name on channel ch. A
// conversation that starts mid-flow gives the state and variables it
// starts from ("" and nil for the flow's start).
func NewRecording(name, ch, state string, vars map[string]string) *Recording {
	t := Test{Name: name, State: state}
	if ch != "" && ch != channels.Web {
		t.Channels = []string{ch}
	}
	if len(vars) > 0 {
		t.Vars = make(map[string]string, len(vars))
		for k, v := range vars {
			t.Vars[k] = v
		}
	}
	return &Recording{test: t, env: map[string]string{}, secrets: map[string]string{}, mocked: map[string]int{}}
}

// secretName reports whether an environment variable looks like a
// credential, whose value must not be written into a test file.
var secretName = regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH)`)

// Env wraps the environment the flow is compiled with, so that the test
// file carries the values the flow read. Values of variables named like
// credentials (…TOKEN, …SECRET, …KEY, …PASSWORD) are written as a
// placeholder, also where they appear inside a recorded URL.
func (r *Recording) Env(outer flows.EnvFunc) flows.EnvFunc {
	return func(name string) (string, bool) {
		if outer == nil {
			return "", false
		}
		v, ok := outer(name)
		if !ok {
			return v, ok
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if secretName.MatchString(name) && v != "" {
			placeholder := "recorded-" + strings.ToLower(name)
			r.secrets[v] = placeholder
			r.env[name] = placeholder
		} else {
			r.env[name] = v
		}
		return v, ok
	}
}

// KeepEnv carries over the environment another recording saw, for a
// conversation started again with the same compiled flow (whose
// environment was read once, when it loaded).
func (r *Recording) KeepEnv(from *Recording) {
	from.mu.Lock()
	env, secrets := maps.Clone(from.env), maps.Clone(from.secrets)
	from.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	maps.Copy(r.env, env)
	maps.Copy(r.secrets, secrets)
}

// Answerer wraps the answerer that makes (or mocks) the flow's requests,
// so that each request and its answer become a mock of the test.
func (r *Recording) Answerer(next Answerer) Answerer {
	return func(job *engine.Job) (engine.HTTPResult, error) {
		res, err := next(job)
		if err == nil {
			r.mock(job, res)
		}
		return res, err
	}
}

// mock records the answer to one request. A request answered twice the
// same way is one mock; answered differently, the first answer is kept
// (mocks answer by the first match) and a warning says so.
func (r *Recording) mock(job *engine.Job, res engine.HTTPResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m Mock
	var key string
	if job.LLM != nil {
		text := lastUserMessage(job.LLM.Messages)
		pattern := text
		if isPattern(text) {
			pattern = "/^" + regexp.QuoteMeta(text) + "$/"
		}
		m.LLM = &pattern
		if res.Err != "" {
			m.Error = res.Err
		} else {
			reply := string(res.Body)
			m.Reply = &reply
		}
		key = "llm " + text
	} else {
		m.Method, m.URL = job.Method, r.unsecret(job.URL)
		if isPattern(m.URL) {
			m.URL = "/^" + regexp.QuoteMeta(m.URL) + "$/"
		}
		switch {
		case res.Err != "":
			m.Error = res.Err
		default:
			if res.Status != 200 {
				m.Status = res.Status
			}
			var v any
			if len(res.Body) > 0 && json.Unmarshal(res.Body, &v) == nil && v != nil {
				m.JSON = v
			} else {
				m.Body = string(res.Body)
			}
		}
		key = job.Method + " " + job.URL
	}
	if i, ok := r.mocked[key]; ok {
		if !sameMock(r.test.HTTP[i], m) {
			r.warnings = append(r.warnings, fmt.Sprintf("%s was answered differently a second time; the test keeps the first answer (mocks answer by the first match), so a later turn may not pass as recorded", key))
		}
		return
	}
	r.mocked[key] = len(r.test.HTTP)
	r.test.HTTP = append(r.test.HTTP, m)
}

// unsecret replaces recorded credentials inside s by their placeholders.
func (r *Recording) unsecret(s string) string {
	for v, placeholder := range r.secrets {
		s = strings.ReplaceAll(s, v, placeholder)
	}
	return s
}

func sameMock(a, b Mock) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func lastUserMessage(msgs []engine.LLMMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	return ""
}

// Turn records one event and what the bot answered to it.
func (r *Recording) Turn(ev engine.Event, ex ExchangeResult) error {
	t, err := turnOf(ev)
	if err != nil {
		return err
	}
	for _, p := range ex.Rendered.Packets {
		t.Expect = append(t.Expect, expectOf(p))
	}
	t.State = ex.Result.Session.State
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.test.Turns) == 0 {
		// The runner plays every turn at one clock, the test's `now`.
		if !ev.Now.IsZero() {
			r.test.Now = ev.Now.UTC().Truncate(time.Second).Format(time.RFC3339)
		}
		if len(ev.Contact) > 0 {
			r.test.Contact = ev.Contact
		}
	}
	r.test.Turns = append(r.test.Turns, t)
	return nil
}

// Turns is the number of turns recorded so far.
func (r *Recording) Turns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.test.Turns)
}

// Warnings lists what the recording could not keep exactly.
func (r *Recording) Warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.warnings...)
}

// turnOf is the test turn that plays ev again.
func turnOf(ev engine.Event) (Turn, error) {
	var t Turn
	switch ev.Name {
	case engine.EvStart:
		start := "start"
		t.Send = &start
	case engine.EvMessage:
		if ev.Text == "start" {
			return t, fmt.Errorf("the message %q cannot be recorded: a test reads `send: start` as the start event", ev.Text)
		}
		text := ev.Text
		t.Send = &text
	case engine.EvClick:
		t.Click = ev.ClickID
	case engine.EvMedia:
		t.Media = ev.MediaURL
	case engine.EvLocation:
		t.Location = ev.Location
	case engine.EvSilence:
		t.Silence = &Silence{}
	default:
		t.Event = ev.Name
	}
	return t, nil
}

// expectOf is the expectation a packet meets exactly.
func expectOf(p channels.Packet) Expect {
	m := payloadMap(p.Payload)
	if p.Name == channels.PacketMessage {
		if body, ok := m["body"].(string); ok {
			return Expect{Text: &body}
		}
	}
	if opts, ok := m["options"].([]any); ok {
		ids := []string{}
		for _, o := range opts {
			if om, ok := o.(map[string]any); ok {
				id, _ := om["id"].(string)
				ids = append(ids, id)
			}
		}
		return Expect{Choice: ids}
	}
	return Expect{Event: p.Name, Payload: m}
}

// File is the recorded test in a test file for the flow at flowPath (as
// the test file should name it: relative to where the file is written).
func (r *Recording) File(flowPath string) File {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.test
	if t.Name == "" {
		t.Name = "recorded conversation" // a test file's tests have names
	}
	f := File{Flow: flowPath, Tests: []Test{t}}
	if len(r.env) > 0 {
		f.Env = make(map[string]string, len(r.env))
		for k, v := range r.env {
			f.Env[k] = v
		}
	}
	return f
}

// Write writes a test file as YAML that RunFile reads back to the same
// tests.
func Write(w io.Writer, f File) error {
	var b bytes.Buffer
	b.WriteString("# Conversation tests: flowbot test FILE\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// MarshalYAML writes an expectation in the short form where there is one.
func (e Expect) MarshalYAML() (any, error) {
	switch {
	case e.Text != nil:
		return *e.Text, nil
	case e.Match != nil:
		return map[string]string{"match": e.Match.String()}, nil
	case e.Choice != nil:
		ids := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, id := range e.Choice {
			ids.Content = append(ids.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: id})
		}
		return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "choice"}, ids}}, nil
	}
	out := map[string]any{"event": e.Event}
	if len(e.Payload) > 0 {
		out["payload"] = e.Payload
	}
	return out, nil
}

// MarshalYAML writes `true`, or the duration the follow-up is due after.
func (s Silence) MarshalYAML() (any, error) {
	if s.After == 0 {
		return true, nil
	}
	return flows.ShortDuration(s.After), nil
}
