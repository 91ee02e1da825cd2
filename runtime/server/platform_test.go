package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/flowbot/flowbot/runtime/delivery"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

const (
	chatKey       = "sk_test_chat"
	webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// delivered is one webhook request the receiver answered 2xx.
type delivered struct {
	ID, Conversation, MessageID, Text string
	Body                              []byte
}

// receiver is an app's webhook endpoint on loopback. It verifies every
// request's signature with the Standard Webhooks reference library and
// answers with the status its answer function gives (200 by default).
type receiver struct {
	t      *testing.T
	verify *standardwebhooks.Webhook
	mu     sync.Mutex
	answer func(n int) int // n: requests so far, from 1
	n      int
	got    chan delivered
	srv    *http.Server
	url    string
}

func newReceiver(t *testing.T, ln net.Listener) *receiver {
	wh, err := standardwebhooks.NewWebhook(webhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verify: wh, got: make(chan delivered, 1000), answer: func(int) int { return 200 }}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	r.url = "http://" + ln.Addr().String() + "/webhook"
	r.srv = &http.Server{Handler: r}
	go r.srv.Serve(ln)
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := r.verify.Verify(body, req.Header); err != nil {
		r.t.Errorf("webhook signature does not verify: %v (headers %v)", err, req.Header)
	}
	var p struct {
		ConversationID string `json:"conversation_id"`
		Message        struct {
			ID      string `json:"id"`
			Text    string `json:"text"`
			FromBot bool   `json:"from_bot"`
			SentAt  int64  `json:"sent_at"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &p); err != nil || !p.Message.FromBot || p.Message.SentAt == 0 {
		r.t.Errorf("webhook body %s: %v", body, err)
	}
	if req.Header.Get("webhook-id") != p.Message.ID {
		r.t.Errorf("webhook-id %q is not the message id %q", req.Header.Get("webhook-id"), p.Message.ID)
	}
	r.mu.Lock()
	r.n++
	status := r.answer(r.n)
	r.mu.Unlock()
	w.WriteHeader(status)
	if status < 300 {
		r.got <- delivered{ID: req.Header.Get("webhook-id"), Conversation: p.ConversationID, MessageID: p.Message.ID, Text: p.Message.Text, Body: body}
	}
}

// next waits for the next delivered message.
func (r *receiver) next(t *testing.T) delivered {
	t.Helper()
	select {
	case d := <-r.got:
		return d
	case <-time.After(wait):
		t.Fatal("no webhook delivery within", wait)
		return delivered{}
	}
}

// chat is a Chat API client.
type chat struct {
	t   *testing.T
	url string
}

func (c chat) do(want int, method, path string, body any, headers ...string) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+chatKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s (want %d)", method, path, resp.StatusCode, raw, want)
	}
	return out
}

func (c chat) send(conv, text string) {
	c.t.Helper()
	c.do(202, "POST", "/api/conversations/"+conv+"/messages", map[string]any{"message": map[string]any{"text": text, "from_bot": false}})
}

func (c chat) history(conv string) []string {
	c.t.Helper()
	var lines []string
	for _, m := range c.do(200, "GET", "/api/conversations/"+conv+"/messages?limit=1000", nil)["messages"].([]any) {
		m := m.(map[string]any)
		who := "user"
		if m["from_bot"] == true {
			who = "bot"
		}
		lines = append(lines, who+": "+m["text"].(string))
	}
	return lines
}

// drained waits until the conversation has no bot message waiting for
// delivery: the receiver sees a message before flowbot records its 2xx.
func (c chat) drained(conv string) {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		d := c.do(200, "GET", "/api/conversations/"+conv, nil)["conversation"].(map[string]any)["delivery"].(map[string]any)
		if d["pending"] == float64(0) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("deliveries still pending after %s: %v", wait, d)
		}
		time.Sleep(5 * time.Millisecond) // polling flowbot's progress through its API
	}
}

// talkWebshop plays seed 000's conversation with the webshop over the
// Chat API: the menu, an order lookup in the background, a human; each
// bot message is checked as the webhook receives it.
func talkWebshop(t *testing.T, c chat, hook *receiver, conv string) {
	t.Helper()
	expect := func(texts ...string) {
		t.Helper()
		for _, want := range texts {
			d := hook.next(t)
			if d.Conversation != conv || !strings.HasPrefix(d.Text, want) {
				t.Fatalf("webhook got %q for %s, want %q", d.Text, d.Conversation, want)
			}
		}
	}
	expect("Welcome to our shop!", "Please reply with the number of an option:\n1. Delivery status")
	c.send(conv, "1")
	expect("Please send me your order id")
	c.send(conv, "a 12345")
	expect("Thanks! Let me check order A-12345…", "Order A-12345: shipped.", "Please reply with the number")
	c.send(conv, "Talk to a human")
	expect("I'll connect you with a colleague.")
}

func servePlatform(t *testing.T, kind string, schedule delivery.Schedule, env map[string]string) chat {
	t.Helper()
	s := &asyncSetup{env: env}
	cfg := server.Config{Flows: s.flows(t), Platform: &server.Platform{
		Database: storetest.Address(t, kind), APIKeys: []string{chatKey}, WebhookSecret: webhookSecret, Schedule: schedule, Lease: 5 * time.Second,
	}}
	cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := serve(t, cfg, nil)
	t.Cleanup(func() { r.stop() })
	return chat{t: t, url: r.url}
}

// TestSeedConversationOverWebhooks is seed 000's example with the webshop
// flow: create a bot, a conversation with a webhook, send messages, receive
// each bot message on the webhook, read the history — with the order lookup
// running in the background — on SQLite and on PostgreSQL.
func TestSeedConversationOverWebhooks(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			orders := newOrderService(t)
			orders.free()
			c := servePlatform(t, kind, nil, map[string]string{"ORDER_API_URL": orders.srv.URL})
			hook := newReceiver(t, nil)
			bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "webshop"})["bot"].(map[string]any)["id"].(string)
			conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "user_example",
				"create_user_if_not_exists": true, "webhook": hook.url})["conversation"].(map[string]any)["id"].(string)
			talkWebshop(t, c, hook, conv)
			c.drained(conv)
			got := c.history(conv)
			want := []string{
				"bot: Welcome to our shop! I'm the shop's bot.",
				"bot: Please reply with the number of an option:\n1. Delivery status\n2. Return an item\n3. Opening hours\n4. Talk to a human",
				"user: 1", "bot: Please send me your order id (it looks like A-12345).",
				"user: a 12345", "bot: Thanks! Let me check order A-12345…", "bot: Order A-12345: shipped.",
				"bot: Please reply with the number of an option:\n1. Delivery status\n2. Return an item\n3. Opening hours\n4. Talk to a human",
				"user: Talk to a human", "bot: I'll connect you with a colleague.",
			}
			if !slices.Equal(got, want) {
				t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			conversation := c.do(200, "GET", "/api/conversations/"+conv, nil)["conversation"].(map[string]any)
			if conversation["status"] != "forwarded" || conversation["delivery"].(map[string]any)["pending"] != float64(0) {
				t.Fatalf("conversation %v", conversation)
			}
		})
	}
}

// TestDeliveryRetriesUntilTheReceiverAnswers: the receiver is down (nothing
// listens) for the first attempts, then answers 500, then 200. Every
// message arrives, in order, each id once with a 2xx; the attempts are
// visible through the API.
func TestDeliveryRetriesUntilTheReceiverAnswers(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			// Reserve a port, then free it: nothing listens there yet.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			c := servePlatform(t, kind, delivery.Schedule{0, 20 * time.Millisecond}, map[string]string{"ORDER_API_URL": "http://127.0.0.1:9"})
			bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "webshop"})["bot"].(map[string]any)["id"].(string)
			conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "u1",
				"create_user_if_not_exists": true, "webhook": "http://" + addr + "/webhook"})["conversation"].(map[string]any)["id"].(string)
			c.send(conv, "3")
			c.send(conv, "2")
			// Wait until the first message has failed at least 3 times.
			var head string
			deadline := time.Now().Add(wait)
			for {
				d := c.do(200, "GET", "/api/conversations/"+conv, nil)["conversation"].(map[string]any)["delivery"].(map[string]any)
				if n, _ := d["attempts"].(float64); n >= 3 {
					head = d["next_message_id"].(string)
					if d["last_status"] != nil || !strings.Contains(d["last_error"].(string), "POST failed") {
						t.Fatalf("while down: %v", d)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no failed attempts: %v", d)
				}
				time.Sleep(10 * time.Millisecond) // polling an external process's progress
			}
			if got := c.history(conv); len(got) != 0 {
				t.Fatalf("the history goes past an undelivered bot message: %q", got)
			}
			// Up again: the next two requests get 500, then 200.
			ln, err = net.Listen("tcp", addr)
			if err != nil {
				t.Skipf("the port was taken meanwhile: %v", err)
			}
			hook := newReceiver(t, ln)
			hook.mu.Lock()
			hook.answer = func(n int) int {
				if n <= 2 {
					return 500
				}
				return 200
			}
			hook.mu.Unlock()
			var ids []string
			seen := map[string]bool{}
			for len(ids) < 7 { // 2 start messages, 2 + 3 for the two answers
				d := hook.next(t)
				if seen[d.ID] {
					t.Fatalf("message %s delivered twice with a 2xx", d.ID)
				}
				seen[d.ID] = true
				ids = append(ids, d.ID)
			}
			if ids[0] != head {
				t.Fatalf("first delivered %s, want the head %s", ids[0], head)
			}
			// The history is the whole conversation, in order.
			c.drained(conv)
			got := c.history(conv)
			if len(got) != 9 || !strings.HasPrefix(got[0], "bot: Welcome") || got[2] != "user: 3" || got[5] != "user: 2" {
				t.Fatalf("history %q", got)
			}
			m := c.do(200, "GET", "/api/conversations/"+conv+"/messages/"+head, nil)
			attempts := m["delivery"].(map[string]any)["attempts"].([]any)
			var statuses []string
			for _, a := range attempts {
				statuses = append(statuses, fmt.Sprint(a.(map[string]any)["status"]))
			}
			if len(attempts) < 5 || statuses[len(statuses)-1] != "200" || statuses[len(statuses)-2] != "500" || statuses[len(statuses)-3] != "500" || statuses[0] != "0" {
				t.Fatalf("attempts of the first message: %v", statuses)
			}
			t.Logf("attempts of the first message: %v", statuses)
		})
	}
}

// TestGPTBotsStyleReplies: a conversation created with webhook_format
// "gptbots" gets seed 002's reply format, with the Authorization header it
// asked for, over HTTP to a real receiver.
func TestGPTBotsStyleReplies(t *testing.T) {
	c := servePlatform(t, "sqlite", nil, map[string]string{"ORDER_API_URL": "http://127.0.0.1:9"})
	type reply struct {
		auth string
		body map[string]any
	}
	got := make(chan reply, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			t.Errorf("body: %v", err)
		}
		got <- reply{auth: r.Header.Get("Authorization"), body: b}
		w.Write([]byte(`{"code": 200, "msg": "success"}`))
	}))
	defer hook.Close()
	bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "webshop"})["bot"].(map[string]any)["id"].(string)
	conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "u1", "create_user_if_not_exists": true,
		"webhook": hook.URL, "webhook_format": "gptbots", "webhook_auth": "Bearer app-secret"})["conversation"].(map[string]any)
	if conv["webhook_format"] != "gptbots" || conv["webhook_auth"] != "Bearer ***" {
		t.Fatalf("conversation %v", conv)
	}
	id := conv["id"].(string)
	next := func() reply {
		select {
		case r := <-got:
			return r
		case <-time.After(wait):
			t.Fatal("no reply")
			return reply{}
		}
	}
	first := next()
	if first.auth != "Bearer app-secret" {
		t.Fatalf("Authorization %q", first.auth)
	}
	b := first.body
	out, _ := b["flow_output"].([]any)
	if b["message_type"] != "ANSWER" || b["conversation_id"] != id || b["text"] != "Welcome to our shop! I'm the shop's bot." ||
		b["message_id"] == "" || b["create_time"] == nil || len(out) != 1 || out[0].(map[string]any)["content"] != b["text"] {
		t.Fatalf("reply body %v", b)
	}
	next() // the menu
	c.send(id, "3")
	if r := next(); !strings.HasPrefix(r.body["text"].(string), "We're open") {
		t.Fatalf("answer %v", r.body)
	}
}

// TestBotpressStyleRoundTrip: seed 001's integration over HTTP: messages
// in as {userId, messageId, conversationId, type, text, payload}, replies
// POSTed to the bot's response endpoint one per message, and a repeated
// messageId makes no second reply.
func TestBotpressStyleRoundTrip(t *testing.T) {
	c := servePlatform(t, "sqlite", nil, map[string]string{"ORDER_API_URL": "http://127.0.0.1:9"})
	got := make(chan map[string]any, 32)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			t.Errorf("body: %v", err)
		}
		got <- b
	}))
	defer endpoint.Close()
	bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "webshop", "response_endpoint": endpoint.URL + "/bp"})["bot"].(map[string]any)["id"].(string)
	send := func(messageID, text string) map[string]any {
		return c.do(200, "POST", "/api/botpress/"+bot, map[string]any{"userId": "u-7", "messageId": messageID,
			"conversationId": "conv-42", "type": "text", "text": text, "payload": map[string]any{"text": text}})
	}
	next := func() map[string]any {
		t.Helper()
		select {
		case b := <-got:
			return b
		case <-time.After(wait):
			t.Fatal("no reply at the response endpoint")
			return nil
		}
	}
	if install := next(); install["type"] != "test" || install["payload"] != "test" {
		t.Fatalf("the bot's creation made no installation test POST, but %v", install)
	}
	first := send("m-1", "hi")
	welcome := next()
	if welcome["type"] != "text" || welcome["conversationId"] != "conv-42" || welcome["botpressConversationId"] != first["botpressConversationId"] ||
		welcome["botpressMessageId"] == "" || welcome["botpressUserId"] == "" ||
		welcome["payload"].(map[string]any)["text"] != "Welcome to our shop! I'm the shop's bot." {
		t.Fatalf("reply %v", welcome)
	}
	next() // the menu
	send("m-2", "3")
	if b := next(); !strings.HasPrefix(b["payload"].(map[string]any)["text"].(string), "We're open") {
		t.Fatalf("answer %v", b)
	}
	next() // the menu again
	if again := send("m-2", "3"); again["duplicate"] != true {
		t.Fatalf("a repeated messageId was not recognised: %v", again)
	}
	send("m-3", "2")
	if b := next(); !strings.HasPrefix(b["payload"].(map[string]any)["text"].(string), "**Returns are free") {
		t.Fatalf("after the duplicate, the next reply is %v: the duplicate made a turn", b)
	}
	// A request with every field missing lists every problem (payload is
	// optional for text).
	bad := c.do(400, "POST", "/api/botpress/"+bot, map[string]any{"text": "hi"})
	if errs, _ := bad["error"].(map[string]any)["errors"].([]any); len(errs) != 4 {
		t.Fatalf("no list of problems: %v", bad)
	}
}
