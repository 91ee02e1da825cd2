package userlike_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/flowbot/flowbot/runtime/userlike"
)

var (
	fuzzOnce    sync.Once
	fuzzHandler *userlike.Handler
	fuzzObs     *recordingObserver
)

// sharedHandler is one handler for all fuzz iterations (loading flows per
// input would drown the fuzzer).
func sharedHandler(t testing.TB) (*userlike.Handler, *recordingObserver) {
	fuzzOnce.Do(func() {
		fuzzObs = newRecordingObserver()
		fuzzHandler = newHandler(t, userlike.Options{Observer: fuzzObs})
	})
	return fuzzHandler, fuzzObs
}

// checkAnswer fails unless the answer is a non-5xx JSON answer of the right
// shape, and no panic was recovered.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, obs *recordingObserver, body []byte) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
	}
	if n := obs.errorCount(userlike.ErrKindPanic); n != 0 {
		t.Fatalf("a panic was recovered (body %q)", body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("answer is not JSON: %q", rec.Body)
	}
	if rec.Code != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Fatalf("status %d without {\"error\"}: %s", rec.Code, rec.Body)
		}
		return
	}
	var events []userlike.OutEvent
	if err := json.Unmarshal(rec.Body.Bytes(), &events); err != nil {
		t.Fatalf("200 answer is not an event array: %v: %s", err, rec.Body)
	}
	for _, e := range events {
		if e.Info.CID == "" || e.Packet.Name == "" || len(e.Info.Context) == 0 || len(e.Info.Context) > 10240 || e.Info.Context[0] != '{' {
			t.Fatalf("bad event %+v in %s", e, rec.Body)
		}
	}
}

// FuzzWebhookHandler: any body, to any bot, never gets a 5xx; the answer is
// always JSON of the documented shape.
func FuzzWebhookHandler(f *testing.F) {
	for _, s := range []string{
		event("c", "start", map[string]any{}, nil),
		event("c", "message", map[string]any{"body": "Ada"}, map[string]any{"fb": 1, "f": "name-email-forward", "v": "x", "s": "ask_name"}),
		event("c", "message", map[string]any{"body": "2"}, map[string]any{"fb": 1, "f": "webshop", "s": "menu", "p": map[string]any{"n": true, "o": [][2]string{{"a", "A"}}}}),
		event("c", "click", map[string]any{"value": map[string]any{"id": "start"}}, map[string]any{"fb": 1, "f": "campaign-signup", "s": "welcome"}),
		event("c", "location", map[string]any{"latitude": 1, "longitude": 2}, nil),
		`{"info":{"cid":"c","context":"garbage"},"packet":{"name":"message","payload":{"body":"x"}}}`,
		`{"info":{"cid":"c","context":{"fb":1,"f":"name-email-forward","s":"ask_email","r":-5}},"packet":{"name":"message"}}`,
		`{"info":{"cid":"c","context":{"fb":1,"f":"name-email-forward","s":"ask_email","p":{"o":[[]]}}},"packet":{"name":"message"}}`,
		`{"info":{"cid":"c"}}`, `{`, `[]`, ``,
	} {
		for _, bot := range []string{"name-email-forward", "campaign-signup", "webshop", "nope"} {
			f.Add(bot, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, bot string, body []byte) {
		h, obs := sharedHandler(t)
		req := httptest.NewRequest(http.MethodPost, "/bots/x/webhook", bytes.NewReader(body))
		req.URL.Path = "/bots/" + bot + "/webhook"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, obs, body)
	})
}

// FuzzWebhookTurn builds valid webhook calls from fuzzed parts (context,
// event, text, channel), so that the fuzzer reaches the engine and the
// renderer instead of stopping at the JSON decoder.
func FuzzWebhookTurn(f *testing.F) {
	ctxs := []string{
		``, `{}`, `null`, `"x"`, `[1]`,
		`{"fb":1,"f":"name-email-forward","v":"x","s":"ask_email","x":{"name":"Ada"},"r":2}`,
		`{"fb":1,"f":"webshop","v":"x","s":"menu","p":{"n":true,"o":[["delivery","Delivery status"],["human","Talk to a human"]]}}`,
		`{"fb":1,"f":"campaign-signup","v":"x","s":"subscribed","d":true}`,
		`{"fb":1,"f":"webshop","v":"x","s":"ask_order","r":2}`,
	}
	for i, c := range ctxs {
		for j, ev := range []string{"start", "message", "click", "media", "location", "forward_failed", "campaign_unsubscribe", "other"} {
			f.Add([]byte(c), []string{"name-email-forward", "campaign-signup", "webshop"}[(i+j)%3], ev, []string{"2", "start", "Ada", "a@b.co", "menu", ""}[(i+j)%6], []string{"web", "sms", "whatsapp_business", "facebook", "x"}[(i+j)%5])
		}
	}
	f.Fuzz(func(t *testing.T, ctx []byte, bot, name, text, channel string) {
		h, obs := sharedHandler(t)
		info := map[string]any{"cid": "fuzz", "conversation": map[string]any{"contact_channel": map[string]any{"type": channel}}}
		if json.Valid(ctx) {
			info["context"] = json.RawMessage(ctx)
		}
		payload := map[string]any{"body": text, "value": map[string]any{"id": text}, "url": text, "latitude": 1.5, "longitude": 2.5}
		body, err := json.Marshal(map[string]any{"info": info, "packet": map[string]any{"name": name, "payload": payload}})
		if err != nil {
			t.Skip()
		}
		req := httptest.NewRequest(http.MethodPost, "/bots/"+"x"+"/webhook", bytes.NewReader(body))
		req.URL.Path = "/bots/" + bot + "/webhook"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, obs, body)
	})
}
