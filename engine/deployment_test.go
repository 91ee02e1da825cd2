package engine

import (
	"strings"
	"testing"
)

// TestDeploymentKeepsConversationsOnTheirVersion: v2 renames a state (with
// a migration), removes one (without) and adds one. Conversations in v1
// continue sensibly; none errors.
func TestDeploymentKeepsConversationsOnTheirVersion(t *testing.T) {
	v1src := `
name: shop
start: ask_name
states:
  ask_name: {ask: "Name?", save: name, next: ask_color}
  ask_color: {ask: "Color, {{ name }}?", save: color, next: ask_size}
  ask_size: {ask: "Size?", save: size, next: done}
  done: {say: "Thanks {{ name }}: {{ color }} {{ size }}", do: [end]}
`
	v2src := `
name: shop
start: ask_name
migrate:
  ask_color: ask_colour
states:
  ask_name: {ask: "Name?", save: name, next: ask_colour}
  ask_colour: {ask: "Colour, {{ name }}?", save: color, next: ask_fit}
  ask_fit: {ask: "Fit?", save: fit, next: done}
  done: {say: "Thanks {{ name }}: {{ color }} {{ fit }}", do: [end]}
`
	v1, v2 := load(t, v1src), load(t, v2src)
	d := NewDeployment(v2, v1)

	step := func(s Session, ev Event) Result { return d.For(s).Step(s, ev) }
	// Conversation A waits in ask_color (renamed, migrated): moves to v2.
	a := v1.Step(v1.Step(Session{}, start()).Session, msg("Ann")).Session
	if d.For(a) != v2 {
		t.Fatalf("a renamed state with a migration should move to v2")
	}
	r := step(a, msg("red"))
	if got := texts(r.Actions); len(got) != 1 || got[0] != "Fit?" || r.Session.Version != v2.Flow().ShortHash() {
		t.Errorf("A: %q on %s", got, r.Session.Version)
	}
	// Conversation B waits in ask_size (removed, no migration): stays on v1
	// until it reaches "done", which v2 has too.
	b := v1.Step(a, msg("blue")).Session
	if d.For(b) != v1 {
		t.Fatalf("a removed state without migration should stay on v1")
	}
	r = step(b, msg("XL"))
	if got := texts(r.Actions); len(got) != 2 || got[0] != "Thanks Ann: blue XL" || len(r.Errors) > 0 {
		t.Errorf("B: %q %v", got, r.Errors)
	}
	// Conversation C starts after the deploy: v2 throughout.
	c := step(Session{}, start()).Session
	if c.Version != v2.Flow().ShortHash() {
		t.Errorf("new conversation on %s", c.Version)
	}
	// An unknown version whose state is gone restarts politely on v2.
	r = step(Session{Flow: "shop", Version: "000000000000", State: "vanished"}, msg("x"))
	if r.Recovery != RecoveryRestarted || !strings.Contains(texts(r.Actions)[0], "lost track") {
		t.Errorf("unknown version: %q", texts(r.Actions))
	}
	if got := d.Versions(); len(got) != 1 || got[0] != v1.Flow().ShortHash() {
		t.Errorf("versions %v", got)
	}
}
