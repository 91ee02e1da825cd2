package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/store/storetest"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

// remindFlow asks three questions, each with a follow-up after 3 s of
// silence that names the question; ask_order looks an order up in the
// background.
const remindFlow = `name: remind
start: ask_name
api_url: ${env.REMIND_API_URL}
api_token: tok
commands:
  - match: [menu]
    goto: ask_name
states:
  ask_name:
    ask: "Name?"
    save: name
    max_length: 40
    next: ask_color
    on_silence:
      - {after: 3s, say: "Reminder: your name?"}
  ask_color:
    ask: "Colour, {{ name }}?"
    save: color
    max_length: 40
    next: ask_size
    on_silence:
      - {after: 3s, say: "Reminder: your colour, {{ name }}?"}
  ask_size:
    ask: "Size?"
    save: size
    max_length: 40
    next: ask_order
    on_silence:
      - {after: 3s, say: "Reminder: your size, {{ name }} ({{ color }})?"}
  ask_order:
    ask: "Order id?"
    save: order
    max_length: 40
    next: lookup
  lookup:
    say: "Checking {{ order }}…"
    http: {url: "${env.REMIND_ORDERS}/orders/{{ order }}", async: true, timeout: 30, save: {status: status}}
    next: result
  result:
    say: "Order {{ order }}: {{ status }}."
    next: ask_name
`

// ulTwo starts two instances of flowbot serve on one PostgreSQL database
// with remindFlow, and an emulated platform with its API URL.
func ulTwo(t *testing.T, orders http.Handler) (a, b *miInstance, plat *platformtest.Platform, api *platformtest.API) {
	t.Helper()
	db := storetest.Address(t, "postgres")
	// A takes the database as platform mode does (--database); B names it
	// as its data.
	return ulStart(t, orders, []string{"--database", db, "--insecure-no-auth"}, []string{"--data", db, "--database", ""})
}

// ulStart starts two instances of flowbot serve with remindFlow, with
// their own arguments.
func ulStart(t *testing.T, orders http.Handler, argsA, argsB []string) (a, b *miInstance, plat *platformtest.Platform, api *platformtest.API) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "remind.yaml"), []byte(remindFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	plat = platformtest.New("")
	api = plat.API("tok")
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	ordersSrv := httptest.NewServer(orders)
	t.Cleanup(ordersSrv.Close)
	env := []string{"REMIND_API_URL=" + apiSrv.URL, "REMIND_ORDERS=" + ordersSrv.URL}
	a = startMI(t, "A", env, append([]string{"--flows", dir}, argsA...)...)
	b = startMI(t, "B", env, append([]string{"--flows", dir}, argsB...)...)
	return a, b, plat, api
}

// ulToLookup plays a conversation on in up to its order lookup, which
// is queued there.
func ulToLookup(t *testing.T, plat *platformtest.Platform, in *miInstance, c *platformtest.Conversation) {
	t.Helper()
	for _, turn := range [][2]string{{"", "Name?"}, {"Al", "Colour"}, {"red", "Size?"}, {"XL", "Order id?"}, {"A-1", "Checking A-1"}} {
		ulSay(t, plat, in, c, turn[0], turn[1])
	}
}

// ulLogged waits (up to miWait) until one of the instances logged want.
func ulLogged(want string, ins ...*miInstance) bool {
	deadline := time.After(miWait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, in := range ins {
			if strings.Contains(in.log(), want) {
				return true
			}
		}
		select {
		case <-deadline:
			return false
		case <-tick.C:
		}
	}
}

func ulSay(t *testing.T, plat *platformtest.Platform, on *miInstance, c *platformtest.Conversation, text string, want string) {
	t.Helper()
	plat.SetURL(on.url + "/bots/remind/webhook")
	var r platformtest.Reply
	var err error
	if text == "" {
		r, err = c.Start("")
	} else {
		r, err = c.Say(text)
	}
	if err != nil || r.Status != 200 || !strings.Contains(strings.Join(r.Texts(), "\n"), want) {
		t.Fatalf("%s on %s: %v %d %s (want %q)", text, on.name, err, r.Status, r.Body, want)
	}
}

