package server_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

var updateDialects = flag.Bool("update-dialects", false, "rewrite testdata/dialects/*.golden")

// showcaseFlow says and asks one of everything a dialect reply can carry:
// text, the four media types, a carousel, a card, a choice, questions for
// a location and a photo.
const showcaseFlow = `
name: showcase
start: hello
states:
  hello:
    say:
      - "Hello!"
      - {image: "https://cdn.example/a.png", caption: "A picture"}
      - {video: "https://cdn.example/v.mp4"}
      - {audio: "https://cdn.example/s.ogg"}
      - {file: "https://cdn.example/terms.pdf", caption: "Terms"}
    next: colours
  colours:
    choice:
      text: "Pick a colour:"
      form: carousel
      options:
        - {id: red, label: Red, description: Bright, image: "https://cdn.example/red.png", goto: offer}
        - {id: blue, label: Blue, image: "https://cdn.example/blue.png", goto: offer}
  offer:
    choice:
      text: "Our offer"
      form: carousel
      options:
        - {id: buy, label: Buy now, image: "https://cdn.example/offer.png", goto: menu}
  menu:
    choice:
      text: "What next?"
      options:
        - {id: where, label: Where am I, goto: where}
        - {id: bye, label: Goodbye, goto: bye}
  where:
    ask: "Send me your location."
    expect: location
    save: place
    next: photo
  photo:
    ask: "You are at {{ place }}. Now a photo, please."
    expect: media
    save: picture
    next: bye
  bye:
    say: "Thanks, bye!"
    do: [end]
`

// servePlatformWith serves the examples and extra flows with the Chat API.
func servePlatformWith(t *testing.T, extra ...string) chat {
	t.Helper()
	fl := (&asyncSetup{env: map[string]string{"ORDER_API_URL": "http://127.0.0.1:9"}}).flows(t)
	for _, src := range extra {
		f, lints := flows.Parse("extra.yaml", []byte(src), flows.Options{})
		if f == nil || lints.HasErrors() {
			t.Fatalf("test flow: %s", lints)
		}
		fl = append(fl, f)
	}
	r := serve(t, server.Config{Flows: fl, Platform: &server.Platform{
		Database: storetest.Address(t, "sqlite"), APIKeys: []string{chatKey}, Lease: 5 * time.Second}}, nil)
	t.Cleanup(func() { r.stop() })
	return chat{t: t, url: r.url}
}

// endpoint is an app's endpoint that records the bodies POSTed to it.
type endpoint struct {
	url    string
	got    chan []byte
	auth   chan string
	status int
}

func newEndpoint(t *testing.T, status int) *endpoint {
	e := &endpoint{got: make(chan []byte, 64), auth: make(chan string, 64), status: status}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		e.auth <- r.Header.Get("Authorization")
		e.got <- b
		w.WriteHeader(e.status)
		io.WriteString(w, `{"code": 200, "msg": "success"}`)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/hook"
	return e
}

func (e *endpoint) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case b := <-e.got:
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("body %s: %v", b, err)
		}
		return m
	case <-time.After(wait):
		t.Fatal("nothing arrived at the endpoint")
		return nil
	}
}

// transcript collects requests and the bodies they caused, with ids
// replaced by their order of appearance, for a golden file.
type transcript struct {
	b   strings.Builder
	ids map[string]string
}

var unixTime = regexp.MustCompile(`"(create_time|sent_at)": \d+`)

var uuidLike = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func (tr *transcript) add(label string, v any) {
	raw, _ := json.Marshal(v)
	var buf bytes.Buffer
	json.Indent(&buf, raw, "", "  ")
	s := uuidLike.ReplaceAllStringFunc(buf.String(), func(id string) string {
		if tr.ids == nil {
			tr.ids = map[string]string{}
		}
		if _, ok := tr.ids[id]; !ok {
			tr.ids[id] = fmt.Sprintf("<id-%d>", len(tr.ids)+1)
		}
		return tr.ids[id]
	})
	s = unixTime.ReplaceAllString(s, `"$1": "<unix seconds>"`)
	tr.b.WriteString("## " + label + "\n" + s + "\n\n")
}

func (tr *transcript) check(t *testing.T, name string) {
	t.Helper()
	path := filepath.Join("testdata", "dialects", name)
	if *updateDialects {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(tr.b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./runtime/server -run Dialect -update-dialects writes it)", err)
	}
	if string(want) != tr.b.String() {
		t.Errorf("%s differs (go test ./runtime/server -run Dialect -update-dialects rewrites it); got:\n%s", path, tr.b.String())
	}
}

