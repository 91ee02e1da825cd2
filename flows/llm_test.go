package flows

import (
	"strings"
	"testing"
	"time"
)

// newKeysFlow uses timing, on_silence and llm; it is also a fuzz seed.
const newKeysFlow = `name: newkeys
start: greet
states:
  greet:
    ask: "What shall we talk about?"
    save: topic
    next: chat
    timing: {response_delay: 0.5, typing_speed: 30, typing_min: 0.2, typing_max: 3, segment: 200, aggregate: true, interrupt: false, quiet_hours: "22:00-08:00", time_zone: Europe/Berlin}
    on_silence:
      - after: 90s
        say: "Take your time."
      - after: 1h30m
        say: ["Still there?", {text: "I'll wait."}]
      - after: 24h
        say: "Bye for now."
        goto: bye
  chat:
    llm:
      system: "You are {{bot.name}}. {{bot.persona}} Talk about {{topic}}."
      prompt: "{{event.text}}"
      save: reply
      quiet: true
      history: 0
      max_tokens: 300
      temperature: 0.7
      timeout: 20
    say: "…"
    next: show
    on: {error: sorry}
  show:
    say: "{{reply}}"
    next: listen
  listen:
    wait: true
    next: chat
    on_silence:
      - after: 10m
        goto: bye
  sorry:
    say: "Sorry."
    next: listen
  bye:
    say: "Bye!"
    do: [end]
`

func mustParse(t *testing.T, src string) *Flow {
	t.Helper()
	f, lints := Parse("f.yaml", []byte(src), Options{})
	if f == nil {
		t.Fatalf("flow does not load:\n%s", lints)
	}
	return f
}

func TestParseNewKeys(t *testing.T) {
	f := mustParse(t, newKeysFlow)
	if len(f.Lints) > 0 {
		t.Errorf("unexpected lints:\n%s", f.Lints)
	}
	tm := f.States["greet"].Timing
	if tm == nil || *tm.ResponseDelay != 0.5 || *tm.TypingSpeed != 30 || *tm.TypingMin != 0.2 || *tm.TypingMax != 3 ||
		*tm.Segment != 200 || !*tm.Aggregate || *tm.Interrupt || *tm.QuietHours != "22:00-08:00" || *tm.TimeZone != "Europe/Berlin" {
		t.Errorf("timing: %+v", tm)
	}
	if f.States["chat"].Timing != nil {
		t.Errorf("a state without timing has one")
	}
	sl := f.States["greet"].Silence
	if len(sl) != 3 {
		t.Fatalf("silence rules: %+v", sl)
	}
	want := []time.Duration{90 * time.Second, 90 * time.Minute, 24 * time.Hour}
	for i, r := range sl {
		if r.After != want[i] {
			t.Errorf("rule %d: after %v, want %v", i, r.After, want[i])
		}
	}
	if sl[0].Pos != (Pos{Line: 10, Column: 9}) || len(sl[0].Say) != 1 || sl[0].Goto.State != "" {
		t.Errorf("rule 1: %+v", sl[0])
	}
	if len(sl[1].Say) != 2 || sl[1].Say[1].Text.Source != "I'll wait." {
		t.Errorf("rule 2: %+v", sl[1])
	}
	if sl[2].Goto != (Target{State: "bye", Pos: Pos{Line: 16, Column: 15}}) {
		t.Errorf("rule 3: %+v", sl[2].Goto)
	}
	l := f.States["chat"].LLM
	if l == nil || l.Pos != (Pos{Line: 19, Column: 7}) || l.System.Source != "You are {{bot.name}}. {{bot.persona}} Talk about {{topic}}." ||
		l.Prompt.Source != "{{event.text}}" || l.Save != "reply" || !l.Quiet || l.History != 0 || l.MaxTokens != 300 ||
		l.Temperature == nil || *l.Temperature != 0.7 || l.Timeout != 20 {
		t.Errorf("llm: %+v", l)
	}
	if !f.States["chat"].Waits() {
		t.Errorf("an llm state must wait")
	}
}

func TestLLMDefaults(t *testing.T) {
	f := mustParse(t, "name: f\nstart: a\nstates:\n  a: {llm: {}, next: a}\n")
	l := f.States["a"].LLM
	if l.History != DefaultLLMHistory || l.Timeout != DefaultLLMTimeout || l.MaxTokens != 0 || l.Temperature != nil ||
		l.Quiet || l.Save != "" || !l.System.IsZero() || !l.Prompt.IsZero() {
		t.Errorf("defaults: %+v", l)
	}
	if len(f.Lints) > 0 {
		t.Errorf("lints: %s", f.Lints)
	}
	// An llm state that ends the conversation needs no next.
	mustParse(t, "name: f\nstart: a\nstates:\n  a: {llm: {system: Say bye}, do: [end]}\n")
}

