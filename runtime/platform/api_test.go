package platform_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/platform"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func eachKind(t *testing.T, test func(t *testing.T, kind string)) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) { test(t, kind) })
	}
}

func want(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

var menu = "bot: Please reply with the number of an option:\n1. Delivery status\n2. Return an item\n3. Opening hours\n4. Talk to a human"

func TestPollingConversationWithTheWebshop(t *testing.T) {
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, platform.Options{})
		conv := e.conversation(e.bot("webshop"), "anna", "")
		want(t, e.history(conv), "bot: Welcome to our shop! I'm the shop's bot.", menu)
		e.send(conv, "3")
		e.send(conv, "  return AN item ")
		got := e.history(conv)
		want(t, got[2:4], "user: 3", "bot: We're open Monday to Friday 9:00–18:00 and Saturday 10:00–14:00.")
		want(t, got[5:9], "user:   return AN item ",
			"bot: **Returns are free within 30 days.** Pack the item in its box and use the label from your delivery.",
			"bot: You can also start a return online:\nReturns portal: https://shop.example.com/returns", menu)
		e.send(conv, "talk to a human")
		out := e.mustCall(200, "GET", "/api/conversations/"+conv, nil)["conversation"].(map[string]any)
		if out["status"] != platform.StatusForwarded || out["state"] != "handoff" || out["webhook"] != nil {
			t.Fatalf("conversation %v", out)
		}
		if e.wakes.n.Load() != 0 {
			t.Fatal("the delivery worker was woken for a conversation without webhook")
		}
	})
}

func TestOneConversationPerBotAndUser(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{})
	bot := e.bot("webshop")
	first := e.conversation(bot, "anna", "")
	out := e.mustCall(200, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "anna", "webhook": "https://app.example/hook"})
	c := out["conversation"].(map[string]any)
	if c["id"] != first || c["webhook"] != "https://app.example/hook" {
		t.Fatalf("second create: %v", c)
	}
	if other := e.conversation(bot, "ben", ""); other == first {
		t.Fatal("two users share a conversation")
	}
	want(t, e.history(first)[:1], "bot: Welcome to our shop! I'm the shop's bot.") // the flow started once
	if n := len(e.history(first)); n != 2 {
		t.Fatalf("%d messages after two creates", n)
	}
}

func TestIdempotencyKeyMakesOneTurn(t *testing.T) {
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, platform.Options{})
		conv := e.conversation(e.bot("webshop"), "anna", "")
		body := map[string]any{"message": map[string]any{"text": "3"}}
		first := e.mustCall(202, "POST", "/api/conversations/"+conv+"/messages", body, "Idempotency-Key", "k-1")
		again := e.mustCall(202, "POST", "/api/conversations/"+conv+"/messages", body, "Idempotency-Key", "k-1")
		if again["duplicate"] != true || again["message"].(map[string]any)["id"] != first["message"].(map[string]any)["id"] {
			t.Fatalf("retry: %v, first %v", again, first)
		}
		if n := len(e.history(conv)); n != 5 {
			t.Fatalf("%d messages; a retried request made a second turn", n)
		}
	})
}

func TestHistoryPages(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{})
	conv := e.conversation(e.bot("webshop"), "anna", "")
	for i := 0; i < 3; i++ {
		e.send(conv, "3")
	}
	var all []string
	cursor := "0"
	for pages := 0; ; pages++ {
		out := e.mustCall(200, "GET", "/api/conversations/"+conv+"/messages?limit=3&after="+cursor, nil)
		for _, m := range out["messages"].([]any) {
			all = append(all, m.(map[string]any)["text"].(string))
		}
		cursor = out["next_cursor"].(string)
		if out["has_more"] != true {
			break
		}
		if pages > 10 {
			t.Fatal("the cursor does not advance")
		}
	}
	if len(all) != 2+3*3 || all[2] != "3" {
		t.Fatalf("pages: %q", all)
	}
	if out := e.mustCall(200, "GET", "/api/conversations/"+conv+"/messages?after="+cursor, nil); len(out["messages"].([]any)) != 0 {
		t.Fatalf("after the last cursor: %v", out)
	}
}

