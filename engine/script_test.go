package engine

import (
	"strings"
	"testing"
	"time"
)

const diceFlow = `
name: dice
start: ask
states:
  ask:
    ask: "Roll?"
    save: input
    script: |
      vars.roll = String(Math.floor(Math.random() * 1e9));
      vars.at = String(Date.now());
    next: show
  show: {say: "{{ roll }} at {{ at }}", next: ask}
`

// TestScriptRandomIsPerTurn: Math.random is seeded from the turn, so the
// same flow, session and event give the same answer (a replay), while the
// next turn — or another conversation's — draws other numbers.
func TestScriptRandomIsPerTurn(t *testing.T) {
	bot := load(t, diceFlow)
	s := bot.Step(Session{}, start()).Session
	at := time.Unix(1700000000, 0)
	ev := msg("roll")
	ev.Now = at
	first := bot.Step(s, ev)
	again := bot.Step(s, ev)
	if got, want := texts(again.Actions), texts(first.Actions); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("the same turn twice: %q then %q", want, got)
	}
	if !strings.HasSuffix(texts(first.Actions)[0], " at 1700000000000") {
		t.Fatalf("Date.now is not the turn's time: %q", texts(first.Actions))
	}
	seen := map[string]bool{texts(first.Actions)[0]: true}
	next := first.Session
	for i := 0; i < 5; i++ {
		r := bot.Step(next, ev)
		seen[texts(r.Actions)[0]] = true
		next = r.Session
	}
	other := msg("roll!")
	other.Now = at
	seen[texts(bot.Step(s, other).Actions)[0]] = true
	if len(seen) != 7 {
		t.Fatalf("turns drew the same numbers: %v", seen)
	}
}

// TestScriptLimitsWithinServerCaps: a flow's scripts limits apply up to
// the server's caps, and asking for more is a warning naming what it gets.
func TestScriptLimitsWithinServerCaps(t *testing.T) {
	f := load(t, `
name: capped
start: a
scripts: {timeout: 5s, memory: 512MiB}
states:
  a: {say: "hi", do: [end]}
`).Flow()
	b := NewWithOptions(f, Options{MaxScriptTimeout: time.Second, MaxScriptMemory: 64 << 20})
	if b.limits.timeout != time.Second || b.limits.memory != 64<<20 {
		t.Fatalf("limits %+v", b.limits)
	}
	if got := b.Lints().String(); !strings.Contains(got, "scripts.timeout 5s is more than this server allows; scripts get 1s") ||
		!strings.Contains(got, "scripts.memory 512MiB is more than this server allows; scripts get 64MiB") {
		t.Fatalf("lints:\n%s", got)
	}
	if b := NewWithOptions(f, Options{MaxScriptTimeout: 10 * time.Second, MaxScriptMemory: 1 << 30}); b.limits.timeout != 5*time.Second || len(b.Lints()) != 0 {
		t.Fatalf("within the caps: %+v %s", b.limits, b.Lints())
	}
}
