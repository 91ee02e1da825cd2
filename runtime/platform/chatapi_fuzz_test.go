package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/dialect"
	"github.com/flowbot/flowbot/runtime/platform"
	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

// The fuzzer's route byte: the low two bits pick the endpoint, the others
// vary the request around it.
const (
	fzBots         = 0 // POST /api/bots
	fzOpen         = 1 // POST /api/conversations
	fzPostKnown    = 2 // POST /api/conversations/{a conversation of the setup}/messages
	fzPostAny      = 3 // POST /api/conversations/{the id argument}/messages
	fzEndpointMask = 3

	fzTextPlain = 1 << 2 // Content-Type: text/plain instead of application/json
	fzWebhook   = 1 << 3 // fzPostKnown: the conversation with a webhook
	fzNoAuth    = 1 << 4 // no Authorization header: 401 whatever else
	fzGet       = 1 << 5 // GET the history instead, with the id argument as the query
	fzBotpress  = 1 << 6 // POST /api/botpress/{the id argument} instead (the Botpress-style endpoint)
)

// fuzzMaxPending is small so that the 429 of a full webhook backlog is
// reached (nothing delivers in the fuzzer).
const fuzzMaxPending = 20

var fuzzFlows = map[string]bool{"campaign-signup": true, "name-email-forward": true, "webshop": true}

// chatFuzz is one Chat API over one SQLite store for a whole fuzz target
// (one per fuzzing process), with a model of what the store holds, from
// which every request's answer is predicted.
type chatFuzz struct {
	handler http.Handler
	store   store.Store

	mu       sync.Mutex
	bots     map[string]string // bot id → its response_endpoint
	users    map[string]bool
	convOf   map[[2]string]string // (bot id, user id) → conversation id
	webhook  map[string]string    // conversation id → its webhook ("" for none)
	keys     map[[2]string]string // (conversation id, idempotency key) → the first message's text ("botpress:" + messageId for the Botpress endpoint)
	plain    string               // the setup's conversation without webhook
	webhooky string               // the setup's conversation with a webhook
}

// newChatFuzz opens the API on a SQLite store, or on the store kind named
// by FLOWBOT_FUZZ_STORE (postgres: see storetest).
func newChatFuzz(tb testing.TB) *chatFuzz {
	kind := os.Getenv("FLOWBOT_FUZZ_STORE")
	if kind == "" {
		kind = "sqlite"
	}
	var n atomic.Int64
	fx := &chatFuzz{store: storetest.Open(tb, kind), bots: map[string]string{}, users: map[string]bool{},
		convOf: map[[2]string]string{}, webhook: map[string]string{}, keys: map[[2]string]string{}}
	api, err := platform.New(platform.Options{
		Store: fx.store, Bots: exampleBots(tb, map[string]string{"ORDER_API_URL": "http://127.0.0.1:1", "USERLIKE_API_URL": "", "USERLIKE_API_TOKEN": ""}),
		APIKeys: []string{apiKey}, Deliveries: &counter{}, Clock: clock.NewFake(time.Unix(1_750_000_000, 0)),
		NewID:      func() string { return fmt.Sprintf("id-%d", n.Add(1)) },
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxPending: fuzzMaxPending,
		// The response endpoints are app.example: installed without a test.
		InstallTest: func(context.Context, string) error { return nil },
	})
	if err != nil {
		tb.Fatal(err)
	}
	r := mux.NewRouter()
	api.Register(r)
	fx.handler = r
	// The setup: bot id-1 (webshop), bot id-2 (webshop, with a
	// response_endpoint for the Botpress endpoint), conversation id-3 of
	// anna with id-1 without webhook, and one of ben with a webhook.
	for i, b := range []string{`{"name":"Shop","flow":"webshop"}`, `{"name":"Shop","flow":"webshop","response_endpoint":"https://app.example/botpress"}`} {
		if code, out := fx.do(fzBots, "", "", []byte(b)); code != 201 || out["bot"].(map[string]any)["id"] != fmt.Sprintf("id-%d", i+1) {
			tb.Fatalf("setup bot: %d %v", code, out)
		}
	}
	fx.bots["id-1"], fx.bots["id-2"] = "", "https://app.example/botpress"
	open := func(user, webhook string) string {
		body, _ := json.Marshal(map[string]any{"bot_id": "id-1", "user_id": user, "create_user_if_not_exists": true, "webhook": webhook})
		code, out := fx.do(fzOpen, "", "", body)
		if code != 201 {
			tb.Fatalf("setup conversation: %d %v", code, out)
		}
		id := out["conversation"].(map[string]any)["id"].(string)
		fx.users[user], fx.convOf[[2]string{"id-1", user}], fx.webhook[id] = true, id, webhook
		return id
	}
	fx.plain, fx.webhooky = open("anna", ""), open("ben", "https://app.example/hook")
	if fx.plain != "id-3" {
		tb.Fatalf("setup conversation is %s, not id-3", fx.plain)
	}
	return fx
}