func TestBackgroundOrderLookup(t *testing.T) {
	eachKind(t, func(t *testing.T, kind string) {
		orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/orders/A-12345" {
				fmt.Fprint(w, `{"status": "shipped"}`)
				return
			}
			http.NotFound(w, r)
		}))
		defer orders.Close()
		e := newEnv(t, kind, platform.Options{Bots: exampleBots(t, map[string]string{"ORDER_API_URL": orders.URL, "USERLIKE_API_URL": "", "USERLIKE_API_TOKEN": ""})})
		conv := e.conversation(e.bot("webshop"), "anna", "")
		e.send(conv, "1")
		e.send(conv, "a 12345")
		got := e.history(conv)
		want(t, got[len(got)-1:], "bot: Thanks! Let me check order A-12345…")
		if n, err := e.api.RunDueJobs(t.Context()); n != 1 || err != nil {
			t.Fatalf("jobs run: %d %v", n, err)
		}
		got = e.history(conv)
		want(t, got[len(got)-2:], "bot: Order A-12345: shipped.", menu)
		e.send(conv, "1")
		e.send(conv, "B-99999")
		if n, _ := e.api.RunDueJobs(t.Context()); n != 1 {
			t.Fatal("second lookup not queued")
		}
		got = e.history(conv)
		want(t, got[len(got)-2:], "bot: I couldn't find an order with the id B-99999. Please check it and try again.",
			"bot: Please send me your order id (it looks like A-12345).")
		if n, _ := e.api.RunDueJobs(t.Context()); n != 0 {
			t.Fatal("a job ran twice")
		}
	})
}

// TestHTTPStepToLoopbackRefused: without the loopback allowance, the
// order lookup (on 127.0.0.1) is refused at connection time and the flow
// takes its error path; the order API is never called.
func TestHTTPStepToLoopbackRefused(t *testing.T) {
	var hits atomic.Int32
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer orders.Close()
	e := newEnv(t, "sqlite", platform.Options{Network: netguard.MustParsePolicy(""),
		Bots: exampleBots(t, map[string]string{"ORDER_API_URL": orders.URL, "USERLIKE_API_URL": "", "USERLIKE_API_TOKEN": ""})})
	conv := e.conversation(e.bot("webshop"), "anna", "")
	e.send(conv, "1")
	e.send(conv, "A-12345")
	if n, err := e.api.RunDueJobs(t.Context()); n != 1 || err != nil {
		t.Fatalf("jobs run: %d %v", n, err)
	}
	if got := e.history(conv); !slices.Contains(got, "bot: Sorry, I can't reach the order system right now. A colleague will look it up for you.") {
		t.Errorf("the flow did not take its error path: %q", got)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the order API got %d requests", n)
	}
}

// TestWebhookOnNonPublicAddress: a webhook whose host is a non-public
// address (or localhost) is refused at once with 422, unless the network
// policy allows it; a host name is accepted (it is checked when delivering).
func TestWebhookOnNonPublicAddress(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{Network: netguard.MustParsePolicy("")})
	bot := e.bot("webshop")
	for _, c := range []struct{ webhook, msg string }{
		{"http://127.0.0.1:9000/hook?token=s3cr3t", "webhook: 127.0.0.1 is a loopback address: this server delivers to public addresses only, unless its operator allows others (--allow-network loopback)"},
		{"http://[::ffff:10.0.0.5]/hook", "webhook: ::ffff:10.0.0.5 is a private address: this server delivers to public addresses only, unless its operator allows others (--allow-network private)"},
		{"http://169.254.169.254/latest/meta-data/", "webhook: 169.254.169.254 is a link-local address"},
		{"https://LOCALHOST./hook", "webhook: LOCALHOST. is a loopback address"},
		{"https://api.localhost/hook", "webhook: api.localhost is a loopback address"},
		{"http://[fd00::1]:8080/hook", "webhook: fd00::1 is a private address"},
	} {
		status, out := e.call("POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "anna", "create_user_if_not_exists": true, "webhook": c.webhook})
		apiErr, _ := out["error"].(map[string]any)
		if msg, _ := apiErr["message"].(string); status != http.StatusUnprocessableEntity || !strings.HasPrefix(msg, c.msg) || strings.Contains(msg, "s3cr3t") {
			t.Errorf("%s: %d %v", c.webhook, status, out)
		}
	}
	e.mustCall(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "anna", "create_user_if_not_exists": true, "webhook": "https://hooks.example.com/flowbot"})

	// Allowed by the policy: accepted.
	e = newEnv(t, "sqlite", platform.Options{Network: netguard.MustParsePolicy("private")})
	bot = e.bot("webshop")
	e.mustCall(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "anna", "create_user_if_not_exists": true, "webhook": "http://10.0.0.5/hook"})
	e.mustCall(422, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "bob", "create_user_if_not_exists": true, "webhook": "http://localhost/hook"})
}

