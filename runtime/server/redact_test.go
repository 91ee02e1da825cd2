package server_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/store/storetest"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

// lookupFlow puts what the contact typed into the path of an HTTP step and
// a token into its query, and calls a port where nothing listens.
const lookupFlow = `name: lookup
start: ask
on: {error: oops}
states:
  ask:
    ask: "Order id?"
    save: order
    next: fetch
  fetch:
    http:
      url: "http://127.0.0.1:1/orders/{{ order }}?token=tok-SECRET"
      timeout: 2
    next: ask
  oops:
    say: "The lookup failed."
    next: ask
`

// TestLogsLeaveURLsOut: an HTTP step's failure is logged (Userlike mode and
// Chat API) with the host only — neither the contact's text in the path nor
// the token in the query reaches a log line.
func TestLogsLeaveURLsOut(t *testing.T) {
	f, lints := flows.Parse("lookup.yaml", []byte(lookupFlow), flows.Options{})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	cfg := server.Config{Flows: []*flows.Flow{f}, Platform: &server.Platform{
		Database: storetest.Address(t, "sqlite"), APIKeys: []string{chatKey}, WebhookSecret: webhookSecret, Lease: 5 * time.Second,
	}}
	logs := &logLines{t: t}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := serve(t, cfg, nil)

	p := platformtest.New(r.url + "/bots/lookup/webhook")
	conv := p.Conversation("chatbot::redact", "web")
	must(t)(conv.Start(""))
	if texts := must(t)(conv.Say("ADA-LOVELACE-42")).Texts(); len(texts) == 0 || texts[0] != "The lookup failed." {
		t.Fatalf("texts %q", texts)
	}

	c := chat{t: t, url: r.url}
	bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "lookup", "flow": "lookup"})["bot"].(map[string]any)["id"].(string)
	id := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "u", "create_user_if_not_exists": true})["conversation"].(map[string]any)["id"].(string)
	c.send(id, "GRACE-HOPPER-7")
	if got := waitHistory(t, c, id, 3); got[2] != "bot: The lookup failed." {
		t.Fatalf("history %q", got)
	}

	if logs.count("127.0.0.1:1/…") < 2 {
		t.Fatalf("the failures are not logged with the redacted URL")
	}
	for _, secret := range []string{"ada-lovelace-42", "grace-hopper-7", "tok-secret", "/orders/"} {
		if n := logs.count(secret); n > 0 {
			t.Errorf("%d log lines carry %q", n, secret)
		}
	}
}
