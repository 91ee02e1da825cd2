package userlike_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/userlike"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const token = "d8facdb0-7510-495c-9d6e-8c22b9260e7a"

// event builds a webhook body.
func event(cid any, name any, payload any, context any) string {
	info := map[string]any{"cid": cid}
	if context != nil {
		info["context"] = context
	}
	b, _ := json.Marshal(map[string]any{"info": info, "packet": map[string]any{"name": name, "payload": payload}})
	return string(b)
}

func post(t *testing.T, url, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// golden compares got with testdata/errors/name.json (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "errors", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(bytes.TrimSpace(got), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Errorf("body\n got %s\nwant %s\n(golden file %s; go test -update rewrites it)", got, want, path)
	}
}

// TestBadInput checks every bad-input rule of SPEC §5 over HTTP: the status,
// a JSON {"error"} body (golden files) and never a 5xx.
func TestBadInput(t *testing.T) {
	obs := newRecordingObserver()
	srv := serveHTTP(t, newHandler(t, userlike.Options{Token: token, Observer: obs, Logger: testLogger(t)}))
	hook := srv.URL + "/bots/name-email-forward/webhook"
	auth := map[string]string{"API-SECURITY-TOKEN": token}
	start := event("c1", "start", map[string]any{}, nil)
	big := `{"info":{"cid":"c1"},"packet":{"name":"message","payload":{"body":"` + strings.Repeat("x", userlike.MaxBodyBytes) + `"}}}`

	cases := []struct {
		name   string
		url    string
		method string
		header map[string]string
		body   string
		status int
	}{
		{"token-missing", hook, "", nil, start, 401},
		{"token-wrong", hook, "", map[string]string{"API-SECURITY-TOKEN": "nope"}, start, 401},
		{"token-wrong-prefix", hook, "", map[string]string{"API-SECURITY-TOKEN": token[:10]}, start, 401},
		{"unknown-bot", srv.URL + "/bots/no-such-bot/webhook", "", auth, start, 404},
		{"unknown-bot-no-token", srv.URL + "/bots/no-such-bot/webhook", "", nil, start, 401},
		{"method-get", hook, http.MethodGet, auth, "", 405},
		{"malformed-json", hook, "", auth, `{"info": {"cid": "c1"`, 400},
		{"malformed-json-trailing", hook, "", auth, start + `}`, 400},
		{"empty-body", hook, "", auth, ``, 400},
		{"not-an-object", hook, "", auth, `["start"]`, 400},
		{"missing-info", hook, "", auth, `{"packet":{"name":"start"}}`, 400},
		{"missing-cid", hook, "", auth, event("", "start", map[string]any{}, nil), 400},
		{"cid-number", hook, "", auth, event(258, "start", map[string]any{}, nil), 400},
		{"info-string", hook, "", auth, `{"info":"c1","packet":{"name":"start"}}`, 400},
		{"missing-packet", hook, "", auth, `{"info":{"cid":"c1"}}`, 400},
		{"missing-packet-name", hook, "", auth, `{"info":{"cid":"c1"},"packet":{"payload":{}}}`, 400},
		{"packet-name-number", hook, "", auth, event("c1", 7, map[string]any{}, nil), 400},
		{"payload-string", hook, "", auth, event("c1", "message", "hello", nil), 400},
		{"message-body-number", hook, "", auth, event("c1", "message", map[string]any{"body": 42}, nil), 400},
		{"click-without-value", hook, "", auth, event("c1", "click", map[string]any{}, nil), 400},
		{"click-value-string", hook, "", auth, event("c1", "click", map[string]any{"value": "start"}, nil), 400},
		{"click-id-number", hook, "", auth, event("c1", "click", map[string]any{"value": map[string]any{"id": 2}}, nil), 400},
		{"media-url-number", hook, "", auth, event("c1", "media", map[string]any{"url": 1}, nil), 400},
		{"location-missing-latitude", hook, "", auth, event("c1", "location", map[string]any{"longitude": 13.4}, nil), 400},
		{"location-latitude-out-of-range", hook, "", auth, event("c1", "location", map[string]any{"latitude": 91, "longitude": 13.4}, nil), 400},
		{"location-latitude-text", hook, "", auth, event("c1", "location", map[string]any{"latitude": "north", "longitude": 13.4}, nil), 400},
		{"channel-type-number", hook, "", auth, `{"info":{"cid":"c1","conversation":{"contact_channel":{"type":3}}},"packet":{"name":"start"}}`, 400},
		{"contact-string", hook, "", auth, `{"info":{"cid":"c1","contact":"Ada"},"packet":{"name":"start"}}`, 400},
		{"too-large", hook, "", auth, big, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, c.url, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(raw, &e); err != nil || e.Error == "" {
				t.Fatalf("body is not {\"error\": …}: %s", raw)
			}
			golden(t, c.name, raw)
		})
	}

	t.Run("too-large-chunked", func(t *testing.T) {
		// No Content-Length: the limit applies while reading.
		req, _ := http.NewRequest(http.MethodPost, hook, io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("API-SECURITY-TOKEN", token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("status %d: %s", resp.StatusCode, raw)
		}
		golden(t, "too-large-chunked", raw)
	})
	t.Run("right-token", func(t *testing.T) {
		resp, raw := post(t, hook, start, auth)
		if resp.StatusCode != 200 || !strings.HasPrefix(string(raw), "[") {
			t.Fatalf("status %d: %s", resp.StatusCode, raw)
		}
	})
	t.Run("unknown-event", func(t *testing.T) {
		for _, body := range []string{
			event("c1", "typing_indicator", map[string]any{"whatever": []int{1}}, nil),
			event("c1", "future_event", "payload of any type", "context of any type"),
		} {
			resp, raw := post(t, hook, body, auth)
			if resp.StatusCode != 200 || string(raw) != "[]" {
				t.Fatalf("status %d, body %s; want 200 []", resp.StatusCode, raw)
			}
		}
	})
	if n := obs.statuses[500]; n != 0 {
		t.Errorf("%d answers were 500", n)
	}
	if n := obs.errorCount(userlike.ErrKindPanic); n != 0 {
		t.Errorf("%d panics", n)
	}
}