func TestMovedOnConversationDropsTheJobResult(t *testing.T) {
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status": "late"}`) }))
	defer orders.Close()
	e := newEnv(t, "sqlite", platform.Options{Bots: exampleBots(t, map[string]string{"ORDER_API_URL": orders.URL, "USERLIKE_API_URL": "", "USERLIKE_API_TOKEN": ""})})
	conv := e.conversation(e.bot("webshop"), "anna", "")
	e.send(conv, "1")
	e.send(conv, "A-12345")
	e.send(conv, "menu") // a command while waiting: the flow moves on
	before := e.history(conv)
	if n, _ := e.api.RunDueJobs(t.Context()); n != 1 {
		t.Fatal("job not run")
	}
	want(t, e.history(conv), before...)
}

func TestBotAttributesReachTemplatesAndScripts(t *testing.T) {
	f, err := flows.Load(filepath.Join("testdata", "persona.yaml"), flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "sqlite", platform.Options{Bots: fixedBots{"persona": engine.NewDeployment(engine.New(f))}})
	conv := e.conversation(e.bot("persona"), "anna", "")
	e.send(conv, "Anna")
	want(t, e.history(conv), "bot: Hi, I'm Shop: a friendly shop.", "bot: What's your name?", "user: Anna",
		"bot: Nice to meet you, Anna. Shop says bye.", "bot: Hi, I'm Shop: a friendly shop.", "bot: What's your name?")
}

func TestChannelRulesApply(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{})
	out := e.mustCall(201, "POST", "/api/conversations", map[string]any{"bot_id": e.bot("webshop"), "user_id": "anna", "create_user_if_not_exists": true, "channel": "WhatsApp_Business"})
	c := out["conversation"].(map[string]any)
	if c["channel"] != "whatsapp_business" {
		t.Fatalf("channel %v", c["channel"])
	}
	conv := c["id"].(string)
	e.send(conv, "2")
	got := e.history(conv)
	want(t, got[3:4], "bot: *Returns are free within 30 days.* Pack the item in its box and use the label from your delivery.")
}

func TestWebhookConversationQueuesDeliveries(t *testing.T) {
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, platform.Options{})
		conv := e.conversation(e.bot("webshop"), "anna", "https://app.example/webhook")
		if got := e.history(conv); len(got) != 0 {
			t.Fatalf("undelivered messages in the history: %q", got)
		}
		if e.wakes.n.Load() != 1 {
			t.Fatalf("delivery worker woken %d times", e.wakes.n.Load())
		}
		e.send(conv, "3")
		// The history stops before the first undelivered bot message.
		want(t, e.history(conv))
		c := e.mustCall(200, "GET", "/api/conversations/"+conv, nil)["conversation"].(map[string]any)
		d := c["delivery"].(map[string]any)
		if d["pending"] != float64(4) || d["next_message_id"] == "" {
			t.Fatalf("delivery backlog %v", d)
		}
		m := e.mustCall(200, "GET", "/api/conversations/"+conv+"/messages/"+d["next_message_id"].(string), nil)
		if m["delivery"].(map[string]any)["state"] != "pending" || m["message"].(map[string]any)["from_bot"] != true {
			t.Fatalf("message %v", m)
		}
	})
}

