package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

const shopV1 = `name: shop
start: ask_name
states:
  ask_name: {ask: "Name?", save: name, next: ask_color}
  ask_color: {ask: "Color, {{ name }}?", save: color, next: ask_size}
  ask_size: {ask: "Size?", save: size, next: done}
  done: {say: "Thanks {{ name }}: {{ color }} {{ size }}", do: [end]}
`

// v2 renames ask_color (with a migration), removes ask_size, adds ask_fit.
const shopV2 = `name: shop
start: ask_name
migrate:
  ask_color: ask_colour
states:
  ask_name: {ask: "Name?", save: name, next: ask_colour}
  ask_colour: {ask: "Colour, {{ name }}?", save: color, next: ask_fit}
  ask_fit: {ask: "Fit?", save: fit, next: done}
  done: {say: "Thanks {{ name }}: {{ color }} {{ fit }}", do: [end]}
`

const shopV3Broken = `name: shop
start: ask_name
states:
  ask_name: {ask: "Name?", save: name, next: ask_colr}
`

// waitLog waits for a log line of the server containing want.
func waitLog(t *testing.T, p *process, want string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("server exited before logging %q", want)
			}
			if strings.Contains(line, want) {
				return line
			}
		case <-deadline:
			t.Fatalf("no log line %q within 30s", want)
		}
	}
}

// TestRedeployWhileServing: conversations mid-flow on version 1, the flow
// file changed to version 2 while `serve --watch` runs, then a broken
// version 3. Every conversation continues; none errors; v3 is refused and
// v2 keeps serving. Then SIGHUP reloads as --watch does.
func TestRedeployWhileServing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "shop.yaml")
	write := func(src string) {
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(shopV1)
	p := startServe(t, nil, "--flows", dir, "--watch")
	plat := platformtest.New("http://" + p.addr + "/bots/shop/webhook")
	say := func(c *platformtest.Conversation, text string) []string {
		t.Helper()
		r, err := c.Say(text)
		if err != nil || r.Status != 200 {
			t.Fatalf("%q: %v %d %s", text, err, r.Status, r.Body)
		}
		return r.Texts()
	}
	a := plat.Conversation("chatbot::a", "web")
	b := plat.Conversation("chatbot::b", "web")
	c := plat.Conversation("chatbot::c", "web")
	for _, conv := range []*platformtest.Conversation{a, b, c} {
		if _, err := conv.Start(""); err != nil {
			t.Fatal(err)
		}
	}
	say(b, "Bo")
	say(c, "Cy")
	say(c, "red") // a waits in ask_name, b in ask_color, c in ask_size

	write(shopV2)
	waitLog(t, p, "flow updated")
	check := func(got []string, want string) {
		t.Helper()
		if len(got) == 0 || got[0] != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	check(say(a, "Al"), "Colour, Al?")       // unchanged state: continues on v2
	check(say(b, "blue"), "Fit?")            // renamed state: migrated to v2
	check(say(c, "XL"), "Thanks Cy: red XL") // removed state: finishes on v1
	d := plat.Conversation("chatbot::d", "web")
	d.Start("")
	check(say(d, "Di"), "Colour, Di?") // new conversations: v2

	write(shopV3Broken)
	line := waitLog(t, p, "flow not reloaded")
	if !strings.Contains(line, `unknown state \"ask_colr\"`) && !strings.Contains(line, `unknown state "ask_colr"`) {
		t.Errorf("the refusal should say why: %s", line)
	}
	e := plat.Conversation("chatbot::e", "web")
	e.Start("")
	check(say(e, "Ed"), "Colour, Ed?") // v2 keeps serving

	if code, logs := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d\n%s", code, logs)
	}
}

// TestSIGHUPReloads: without --watch, SIGHUP reloads the flows.
func TestSIGHUPReloads(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "shop.yaml")
	if err := os.WriteFile(file, []byte(shopV2), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, nil, "--flows", dir)
	plat := platformtest.New("http://" + p.addr + "/bots/shop/webhook")
	c := plat.Conversation("chatbot::hup", "web")
	c.Start("")
	c.Say("Hu")
	if err := os.WriteFile(file, []byte(strings.Replace(shopV2, "Fit?", "Which fit?", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "flow updated")
	r, err := c.Say("green")
	if err != nil || len(r.Texts()) == 0 || r.Texts()[0] != "Which fit?" {
		t.Errorf("after SIGHUP: %v %q", err, r.Texts())
	}
	if code, logs := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d\n%s", code, logs)
	}
}