// TestBadContextRestartsPolitely sends contexts flowbot did not write (or no
// longer understands): each gets 200, an apology and the flow from its
// start, never a 5xx.
func TestBadContextRestartsPolitely(t *testing.T) {
	obs := newRecordingObserver()
	srv := serveHTTP(t, newHandler(t, userlike.Options{Observer: obs, Logger: testLogger(t)}))
	hook := srv.URL + "/bots/name-email-forward/webhook"
	huge := map[string]any{"fb": 1, "f": "name-email-forward", "s": "ask_email", "x": map[string]string{"name": strings.Repeat("a", 30000)}}
	almost := map[string]any{"fb": 1, "f": "name-email-forward", "s": "ask_email", "x": map[string]string{"name": strings.Repeat("a", 15000)}}
	cases := []struct {
		name    string
		context any
		kind    string
	}{
		{"garbage-string", "garbage", userlike.RecoveryForeign},
		{"number", 12, userlike.RecoveryForeign},
		{"array", []any{1, 2}, userlike.RecoveryForeign},
		{"someone-elses-object", map[string]any{"state": "email"}, userlike.RecoveryForeign},
		{"wrong-field-types", map[string]any{"fb": 1, "f": 3, "s": []int{1}}, userlike.RecoveryForeign},
		{"other-flow", map[string]any{"fb": 1, "f": "campaign-signup", "v": "x", "s": "welcome"}, userlike.RecoveryRestarted},
		{"state-gone", map[string]any{"fb": 1, "f": "name-email-forward", "v": "x", "s": "no_such_state"}, userlike.RecoveryRestarted},
		{"oversized-20kb", huge, userlike.RecoveryForeign},
		{"oversized-15kb", almost, userlike.RecoveryRestarted},
		{"future-format", map[string]any{"fb": 99, "f": "name-email-forward", "s": "ask_email"}, userlike.RecoveryForeign},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := obs.recoveryCount(c.kind)
			resp, raw := post(t, hook, event("c-"+c.name, "message", map[string]any{"body": "hello"}, c.context), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, raw)
			}
			var events []userlike.OutEvent
			if err := json.Unmarshal(raw, &events); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			var texts []string
			for _, e := range events {
				var p map[string]any
				json.Unmarshal(e.Packet.Payload, &p)
				if b, ok := p["body"].(string); ok {
					texts = append(texts, b)
				}
			}
			if len(texts) != 2 || !strings.Contains(texts[0], "start again") || texts[1] != "Welcome! I am a bot. What is your name?" {
				t.Fatalf("want an apology and the first question, got %q", texts)
			}
			s, err := engine.DecodeContext(events[len(events)-1].Info.Context)
			if err != nil || s.Flow != "name-email-forward" || s.State != "ask_name" {
				t.Fatalf("new context %s: %+v, %v", events[len(events)-1].Info.Context, s, err)
			}
			if got := obs.recoveryCount(c.kind); got != before+1 {
				t.Errorf("recovery %q counted %d times, want %d", c.kind, got-before, 1)
			}
		})
	}
}

// TestPanicIsRecovered proves the last line of defence works: a panic while
// handling a call (here planted in the bot-name hook) is logged, counted
// and answered 500 with a JSON error; the server goes on.
func TestPanicIsRecovered(t *testing.T) {
	obs := newRecordingObserver()
	h := newHandler(t, userlike.Options{Observer: obs, Logger: testLogger(t), BotName: func(r *http.Request) string {
		if r.URL.Query().Get("boom") != "" {
			panic("planted")
		}
		return "name-email-forward"
	}})
	srv := serveHTTP(t, h)
	resp, raw := post(t, srv.URL+"/x?boom=1", event("c", "start", map[string]any{}, nil), nil)
	if resp.StatusCode != 500 || !strings.Contains(string(raw), `"error"`) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	if n := obs.errorCount(userlike.ErrKindPanic); n != 1 {
		t.Fatalf("%d panics counted", n)
	}
	if resp, raw := post(t, srv.URL+"/x", event("c", "start", map[string]any{}, nil), nil); resp.StatusCode != 200 {
		t.Fatalf("after the panic: %d %s", resp.StatusCode, raw)
	}
}
