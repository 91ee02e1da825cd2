package server_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/store/storetest"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

// TestTurnLogReplaysWebshopOverHTTP: a webshop conversation over the
// Userlike webhook (with the platform emulator, its order lookup in the
// background) and one over the Chat API, with the turn log on (personal
// data kept), replay turn by turn with zero differences on their own
// versions and on the unchanged flows; with the welcome text edited,
// exactly the two start turns differ, by exactly that text.
func TestTurnLogReplaysWebshopOverHTTP(t *testing.T) {
	s := newAsyncSetup(t)
	s.orders.free()
	logDir := filepath.Join(t.TempDir(), "turns") + "/"
	w, err := turnlog.Open(logDir, turnlog.Options{PersonalData: true})
	if err != nil {
		t.Fatal(err)
	}
	r := s.serve(t, server.Config{TurnLog: w, Platform: &server.Platform{
		Database: storetest.Address(t, "sqlite"), APIKeys: []string{chatKey}, WebhookSecret: webhookSecret, Lease: 5 * time.Second,
	}})

	// Userlike mode: start, the menu, an order lookup pushed later, hours.
	c := askOrder(t, s.plat, "chatbot::log-1")
	checkResult(t, s.api.Wait(1, wait)[0], "chatbot::log-1")
	s.plat.SetContext("chatbot::log-1", s.api.Requests()[0].Packets[0].Context)
	if next := must(t)(c.Click("hours")); !strings.Contains(strings.Join(next.Texts(), " "), "Monday to Friday") {
		t.Fatalf("hours: %q", next.Texts())
	}

	// Platform mode: the seed's conversation.
	ch := chat{t: t, url: r.url}
	hook := newReceiver(t, nil)
	bot := ch.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "webshop"})["bot"].(map[string]any)["id"].(string)
	conv := ch.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "user_log",
		"create_user_if_not_exists": true, "webhook": hook.url})["conversation"].(map[string]any)["id"].(string)
	talkWebshop(t, ch, hook, conv)
	ch.drained(conv)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	l, err := turnlog.Read(logDir)
	if err != nil {
		t.Fatal(err)
	}
	userlike, platform := l.Conversation("chatbot::log-1"), l.Conversation(conv)
	// Userlike: start, click, the order id, the job's result, hours;
	// platform: start, "1", the order id, the job's result, a human.
	if len(userlike) != 5 || len(platform) != 5 || len(l.Turns) != 10 {
		t.Fatalf("%d turns logged (%d Userlike, %d platform)", len(l.Turns), len(userlike), len(platform))
	}
	for _, conv := range [][]turnlog.Record{userlike, platform} {
		if conv[3].Event.Name != engine.EvHTTPResult || string(conv[3].Event.HTTP.Body) != `{"id":"A-12345","status":"shipped"}` {
			t.Fatalf("the fourth turn is %s %+v, want the order lookup's result", conv[3].Event.Name, conv[3].Event.HTTP)
		}
	}
	env := compile.Options{Flows: flows.Options{Env: func(k string) (string, bool) { v, ok := s.env[k]; return v, ok }}}
	current := map[string]*engine.Bot{}
	for _, f := range s.flows(t) {
		b, _ := compile.Flow(f, env)
		current[f.Name] = b
	}
	for _, c := range turnlog.Check(context.Background(), l, l.Turns, current, env) {
		if c.Differs() || c.Current == nil {
			t.Fatalf("turn %s (%s, %s) differs: own %v %q, current %v", c.Record.ID, c.Record.Conversation, c.Record.Event.Name, c.OwnErr, c.Own.Diff, c.Current)
		}
	}

	// Edit the welcome text: exactly the two start turns differ, by it.
	src, err := os.ReadFile("../../examples/webshop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const was, now = "Welcome to our shop! I'm the shop's bot.", "Welcome to the shop! I am its bot."
	edited, lints := compile.Source("webshop.yaml", []byte(strings.Replace(string(src), was, now, 1)), env)
	if edited == nil {
		t.Fatal(lints)
	}
	current["webshop"] = edited
	var differ []string
	for _, c := range turnlog.Check(context.Background(), l, l.Turns, current, env) {
		if c.OwnErr != nil || !c.Own.Same {
			t.Fatalf("turn %s differs on its own version: %v %q", c.Record.ID, c.OwnErr, c.Own.Diff)
		}
		if !c.Current.Same {
			differ = append(differ, c.Record.ID)
			want := []string{`- text: "` + was + `"`, `+ text: "` + now + `"`}
			if c.Record.Event.Name != engine.EvStart || !slices.Equal(c.Current.Diff, want) {
				t.Errorf("turn %s (%s) differs by %q, want %q", c.Record.ID, c.Record.Event.Name, c.Current.Diff, want)
			}
		}
	}
	if want := []string{userlike[0].ID, platform[0].ID}; !slices.Equal(differ, want) {
		t.Fatalf("turns differing on the edited flow: %v, want the starts %v", differ, want)
	}
}