// TestBotpressDialect is seed 001 over HTTP: the installation test POST to
// the response endpoint, the documented request, inbound text, postback,
// location and image messages, every reply type (text, image, video,
// audio, file, carousel, card, choice), and two users of one
// conversationId kept apart. Every body is in testdata/dialects/botpress.golden.
func TestBotpressDialect(t *testing.T) {
	c := servePlatformWith(t, showcaseFlow)
	var tr transcript

	refusing := newEndpoint(t, 500)
	bad := c.do(422, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "showcase", "response_endpoint": refusing.url})
	if msg := bad["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "answered 500 to the installation test") {
		t.Fatalf("a failing installation test: %v", bad)
	}
	refusing.next(t)

	app := newEndpoint(t, 200)
	bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "showcase", "response_endpoint": app.url})["bot"].(map[string]any)["id"].(string)
	if install := app.next(t); install["type"] != "test" || install["payload"] != "test" || len(install) != 2 {
		t.Fatalf("installation test %v", install)
	}
	post := func(label string, req map[string]any, replies ...string) {
		t.Helper()
		tr.add("app → flowbot: "+label, req)
		out := c.do(200, "POST", "/api/botpress/"+bot, req)
		tr.add("flowbot answers", out)
		for _, typ := range replies {
			b := app.next(t)
			if b["type"] != typ || b["conversationId"] != req["conversationId"] || b["botpressUserId"] != req["userId"] ||
				b["botpressConversationId"] != out["botpressConversationId"] || b["botpressMessageId"] == "" {
				t.Fatalf("after %s: reply %v, want type %s", label, b, typ)
			}
			tr.add("flowbot → response endpoint", b)
		}
	}
	msg := func(user, id, typ, text string, payload any) map[string]any {
		m := map[string]any{"userId": user, "messageId": id, "conversationId": "conv-42", "type": typ, "text": text}
		if payload != nil {
			m["payload"] = payload
		}
		return m
	}
	// Seed 001's documented request.
	post("the documented text message", msg("u-7", "m-1", "text", "hi", map[string]any{"text": "hi"}),
		"text", "image", "video", "audio", "file", "carousel")
	post("a postback on a card", msg("u-7", "m-2", "postback", "Red", map[string]any{"value": "red"}), "card")
	post("a postback", msg("u-7", "m-3", "postback", "Buy now", map[string]any{"value": "buy"}), "choice")
	post("an option's label as text, no payload", msg("u-7", "m-4", "text", "where am i", nil), "text")
	post("a location", msg("u-7", "m-5", "location", "Berlin", map[string]any{"latitude": 52.52, "longitude": 13.405, "address": "Berlin"}), "text")
	post("an image", msg("u-7", "m-6", "image", "a photo", map[string]any{"imageUrl": "https://app.example/p.jpg"}), "text")
	// A second user of the same conversationId has a conversation of their own.
	post("another user in the conversation", msg("u-8", "m-1", "text", "hello", map[string]any{"text": "hello"}),
		"text", "image", "video", "audio", "file", "carousel")
	tr.check(t, "botpress.golden")
}

// TestGPTBotsDialect is seed 002 over HTTP: the webshop's replies as
// GPTBots webhook bodies with the conversation's Authorization header —
// ANSWER for a statement, QUESTION for the menu (a choice, with one
// flow_output branch per option) and for the order id question — and the
// seed's {"code": 200, "msg": "success"} answer taken as delivered. Every
// body is in testdata/dialects/gptbots.golden.
func TestGPTBotsDialect(t *testing.T) {
	c := servePlatformWith(t)
	var tr transcript
	app := newEndpoint(t, 200)
	bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "webshop"})["bot"].(map[string]any)["id"].(string)
	conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "u-1", "create_user_if_not_exists": true,
		"webhook": app.url, "webhook_format": "gptbots", "webhook_auth": "Bearer your_apikey"})["conversation"].(map[string]any)["id"].(string)
	expect := func(typ, textPrefix string, branches ...string) {
		t.Helper()
		b := app.next(t)
		if auth := <-app.auth; auth != "Bearer your_apikey" {
			t.Errorf("Authorization %q", auth)
		}
		out, _ := b["flow_output"].([]any)
		var got []string
		for _, o := range out {
			got = append(got, o.(map[string]any)["branch"].(string))
		}
		if b["message_type"] != typ || !strings.HasPrefix(b["text"].(string), textPrefix) || b["conversation_id"] != conv ||
			b["message_id"] == "" || b["create_time"] == nil || strings.Join(got, ",") != strings.Join(append([]string{"1"}, branches...), ",") {
			t.Fatalf("reply %v, want %s %q with branches 1,%v", b, typ, textPrefix, branches)
		}
		tr.add("flowbot → webhook", b)
	}
	expect("ANSWER", "Welcome to our shop!")
	expect("QUESTION", "Please reply with the number of an option:", "delivery", "returns", "hours", "human")
	tr.add("app → flowbot", map[string]any{"message": map[string]any{"text": "1", "from_bot": false}})
	c.send(conv, "1")
	expect("QUESTION", "Please send me your order id")
	tr.add("app → flowbot", map[string]any{"message": map[string]any{"text": "talk to a human", "from_bot": false}})
	c.send(conv, "talk to a human")
	expect("ANSWER", "I'll connect you with a colleague.")
	tr.check(t, "gptbots.golden")
}

