package engine

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

func load(t testing.TB, src string) *Bot {
	t.Helper()
	f, lints := flows.Parse("test.yaml", []byte(src), flows.Options{})
	if f == nil {
		t.Fatalf("flow does not load:\n%s", lints)
	}
	return New(f)
}

func loadFile(t testing.TB, path string) *Bot {
	t.Helper()
	f, err := flows.Load(path, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return New(f)
}

// convo drives a bot like the platform does: the session goes out through
// the context codec and comes back on the next event.
type convo struct {
	t   testing.TB
	bot *Bot
	ctx []byte
	res Result
}

func (c *convo) send(ev Event) []Action {
	c.t.Helper()
	s, err := DecodeContext(c.ctx)
	if err != nil {
		c.t.Fatalf("context does not decode: %v (%s)", err, c.ctx)
	}
	c.res = c.bot.Step(s, ev)
	ctx, err := EncodeContext(c.res.Session)
	if err != nil {
		c.t.Fatalf("context does not encode: %v", err)
	}
	c.ctx = ctx
	return c.res.Actions
}

func texts(as []Action) []string {
	var out []string
	for _, a := range as {
		switch a.Kind {
		case ActText:
			out = append(out, a.Text)
		case ActPlatform:
			b, _ := json.Marshal(a.Payload)
			out = append(out, a.Name+" "+string(b))
		case ActChoice:
			var ids []string
			for _, o := range a.Choice.Options {
				ids = append(ids, o.ID)
			}
			out = append(out, "choice "+a.Choice.Form+" "+strings.Join(ids, ","))
		}
	}
	return out
}

func expect(t *testing.T, got []Action, want ...string) {
	t.Helper()
	if g := texts(got); !reflect.DeepEqual(g, want) {
		t.Errorf("actions differ\n got: %q\nwant: %q", g, want)
	}
}

func msg(text string) Event   { return Event{Name: EvMessage, Text: text} }
func click(id string) Event   { return Event{Name: EvClick, ClickID: id} }
func start() Event            { return Event{Name: EvStart} }
func event(name string) Event { return Event{Name: name} }

func TestNameEmailForward(t *testing.T) {
	c := &convo{t: t, bot: loadFile(t, "../examples/name-email-forward.yaml")}
	expect(t, c.send(start()), "Welcome! I am a bot. What is your name?")
	expect(t, c.send(msg("Ada")), `contact_update {"name":"Ada"}`, "Hello Ada! Could you tell me your email as well?")
	expect(t, c.send(msg("not-an-email")), "That doesn't look like an email address — could you check it?")
	expect(t, c.send(msg("ada@example.com")), `contact_update {"email":"ada@example.com"}`,
		"Thanks! I'll forward you to a human now…", `forward_any {"on_failure":"feedback"}`)
	expect(t, c.send(event(EvForwardFailed)), "Sorry, nobody is available right now. We will get back to you by email.", "end {}")
}

func TestGiveUpAfterRetries(t *testing.T) {
	c := &convo{t: t, bot: loadFile(t, "../examples/name-email-forward.yaml")}
	c.send(start())
	c.send(msg("Ada"))
	c.send(msg("x"))
	c.send(msg("y"))
	got := c.send(msg("z")) // third invalid answer: retries: 3 → on_give_up: handoff
	expect(t, got, `forward_any {"on_failure":"feedback"}`)
	if c.res.Session.State != "handoff" {
		t.Errorf("state = %q, want handoff", c.res.Session.State)
	}
}

func TestCommandFromAnyState(t *testing.T) {
	c := &convo{t: t, bot: loadFile(t, "../examples/name-email-forward.yaml")}
	c.send(start())
	c.send(msg("Ada"))
	expect(t, c.send(msg("  Talk To A Human ")), `forward_any {"on_failure":"feedback"}`)
	expect(t, c.send(msg("restart")), "Welcome! I am a bot. What is your name?")
}

func TestCampaignKeywordAnyCaseAndStartText(t *testing.T) {
	for _, kw := range []string{"start", "START", "sTaRt"} {
		c := &convo{t: t, bot: loadFile(t, "../examples/campaign-signup.yaml")}
		expect(t, c.send(start()), "choice button_template start")
		expect(t, c.send(msg(kw)), `contact_update {"campaigns":true}`, "You've been subscribed to the campaign!")
		expect(t, c.send(msg("what?")), "I don't understand this, I will redirect you to support.", "forward_any {}")
	}
	// A messaging channel's start event may already carry the keyword.
	c := &convo{t: t, bot: loadFile(t, "../examples/campaign-signup.yaml")}
	expect(t, c.send(Event{Name: EvStart, Text: "Start"}), `contact_update {"campaigns":true}`, "You've been subscribed to the campaign!")
	c = &convo{t: t, bot: loadFile(t, "../examples/campaign-signup.yaml")}
	c.send(start())
	expect(t, c.send(click("start")), `contact_update {"campaigns":true}`, "You've been subscribed to the campaign!")
	expect(t, c.send(event(EvCampaignUnsubscribe))) // Userlike confirms the unsubscription itself
}

const menuFlow = `
name: menu
start: menu
states:
  menu:
    choice:
      text: "Pick a fruit"
      options:
        - {id: apple, label: Apple, goto: apple}
        - {id: pear, label: Pear, goto: pear}
  apple:
    say: "An apple."
    next: menu
  pear:
    say: "A pear."
    do: [end]
`

func TestChoiceReplies(t *testing.T) {
	c := &convo{t: t, bot: load(t, menuFlow)}
	expect(t, c.send(start()), "choice bubbles apple,pear")
	// Numbers count only when the options were shown numbered.
	expect(t, c.send(msg("2")), "Sorry, I didn't get that.", "choice bubbles apple,pear")
	s, _ := DecodeContext(c.ctx)
	s.Pending.Numbered = true
	c.ctx, _ = EncodeContext(s)
	expect(t, c.send(msg("2")), "A pear.", "end {}")

	c = &convo{t: t, bot: load(t, menuFlow)}
	c.send(start())
	expect(t, c.send(msg(" aPPle ")), "An apple.", "choice bubbles apple,pear")
	expect(t, c.send(click("nope")), "Sorry, I didn't get that.", "choice bubbles apple,pear")
	expect(t, c.send(click("pear")), "A pear.", "end {}")
	// After the end, writing again starts over.
	expect(t, c.send(msg("hi")), "choice bubbles apple,pear")
}

func TestStaleAndForeignContexts(t *testing.T) {
	bot := load(t, menuFlow)
	greeting := []string{"Sorry, I lost track of our conversation. Let's start again.", "choice bubbles apple,pear"}
	cases := map[string]Session{
		"foreign flow": {Flow: "other", Version: "x", State: "menu"},
		"state gone":   {Flow: "menu", Version: "old", State: "vanished"},
		"unreadable":   {Foreign: true},
	}
	for name, s := range cases {
		res := bot.Step(s, msg("Apple"))
		if got := texts(res.Actions); !reflect.DeepEqual(got, greeting) {
			t.Errorf("%s: got %q, want %q", name, got, greeting)
		}
		if res.Recovery != RecoveryRestarted {
			t.Errorf("%s: recovery = %q", name, res.Recovery)
		}
	}
	// An older version whose state still exists continues where it was.
	res := bot.Step(Session{Flow: "menu", Version: "old", State: "menu", Pending: &Pending{Options: []PendingOption{{"apple", "Apple"}}}}, msg("apple"))
	if res.Recovery != RecoveryMigrated || !reflect.DeepEqual(texts(res.Actions), []string{"An apple.", "choice bubbles apple,pear"}) {
		t.Errorf("migration: %q %q", res.Recovery, texts(res.Actions))
	}
	if res.Session.Version != bot.Flow().ShortHash() {
		t.Errorf("migrated session keeps old version %q", res.Session.Version)
	}
}

func TestGarbageContextDecodes(t *testing.T) {
	for _, raw := range []string{`"hello"`, `[1,2]`, `{"fb":1}`, `{"fb":2,"f":"x"}`, `{"fb":1,"f":"x","r":-5}`, `{"fb":1,"f":"x","x":{"a":1}}`, `{`} {
		s, err := DecodeContext([]byte(raw))
		if !errors.Is(err, ErrForeignContext) || !s.Foreign {
			t.Errorf("%s: got %+v, %v; want a foreign session", raw, s, err)
		}
	}
	for _, raw := range []string{``, `null`, `{}`, ` {} `} {
		s, err := DecodeContext([]byte(raw))
		if err != nil || !reflect.DeepEqual(s, Session{}) {
			t.Errorf("%q: got %+v, %v; want an empty session", raw, s, err)
		}
	}
}

// growFlow passes the static context bound (a variable set in a loop can
// only be bounded at run time) but grows with every turn.
const growFlow = `
name: grow
start: a
on:
  error: too_long
states:
  a:
    ask: "Tell me"
    save: one
    set: {all: "{{ all }}{{ one }}"}
    next: a
  too_long:
    say: "That was too much for me to remember."
    do: [end]
`

func TestVariableThatWouldOverflowContextTakesErrorPath(t *testing.T) {
	c := &convo{t: t, bot: load(t, growFlow)}
	c.send(start())
	long := strings.Repeat("€", 500) // 1,500 bytes per answer
	for i := 0; i < 20 && c.res.Session.State != "too_long"; i++ {
		c.send(msg(long))
	}
	expect(t, c.res.Actions, "That was too much for me to remember.", "end {}")
	if len(c.ctx) > MaxContextBytes {
		t.Errorf("context is %d bytes", len(c.ctx))
	}
	if len(c.res.Errors) == 0 || !strings.Contains(c.res.Errors[0].Error(), "all") {
		t.Errorf("the refusal should name the variable in Result.Errors: %v", c.res.Errors)
	}
}

func TestStepDoesNotChangeCallerSession(t *testing.T) {
	bot := load(t, menuFlow)
	s := Session{Flow: "menu", Version: bot.Flow().ShortHash(), State: "menu", Vars: map[string]string{"k": "v"},
		Pending: &Pending{Options: []PendingOption{{"apple", "Apple"}, {"pear", "Pear"}}}}
	before := s.clone()
	bot.Step(s, click("pear"))
	if !reflect.DeepEqual(s, before) {
		t.Errorf("Step changed its input session")
	}
}

func TestDeterministic(t *testing.T) {
	bot := loadFile(t, "../examples/name-email-forward.yaml")
	var first []byte
	for i := 0; i < 20; i++ {
		c := &convo{t: t, bot: bot}
		var all []string
		for _, ev := range []Event{start(), msg("Ada"), msg("bad"), msg("a@b.io")} {
			all = append(all, texts(c.send(ev))...)
		}
		b, _ := json.Marshal(append(all, string(c.ctx)))
		if first == nil {
			first = b
		} else if string(b) != string(first) {
			t.Fatalf("run %d differs:\n%s\n%s", i, b, first)
		}
	}
}

const branchFlow = `
name: branch
start: ask
states:
  ask:
    ask: "How many?"
    expect: number
    save: n
    next:
      - if: {var: n, greater_than: 10}
        goto: many
      - if: {var: n, in: ["1", "2"]}
        goto: few
      - goto: some
  many: {say: "many", do: [end]}
  few: {say: "few", do: [end]}
  some: {say: "some {{ n }} on {{ channel }}", do: [end]}
`

func TestBranching(t *testing.T) {
	for in, want := range map[string]string{"11": "many", "2": "few", "5,5": "some 5.5 on sms"} {
		c := &convo{t: t, bot: load(t, branchFlow)}
		c.send(start())
		ev := msg(in)
		ev.Channel = "sms"
		if got := texts(c.send(ev)); len(got) == 0 || got[0] != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}

func TestValidators(t *testing.T) {
	cases := []struct {
		expect, in, want string
		ok               bool
	}{
		{"email", "a@b.co", "a@b.co", true}, {"email", "a@b", "", false}, {"email", "a b@c.de", "", false},
		{"phone", "+49 (30) 123-456", "+4930123456", true}, {"phone", "12", "", false}, {"phone", "abc", "", false},
		{"number", "3,5", "3.5", true}, {"number", "NaN", "", false}, {"number", "0x10", "", false},
		{"yes_no", "Yes!", "yes", true}, {"yes_no", "nein", "no", true}, {"yes_no", "maybe", "", false},
		{"text", "  hi\x00 ", "hi", true}, {"text", "   ", "", false},
	}
	for _, c := range cases {
		q := &flows.Question{Expect: c.expect, MaxLength: flows.DefaultMaxLength[c.expect]}
		got, ok := answer(q, msg(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("%s %q: got %q %v, want %q %v", c.expect, c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestPendingRead(t *testing.T) {
	p := &Pending{Numbered: true, Options: []PendingOption{{"a", "Delivery status"}, {"b", "Opening hours"}}}
	for in, want := range map[string]string{"1": "a", " 2 ": "b", "delivery STATUS": "a", "3": "", "0": "", "01": "", "+1": "", "1.": "", "": ""} {
		got, ok := p.Read(in)
		if got != want || ok != (want != "") {
			t.Errorf("Read(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	var none *Pending
	if _, ok := none.Read("1"); ok {
		t.Errorf("nil pending matched")
	}
}

func TestUnknownEventIgnored(t *testing.T) {
	c := &convo{t: t, bot: load(t, menuFlow)}
	c.send(start())
	if got := c.send(event("typing_started")); len(got) != 0 || !c.res.Ignored {
		t.Errorf("unknown event produced %q (ignored=%v)", texts(got), c.res.Ignored)
	}
}

func TestLoopIsStopped(t *testing.T) {
	c := &convo{t: t, bot: load(t, "name: loop\nstart: a\nstates:\n  a: {say: x, next: b}\n  b: {next: [{if: {var: channel, equals: x}, goto: c}, {goto: a}]}\n  c: {do: [end]}\n")}
	// A repeated visit of a with the same variables is a certain loop:
	// stopped on its third time round, with the error text said once.
	expect(t, c.send(start()), "x", "x", "Sorry, something went wrong on my side. Let's try that again.")
	if len(c.res.Errors) != 1 {
		t.Errorf("a loop without waits must stop with one error; got %v", c.res.Errors)
	}
}

func TestRedeployMigrations(t *testing.T) {
	v1 := load(t, menuFlow)
	v2src := strings.Replace(menuFlow, "  menu:\n", "  fruit_menu:\n", 1)
	v2src = strings.ReplaceAll(v2src, "start: menu", "start: fruit_menu")
	v2src = strings.ReplaceAll(v2src, "next: menu", "next: fruit_menu")
	v2src += "migrate:\n  menu: fruit_menu\n"
	v2 := load(t, v2src)
	// A conversation on version 1 waits in "menu"; version 2 renamed it.
	s := v1.Step(Session{}, start()).Session
	res := v2.Step(s, msg("pear"))
	if res.Recovery != RecoveryMigrated || !reflect.DeepEqual(texts(res.Actions), []string{"A pear.", "end {}"}) {
		t.Errorf("renamed state: %q %q", res.Recovery, texts(res.Actions))
	}
	// Without a migration, a vanished state restarts politely.
	v3 := load(t, strings.Replace(v2src, "migrate:\n  menu: fruit_menu\n", "", 1))
	res = v3.Step(s, msg("pear"))
	if res.Recovery != RecoveryRestarted || len(res.Actions) == 0 || !strings.Contains(res.Actions[0].Text, "lost track") {
		t.Errorf("vanished state: %q %q", res.Recovery, texts(res.Actions))
	}
}