// TestBadRequestsGolden: every refused request, its status and its error
// body (testdata/errors.golden; go test -update rewrites it).
func TestBadRequestsGolden(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{})
	bot := e.bot("webshop")
	conv := e.conversation(bot, "anna", "")
	big := `{"name": "` + strings.Repeat("x", platform.MaxBodyBytes) + `"}`
	cases := []struct {
		name, method, path string
		body               any
		headers            []string
	}{
		{"persona bot without a language model", "POST", "/api/bots", `{"name": "Anna", "freeform": "energetic"}`, nil},
		{"bot without flow or persona", "POST", "/api/bots", `{"name": "Anna"}`, nil},
		{"bot timing out of bounds", "POST", "/api/bots", `{"name": "S", "flow": "webshop", "timing": {"typing_min": 3, "typing_max": 1}}`, nil},
		{"bot timing unknown key", "POST", "/api/bots", `{"name": "S", "flow": "webshop", "timing": {"delay": 3}}`, nil},
		{"bot timing bad quiet hours", "POST", "/api/bots", `{"name": "S", "flow": "webshop", "timing": {"quiet_hours": "22-8"}}`, nil},
		{"conversation timing bad time zone", "POST", "/api/conversations", `{"bot_id": "id-001", "user_id": "u", "create_user_if_not_exists": true, "timing": {"time_zone": "Mars/Olympus"}}`, nil},
		{"conversation timing wrong type", "POST", "/api/conversations", `{"bot_id": "id-001", "user_id": "u", "create_user_if_not_exists": true, "timing": {"aggregate": "yes"}}`, nil},
		{"bot with unknown flow", "POST", "/api/bots", `{"name": "Shop", "flow": "webshoop"}`, nil},
		{"bot without name", "POST", "/api/bots", `{"flow": "webshop"}`, nil},
		{"bot field typo", "POST", "/api/bots", `{"name": "Shop", "flow": "webshop", "atributes": []}`, nil},
		{"bot attribute twice", "POST", "/api/bots", `{"name": "S", "flow": "webshop", "attributes": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]}`, nil},
		{"bot name not a string", "POST", "/api/bots", `{"name": 7, "flow": "webshop"}`, nil},
		{"not JSON", "POST", "/api/bots", `{"name": "Shop",`, nil},
		{"empty body", "POST", "/api/bots", ``, nil},
		{"two values", "POST", "/api/bots", `{"name": "Shop", "flow": "webshop"} {}`, nil},
		{"body too large", "POST", "/api/bots", big, nil},
		{"form body", "POST", "/api/bots", `name=Shop`, []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"unknown bot", "GET", "/api/bots/nope", nil, nil},
		{"conversation for unknown bot", "POST", "/api/conversations", `{"bot_id": "nope", "user_id": "u"}`, nil},
		{"conversation for unknown user", "POST", "/api/conversations", `{"bot_id": "` + bot + `", "user_id": "new-user"}`, nil},
		{"conversation without user", "POST", "/api/conversations", `{"bot_id": "` + bot + `"}`, nil},
		{"conversation with bad webhook", "POST", "/api/conversations", `{"bot_id": "` + bot + `", "user_id": "anna", "webhook": "ftp://x"}`, nil},
		{"conversation with unknown webhook format", "POST", "/api/conversations", `{"bot_id": "` + bot + `", "user_id": "anna", "webhook_format": "botpress"}`, nil},
		{"conversation with bad webhook auth", "POST", "/api/conversations", `{"bot_id": "` + bot + `", "user_id": "anna", "webhook_auth": "s3cret"}`, nil},
		{"conversation with unknown channel", "POST", "/api/conversations", `{"bot_id": "` + bot + `", "user_id": "anna", "channel": "pigeon"}`, nil},
		{"unknown conversation", "GET", "/api/conversations/nope", nil, nil},
		{"message without message", "POST", "/api/conversations/" + conv + "/messages", `{"text": "hi"}`, nil},
		{"message without text", "POST", "/api/conversations/" + conv + "/messages", `{"message": {"from_bot": false}}`, nil},
		{"message from bot", "POST", "/api/conversations/" + conv + "/messages", `{"message": {"text": "hi", "from_bot": true}}`, nil},
		{"message too long", "POST", "/api/conversations/" + conv + "/messages", `{"message": {"text": "` + strings.Repeat("é", platform.MaxTextChars+1) + `"}}`, nil},
		{"message with bad media", "POST", "/api/conversations/" + conv + "/messages", `{"message": {"text": "", "attached_media": {"url": "not a url"}}}`, nil},
		{"message to unknown conversation", "POST", "/api/conversations/nope/messages", `{"message": {"text": "hi"}}`, nil},
		{"history with bad cursor", "GET", "/api/conversations/" + conv + "/messages?after=abc", nil, nil},
		{"history with bad limit", "GET", "/api/conversations/" + conv + "/messages?limit=0", nil, nil},
		{"unknown message", "GET", "/api/conversations/" + conv + "/messages/nope", nil, nil},
		{"botpress message missing fields", "POST", "/api/botpress/" + bot, `{"text": "hi", "userId": ""}`, nil},
		{"botpress message for a bot without endpoint", "POST", "/api/botpress/" + bot, `{"userId": "u", "messageId": "m", "conversationId": "c", "type": "text", "text": "hi", "payload": {}}`, nil},
		{"bot with private response endpoint", "POST", "/api/bots", `{"name": "S", "flow": "webshop", "response_endpoint": "http://10.0.0.1/bp"}`, nil},
		{"bot whose response endpoint fails the installation test", "POST", "/api/bots", `{"name": "S", "flow": "webshop", "response_endpoint": "` + e.srv.URL + `/no-such-endpoint"}`, nil},
		{"botpress image without url", "POST", "/api/botpress/" + bot, `{"userId": "u", "messageId": "m", "conversationId": "c", "type": "image", "text": "a photo", "payload": {"url": "https://x.example/a.png"}}`, nil},
		{"botpress video with bad url", "POST", "/api/botpress/" + bot, `{"userId": "u", "messageId": "m", "conversationId": "c", "type": "video", "text": "", "payload": {"videoUrl": "file:///etc/passwd"}}`, nil},
		{"botpress location out of range", "POST", "/api/botpress/" + bot, `{"userId": "u", "messageId": "m", "conversationId": "c", "type": "location", "text": "here", "payload": {"latitude": 91, "longitude": "13.4"}}`, nil},
		{"botpress postback without value", "POST", "/api/botpress/" + bot, `{"userId": "u", "messageId": "m", "conversationId": "c", "type": "postback", "text": "Delivery status", "payload": {}}`, nil},
		{"unknown endpoint", "GET", "/api/users", nil, nil},
		{"wrong method", "DELETE", "/api/conversations/" + conv, nil, nil},
		{"missing API key", "GET", "/api/bots/" + bot, nil, []string{"Authorization", ""}},
		{"wrong API key", "GET", "/api/bots/" + bot, nil, []string{"Authorization", "Bearer sk_wrong"}},
		{"basic auth", "GET", "/api/bots/" + bot, nil, []string{"Authorization", "Basic dTpw"}},
	}
	var b strings.Builder
	for _, c := range cases {
		status, out := e.call(c.method, c.path, c.body, c.headers...)
		if status < 400 || status >= 500 {
			t.Errorf("%s: status %d", c.name, status)
		}
		body := marshal(out)
		fmt.Fprintf(&b, "## %s\n%s %s\n%d %s\n\n", c.name, c.method, c.path, status, body)
	}
	// Without keys configured, every request is refused with a hint.
	nokeys := newEnv(t, "sqlite", platform.Options{APIKeys: []string{}})
	status, out := nokeys.call("GET", "/api/bots/x", nil)
	body := marshal(out)
	fmt.Fprintf(&b, "## no API keys configured\nGET /api/bots/x\n%d %s\n", status, body)
	golden(t, filepath.Join("testdata", "errors.golden"), b.String())
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantB, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(wantB) != got {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", path, got)
	}
}