// TestChatAPIPollingLoop is seed 000's polling client over HTTP: create a
// bot and a conversation without a webhook, send a message, then read
// GET /api/conversations/{id} until its messages array has grown by the
// bot's replies — and the "generate a response" pattern, where the reply
// comes in the answer. The bodies are in testdata/dialects/chat.golden.
func TestChatAPIPollingLoop(t *testing.T) {
	c := servePlatformWith(t)
	var tr transcript
	bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "webshop"})["bot"].(map[string]any)["id"].(string)
	conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "user_example", "create_user_if_not_exists": true})["conversation"].(map[string]any)["id"].(string)
	seen := 0
	// poll is the SDK's loop: GET the conversation until messages grows
	// past what was seen and ends with a bot message.
	poll := func() []any {
		t.Helper()
		deadline := time.Now().Add(wait)
		for {
			out := c.do(200, "GET", "/api/conversations/"+conv, nil)
			msgs, ok := out["conversation"].(map[string]any)["messages"].([]any)
			if !ok {
				t.Fatalf("GET /api/conversations/{id} has no messages array: %v", out)
			}
			if len(msgs) > seen && msgs[len(msgs)-1].(map[string]any)["from_bot"] == true {
				fresh := msgs[seen:]
				seen = len(msgs)
				tr.add("GET /api/conversations/{id}: new messages", fresh)
				return fresh
			}
			if time.Now().After(deadline) {
				t.Fatalf("the messages array did not grow: %v", msgs)
			}
			time.Sleep(20 * time.Millisecond) // the SDK polls every ~500 ms
		}
	}
	texts := func(msgs []any) string {
		var s []string
		for _, m := range msgs {
			s = append(s, m.(map[string]any)["text"].(string))
		}
		return strings.Join(s, " | ")
	}
	if got := texts(poll()); !strings.HasPrefix(got, "Welcome to our shop! I'm the shop's bot. | Please reply with the number of an option:") {
		t.Fatalf("first poll: %s", got)
	}
	tr.add("POST /api/conversations/{id}/messages", map[string]any{"message": map[string]any{"text": "3", "from_bot": false}})
	c.send(conv, "3")
	if got := texts(poll()); !strings.HasPrefix(got, "3 | We're open") {
		t.Fatalf("second poll: %s", got)
	}

	// Generate a response: the reply is in the answer.
	req := map[string]any{"message": map[string]any{"text": "2", "from_bot": false}}
	tr.add("POST /api/conversations/{id}/generate-response", req)
	out := c.do(200, "POST", "/api/conversations/"+conv+"/generate-response", req, "Idempotency-Key", "k-1")
	tr.add("answer", out)
	replies, _ := out["messages"].([]any)
	if len(replies) == 0 || !strings.HasPrefix(texts(replies), "**Returns are free") || replies[0].(map[string]any)["from_bot"] != true {
		t.Fatalf("generate-response answered %v", out)
	}
	again := c.do(200, "POST", "/api/conversations/"+conv+"/generate-response", req, "Idempotency-Key", "k-1")
	if again["duplicate"] != true || texts(again["messages"].([]any)) != texts(replies) {
		t.Fatalf("a repeated generate-response answered %v, want the first replies", again)
	}
	// A conversation with a webhook is answered there, not here.
	hooked := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "other", "create_user_if_not_exists": true,
		"webhook": newEndpoint(t, 200).url})["conversation"].(map[string]any)["id"].(string)
	c.do(409, "POST", "/api/conversations/"+hooked+"/generate-response", req)
	tr.check(t, "chat.golden")
}
