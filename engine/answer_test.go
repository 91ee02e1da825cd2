package engine

import "testing"

// industryFlow saves a choice's answer and shows what a script and a
// template see of it; two options go on by the state's `next`.
const industryFlow = `
name: lead
start: industry
states:
  industry:
    choice:
      text: "Your industry?"
      save: industry
      retries: 2
      on_give_up: human
      options:
        - {id: retail, label: Retail}
        - {id: health, label: Health care}
        - {id: other, label: Something else, goto: human}
    script: |
      say("script: " + event.click + "|" + event.label + "|" + event.index + "|" + vars.industry);
    next: thanks
  thanks:
    say: "template: {{ event.click }}|{{ event.label }}|{{ event.index }}|{{ industry }}"
    do: [end]
  human:
    say: "A colleague will help you."
    do: [forward_any]
`

// TestChoiceAnswerIsData: a click, a typed number (on a numbered-text
// channel) and a typed label give scripts and templates the same answer.
func TestChoiceAnswerIsData(t *testing.T) {
	want := []string{"script: health|Health care|2|health", "template: health|Health care|2|health", "end {}"}
	for name, ev := range map[string]Event{
		"click":        click("health"),
		"typed number": msg("2"),
		"typed label":  msg(" health CARE "),
	} {
		t.Run(name, func(t *testing.T) {
			c := &convo{t: t, bot: load(t, industryFlow)}
			c.send(start())
			s, _ := DecodeContext(c.ctx)
			s.Pending.Numbered = true // as the SMS renderer marks it
			c.ctx, _ = EncodeContext(s)
			expect(t, c.send(ev), want...)
			if got := c.res.Session.Vars["industry"]; got != "health" {
				t.Errorf("industry = %q, want health", got)
			}
		})
	}
}

// TestChoiceRetriesGiveUp: retries counts answers that are none of the
// options, as on a question; the last goes to on_give_up.
func TestChoiceRetriesGiveUp(t *testing.T) {
	c := &convo{t: t, bot: load(t, industryFlow)}
	c.send(start())
	expect(t, c.send(msg("banana")), "Sorry, I didn't get that.", "choice bubbles retail,health,other")
	expect(t, c.send(msg("kiwi")), "A colleague will help you.", `forward_any {}`)
	if c.res.Session.State != "human" {
		t.Errorf("state = %q, want human", c.res.Session.State)
	}
	// An option with its own goto still takes it, after the state
	// completes (its script runs), and the id is saved.
	c = &convo{t: t, bot: load(t, industryFlow)}
	c.send(start())
	expect(t, c.send(msg("Something else")), "script: other|Something else|3|other", "A colleague will help you.", `forward_any {}`)
	if s := c.res.Session; s.State != "human" || s.Vars["industry"] != "other" {
		t.Errorf("state %q vars %v, want human with industry=other", s.State, s.Vars)
	}
}

// TestSilentStartTakesTheMessage: a flow that starts by waiting silently
// says nothing to the start event, so the platform keeps no context; the
// next message, arriving without one, is the one the start waits for.
func TestSilentStartTakesTheMessage(t *testing.T) {
	c := &convo{t: t, bot: load(t, `
name: echo
start: listen
states:
  listen: {wait: true, next: reply}
  reply: {say: "You said {{ event.text }}.", next: listen}
`)}
	expect(t, c.send(start()))
	c.ctx = nil // the platform kept nothing
	expect(t, c.send(msg("hi")), "You said hi.")
	expect(t, c.send(msg("again")), "You said again.")
}

// TestDeclaredSizeIsEnforced: a value longer than `sizes` declares takes
// the error path, so the context budget validate computed holds.
func TestDeclaredSizeIsEnforced(t *testing.T) {
	c := &convo{t: t, bot: load(t, `
name: sized
start: ask
sizes: {code: 3}
states:
  ask: {ask: "Code?", save: code, next: done}
  done: {say: "Code {{ code }}.", do: [end]}
`)}
	c.send(start())
	expect(t, c.send(msg("abcd")), "Sorry, something went wrong on my side. Let's try that again.")
	if _, set := c.res.Session.Vars["code"]; set || len(c.res.Errors) != 1 {
		t.Errorf("vars %v errors %v: the long value must be refused", c.res.Session.Vars, c.res.Errors)
	}
	expect(t, c.send(msg("abc")), "Code abc.", "end {}")
}

// TestDefaultsAndTemplateDefaults: `defaults` are set before anything
// runs, even a global command on the first message; a template default
// stands in for an unset or empty variable.
func TestDefaultsAndTemplateDefaults(t *testing.T) {
	src := `
name: defaults
start: hello
defaults: {tier: basic}
commands:
  - {match: [status], goto: status}
states:
  hello:
    say: "Hi {{ contact.name | default: \"there\" }}!"
    next: status
  status:
    say: "Tier {{ tier }}."
    do: [end]
`
	c := &convo{t: t, bot: load(t, src)}
	expect(t, c.send(Event{Name: EvMessage, Text: "status"}), "Tier basic.", "end {}")
	c = &convo{t: t, bot: load(t, src)}
	expect(t, c.send(Event{Name: EvStart, Contact: map[string]string{"name": ""}}), "Hi there!", "Tier basic.", "end {}")
	c = &convo{t: t, bot: load(t, src)}
	expect(t, c.send(Event{Name: EvStart, Contact: map[string]string{"name": "Ada"}}), "Hi Ada!", "Tier basic.", "end {}")
}
