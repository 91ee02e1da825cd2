package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
)

func parseBot(t *testing.T, src string) *Bot {
	t.Helper()
	f, lints := flows.Parse("test.yaml", []byte(src), flows.Options{})
	if f == nil || lints.HasErrors() {
		t.Fatalf("flow does not parse:\n%s", lints)
	}
	return New(f)
}

func reply(seq int, text string) Event {
	return Event{Name: EvHTTPResult, HTTP: &HTTPResult{Seq: seq, Status: 200, Body: []byte(text)}}
}

func TestPersonaFlowTranscript(t *testing.T) {
	c := &convo{t: t, bot: New(flows.Persona())}
	bot := map[string]string{"name": "Anna", "persona": "You're energetic.\nAbout you:\n- age: 28"}
	send := func(ev Event) []Action { ev.Bot = bot; return c.send(ev) }
	expect(t, send(start()))
	if c.res.Job != nil {
		t.Fatalf("a job before the user spoke: %+v", c.res.Job)
	}
	expect(t, send(msg("hi there")))
	job := c.res.Job
	if job == nil || job.LLM == nil || job.Seq != 1 || job.Timeout != 30*time.Second {
		t.Fatalf("job = %+v", job)
	}
	if !strings.HasPrefix(job.LLM.System, "You are Anna. You're energetic.\nAbout you:\n- age: 28\n") {
		t.Errorf("system prompt: %q", job.LLM.System)
	}
	if got := job.LLM.Messages; len(got) != 1 || got[0] != (LLMMessage{Role: "user", Content: "hi there"}) {
		t.Errorf("messages: %+v", got)
	}
	expect(t, send(reply(1, "  Hey! Ready to sweat?\n\nLet's go.  ")), "Hey! Ready to sweat?\n\nLet's go.")
	if c.res.Session.State != "listen" {
		t.Fatalf("after the reply: state %q", c.res.Session.State)
	}
	// The next request carries the transcript.
	send(msg("yes"))
	want := []LLMMessage{{"user", "hi there"}, {"assistant", "Hey! Ready to sweat?\n\nLet's go."}, {"user", "yes"}}
	if got := c.res.Job.LLM.Messages; !equalMessages(got, want) {
		t.Errorf("messages: %+v", got)
	}
	// A message while the model thinks asks again; the first reply is stale.
	send(msg("actually, no"))
	if c.res.Job == nil || c.res.Job.Seq != 3 || len(c.res.Job.LLM.Messages) != 4 {
		t.Fatalf("re-asked job: %+v", c.res.Job)
	}
	if got := send(reply(2, "stale")); len(got) != 0 || !c.res.Ignored {
		t.Errorf("stale reply applied: %q", texts(got))
	}
	expect(t, send(reply(3, "No worries!")), "No worries!")
	// A failed request takes the flow's error path.
	send(msg("again"))
	expect(t, send(Event{Name: EvHTTPResult, HTTP: &HTTPResult{Seq: 4, Err: "llm endpoint answered 500"}}),
		"Sorry, I can't answer right now. Please write again in a moment.")
	if c.res.Session.State != "listen" || len(c.res.Errors) != 1 {
		t.Errorf("after the error: state %q, errors %v", c.res.Session.State, c.res.Errors)
	}
}

func TestLLMTranscriptIsBounded(t *testing.T) {
	b := parseBot(t, `
name: chat
start: listen
states:
  listen: {wait: true, next: reply}
  reply:
    llm: {system: "Be brief.", history: 4, save: last}
    next: listen
`)
	c := &convo{t: t, bot: b}
	c.send(start())
	long := strings.Repeat("é", 5000)
	for i := 1; i <= 6; i++ {
		c.send(msg(long))
		c.send(reply(i, long))
	}
	var hist []LLMMessage
	if err := json.Unmarshal([]byte(c.res.Session.Vars[flows.HistoryVar]), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) > 4 || len(c.res.Session.Vars[flows.HistoryVar]) > flows.MaxHistoryBytes {
		t.Errorf("transcript: %d messages, %d bytes", len(hist), len(c.res.Session.Vars[flows.HistoryVar]))
	}
	if n := len([]rune(c.res.Session.Vars["last"])); n != flows.MaxLLMReply {
		t.Errorf("saved reply: %d characters, want it cut to %d", n, flows.MaxLLMReply)
	}
	if len(c.ctx) > MaxContextBytes {
		t.Errorf("context: %d bytes", len(c.ctx))
	}
}

