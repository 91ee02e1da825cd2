package playground_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/flowtest"
	"github.com/flowbot/flowbot/runtime/playground"
)

// flowsDir copies flow files into a temporary folder: from examples/ by
// name, or from testdata/.
func flowsDir(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		src, err := os.ReadFile(filepath.Join("..", "..", "examples", f))
		if os.IsNotExist(err) {
			src, err = os.ReadFile(filepath.Join("testdata", f))
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func post(t *testing.T, h http.Handler, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	if s, ok := body.(string); ok {
		b = []byte(s)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b)))
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: not JSON (%d): %s", path, rec.Code, rec.Body)
	}
	return rec.Code, out
}

type turnOut struct {
	Event    map[string]any    `json:"event"`
	Packets  []map[string]any  `json:"packets"`
	Numbered bool              `json:"numbered"`
	Context  json.RawMessage   `json:"context"`
	Bytes    int               `json:"context_bytes"`
	State    string            `json:"state"`
	Vars     map[string]string `json:"vars"`
	Errors   []struct {
		Text   string `json:"text"`
		File   string `json:"file"`
		Line   int    `json:"line"`
		Column int    `json:"column"`
	} `json:"errors"`
	Calls []struct {
		URL        string `json:"url"`
		AnsweredBy string `json:"answered_by"`
		Status     int    `json:"status"`
		Response   string `json:"response"`
	} `json:"calls"`
	Failed string `json:"failed"`
}

