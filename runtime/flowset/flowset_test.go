package flowset

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/compile"
)

const v1 = `name: shop
start: ask_name
states:
  ask_name: {ask: "Name?", save: name, next: ask_color}
  ask_color: {ask: "Color, {{ name }}?", save: color, next: ask_size}
  ask_size: {ask: "Size?", save: size, next: done}
  done: {say: "Thanks {{ name }}: {{ color }} {{ size }}", do: [end]}
`

// v2 renames ask_color (with a migration), removes ask_size and adds ask_fit.
const v2 = `name: shop
start: ask_name
migrate:
  ask_color: ask_colour
states:
  ask_name: {ask: "Name?", save: name, next: ask_colour}
  ask_colour: {ask: "Colour, {{ name }}?", save: color, next: ask_fit}
  ask_fit: {ask: "Fit?", save: fit, next: done}
  done: {say: "Thanks {{ name }}: {{ color }} {{ fit }}", do: [end]}
`

const v3broken = `name: shop
start: ask_name
states:
  ask_name: {ask: "Name?", save: name, next: ask_colr}
`

func write(t *testing.T, dir, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// turn steps a conversation the way the server does: pick the version for
// the session, step, and carry the context through the codec.
func turn(t *testing.T, set *Set, ctx []byte, ev engine.Event) ([]byte, engine.Result) {
	t.Helper()
	s, _ := engine.DecodeContext(ctx)
	res := set.Get("shop").For(s).Step(s, ev)
	out, err := engine.EncodeContext(res.Session)
	if err != nil {
		t.Fatal(err)
	}
	return out, res
}

func texts(r engine.Result) []string {
	var out []string
	for _, a := range r.Actions {
		if a.Kind == engine.ActText {
			out = append(out, a.Text)
		}
	}
	return out
}

func TestRedeploy(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, v1)
	store := NewMemoryStore()
	set, _, err := Load(context.Background(), dir, Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(s string) engine.Event { return engine.Event{Name: engine.EvMessage, Text: s} }
	v1hash := set.Get("shop").Current().Flow().ShortHash()
	// Three conversations mid-flow on version 1.
	a, _ := turn(t, set, nil, engine.Event{Name: engine.EvStart}) // waits in ask_name
	b, _ := turn(t, set, nil, engine.Event{Name: engine.EvStart})
	b, _ = turn(t, set, b, msg("Bo")) // waits in ask_color (renamed in v2)
	c, _ := turn(t, set, nil, engine.Event{Name: engine.EvStart})
	c, _ = turn(t, set, c, msg("Cy"))
	c, _ = turn(t, set, c, msg("red")) // waits in ask_size (removed in v2)

	write(t, dir, v2)
	changes, err := set.Reload(context.Background())
	if err != nil || len(changes) != 1 || changes[0].Action != "updated" {
		t.Fatalf("reload: %v %+v", err, changes)
	}
	var r engine.Result
	_, r = turn(t, set, a, msg("Al"))
	if got := texts(r); len(got) != 1 || got[0] != "Colour, Al?" || len(r.Errors) > 0 {
		t.Errorf("A (unchanged state) continues on v2: %q %v", got, r.Errors)
	}
	_, r = turn(t, set, b, msg("blue"))
	if got := texts(r); len(got) != 1 || got[0] != "Fit?" || r.Recovery != engine.RecoveryMigrated {
		t.Errorf("B (renamed state, migrated) continues on v2: %q %s", got, r.Recovery)
	}
	_, r = turn(t, set, c, msg("XL"))
	if got := texts(r); len(got) != 1 || got[0] != "Thanks Cy: red XL" || len(r.Errors) > 0 {
		t.Errorf("C (removed state) finishes on v1: %q %v", got, r.Errors)
	}
	d, r := turn(t, set, nil, engine.Event{Name: engine.EvStart})
	if r.Session.Version != set.Get("shop").Current().Flow().ShortHash() {
		t.Errorf("a new conversation should start on v2")
	}

	// A broken version 3 is refused; version 2 keeps serving.
	write(t, dir, v3broken)
	changes, err = set.Reload(context.Background())
	if err != nil || len(changes) != 1 || changes[0].Action != "kept" || !strings.Contains(changes[0].Problem, `unknown state "ask_colr"`) {
		t.Fatalf("broken reload: %v %+v", err, changes)
	}
	_, r = turn(t, set, d, msg("Di"))
	if got := texts(r); len(got) != 1 || got[0] != "Colour, Di?" {
		t.Errorf("v2 should keep serving: %q", got)
	}

	// After a restart (a new Set on the same store), a conversation still
	// waiting in v1's removed state finds its version.
	write(t, dir, v2)
	set2, _, err := Load(context.Background(), dir, Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	waiting := engine.Session{Flow: "shop", Version: v1hash, State: "ask_size", Vars: map[string]string{"name": "Ed", "color": "green"}}
	ctx, _ := engine.EncodeContext(waiting)
	_, r = turn(t, set2, ctx, msg("S"))
	if got := texts(r); len(got) != 1 || got[0] != "Thanks Ed: green S" {
		t.Errorf("after restart, v1 conversation: %q", got)
	}

}

func TestWatchPicksUpChanges(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, v1)
	set, _, err := Load(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := set.Get("shop").Current().Flow().Hash
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go set.Watch(ctx, 10*time.Millisecond)
	write(t, dir, v2)
	deadline := time.Now().Add(5 * time.Second)
	for set.Get("shop").Current().Flow().Hash == before {
		if time.Now().After(deadline) {
			t.Fatal("watch did not reload within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := set.Get("shop").Versions(); len(got) != 1 {
		t.Errorf("older versions: %v", got)
	}
}

// TestReloadLogsWarnings: a reload logs the warnings of the flows it swaps
// in — the channel-fallback ones included — as serve's start and validate
// show them (runtime/compile).
func TestReloadLogsWarnings(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, v1)
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	set, _, err := Load(context.Background(), dir, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	var opts strings.Builder
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
		opts.WriteString("        - {id: " + id + ", label: Option " + id + ", goto: pick}\n")
	}
	many := "name: shop\nstart: pick\nstates:\n  pick:\n    choice:\n      text: Pick one\n      options:\n" + opts.String()
	write(t, dir, many)
	if _, err := set.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, lints := compile.Source(filepath.Join(dir, "shop.yaml"), []byte(many), compile.Options{})
	mu.Lock()
	defer mu.Unlock()
	if len(lints) == 0 {
		t.Fatal("the flow has no warning")
	}
	for _, l := range lints {
		if !strings.Contains(logs.String(), strconv.Quote(l.String())) {
			t.Errorf("the reload did not log %s:\n%s", l, logs.String())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