func TestSilenceEdges(t *testing.T) {
	f := mustParse(t, newKeysFlow)
	var got []string
	for _, e := range f.States["greet"].Edges() {
		got = append(got, e.Trigger+"→"+e.Target.State)
	}
	if strings.Join(got, " ") != "next→chat silence:2→bye" {
		t.Errorf("edges: %v", got)
	}
	// A state reached only by a silence rule is reachable.
	f = mustParse(t, "name: f\nstart: a\nstates:\n  a:\n    wait: true\n    next: a\n    on_silence: [{after: 5m, goto: b}]\n  b: {do: [end]}\n")
	if len(f.Lints) > 0 {
		t.Errorf("lints: %s", f.Lints)
	}
	if m := Mermaid(f); !strings.Contains(m, "silent 5m") {
		t.Errorf("the graph does not label the silence edge:\n%s", m)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{90 * time.Second: "1m30s", 10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Minute: "1h30m", 30 * time.Second: "30s"} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestContextBoundLLM(t *testing.T) {
	bound := func(src string) map[string]int {
		f := mustParse(t, src)
		_, vars := ContextBound(f)
		out := map[string]int{}
		for _, v := range vars {
			out[v.Name] = v.Bytes
		}
		return out
	}
	got := bound("name: f\nstart: a\nstates:\n  a: {llm: {system: hi}, next: a}\n")
	if got[HistoryVar] != MaxHistoryBytes+len(HistoryVar)+6 || len(got) != 1 {
		t.Errorf("history: %v", got)
	}
	got = bound("name: f\nstart: a\nstates:\n  a: {llm: {save: r, history: 0}, next: a}\n")
	if got["r"] != MaxLLMReply*bytesPerRune+len("r")+6 || len(got) != 1 {
		t.Errorf("save: %v", got)
	}
	// Saving a reply with the default history fits the platform's limit.
	if _, lints := Parse("f.yaml", []byte("name: f\nstart: a\nstates:\n  a: {llm: {save: r}, next: a}\n"), Options{}); len(lints) > 0 {
		t.Errorf("lints: %s", lints)
	}
	// Two saved replies and the transcript do not.
	_, lints := Parse("f.yaml", []byte("name: f\nstart: a\nstates:\n  a: {llm: {save: r}, next: b}\n  b: {llm: {save: s}, next: a}\n"), Options{})
	if !strings.Contains(lints.String(), "the context may grow to") {
		t.Errorf("lints: %s", lints)
	}
}

func TestPersona(t *testing.T) {
	f := Persona()
	if f == nil || Persona() != f {
		t.Fatal("Persona must return the same parsed flow")
	}
	if len(f.Lints) > 0 {
		t.Errorf("the persona flow has lints:\n%s", f.Lints)
	}
	if f.Name != "persona" || f.Start != "listen" || len(f.States) != 3 {
		t.Errorf("persona: %s %s %d states", f.Name, f.Start, len(f.States))
	}
	listen, reply := f.States["listen"], f.States["reply"]
	if !listen.Wait || listen.Timing == nil || *listen.Timing.ResponseDelay != 1.5 || *listen.Timing.Segment != 280 || !*listen.Timing.Interrupt {
		t.Errorf("listen: %+v", listen)
	}
	if _, err := listen.Timing.Check(); err != nil {
		t.Error(err)
	}
	if reply.LLM == nil || reply.LLM.History != DefaultLLMHistory || reply.On["error"].State != "sorry" {
		t.Errorf("reply: %+v", reply)
	}
	if vars := strings.Join(reply.LLM.System.Vars(), ","); vars != "bot.name,bot.persona" {
		t.Errorf("system prompt reads %s", vars)
	}
	if total, _ := ContextBound(f); total > MaxContextBytes {
		t.Errorf("persona context bound %d", total)
	}
}

func TestSchemaNewKeys(t *testing.T) {
	s := loadSchema(t)
	for name, src := range map[string]string{"newkeys": newKeysFlow, "persona": string(personaSource)} {
		if errs := validate(s, s, yamlToJSON(t, []byte(src)), "$"); len(errs) > 0 {
			t.Errorf("%s:\n%s", name, strings.Join(errs, "\n"))
		}
	}
	defs := s["$defs"].(map[string]any)
	for _, def := range []string{"timing", "silence", "llm"} {
		if _, ok := defs[def]; !ok {
			t.Errorf("the schema has no %s", def)
		}
	}
	state := defs["state"].(map[string]any)["properties"].(map[string]any)
	for _, key := range []string{"timing", "on_silence", "llm"} {
		if _, ok := state[key]; !ok {
			t.Errorf("the schema's state has no %s", key)
		}
	}
	bad := map[string]string{
		"after without unit":  "    on_silence: [{after: 10, say: hi}]\n",
		"after not duration":  "    on_silence: [{after: ten minutes, say: hi}]\n",
		"rule without after":  "    on_silence: [{say: hi}]\n",
		"unknown rule key":    "    on_silence: [{after: 1m, sya: hi}]\n",
		"timing unknown key":  "    timing: {typing_sped: 3}\n",
		"timing wrong type":   "    timing: {aggregate: yes please}\n",
		"llm unknown key":     "    llm: {modell: x}\n",
		"llm history decimal": "    llm: {history: 1.5}\n",
	}
	for name, extra := range bad {
		src := "name: f\nstart: a\nstates:\n  a:\n    wait: true\n    next: a\n" + extra
		if errs := validate(s, s, yamlToJSON(t, []byte(src)), "$"); len(errs) == 0 {
			t.Errorf("%s: the schema accepts it", name)
		}
		if _, lints := Parse("f.yaml", []byte(src), Options{}); !lints.HasErrors() {
			t.Errorf("%s: the linter accepts it", name)
		}
	}
}
