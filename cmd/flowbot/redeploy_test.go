package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/store/storetest"
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

// TestRedeployTwoInstances: instance A serves version 1 on a PostgreSQL
// database; a new instance B starts with version 2 (which removes
// ask_size) on the same database, and A is reloaded to it. Conversations
// on version 1 continue on it on both instances — the removed state
// included — as `validate --previous` predicts, and new ones start on
// version 2. (With a data file per instance, B restarted the
// conversations in ask_size: it had never seen version 1.)
func TestRedeployTwoInstances(t *testing.T) {
	db := storetest.Address(t, "postgres")
	dirA, dirB := t.TempDir(), t.TempDir()
	write := func(dir, src string) {
		if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(dirA, shopV1)
	a := startServe(t, nil, "--flows", dirA, "--database", db, "--insecure-no-auth")
	plat := platformtest.New("http://" + a.addr + "/bots/shop/webhook")
	say := func(p *process, c *platformtest.Conversation, text, want string) {
		t.Helper()
		plat.SetURL("http://" + p.addr + "/bots/shop/webhook")
		r, err := c.Say(text)
		if err != nil || r.Status != 200 || len(r.Texts()) == 0 || r.Texts()[0] != want {
			t.Errorf("%q: %v %d %s, want %q", text, err, r.Status, r.Body, want)
		}
	}
	convs := map[string]*platformtest.Conversation{}
	for _, id := range []string{"a1", "a2", "b1", "b2"} {
		convs[id] = plat.Conversation("chatbot::"+id, "web")
		if _, err := convs[id].Start(""); err != nil {
			t.Fatal(err)
		}
		say(a, convs[id], "Cy", "Color, Cy?")
		say(a, convs[id], "red", "Size?") // in ask_size, which version 2 removes
	}

	write(dirB, shopV2)
	b := startServe(t, nil, "--flows", dirB, "--data", db, "--database", "")
	write(dirA, shopV2)
	a.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, a, "flow updated")

	say(b, convs["b1"], "XL", "Thanks Cy: red XL") // the new instance knows version 1
	say(a, convs["a1"], "XL", "Thanks Cy: red XL")
	say(b, convs["b2"], "M", "Thanks Cy: red M")
	say(a, convs["a2"], "S", "Thanks Cy: red S")
	for _, p := range []*process{a, b} {
		d := plat.Conversation("chatbot::new-"+p.addr, "web")
		plat.SetURL("http://" + p.addr + "/bots/shop/webhook")
		d.Start("")
		say(p, d, "Di", "Colour, Di?") // new conversations: version 2
	}
	for _, p := range []*process{a, b} {
		if code, logs := p.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("exit %d\n%s", code, logs)
		}
	}
}