func equalMessages(a, b []LLMMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const silenceFlow = `
name: nudge
start: ask
states:
  ask:
    ask: What's your email?
    expect: email
    save: email
    next: thanks
    on_silence:
      - after: 10m
        say: Still there? I just need your email.
      - after: 1h
        say: I'll close this chat now.
        goto: bye
  thanks:
    say: Thanks!
    do: [end]
  bye:
    say: Bye!
    do: [end]
`

func TestSilenceRules(t *testing.T) {
	c := &convo{t: t, bot: parseBot(t, silenceFlow)}
	c.send(start())
	if tm := c.res.Timer; tm == nil || *tm != (Timer{State: "ask", Rule: 0, After: 10 * time.Minute}) {
		t.Fatalf("timer after start: %+v", tm)
	}
	silence := func(state string, rule int) Event {
		return Event{Name: EvSilence, Silence: &SilenceEvent{State: state, Rule: rule}}
	}
	expect(t, c.send(silence("ask", 0)), "Still there? I just need your email.")
	if tm := c.res.Timer; tm == nil || *tm != (Timer{State: "ask", Rule: 1, After: time.Hour, Continue: true}) {
		t.Fatalf("timer after the reminder: %+v", tm)
	}
	// An invalid answer is activity: the first rule is armed again.
	c.send(msg("nope"))
	if tm := c.res.Timer; tm == nil || tm.Rule != 0 || tm.Continue {
		t.Fatalf("timer after activity: %+v", tm)
	}
	// A timer for a rule or state the conversation is not in is ignored.
	for _, ev := range []Event{silence("thanks", 0), silence("ask", 7), {Name: EvSilence}} {
		if got := c.send(ev); len(got) != 0 || !c.res.Ignored {
			t.Errorf("%+v: applied %q", ev.Silence, texts(got))
		}
	}
	expect(t, c.send(silence("ask", 1)), "I'll close this chat now.", "Bye!", "end {}")
	if c.res.Timer != nil || !c.res.Session.Done {
		t.Errorf("after goodbye: timer %+v, done %v", c.res.Timer, c.res.Session.Done)
	}
	// A state without rules arms nothing.
	c2 := &convo{t: t, bot: parseBot(t, silenceFlow)}
	c2.send(start())
	c2.send(msg("ada@example.com"))
	if c2.res.Timer != nil {
		t.Errorf("timer after the flow ended: %+v", c2.res.Timer)
	}
}

// TestLLMTranscriptFitsItsBound: the transcript is measured as the context
// holds it (escaped twice), so text full of quotes and backslashes cannot
// push it past flows.MaxHistoryBytes, which flows.ContextBound counts.
func TestLLMTranscriptFitsItsBound(t *testing.T) {
	b := parseBot(t, `
name: chat
start: listen
states:
  listen: {wait: true, next: reply}
  reply:
    llm: {system: "Be brief.", history: 50}
    next: listen
`)
	c := &convo{t: t, bot: b}
	c.send(start())
	before := len(c.ctx)
	nasty := strings.Repeat(`"<\`, 400)
	for i := 1; i <= 5; i++ {
		c.send(msg(nasty))
		c.send(reply(i, nasty))
		if c.res.Session.State != "listen" || len(c.res.Errors) > 0 {
			t.Fatalf("turn %d: state %q, errors %v", i, c.res.Session.State, c.res.Errors)
		}
	}
	if grew := len(c.ctx) - before; grew > flows.MaxHistoryBytes+len(flows.HistoryVar)+6 {
		t.Errorf("the transcript takes %d bytes of the context, over its bound %d", grew, flows.MaxHistoryBytes)
	}
}

// TestSilenceRuleThatFailsMovesOn: a rule whose message cannot be rendered
// takes the error path once; the next rule is armed, not the same again.
func TestSilenceRuleThatFailsMovesOn(t *testing.T) {
	f, lints := flows.Parse("test.yaml", []byte(`
name: nudge
start: ask
states:
  ask:
    ask: What's your email?
    next: ask
    on_silence:
      - after: 10m
        say: "${env.FLOWBOT_TEST_UNSET_VARIABLE}"
      - after: 1h
        say: Bye.
`), flows.Options{Env: func(string) (string, bool) { return "", false }})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	c := &convo{t: t, bot: New(f)}
	c.send(start())
	c.send(Event{Name: EvSilence, Silence: &SilenceEvent{State: "ask", Rule: 0}})
	if len(c.res.Errors) != 1 {
		t.Fatalf("errors: %v", c.res.Errors)
	}
	if tm := c.res.Timer; tm == nil || tm.Rule != 1 || !tm.Continue {
		t.Fatalf("timer after a failed rule: %+v", tm)
	}
}

func TestUnsay(t *testing.T) {
	session := func(msgs ...LLMMessage) Session {
		return Session{Vars: map[string]string{flows.HistoryVar: encodeHistory(msgs), "name": "Ada"}}
	}
	reply := LLMMessage{Role: "assistant", Content: "One.\n\nTwo.\n\nThree."}
	hi := LLMMessage{Role: "user", Content: "hi"}
	for _, c := range []struct {
		name   string
		in     Session
		unsent []string
		want   []LLMMessage
		ok     bool
	}{
		{"the tail of a reply", session(hi, reply), []string{"Two.", "Three."}, []LLMMessage{hi, {"assistant", "One."}}, true},
		{"a whole reply", session(hi, reply), []string{"One.", "Two.", "Three."}, []LLMMessage{hi}, true},
		{"a flow's own message", session(hi, reply), []string{"Please choose:"}, nil, false},
		{"the model still thinking", session(hi, reply, LLMMessage{"user", "and?"}), []string{"Three."}, nil, false},
		{"no transcript", Session{}, []string{"Three."}, nil, false},
	} {
		out, ok := Unsay(c.in, c.unsent)
		if ok != c.ok {
			t.Errorf("%s: ok %v", c.name, ok)
			continue
		}
		if !ok {
			if out.Vars[flows.HistoryVar] != c.in.Vars[flows.HistoryVar] {
				t.Errorf("%s: changed the transcript", c.name)
			}
			continue
		}
		var got []LLMMessage
		json.Unmarshal([]byte(out.Vars[flows.HistoryVar]), &got)
		if !equalMessages(got, c.want) || out.Vars["name"] != "Ada" || c.in.Vars[flows.HistoryVar] == out.Vars[flows.HistoryVar] {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
}