// request builds the request of the route byte (and whether its path is
// one the router redirects to its clean form).
func (fx *chatFuzz) request(route uint8, id, key string, body []byte) (req *http.Request, convID string, unclean bool) {
	method, p := http.MethodPost, ""
	switch route & fzEndpointMask {
	case fzBots:
		p = "/api/bots"
	case fzOpen:
		p = "/api/conversations"
	case fzPostKnown:
		convID = fx.plain
		if route&fzWebhook != 0 {
			convID = fx.webhooky
		}
		p = "/api/conversations/" + convID + "/messages"
	case fzPostAny:
		convID = id
		p = "/api/conversations/" + id + "/messages"
	}
	if route&fzBotpress != 0 {
		convID, p = id, "/api/botpress/"+id // convID is the bot's id
	}
	var query string
	if route&fzGet != 0 {
		method, body = http.MethodGet, nil
		if route&fzEndpointMask != fzPostAny && route&fzBotpress == 0 {
			query = id
		}
	}
	req = httptest.NewRequest(method, "/", bytes.NewReader(body))
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = p, "", query
	if route&fzTextPlain != 0 {
		req.Header.Set("Content-Type", "text/plain")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	if route&fzNoAuth == 0 {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	if key != "" {
		req.Header["Idempotency-Key"] = []string{key}
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return req, convID, clean != p
}

// do sends one request through the handler and checks what every answer
// must be: JSON, with Content-Type application/json, never a 5xx, and an
// error body that repeats the status.
func (fx *chatFuzz) do(route uint8, id, key string, body []byte) (int, map[string]any) {
	req, _, _ := fx.request(route, id, key, body)
	rec := httptest.NewRecorder()
	fx.handler.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// FuzzChatAPI sends arbitrary bodies (and ids, idempotency keys and
// history queries) through the Chat API's handler — POST /api/bots,
// /api/conversations, /api/conversations/{id}/messages, the Botpress-style
// /api/botpress/{bot_id}, and the history — on one SQLite store per
// fuzzing process (FLOWBOT_FUZZ_STORE=postgres for PostgreSQL), and checks each answer against a model of the store:
// never a 5xx or a panic, always a JSON body with Content-Type
// application/json, 2xx exactly for the valid requests, and the status of
// each invalid one.
func FuzzChatAPI(f *testing.F) {
	seeds := []struct {
		route   uint8
		id, key string
		body    string
	}{
		{fzBots, "", "", `{"name":"Shop","flow":"webshop"}`},
		{fzBots, "", "", `{"name":"Shop","flow":"campaign-signup","freeform":"We sell shoes.","attributes":[{"name":"bio","value":"a friendly shop"},{"name":"tone","value":""}]}`},
		{fzBots, "", "", `{"name":"Shop","flow":"webshop","attributes":[{"name":"bio","value":"a"},{"name":"bio","value":"b"}]}`},
		{fzBots, "", "", `{"name":"  ","flow":"webshop"}`},
		{fzBots, "", "", `{"name":"Shop","flow":"websohp"}`},
		{fzBots, "", "", `{"name":"Shop"}`},
		{fzBots, "", "", `{"name":"Shop","flow":"webshop","colour":"red"}`},
		{fzBots, "", "", `{"name":1}`},
		{fzBots, "", "", `{"name":"Shop","flow":"webshop"} {}`},
		{fzBots, "", "", `{"name":"Shop","flow":"webshop","attributes":null}`},
		{fzBots, "", "", `{"NAME":"Shop","Flow":"webshop"}`},
		{fzBots, "", "", `[]`},
		{fzBots, "", "", `null`},
		{fzBots, "", "", ``},
		{fzBots, "", "", `{"name":"\ud800","flow":"webshop"}`},
		{fzBots | fzTextPlain, "", "", `name=Shop&flow=webshop`},
		{fzBots | fzNoAuth, "", "", `{"name":"Shop","flow":"webshop"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"carl","create_user_if_not_exists":true}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"anna"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"dora"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"anna","webhook":"https://app.example/other","channel":"WhatsApp_Business"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"eve","create_user_if_not_exists":true,"channel":" Web "}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"eve","create_user_if_not_exists":true,"channel":"icq"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"eve","create_user_if_not_exists":true,"webhook":"ftp://app.example/hook"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"eve","create_user_if_not_exists":true,"webhook":"/hook"}`},
		{fzOpen, "", "", `{"bot_id":"nope","user_id":"eve","create_user_if_not_exists":true}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"","create_user_if_not_exists":true}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"eve","create_user_if_not_exists":"yes"}`},
		{fzPostKnown, "", "", `{"message":{"text":"hello","from_bot":false}}`},
		{fzPostKnown, "", "", `{"message":{"text":"2"}}`},
		{fzPostKnown, "", "k1", `{"message":{"text":"3","from_bot":false}}`},
		{fzPostKnown, "", "k1", `{"message":{"text":"again","from_bot":false}}`},
		{fzPostKnown, "", "", `{"message":{"text":"","attached_media":{"url":"https://app.example/cat.png"}}}`},
		{fzPostKnown, "", "", `{"message":{"text":"see","attached_media":{"url":""}}}`},
		{fzPostKnown, "", "", `{"message":{"text":"hi","from_bot":true}}`},
		{fzPostKnown, "", "", `{"message":{"text":"   "}}`},
		{fzPostKnown, "", "", `{"message":null}`},
		{fzPostKnown, "", "", `{}`},
		{fzPostKnown, "", "", `{"message":{"text":"hi","extra":1}}`},
		{fzPostKnown, "", "\xff", `{"message":{"text":"hi"}}`},
		{fzPostKnown | fzWebhook, "", "", `{"message":{"text":"hello"}}`},
		{fzPostAny, "id-3", "", `{"message":{"text":"hi"}}`},
		{fzPostAny, "nope", "", `{"message":{"text":"hi"}}`},
		{fzPostAny, "a/b", "", `{"message":{"text":"hi"}}`},
		{fzPostAny, "..", "", `{"message":{"text":"hi"}}`},
		{fzPostAny, "id-1", "", `{"message":{"text":"hi"}}`},
		{fzPostAny, "id-3\x00", "", `{"message":{"text":"hi"}}`},
		{fzPostAny | fzGet, "id-\xff", "", ``},
		{fzBots, "", "", `{"name":"a\u0000b","flow":"webshop"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"\u0000","create_user_if_not_exists":true}`},
		{fzPostKnown, "", "", `{"message":{"text":"hi\u0000"}}`},
		{fzPostKnown, "", "k\x00", `{"message":{"text":"hi"}}`},
		{fzPostKnown | fzGet, "limit=2&after=1", "", ``},
		{fzPostKnown | fzGet, "limit=0", "", ``},
		{fzPostKnown | fzGet, "after=-1", "", ``},
		{fzPostKnown | fzGet, "limit=1001&after=x", "", ``},
		{fzPostAny | fzGet, "nope", "", ``},
		{fzBots | fzGet, "", "", ``},
		{fzBots, "", "", `{"name":"Bp","flow":"webshop","response_endpoint":"https://app.example/replies"}`},
		{fzBots, "", "", `{"name":"Bp","flow":"webshop","response_endpoint":"mailto:x@example.com"}`},
		{fzBots, "", "", `{"name":"Bp","flow":"webshop","response_endpoint":"http://10.0.0.5/replies"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"fay","create_user_if_not_exists":true,"webhook":"https://app.example/g","webhook_format":"gptbots","webhook_auth":"Bearer t0k"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"fay","create_user_if_not_exists":true,"webhook_format":"botpress"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"fay","create_user_if_not_exists":true,"webhook_auth":"Token x"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"fay","create_user_if_not_exists":true,"webhook_auth":"Basic  "}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"fay","create_user_if_not_exists":true,"webhook_auth":"Bearer a\u0000b"}`},
		{fzOpen, "", "", `{"bot_id":"id-1","user_id":"fay","create_user_if_not_exists":true,"webhook_auth":"Bearer a\nb"}`},
		{fzBotpress, "id-2", "", `{"userId":"u1","messageId":"m1","conversationId":"c1","type":"text","text":"hello","payload":{"text":"hello"}}`},
		{fzBotpress, "id-2", "", `{"userId":"u1","messageId":"m1","conversationId":"c1","type":"text","text":"again","payload":{}}`},
		{fzBotpress, "id-2", "", `{"userId":"u1","messageId":"m2","conversationId":"c1","type":"text","text":"","payload":1}`},
		{fzBotpress, "id-2", "", `{"userId":" ","messageId":null,"conversationId":"c1","type":"text","text":"hi","payload":null}`},
		{fzBotpress, "id-2", "", `{"userId":"u1","messageId":"m3","conversationId":"c1","type":"text","text":"hi"}`},
		{fzBotpress, "id-1", "", `{"userId":"u1","messageId":"m1","conversationId":"c1","type":"text","text":"hi","payload":{}}`},
		{fzBotpress, "nope", "", `{"userId":"u1","messageId":"m1","conversationId":"c1","type":"text","text":"hi","payload":{}}`},
		{fzBotpress, "id-2\x00", "", `{"userId":"u1","messageId":"m1","conversationId":"c1","type":"text","text":"hi","payload":{}}`},
		{fzBotpress, "\xff", "", `{"userId":"u1","messageId":"m1","conversationId":"c1","type":"text","text":"hi","payload":{}}`},
		{fzBotpress, "", "", `{}`},
		{fzBotpress | fzGet, "id-2", "", ``},
		{fzOpen, "", "", `{"bot_id":"id-2","user_id":"botpress:[\"c1\",\"u1\"]"}`},
		{fzOpen | fzGet, "", "", ``},
	}
	for _, s := range seeds {
		f.Add(s.route, s.id, s.key, []byte(s.body))
	}
	f.Add(uint8(fzPostKnown), "", "", []byte(`{"message":{"text":"`+strings.Repeat("a", platform.MaxBodyBytes)+`"}}`))
	f.Add(uint8(fzPostKnown), "", "", []byte(`{"message":{"text":"`+strings.Repeat("é", platform.MaxTextChars+1)+`"}}`))
	f.Add(uint8(fzBots), "", "", []byte(`{"name":"`+strings.Repeat("x", platform.MaxNameChars+1)+`","flow":"webshop"}`))

	fx := newChatFuzz(f)
	f.Fuzz(func(t *testing.T, route uint8, id, key string, body []byte) {
		fx.check(t, route, id, key, body)
	})
}

// check sends one request and compares its answer with the model's.
func (fx *chatFuzz) check(t *testing.T, route uint8, id, key string, body []byte) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	ctx := context.Background()
	req, convID, unclean := fx.request(route, id, key, body)
	method, p := req.Method, req.URL.Path
	// What the model expects before sending (the answer changes the store).
	want, why := fx.expect(ctx, route, convID, key, body, req.URL.RawQuery, unclean)
	rec := httptest.NewRecorder()
	fx.handler.ServeHTTP(rec, req)
	code, raw := rec.Code, rec.Body.Bytes()
	where := fmt.Sprintf("%s %s?%s (Idempotency-Key %q) body %q", method, p, req.URL.RawQuery, key, body)
	if unclean {
		// A path with //, . or .. is taken as it is (the router does not
		// redirect it): no route or no such id, a JSON 4xx.
		if code < 400 || code >= 500 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status %d (%s) for an unclean path, want a JSON 4xx: %s", where, code, rec.Header().Get("Content-Type"), raw)
		}
		return
	}
	if code >= 500 {
		t.Fatalf("%s: status %d: %s", where, code, raw)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q: %s", where, ct, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: status %d, the body is not a JSON object (%v): %q", where, code, err, raw)
	}
	if code != want && !(code == http.StatusUnprocessableEntity && fx.policyMayRefuse(route, body)) {
		t.Fatalf("%s: status %d, want %d (%s): %s", where, code, want, why, raw)
	}
	if code >= 400 {
		e, _ := out["error"].(map[string]any)
		if msg, _ := e["message"].(string); msg == "" || e["status"] != float64(code) {
			t.Fatalf("%s: status %d with error body %s", where, code, raw)
		}
		return
	}
	fx.learn(t, where, route, convID, key, body, out)
}

// Test-side copies of the requests' shapes: the decoding rules are Go's
// (case-insensitive names, the last of duplicate names wins, invalid UTF-8
// becomes U+FFFD), with no unknown field and nothing but JSON whitespace
// after the one value.
type (
	fzAttribute struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	fzBotRequest struct {
		Name             string         `json:"name"`
		Flow             string         `json:"flow"`
		Freeform         string         `json:"freeform"`
		Attributes       *[]fzAttribute `json:"attributes"`
		ResponseEndpoint string         `json:"response_endpoint"`
	}
	fzOpenRequest struct {
		BotID         string `json:"bot_id"`
		UserID        string `json:"user_id"`
		CreateUser    bool   `json:"create_user_if_not_exists"`
		Webhook       string `json:"webhook"`
		Channel       string `json:"channel"`
		WebhookFormat string `json:"webhook_format"`
		WebhookAuth   string `json:"webhook_auth"`
	}
	fzBotpressRequest struct {
		UserID         *string         `json:"userId"`
		MessageID      *string         `json:"messageId"`
		ConversationID *string         `json:"conversationId"`
		Type           *string         `json:"type"`
		Text           *string         `json:"text"`
		Payload        json.RawMessage `json:"payload"`
	}
	fzMessageRequest struct {
		Message *struct {
			Text          string `json:"text"`
			FromBot       *bool  `json:"from_bot"`
			AttachedMedia *struct {
				URL string `json:"url"`
			} `json:"attached_media"`
		} `json:"message"`
	}
)

// fzDecode is the status of decoding body into v: 0 when it decodes.
func fzDecode(body []byte, v any) int {
	if len(body) > platform.MaxBodyBytes {
		return http.StatusRequestEntityTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if dec.Decode(v) != nil || len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) != 0 {
		return http.StatusBadRequest
	}
	return 0
}

// fzText tells whether s passes the API's rules for a text field: valid
// UTF-8 without NUL (which PostgreSQL cannot store), at most max runes.
func fzText(s string, max int, required bool) bool {
	return (!required || strings.TrimSpace(s) != "") && utf8.ValidString(s) && !strings.ContainsRune(s, 0) && utf8.RuneCountInString(s) <= max
}

func fzURL(s string) bool {
	u, err := url.Parse(s)
	return len(s) <= platform.MaxURLChars && err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// fzChannel tells whether the API accepts the channel, and its normal form.
func fzChannel(ch string) (string, bool) {
	if ch == "" {
		return "", true
	}
	if n := channels.Normalize(ch); n != channels.Custom || strings.EqualFold(ch, channels.Custom) {
		return n, true
	}
	return "", false
}

// policyMayRefuse tells whether the request opens a conversation with a
// webhook (or creates a bot with a response_endpoint) whose host is an
// address or localhost: the network policy (SSRF guard; the fuzzer's API
// has the default, public addresses only) refuses it with 422.
func (fx *chatFuzz) policyMayRefuse(route uint8, body []byte) bool {
	var raw string
	var o fzOpenRequest
	var b fzBotRequest
	switch {
	case route&(fzEndpointMask|fzGet|fzBotpress) == fzOpen && fzDecode(body, &o) == 0:
		raw = o.Webhook
	case route&(fzEndpointMask|fzGet|fzBotpress) == fzBots && fzDecode(body, &b) == 0:
		raw = b.ResponseEndpoint
	}
	if raw == "" {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	_, isIP := netip.ParseAddr(host)
	return isIP == nil || host == "localhost" || strings.HasSuffix(host, ".localhost")
}

func fzFormat(f string) bool { return f == "" || f == store.FormatChat || f == store.FormatGPTBots }

// fzAuth: empty, or "Bearer <token>" / "Basic <credentials>" that fits in
// one header line (no CR, LF or NUL) of at most MaxURLChars bytes.
func fzAuth(a string) bool {
	if a == "" {
		return true
	}
	scheme, cred, _ := strings.Cut(a, " ")
	return (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "Basic")) && strings.TrimSpace(cred) != "" &&
		!strings.ContainsAny(a, "\r\n\x00") && len(a) <= platform.MaxURLChars
}

// fzBotpressPayload: the payload a Botpress message of the type needs —
// none for text and unknown types; {imageUrl|audioUrl|videoUrl|fileUrl}
// with an http(s) URL for media; latitude and longitude in range for a
// location; a value for a postback.
func fzBotpressPayload(typ string, raw json.RawMessage) bool {
	key := map[string]string{"image": "imageUrl", "audio": "audioUrl", "video": "videoUrl", "file": "fileUrl"}[typ]
	if key == "" && typ != "location" && typ != "postback" {
		return true
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(raw, &p) != nil || p == nil {
		return false
	}
	str := func(name string) (string, bool) { var v string; return v, json.Unmarshal(p[name], &v) == nil }
	switch typ {
	case "location":
		var lat, lon float64
		addr, _ := str("address")
		if addr == "" {
			addr, _ = str("title")
		}
		return json.Unmarshal(p["latitude"], &lat) == nil && json.Unmarshal(p["longitude"], &lon) == nil &&
			lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && fzText(addr, platform.MaxTextChars, false)
	case "postback":
		v, ok := str("value")
		return ok && fzText(v, platform.MaxIDChars, true)
	}
	u, ok := str(key)
	return ok && fzURL(u)
}

// expectBotpress predicts POST /api/botpress/{bot}.
func (fx *chatFuzz) expectBotpress(route uint8, bot string, body []byte) (int, string) {
	switch {
	case bot == "" || strings.Contains(bot, "/"):
		return http.StatusNotFound, "no such endpoint"
	case route&fzGet != 0:
		return http.StatusMethodNotAllowed, "GET on the Botpress endpoint"
	}
	var r fzBotpressRequest
	if s := fzDecode(body, &r); s != 0 {
		return s, "undecodable Botpress message"
	}
	for _, f := range []struct {
		v     *string
		max   int
		blank bool
	}{{r.UserID, platform.MaxIDChars, false}, {r.MessageID, platform.MaxIDChars, false}, {r.ConversationID, platform.MaxIDChars, false},
		{r.Type, platform.MaxNameChars, false}, {r.Text, platform.MaxTextChars, true}} {
		if f.v == nil || !fzText(*f.v, f.max, !f.blank) {
			return http.StatusBadRequest, "a bad Botpress field"
		}
	}
	if !fzBotpressPayload(*r.Type, r.Payload) {
		return http.StatusBadRequest, "a bad payload for the type"
	}
	endpoint, ok := fx.bots[bot]
	switch {
	case !ok:
		return http.StatusNotFound, "no such bot"
	case endpoint == "":
		return http.StatusConflict, "the bot has no response_endpoint"
	}
	return http.StatusOK, "a Botpress message"
}

// expect predicts the status of a request from the model.
func (fx *chatFuzz) expect(ctx context.Context, route uint8, convID, key string, body []byte, query string, unclean bool) (int, string) {
	switch {
	case unclean:
		return http.StatusNotFound, "unclean path"
	case route&fzNoAuth != 0:
		return http.StatusUnauthorized, "no API key"
	case route&fzBotpress != 0:
		return fx.expectBotpress(route, convID, body)
	case route&fzEndpointMask == fzPostAny && strings.Contains(convID, "/"):
		// …/{a}/messages/messages is the route of one message (GET only);
		// any other id with a slash is no route at all.
		if a, ok := strings.CutSuffix(convID, "/messages"); ok && a != "" && !strings.Contains(a, "/") && route&fzGet == 0 {
			return http.StatusMethodNotAllowed, "POST on a message"
		}
		return http.StatusNotFound, "no such endpoint"
	}
	if route&fzGet != 0 {
		if route&fzEndpointMask <= fzOpen {
			return http.StatusMethodNotAllowed, "GET on a POST endpoint"
		}
		q, _ := url.ParseQuery(query)
		if s := q.Get("after"); s != "" {
			if n, err := strconv.ParseInt(s, 10, 64); err != nil || n < 0 {
				return http.StatusBadRequest, "bad after"
			}
		}
		if s := q.Get("limit"); s != "" {
			if n, err := strconv.Atoi(s); err != nil || n < 1 || n > platform.MaxPage {
				return http.StatusBadRequest, "bad limit"
			}
		}
		if _, ok := fx.webhook[convID]; !ok {
			return http.StatusNotFound, "no such conversation"
		}
		return http.StatusOK, "a history page"
	}
	switch route & fzEndpointMask {
	case fzBots:
		var r fzBotRequest
		if s := fzDecode(body, &r); s != 0 {
			return s, "undecodable bot"
		}
		if !fzText(r.Name, platform.MaxNameChars, true) || !fzText(r.Freeform, platform.MaxAttrChars, false) {
			return http.StatusUnprocessableEntity, "bad name or freeform"
		}
		if r.Attributes != nil {
			if len(*r.Attributes) > platform.MaxAttributes {
				return http.StatusUnprocessableEntity, "too many attributes"
			}
			seen := map[string]bool{}
			for _, a := range *r.Attributes {
				if !fzText(a.Name, platform.MaxAttrNameChars, true) || seen[a.Name] || !fzText(a.Value, platform.MaxAttrChars, false) {
					return http.StatusUnprocessableEntity, "bad attribute"
				}
				seen[a.Name] = true
			}
		}
		if !fuzzFlows[r.Flow] || (r.ResponseEndpoint != "" && !fzURL(r.ResponseEndpoint)) {
			return http.StatusUnprocessableEntity, "unknown flow or bad response_endpoint"
		}
		return http.StatusCreated, "a valid bot"
	case fzOpen:
		var r fzOpenRequest
		if s := fzDecode(body, &r); s != 0 {
			return s, "undecodable conversation"
		}
		if _, ok := fzChannel(r.Channel); !ok || !fzText(r.BotID, platform.MaxIDChars, true) || !fzText(r.UserID, platform.MaxIDChars, true) ||
			(r.Webhook != "" && !fzURL(r.Webhook)) || !fzFormat(r.WebhookFormat) || !fzAuth(r.WebhookAuth) {
			return http.StatusUnprocessableEntity, "bad conversation fields"
		}
		switch _, bot := fx.bots[r.BotID]; {
		case !bot:
			return http.StatusNotFound, "no such bot"
		case fx.convOf[[2]string{r.BotID, r.UserID}] != "":
			return http.StatusOK, "an existing conversation"
		case !fx.users[r.UserID] && !r.CreateUser:
			return http.StatusNotFound, "no such user"
		}
		return http.StatusCreated, "a new conversation"
	}
	var r fzMessageRequest
	if s := fzDecode(body, &r); s != 0 {
		return s, "undecodable message"
	}
	if r.Message == nil {
		return http.StatusUnprocessableEntity, "no message"
	}
	media := ""
	if m := r.Message.AttachedMedia; m != nil {
		if media = m.URL; !fzURL(media) {
			return http.StatusUnprocessableEntity, "bad media URL"
		}
	}
	if (r.Message.FromBot != nil && *r.Message.FromBot) || !fzText(r.Message.Text, platform.MaxTextChars, media == "") || !fzText(key, platform.MaxIDChars, false) {
		return http.StatusUnprocessableEntity, "bad message or key"
	}
	webhook, ok := fx.webhook[convID]
	if !ok {
		return http.StatusNotFound, "no such conversation"
	}
	if webhook != "" {
		n, _, err := fx.store.Pending(ctx, convID)
		if err != nil {
			panic(err)
		}
		if n >= fuzzMaxPending {
			return http.StatusTooManyRequests, "the webhook's backlog is full"
		}
	}
	return http.StatusAccepted, "a valid message"
}

// learn checks a 2xx answer against the request and records what it
// created in the model.
func (fx *chatFuzz) learn(t *testing.T, where string, route uint8, convID, key string, body []byte, out map[string]any) {
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s; answer %v", where, fmt.Sprintf(format, args...), out)
	}
	if route&fzGet != 0 {
		msgs, ok := out["messages"].([]any)
		cursor, _ := out["next_cursor"].(string)
		_, isBool := out["has_more"].(bool)
		if _, err := strconv.ParseInt(cursor, 10, 64); !ok || err != nil || !isBool {
			fail("not a history page")
		}
		for _, m := range msgs {
			if m, _ := m.(map[string]any); m == nil || m["id"] == nil || m["text"] == nil {
				fail("a message without id or text")
			}
		}
		return
	}
	if route&fzBotpress != 0 {
		var r fzBotpressRequest
		fzDecode(body, &r)
		bp, _ := out["botpressConversationId"].(string)
		if bp == "" || out["conversationId"] != *r.ConversationID || out["messageId"] != *r.MessageID {
			fail("the answer is not the request's")
		}
		k := [2]string{convID, dialect.BotpressUserID(*r.ConversationID, *r.UserID)} // one conversation per app conversation and user
		if old := fx.convOf[k]; old != "" && old != bp {
			fail("a second conversation %s of the bot and app conversation (first %s)", bp, old)
		}
		fx.convOf[k], fx.users[k[1]], fx.webhook[bp] = bp, true, fx.bots[convID]
		key := [2]string{bp, "botpress:" + *r.MessageID}
		if _, seen := fx.keys[key]; seen != (out["duplicate"] == true) {
			fail("duplicate is %v, want %v", out["duplicate"], seen)
		} else if !seen {
			fx.keys[key] = *r.Text
		}
		return
	}
	switch route & fzEndpointMask {
	case fzBots:
		var r fzBotRequest
		fzDecode(body, &r)
		b, _ := out["bot"].(map[string]any)
		attrs := []fzAttribute{}
		if r.Attributes != nil && len(*r.Attributes) > 0 {
			attrs = *r.Attributes
		}
		got, _ := json.Marshal(b["attributes"])
		wantAttrs, _ := json.Marshal(attrs)
		id, _ := b["id"].(string)
		if id == "" || b["name"] != r.Name || b["flow"] != r.Flow || (r.Freeform != "" && b["freeform"] != r.Freeform) || !bytes.Equal(got, wantAttrs) ||
			(r.ResponseEndpoint != "" && b["response_endpoint"] != r.ResponseEndpoint) {
			fail("the bot is not the request's")
		}
		fx.bots[id] = r.ResponseEndpoint
	case fzOpen:
		var r fzOpenRequest
		fzDecode(body, &r)
		c, _ := out["conversation"].(map[string]any)
		id, _ := c["id"].(string)
		ch, _ := fzChannel(r.Channel)
		if id == "" || c["bot_id"] != r.BotID || c["user_id"] != r.UserID || (ch != "" && c["channel"] != ch) ||
			(r.Webhook != "" && c["webhook"] != r.Webhook) {
			fail("the conversation is not the request's")
		}
		k := [2]string{r.BotID, r.UserID}
		if old := fx.convOf[k]; old != "" && old != id {
			fail("a second conversation %s of the bot and user (first %s)", id, old)
		}
		if r.Webhook != "" || fx.convOf[k] == "" {
			fx.webhook[id] = r.Webhook
		}
		fx.convOf[k], fx.users[r.UserID] = id, true
	default:
		var r fzMessageRequest
		fzDecode(body, &r)
		m, _ := out["message"].(map[string]any)
		text := r.Message.Text
		first, seen := fx.keys[[2]string{convID, key}]
		if key != "" && seen {
			text = first
			if out["duplicate"] != true {
				fail("a second message with the same Idempotency-Key is not a duplicate")
			}
		} else if out["duplicate"] != nil {
			fail("a first message is a duplicate")
		}
		if id, _ := m["id"].(string); id == "" || m["text"] != text || m["from_bot"] != false {
			fail("the message is not the request's (text %q)", text)
		}
		if key != "" && !seen {
			fx.keys[[2]string{convID, key}] = text
		}
	}
}