func TestInsecureNoAuth(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{InsecureNoAuth: true})
	status, _ := e.call("GET", "/api/bots/nope", nil, "Authorization", "")
	if status != 404 {
		t.Fatalf("status %d", status)
	}
}

func marshal(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}

// TestPendingDeliveriesAreBounded: a conversation whose webhook accepts
// nothing stops taking messages (429 with a reason) once MaxPending bot
// messages wait.
func TestPendingDeliveriesAreBounded(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{MaxPending: 3})
	conv := e.conversation(e.bot("webshop"), "anna", "https://app.example/webhook") // 2 messages wait
	e.send(conv, "3")                                                               // 4 wait
	status, out := e.call("POST", "/api/conversations/"+conv+"/messages", map[string]any{"message": map[string]any{"text": "3"}})
	msg, _ := out["error"].(map[string]any)["message"].(string)
	if status != http.StatusTooManyRequests || !strings.Contains(msg, "has 4 bot messages its webhook has not accepted") {
		t.Fatalf("%d %v", status, out)
	}
}

// TestHTTPStepLoopIsBounded: a flow that loops over an HTTP step makes at
// most MaxChainedJobs requests in a row, then takes its error path.
func TestHTTPStepLoopIsBounded(t *testing.T) {
	var calls atomic.Int64
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"n": "%d"}`, calls.Add(1))
	}))
	defer svc.Close()
	f, err := flows.Load(filepath.Join("testdata", "loop.yaml"), flows.Options{Env: func(string) (string, bool) { return svc.URL, true }})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "sqlite", platform.Options{Bots: fixedBots{"loop": engine.NewDeployment(engine.New(f))}})
	conv := e.conversation(e.bot("loop"), "anna", "")
	for i := 0; i < 10; i++ {
		if n, err := e.api.RunDueJobs(t.Context()); err != nil || n == 0 {
			break
		}
	}
	got := e.history(conv)
	if calls.Load() != platform.MaxChainedJobs || got[len(got)-1] != fmt.Sprintf("bot: Stopped after %d requests.", platform.MaxChainedJobs) {
		t.Fatalf("%d requests; history %q", calls.Load(), got)
	}
}