func turn(t *testing.T, h http.Handler, req map[string]any) turnOut {
	t.Helper()
	b, _ := json.Marshal(req)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/turn", bytes.NewReader(b)))
	if rec.Code != http.StatusOK {
		t.Fatalf("turn: %d %s", rec.Code, rec.Body)
	}
	var out turnOut
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPickIsAClickOrTheNumberTheChannelTakes: the same pick is a click
// where the menu was clickable and the number typed where it was text.
func TestPickIsAClickOrTheNumberTheChannelTakes(t *testing.T) {
	h := playground.New(playground.Options{Dir: flowsDir(t, "webshop.yaml")})
	forms := map[string]string{"web": "bubbles", "whatsapp_business": "list_template", "facebook": "bubbles", "sms": "message"}
	for ch, form := range forms {
		start := turn(t, h, map[string]any{"file": "webshop.yaml", "channel": ch, "event": map[string]any{"name": "start"}})
		if len(start.Packets) != 2 || start.Packets[1]["name"] != form || start.Numbered != (ch == "sms") || start.State != "menu" {
			t.Fatalf("%s: the menu: %+v", ch, start)
		}
		next := turn(t, h, map[string]any{"file": "webshop.yaml", "channel": ch, "context": start.Context, "event": map[string]any{"name": "click", "pick": "returns"}})
		want := map[string]any{"name": "click", "click": "returns"}
		if ch == "sms" {
			want = map[string]any{"name": "message", "text": "2"}
		}
		if !sameJSON(next.Event, want) || next.State != "menu" || len(next.Packets) < 3 {
			t.Fatalf("%s: the pick played as %v, state %s, %d packets", ch, next.Event, next.State, len(next.Packets))
		}
		if next.Bytes != len(next.Context) || next.Bytes == 0 {
			t.Errorf("%s: context size %d for %d bytes", ch, next.Bytes, len(next.Context))
		}
	}
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestRequestsAnsweredByThePageOnly: a request without a mock fails the
// turn and says what to add; with the page's mock it is answered, and the
// call is shown with its answer.
func TestRequestsAnsweredByThePageOnly(t *testing.T) {
	h := playground.New(playground.Options{Dir: flowsDir(t, "webshop.yaml")})
	req := map[string]any{"file": "webshop.yaml", "channel": "web", "env": map[string]string{"ORDER_API_URL": "http://orders.test"},
		"start": map[string]any{"state": "ask_order"}, "event": map[string]any{"name": "message", "text": "A-12345"}}
	out := turn(t, h, req)
	if !strings.Contains(out.Failed, "no http mock for GET http://orders.test/orders/A-12345") || len(out.Calls) != 1 || out.Calls[0].AnsweredBy != "none" {
		t.Fatalf("want a failed turn naming the missing mock, got %+v", out)
	}
	req["mocks"] = "- url: http://orders.test/orders/A-12345\n  json: {status: shipped}\n"
	out = turn(t, h, req)
	if out.Failed != "" || out.Vars["order_status"] != "shipped" || len(out.Calls) != 1 || out.Calls[0].AnsweredBy != "mock" || out.Calls[0].Response != `{"status":"shipped"}` {
		t.Fatalf("the mocked lookup: %+v", out)
	}
}

// TestScriptErrorsCarryTheirPosition: a script that throws is shown with
// its file, line and column.
func TestScriptErrorsCarryTheirPosition(t *testing.T) {
	h := playground.New(playground.Options{Dir: flowsDir(t, "broken-script.yaml")})
	out := turn(t, h, map[string]any{"file": "broken-script.yaml", "channel": "web", "start": map[string]any{"state": "ask"}, "event": map[string]any{"name": "message", "text": "hello"}})
	if len(out.Errors) != 1 || out.Errors[0].File != "broken-script.yaml" || out.Errors[0].Line != 9 || out.Errors[0].Column == 0 || !strings.Contains(out.Errors[0].Text, "no 5") || out.State != "ask" {
		t.Fatalf("want the script's error at its line, got %+v", out)
	}
}

// TestSaveWritesATestThatPasses: the saved file, one test per channel,
// passes flowbot test; an edit of the flow makes it fail.
func TestSaveWritesATestThatPasses(t *testing.T) {
	dir := flowsDir(t, "webshop.yaml")
	h := playground.New(playground.Options{Dir: dir, WriteTests: true})
	setup := map[string]any{"file": "webshop.yaml", "env": map[string]string{"ORDER_API_URL": "http://orders.test"}, "now": "2026-03-04T10:00:00Z",
		"mocks": "- url: /orders/A-12345$/\n  json: {status: shipped}\n"}
	moves := []map[string]any{{"name": "start"}, {"name": "click", "pick": "delivery"}, {"name": "message", "text": "a 12345"}}
	setup["channels"] = map[string]any{"web": moves, "sms": []map[string]any{{"name": "start"}, {"name": "message", "text": "1"}, {"name": "message", "text": "a 12345"}}}
	code, out := post(t, h, "/api/save", setup)
	if code != http.StatusOK || out["passed"] != 2.0 || len(out["failures"].([]any)) != 0 {
		t.Fatalf("save: %d %v", code, out)
	}
	path := filepath.Join(dir, "webshop_playground_test.yaml")
	rep, err := flowtest.RunFile(path, flows.Options{})
	if err != nil || rep.Passed != 2 || len(rep.Failures) != 0 {
		t.Fatalf("flowbot test on the saved file: %v %+v\n%s", err, rep, out["yaml"])
	}
	src, _ := os.ReadFile(filepath.Join(dir, "webshop.yaml"))
	edited := strings.Replace(string(src), "Order {{ order_id }}: {{ order_status }}.", "Order {{ order_id }} is {{ order_status }}.", 1)
	if err := os.WriteFile(filepath.Join(dir, "webshop.yaml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, err := flowtest.RunFile(path, flows.Options{}); err != nil || len(rep.Failures) != 2 {
		t.Fatalf("after an edit of the order text both channels must fail: %v %+v", err, rep)
	}
}

// TestBadInput: clear 4xx answers, never a 5xx.
func TestBadInput(t *testing.T) {
	h := playground.New(playground.Options{Dir: flowsDir(t, "webshop.yaml")})
	ok := map[string]any{"file": "webshop.yaml", "channel": "web", "event": map[string]any{"name": "start"}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name string
		body any
		code int
		says string
	}{
		{"not JSON", "{", 400, "bad request"},
		{"unknown field", with("flow", "x"), 400, "unknown field"},
		{"outside the folder", with("file", "../examples/webshop.yaml"), 404, "not a flow file of the folder"},
		{"a test file", with("file", "webshop_test.yaml"), 404, "not a flow file"},
		{"gone", with("file", "nope.yaml"), 404, "is gone"},
		{"unknown channel", with("channel", "pigeon"), 400, "unknown channel"},
		{"no event", with("event", map[string]any{}), 400, "no name"},
		{"empty message", with("event", map[string]any{"name": "message", "text": " "}), 400, "empty"},
		{"runtime event", with("event", map[string]any{"name": "http_result"}), 400, "come from the runtime"},
		{"unknown state", with("start", map[string]any{"state": "nowhere"}), 400, `no state "nowhere"`},
		{"bad mocks", with("mocks", "- url: [1"), 400, "mocks:"},
		{"bad clock", with("now", "yesterday"), 400, "RFC 3339"},
		{"too big", `{"file":"` + strings.Repeat("x", playground.MaxBody) + `"}`, 413, "1 MiB"},
	}
	for _, c := range cases {
		code, out := post(t, h, "/api/turn", c.body)
		if code != c.code || !strings.Contains(out["error"].(string), c.says) {
			t.Errorf("%s: %d %v, want %d saying %q", c.name, code, out, c.code, c.says)
		}
	}
	if code, out := post(t, h, "/api/save", map[string]any{"file": "webshop.yaml", "channels": map[string]any{}}); code != 400 || !strings.Contains(out["error"].(string), "nothing to save") {
		t.Errorf("empty save: %d %v", code, out)
	}
}

// TestAPIKey: with keys, the page and its API need one (bearer, or ?key=
// once, then the cookie).
func TestAPIKey(t *testing.T) {
	srv := httptest.NewServer(playground.New(playground.Options{Dir: flowsDir(t, "webshop.yaml"), APIKeys: []string{"sk_a", "sk_b"}}))
	defer srv.Close()
	get := func(path string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	for _, c := range []struct {
		path string
		hdr  map[string]string
		code int
	}{
		{"/", nil, 401},
		{"/api/flows", map[string]string{"Authorization": "Bearer sk_wrong"}, 401},
		{"/?key=sk_c", nil, 401},
		{"/api/flows", map[string]string{"Authorization": "Bearer sk_b"}, 200},
		{"/api/flows", map[string]string{"Cookie": "flowbot_playground_key=sk_a"}, 200},
	} {
		if res := get(c.path, c.hdr); res.StatusCode != c.code {
			t.Errorf("%s %v: %d, want %d", c.path, c.hdr, res.StatusCode, c.code)
		}
	}
	res := get("/?key=sk_a", nil)
	if res.StatusCode != 200 || len(res.Cookies()) != 1 || !res.Cookies()[0].HttpOnly {
		t.Fatalf("?key= must open the page and set an HttpOnly cookie: %d %v", res.StatusCode, res.Cookies())
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("the page must be kept to its own host: %q", csp)
	}
}

// TestFlowInfo: the graph is flowbot graph's DOT; problems and the etag
// follow the file.
func TestFlowInfo(t *testing.T) {
	dir := flowsDir(t, "webshop.yaml")
	h := playground.New(playground.Options{Dir: dir})
	info := func() map[string]any {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/flow?file=webshop.yaml", nil))
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return out
	}
	f, err := flows.Load(filepath.Join(dir, "webshop.yaml"), flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := info()
	if before["dot"] != flows.DOT(f) || before["start"] != "welcome" || before["ok"] != true {
		t.Fatalf("flow info: %v", before)
	}
	src, _ := os.ReadFile(filepath.Join(dir, "webshop.yaml"))
	broken := strings.Replace(string(src), "goto: ask_order", "goto: ask_ordr", 1)
	if err := os.WriteFile(filepath.Join(dir, "webshop.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	after := info()
	probs, _ := json.Marshal(after["problems"])
	if after["etag"] == before["etag"] || after["ok"] != false || !strings.Contains(string(probs), `did you mean \"ask_order\"`) {
		t.Fatalf("after an edit: %v", after)
	}
}

// TestLLMCallMockedFromThePage: an llm step is answered by the page's
// llm mock, and the call shows the prompt it sent.
func TestLLMCallMockedFromThePage(t *testing.T) {
	h := playground.New(playground.Options{Dir: flowsDir(t, "coach.yaml")})
	rec := httptest.NewRecorder()
	b, _ := json.Marshal(map[string]any{"file": "coach.yaml", "channel": "sms", "start": map[string]any{"state": "ask_goal"},
		"mocks": "- llm: run 5 km\n  reply: Start with three easy runs a week.\n", "event": map[string]any{"name": "message", "text": "run 5 km"}})
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/turn", bytes.NewReader(b)))
	var out struct {
		Packets []map[string]any `json:"packets"`
		Calls   []struct {
			Kind   string `json:"kind"`
			Answer string `json:"answered_by"`
			LLM    struct {
				System   string
				Messages []map[string]string
			} `json:"llm"`
			Response string `json:"response"`
		} `json:"calls"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Calls) != 1 || out.Calls[0].Kind != "llm" || out.Calls[0].Answer != "mock" || !strings.Contains(out.Calls[0].LLM.System, "The user's goal: run 5 km") ||
		out.Calls[0].Response != "Start with three easy runs a week." {
		t.Fatalf("the llm call: %s", rec.Body)
	}
	if body, _ := out.Packets[len(out.Packets)-1]["payload"].(map[string]any); body["body"] != "Start with three easy runs a week." {
		t.Fatalf("the reply: %s", rec.Body)
	}
}

// TestTypedLabelPicksOnEveryChannel: an option's label typed as text is
// its click on every channel.
func TestTypedLabelPicksOnEveryChannel(t *testing.T) {
	h := playground.New(playground.Options{Dir: flowsDir(t, "webshop.yaml")})
	for _, ch := range []string{"web", "whatsapp_business", "facebook", "sms"} {
		start := turn(t, h, map[string]any{"file": "webshop.yaml", "channel": ch, "event": map[string]any{"name": "start"}})
		out := turn(t, h, map[string]any{"file": "webshop.yaml", "channel": ch, "context": start.Context, "event": map[string]any{"name": "message", "text": " opening HOURS"}})
		if len(out.Packets) == 0 || !strings.HasPrefix(out.Packets[0]["payload"].(map[string]any)["body"].(string), "We're open Monday to Friday") {
			t.Errorf("%s: %+v", ch, out.Packets)
		}
	}
}
