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

// exchange is one request of a dialect test and what it caused.
type exchange struct {
	label   string
	req     map[string]any
	out     map[string]any
	replies []map[string]any
}

// TestBotpressDialect is seed 001 over HTTP: the installation test POST to
// the response endpoint, the documented request, inbound text, postback,
// location and image messages, every reply type (text, image, video,
// audio, file, carousel, card, choice), and two users of one
// conversationId kept apart. Every body is in
// testdata/dialects/botpress.golden; each row of the field table in
// docs/platform.md is a subtest.
func TestBotpressDialect(t *testing.T) {
	c := servePlatformWith(t, showcaseFlow)
	var tr transcript

	refusing := newEndpoint(t, 500)
	refused := c.do(422, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "showcase", "response_endpoint": refusing.url})
	refusing.next(t)

	app := newEndpoint(t, 200)
	bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "showcase", "response_endpoint": app.url})["bot"].(map[string]any)["id"].(string)
	install := app.next(t)
	var ex []exchange
	post := func(label string, req map[string]any, replies int) {
		t.Helper()
		tr.add("app → flowbot: "+label, req)
		e := exchange{label: label, req: req, out: c.do(200, "POST", "/api/botpress/"+bot, req)}
		tr.add("flowbot answers", e.out)
		for range replies {
			b := app.next(t)
			tr.add("flowbot → response endpoint", b)
			e.replies = append(e.replies, b)
		}
		ex = append(ex, e)
	}
	msg := func(user, id, typ, text string, payload any) map[string]any {
		m := map[string]any{"userId": user, "messageId": id, "conversationId": "conv-42", "type": typ, "text": text}
		if payload != nil {
			m["payload"] = payload
		}
		return m
	}
	// Seed 001's documented request.
	post("the documented text message", msg("u-7", "m-1", "text", "hi", map[string]any{"text": "hi"}), 6)
	post("a postback on a card", msg("u-7", "m-2", "postback", "Red", map[string]any{"value": "red"}), 1)
	post("a postback", msg("u-7", "m-3", "postback", "Buy now", map[string]any{"value": "buy"}), 1)
	post("an option's label as text, no payload", msg("u-7", "m-4", "text", "where am i", nil), 1)
	post("a location", msg("u-7", "m-5", "location", "Berlin", map[string]any{"latitude": 52.52, "longitude": 13.405, "address": "Berlin"}), 1)
	post("an image", msg("u-7", "m-6", "image", "a photo", map[string]any{"imageUrl": "https://app.example/p.jpg"}), 1)
	// A second user of the same conversationId has a conversation of their own.
	post("another user in the conversation", msg("u-8", "m-1", "text", "hello", map[string]any{"text": "hello"}), 6)
	post("a type flowbot reads as its text", msg("u-8", "m-2", "sticker", "red", map[string]any{"id": "thumbs-up"}), 1)
	dup := c.do(200, "POST", "/api/botpress/"+bot, msg("u-7", "m-6", "image", "a photo", map[string]any{"imageUrl": "https://app.example/p.jpg"}))
	noKey := c.do(401, "POST", "/api/botpress/"+bot, msg("u-7", "m-9", "text", "hi", nil), "Authorization", "bearer wrong")
	bad := c.do(400, "POST", "/api/botpress/"+bot, map[string]any{"payload": 1})
	tr.check(t, "botpress.golden")

	replies := func() []map[string]any {
		var all []map[string]any
		for _, e := range ex {
			all = append(all, e.replies...)
		}
		return all
	}
	get := func(i int) exchange { return ex[i] }
	payload := func(b map[string]any) map[string]any { p, _ := b["payload"].(map[string]any); return p }
	types := func(e exchange) string {
		var s []string
		for _, b := range e.replies {
			s = append(s, b["type"].(string))
		}
		return strings.Join(s, ",")
	}
	want := func(t *testing.T, ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf(format, args...)
		}
	}
	runFieldRows(t, "botpress", []fieldRow{
		{"Authorization", "in", "`bearer <api key>` (any case), one of `FLOWBOT_API_KEYS`; otherwise 401", func(t *testing.T) {
			want(t, noKey["error"] != nil, "a wrong key: %v", noKey)
		}},
		{"userId", "in", "with conversationId, names the user's own conversation (flow session): two users of one conversationId are two conversations", func(t *testing.T) {
			a, b := get(0).out["botpressConversationId"], get(6).out["botpressConversationId"]
			want(t, a != b && types(get(6)) == types(get(0)), "u-7 in %v, u-8 in %v (replies %s)", a, b, types(get(6)))
		}},
		{"messageId", "in", "deduplicates: a messageId seen before in the user's conversation is answered `duplicate: true` and makes no turn", func(t *testing.T) {
			want(t, dup["duplicate"] == true, "a repeated messageId: %v", dup)
		}},
		{"conversationId", "in", "names the app's conversation; echoed in the answer and in every reply", func(t *testing.T) {
			for _, b := range replies() {
				want(t, b["conversationId"] == "conv-42", "reply %v", b)
			}
		}},
		{"type", "in", "`text`; `image`, `audio`, `video`, `file` (media); `location`; `postback` (a click); any other type is read as its text", func(t *testing.T) {
			want(t, types(get(7)) == "card", "a sticker whose text is an option's label is that option: %v", get(7).replies)
		}},
		{"text", "in", "the message; for a media, location or postback message, a summary kept in the history. The first message of a conversation starts the flow with it", func(t *testing.T) {
			want(t, types(get(3)) == "text" && strings.HasPrefix(payload(get(3).replies[0])["text"].(string), "Send me your location"),
				"an option's label typed: %v", get(3).replies)
		}},
		{"payload", "in", "text: optional (FIELD-NOTES); media: `{imageUrl|audioUrl|videoUrl|fileUrl}` (an http(s) URL); location: `{latitude, longitude, address?, title?}`; postback: `{value}` (the option id). Problems: 400 listing each", func(t *testing.T) {
			want(t, strings.Contains(payload(get(4).replies[0])["text"].(string), "52.52,13.405"), "location: %v", get(4).replies)
			want(t, payload(get(5).replies[0])["text"] == "Thanks, bye!", "image: %v", get(5).replies)
			want(t, types(get(1)) == "card" && types(get(2)) == "choice", "postbacks: %s, %s", types(get(1)), types(get(2)))
			errs, _ := bad["error"].(map[string]any)["errors"].([]any)
			want(t, len(errs) == 5, "a bad request lists %d problems: %v", len(errs), bad)
		}},
		{"type", "out", "`text`, `image`, `video`, `audio`, `file`, `choice`, `card`, `carousel`; never `markdown` (text is converted for the conversation's channel) nor `location` (flows send none)", func(t *testing.T) {
			want(t, types(get(0)) == "text,image,video,audio,file,carousel", "start: %s", types(get(0)))
			for _, b := range replies() {
				want(t, b["type"] != "markdown" && b["type"] != "location", "reply %v", b)
			}
		}},
		{"payload", "out", "text `{text}`; media `{imageUrl|videoUrl|audioUrl|fileUrl, title?}` (title: the caption); choice `{text, options: [{label, value}]}` (value: the option id); card `{title, subtitle?, imageUrl?, actions: [{action: postback, label, value}]}` (a carousel choice with one option); carousel `{items: [card…]}`", func(t *testing.T) {
			r := get(0).replies
			want(t, payload(r[0])["text"] == "Hello!" && payload(r[1])["imageUrl"] == "https://cdn.example/a.png" && payload(r[1])["title"] == "A picture" &&
				payload(r[2])["videoUrl"] != nil && payload(r[3])["audioUrl"] != nil && payload(r[4])["fileUrl"] != nil && payload(r[4])["title"] == "Terms",
				"media payloads %v", r)
			items, _ := payload(r[5])["items"].([]any)
			want(t, len(items) == 2 && items[0].(map[string]any)["imageUrl"] == "https://cdn.example/red.png", "carousel %v", r[5])
			card := payload(get(1).replies[0])
			want(t, card["title"] == "Buy now" && card["actions"].([]any)[0].(map[string]any)["value"] == "buy", "card %v", card)
			opts, _ := payload(get(2).replies[0])["options"].([]any)
			want(t, len(opts) == 2 && opts[0].(map[string]any)["value"] == "where" && payload(get(2).replies[0])["text"] == "What next?", "choice %v", get(2).replies)
		}},
		{"conversationId", "out", "the app's conversationId", func(t *testing.T) {
			want(t, get(6).replies[0]["conversationId"] == "conv-42", "%v", get(6).replies[0])
		}},
		{"botpressUserId", "out", "the app's userId the reply answers *(flowbot's choice: there is no Botpress user)*", func(t *testing.T) {
			want(t, get(0).replies[0]["botpressUserId"] == "u-7" && get(6).replies[0]["botpressUserId"] == "u-8", "%v %v", get(0).replies[0], get(6).replies[0])
		}},
		{"botpressMessageId", "out", "flowbot's id of the bot message (the same on every retry)", func(t *testing.T) {
			seen := map[any]bool{}
			for _, b := range replies() {
				want(t, b["botpressMessageId"] != "" && !seen[b["botpressMessageId"]], "ids repeat or are empty: %v", b)
				seen[b["botpressMessageId"]] = true
			}
		}},
		{"botpressConversationId", "out", "flowbot's id of the user's conversation, also in the answer to each request (`GET /api/conversations/{id}` reads it)", func(t *testing.T) {
			id, _ := get(0).out["botpressConversationId"].(string)
			want(t, get(0).replies[0]["botpressConversationId"] == id, "%v", get(0).replies[0])
			conv := c.do(200, "GET", "/api/conversations/"+id, nil)["conversation"].(map[string]any)
			want(t, len(conv["messages"].([]any)) > 0, "conversation %v", conv)
		}},
		{"installation test", "out", "`{\"type\":\"test\",\"payload\":\"test\"}` POSTed to the response endpoint when a bot is created with it; a bot whose endpoint does not answer 2xx is refused (422)", func(t *testing.T) {
			want(t, install["type"] == "test" && install["payload"] == "test" && len(install) == 2, "installation test %v", install)
			msg, _ := refused["error"].(map[string]any)["message"].(string)
			want(t, strings.Contains(msg, "answered 500 to the installation test"), "refusal %v", refused)
		}},
	})
}

