package engine

import (
	"strings"
	"testing"
)

const sorry = "Sorry, something went wrong on my side. Let's try that again."

// countMessages counts what the contact would see of a turn.
func countMessages(as []Action) int {
	n := 0
	for _, a := range as {
		if isMessage(a) {
			n++
		}
	}
	return n
}

// TestBadScriptReturnSaysErrorOnce: a script returning a state its `next`
// does not list used to re-run its state 64 times, each saying the error
// text; now the error is said once and the conversation waits.
func TestBadScriptReturnSaysErrorOnce(t *testing.T) {
	// The literal is built at run time, so validate cannot see it.
	c := &convo{t: t, bot: load(t, `
name: bad
start: pick
states:
  pick:
    script: 'return ["sum", "mary"].join("")'
    next: [{goto: done}]
  done: {say: ok, do: [end]}
`)}
	expect(t, c.send(start()), sorry)
	if len(c.res.Errors) != 1 || c.res.Session.State != "pick" {
		t.Errorf("errors %v, state %q: want one error, staying in pick", c.res.Errors, c.res.Session.State)
	}
}

// TestErrorHandlerThatFailsSaysErrorOnce: an `on: error` handler that
// fails too ends the turn with the error text, once.
func TestErrorHandlerThatFailsSaysErrorOnce(t *testing.T) {
	c := &convo{t: t, bot: load(t, `
name: bad
start: pick
on: {error: oops}
states:
  pick:
    script: 'throw new Error("no")'
    next: done
  oops:
    say: "Oops."
    script: 'throw new Error("again")'
    next: pick
  done: {say: ok, do: [end]}
`)}
	expect(t, c.send(start()), "Oops.", sorry)
	if len(c.res.Errors) != 2 {
		t.Errorf("errors %v: want two", c.res.Errors)
	}
}

// TestLoopWithChangingVarsIsCapped: a loop whose variables change every
// time round is not caught as a repeat; the message cap bounds it.
func TestLoopWithChangingVarsIsCapped(t *testing.T) {
	c := &convo{t: t, bot: load(t, `
name: count
start: a
states:
  a:
    say: "tick"
    script: 'vars.n = String(Number(vars.n || 0) + 1); return "b"'
    next: [{if: {var: n, greater_than: 1000}, goto: b}, {goto: b}]
  b: {next: a}
`)}
	got := c.send(start())
	if n := countMessages(got); n != MaxMessagesPerTurn {
		t.Errorf("%d messages, want at most %d", n, MaxMessagesPerTurn)
	}
	all := strings.Join(texts(got), "\n")
	if strings.Count(all, sorry) != 1 || !strings.HasSuffix(all, sorry) {
		t.Errorf("want the error text once, last; got %q", texts(got))
	}
}