// ulState is the state and variables of a context flowbot wrote.
func ulState(t *testing.T, ctx json.RawMessage) (string, map[string]string) {
	t.Helper()
	var c struct {
		S string            `json:"s"`
		X map[string]string `json:"x"`
	}
	if err := json.Unmarshal(ctx, &c); err != nil {
		t.Fatalf("context %s: %v", ctx, err)
	}
	return c.S, c.X
}

// TestUserlikeInstancesShareFollowUps: turn 1 on instance A arms a
// follow-up there; turns 2 and 3 go to instance B. Only the follow-up of
// turn 3 is pushed — by whichever instance claims it — with turn 3's
// context: A's older reminder never fires and no older context reaches
// the platform. (With a data file per instance, A pushed "your name?" and
// the context of turn 1.)
func TestUserlikeInstancesShareFollowUps(t *testing.T) {
	a, b, plat, api := ulTwo(t, http.NotFoundHandler())
	c := plat.Conversation("chatbot::two", "web")
	ulSay(t, plat, a, c, "", "Name?")
	ulSay(t, plat, b, c, "Al", "Colour, Al?")
	ulSay(t, plat, b, c, "red", "Size?")
	reqs := api.Wait(1, miWait)
	if len(reqs) == 0 {
		t.Fatalf("no follow-up pushed within %s\nA:\n%s\nB:\n%s", miWait, tail(a.log(), 30), tail(b.log(), 30))
	}
	got := reqs[0]
	if len(got.Packets) == 0 || got.Packets[0].Payload["body"] != "Reminder: your size, Al (red)?" {
		t.Fatalf("the first push is not the follow-up of the last turn: %+v", got.Packets)
	}
	for _, p := range got.Packets {
		if s, x := ulState(t, p.Context); s != "ask_size" || x["name"] != "Al" || x["color"] != "red" {
			t.Fatalf("a push carries an older context: %s", p.Context)
		}
	}
	// The conversation goes on from the pushed context, on either
	// instance.
	ulSay(t, plat, a, c, "XL", "Order id?")
	for _, r := range api.Requests() {
		for _, p := range r.Packets {
			if body, _ := p.Payload["body"].(string); strings.Contains(body, "your name") || strings.Contains(body, "your colour") {
				t.Errorf("a stale follow-up was pushed: %q", body)
			}
		}
	}
}

// TestUserlikeInstancesDropMovedOnJob: an order lookup queued by a turn
// on A is still running when the contact moves on (menu) through B; its
// result is dropped on whichever instance ran it, and nothing is pushed.
func TestUserlikeInstancesDropMovedOnJob(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.Write([]byte(`{"status":"shipped"}`))
	})
	a, b, plat, api := ulTwo(t, orders)
	defer close(release)
	c := plat.Conversation("chatbot::job", "web")
	ulToLookup(t, plat, a, c)
	select {
	case <-started:
	case <-time.After(miWait):
		t.Fatal("the order lookup did not start")
	}
	ulSay(t, plat, b, c, "menu", "Name?")
	release <- struct{}{}
	if !ulLogged("background job superseded", a, b) {
		t.Fatalf("the result was not dropped\nA:\n%s\nB:\n%s", tail(a.log(), 30), tail(b.log(), 30))
	}
	for _, r := range api.Requests() {
		for _, p := range r.Packets {
			if s, _ := ulState(t, p.Context); s != "ask_name" {
				t.Errorf("a push carries a context the conversation left: %s", p.Context)
			}
		}
	}
}

// TestUserlikeSeparateFilesWarn: instances with data files of their own
// cannot share pending work; when a conversation moves on through B from
// a job queued on A, B says so in its log, naming the fix.
func TestUserlikeSeparateFilesWarn(t *testing.T) {
	release := make(chan struct{})
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	a, b, plat, _ := ulStart(t, orders, []string{"--data", filepath.Join(t.TempDir(), "a.db")}, []string{"--data", filepath.Join(t.TempDir(), "b.db")})
	defer close(release)
	c := plat.Conversation("chatbot::files", "web")
	ulToLookup(t, plat, a, c)
	ulSay(t, plat, b, c, "menu", "Name?")
	if !ulLogged("this instance's data does not have", b) || !strings.Contains(b.log(), "(--database postgres://") {
		t.Errorf("B did not warn of the job it cannot see:\n%s", tail(b.log(), 20))
	}
}