// TestGPTBotsDialect is seed 002 over HTTP: the webshop's replies as
// GPTBots webhook bodies with the conversation's Authorization header —
// ANSWER for a statement, QUESTION for the menu (a choice, with one
// flow_output branch per option) and for the order id question — and the
// seed's {"code": 200, "msg": "success"} answer taken as delivered. Every
// body is in testdata/dialects/gptbots.golden; each row of the field table
// in docs/platform.md is a subtest.
func TestGPTBotsDialect(t *testing.T) {
	c := servePlatformWith(t)
	var tr transcript
	app := newEndpoint(t, 200)
	bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "webshop"})["bot"].(map[string]any)["id"].(string)
	conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "u-1", "create_user_if_not_exists": true,
		"webhook": app.url, "webhook_format": "gptbots", "webhook_auth": "Bearer your_apikey"})["conversation"].(map[string]any)["id"].(string)
	var bodies []map[string]any
	var auths []string
	next := func() {
		t.Helper()
		b := app.next(t)
		auths = append(auths, <-app.auth)
		bodies = append(bodies, b)
		tr.add("flowbot → webhook", b)
	}
	next() // welcome
	next() // the menu
	tr.add("app → flowbot", map[string]any{"message": map[string]any{"text": "1", "from_bot": false}})
	c.send(conv, "1")
	next() // the order id question
	tr.add("app → flowbot", map[string]any{"message": map[string]any{"text": "talk to a human", "from_bot": false}})
	c.send(conv, "talk to a human")
	next() // the hand-off
	tr.check(t, "gptbots.golden")
	c.drained(conv)

	want := func(t *testing.T, ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf(format, args...)
		}
	}
	outputs := func(b map[string]any) []map[string]any {
		var out []map[string]any
		for _, o := range b["flow_output"].([]any) {
			out = append(out, o.(map[string]any))
		}
		return out
	}
	runFieldRows(t, "gptbots", []fieldRow{
		{"Authorization", "out", "the conversation's `webhook_auth` (`Bearer <token>` or `Basic <credentials>`), on every delivery", func(t *testing.T) {
			for _, a := range auths {
				want(t, a == "Bearer your_apikey", "Authorization %q", a)
			}
		}},
		{"Content-Type", "out", "`application/json`", func(t *testing.T) {
			want(t, len(bodies) == 4, "the endpoint refuses other types (newEndpoint); got %d bodies", len(bodies))
		}},
		{"message_id", "out", "flowbot's id of the bot message, the same on every retry (and the `webhook-id` header)", func(t *testing.T) {
			seen := map[any]bool{}
			for _, b := range bodies {
				want(t, b["message_id"] != "" && !seen[b["message_id"]], "message_id %v", b["message_id"])
				seen[b["message_id"]] = true
			}
		}},
		{"message_type", "out", "`QUESTION` for the message the user's next message answers (an `ask`'s prompt, a choice), else `ANSWER`", func(t *testing.T) {
			var got []string
			for _, b := range bodies {
				got = append(got, b["message_type"].(string))
			}
			want(t, strings.Join(got, ",") == "ANSWER,QUESTION,QUESTION,ANSWER", "message types %v", got)
		}},
		{"text", "out", "the message's text as the conversation's channel renders it (a choice: its numbered list; a media message: the caption and the link)", func(t *testing.T) {
			want(t, bodies[0]["text"] == "Welcome to our shop! I'm the shop's bot." && strings.Contains(bodies[1]["text"].(string), "1. Delivery status"), "texts %v", bodies)
		}},
		{"flow_output", "out", "the text as one output, then for a choice one output per option", func(t *testing.T) {
			want(t, len(outputs(bodies[0])) == 1 && len(outputs(bodies[1])) == 5, "outputs %v / %v", outputs(bodies[0]), outputs(bodies[1]))
		}},
		{"flow_output[].content", "out", "the text; an option's label", func(t *testing.T) {
			o := outputs(bodies[1])
			want(t, o[0]["content"] == bodies[1]["text"] && o[1]["content"] == "Delivery status", "contents %v", o)
		}},
		{"flow_output[].branch", "out", "`1` for the text; an option's id", func(t *testing.T) {
			var got []string
			for _, o := range outputs(bodies[1]) {
				got = append(got, o["branch"].(string))
			}
			want(t, strings.Join(got, ",") == "1,delivery,returns,hours,human", "branches %v", got)
		}},
		{"flow_output[].from_component_name", "out", "`flowbot` for the text, `flowbot.option` for an option *(flowbot's choice)*", func(t *testing.T) {
			o := outputs(bodies[1])
			want(t, o[0]["from_component_name"] == "flowbot" && o[1]["from_component_name"] == "flowbot.option", "components %v", o)
		}},
		{"create_time", "out", "when the bot produced the message, in Unix seconds", func(t *testing.T) {
			ct, _ := bodies[0]["create_time"].(float64)
			want(t, time.Since(time.Unix(int64(ct), 0)).Abs() < time.Minute, "create_time %v", bodies[0]["create_time"])
		}},
		{"conversation_id", "out", "flowbot's conversation id", func(t *testing.T) {
			for _, b := range bodies {
				want(t, b["conversation_id"] == conv, "conversation_id %v", b["conversation_id"])
			}
		}},
		{"code, msg", "in", "the receiver's answer: any 2xx (the seed's `{\"code\": 200, \"msg\": \"success\"}`) is delivered, anything else retried; the body is not read", func(t *testing.T) {
			d := c.do(200, "GET", "/api/conversations/"+conv, nil)["conversation"].(map[string]any)["delivery"].(map[string]any)
			want(t, d["pending"] == float64(0), "delivery %v", d)
		}},
	})
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
	conflict := c.do(409, "POST", "/api/conversations/"+hooked+"/generate-response", req)
	tr.check(t, "chat.golden")

	// Seed 000's example requests, field by field.
	seedBot := c.do(201, "POST", "/api/bots", map[string]any{"name": "Anna", "flow": "webshop", "freeform": "You're energetic and passionate",
		"attributes": []map[string]string{{"name": "bio", "value": "Certified personal trainer"}}})["bot"].(map[string]any)
	app := newEndpoint(t, 200)
	seedConv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": seedBot["id"], "user_id": "user_example",
		"create_user_if_not_exists": true, "webhook": app.url})["conversation"].(map[string]any)
	webhookBody := app.next(t)
	app.next(t) // the menu
	sent := c.do(202, "POST", "/api/conversations/"+seedConv["id"].(string)+"/messages",
		map[string]any{"message": map[string]any{"text": "", "from_bot": false, "attached_media": map[string]any{"url": "https://app.example/p.jpg"}}})
	app.next(t) // the flow's answer to an upload
	newUser := c.do(404, "POST", "/api/conversations", map[string]any{"bot_id": seedBot["id"], "user_id": "nobody"})
	badTiming := c.do(400, "POST", "/api/conversations", map[string]any{"bot_id": seedBot["id"], "user_id": "user_example", "timing": map[string]any{"min_delay": 1}})
	history := c.do(200, "GET", "/api/conversations/"+conv+"/messages?limit=2", nil)

	want := func(t *testing.T, ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf(format, args...)
		}
	}
	msg, _ := webhookBody["message"].(map[string]any)
	runFieldRows(t, "chat", []fieldRow{
		{"name, freeform, attributes", "in", "the bot (`POST /api/bots`); attributes are `{{ bot.NAME }}` in flows. A bot without `flow` is a persona bot answered by a language model", func(t *testing.T) {
			want(t, seedBot["name"] == "Anna" && seedBot["freeform"] == "You're energetic and passionate" && len(seedBot["attributes"].([]any)) == 1, "bot %v", seedBot)
		}},
		{"bot_id, user_id", "in", "one conversation per (bot, user): the first call creates it (201) and starts the flow, a later one returns it", func(t *testing.T) {
			want(t, seedConv["bot_id"] == seedBot["id"] && seedConv["user_id"] == "user_example", "conversation %v", seedConv)
		}},
		{"create_user_if_not_exists", "in", "default false *(flowbot's choice; seed 000's SDK defaults to true and sends it)*: an unknown user is 404 without it", func(t *testing.T) {
			want(t, newUser["error"] != nil, "unknown user %v", newUser)
		}},
		{"webhook", "in", "where bot messages are POSTed, one per message, retried until a 2xx; without it the app polls", func(t *testing.T) {
			want(t, msg["text"] == "Welcome to our shop! I'm the shop's bot.", "webhook body %v", webhookBody)
		}},
		{"message.text, message.from_bot", "in", "the user's message (`from_bot` must be false); answered 202", func(t *testing.T) {
			want(t, sent["message"].(map[string]any)["from_bot"] == false, "sent %v", sent)
		}},
		{"message.attached_media.url", "in", "an upload: a media event for the flow (with text: a message with media)", func(t *testing.T) {
			m := sent["message"].(map[string]any)
			want(t, m["attached_media"].(map[string]any)["url"] == "https://app.example/p.jpg", "sent %v", sent)
		}},
		{"conversation_id", "out", "flowbot's conversation id (webhook body)", func(t *testing.T) {
			want(t, webhookBody["conversation_id"] == seedConv["id"], "webhook body %v", webhookBody)
		}},
		{"message.id, text, from_bot, sent_at, attached_media", "out", "the bot message: id (the `webhook-id`), text, `from_bot: true`, Unix seconds it was sent, `{url}` or null", func(t *testing.T) {
			want(t, msg["id"] != "" && msg["from_bot"] == true && msg["sent_at"] != nil && msg["attached_media"] == nil, "message %v", msg)
		}},
		{"messages (GET /api/conversations/{id})", "out", "the history, polled by seed 000's SDK: the first 1,000 messages, `more_messages` when there are more", func(t *testing.T) {
			want(t, seen >= 5, "the polling loop saw %d messages", seen)
		}},
		{"GET /api/conversations/{id}/messages", "out", "the history in pages (`after`, `limit`, `next_cursor`, `has_more`)", func(t *testing.T) {
			want(t, len(history["messages"].([]any)) == 2 && history["has_more"] == true, "history %v", history)
		}},
		{"generate-response", "in/out", "`POST …/generate-response`: the user's message answered 200 with the bot's replies; 409 with a webhook", func(t *testing.T) {
			want(t, len(replies) > 0 && conflict["error"] != nil, "replies %v, conflict %v", replies, conflict)
		}},
		{"min_delay, max_delay, typing_speed, segment, timezone", "in", "the SDK's client settings are the `timing` keys `typing_min`, `typing_max`, `typing_speed`, `segment`, `time_zone` ([Timing](#timing)); the SDK's names are refused (400, unknown field) rather than ignored", func(t *testing.T) {
			want(t, badTiming["error"] != nil, "timing with min_delay: %v", badTiming)
		}},
	})
}
