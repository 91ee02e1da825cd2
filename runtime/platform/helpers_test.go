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
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/platform"
	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

const apiKey = "sk_test_123"

// fixedBots serves the example flows.
type fixedBots map[string]*engine.Deployment

func (b fixedBots) Get(name string) *engine.Deployment { return b[name] }
func (b fixedBots) Names() []string {
	var names []string
	for n := range b {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func exampleBots(t testing.TB, env map[string]string) fixedBots {
	t.Helper()
	fs, lints, err := flows.LoadDir(filepath.Join("..", "..", "examples"), flows.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil || lints.HasErrors() {
		t.Fatal(err, lints)
	}
	bots := fixedBots{}
	for _, f := range fs {
		bots[f.Name] = engine.NewDeployment(engine.New(f))
	}
	return bots
}

// counter counts Wake calls.
type counter struct{ n atomic.Int64 }

func (c *counter) Wake() { c.n.Add(1) }

// env is one API over one store, served by httptest.
type env struct {
	t      *testing.T
	api    *platform.API
	store  store.Store
	srv    *httptest.Server
	clock  *clock.Fake
	wakes  *counter
	nextID int
}

func newEnv(t *testing.T, kind string, opts platform.Options) *env {
	t.Helper()
	return newEnvOn(t, storetest.Open(t, kind), opts)
}

// newEnvOn is newEnv on a store the test opened.
func newEnvOn(t *testing.T, s store.Store, opts platform.Options) *env {
	t.Helper()
	e := &env{t: t, store: s, clock: clock.NewFake(time.Unix(1_750_000_000, 0)), wakes: &counter{}}
	if opts.Bots == nil {
		opts.Bots = exampleBots(t, map[string]string{"ORDER_API_URL": "http://127.0.0.1:1", "USERLIKE_API_URL": "", "USERLIKE_API_TOKEN": ""})
	}
	opts.Store, opts.Clock, opts.Deliveries = e.store, e.clock, e.wakes
	if opts.Network == nil {
		// The tests' order APIs and webhooks are on 127.0.0.1.
		opts.Network = netguard.MustParsePolicy("loopback")
	}
	if opts.APIKeys == nil && !opts.InsecureNoAuth {
		opts.APIKeys = []string{apiKey}
	}
	opts.NewID = func() string { e.nextID++; return fmt.Sprintf("id-%03d", e.nextID) }
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	api, err := platform.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	r := mux.NewRouter()
	api.Register(r)
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
}

// call makes a request with the API key and returns status and decoded body.
func (e *env) call(method, path string, body any, headers ...string) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

func (e *env) mustCall(want int, method, path string, body any, headers ...string) map[string]any {
	e.t.Helper()
	got, out := e.call(method, path, body, headers...)
	if got != want {
		e.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, want, out)
	}
	return out
}

func (e *env) bot(flow string) string {
	e.t.Helper()
	out := e.mustCall(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": flow,
		"attributes": []map[string]string{{"name": "bio", "value": "a friendly shop"}}})
	return out["bot"].(map[string]any)["id"].(string)
}

func (e *env) conversation(botID, user, webhook string) string {
	e.t.Helper()
	body := map[string]any{"bot_id": botID, "user_id": user, "create_user_if_not_exists": true}
	if webhook != "" {
		body["webhook"] = webhook
	}
	out := e.mustCall(201, "POST", "/api/conversations", body)
	return out["conversation"].(map[string]any)["id"].(string)
}

func (e *env) send(conv, text string) {
	e.t.Helper()
	e.mustCall(202, "POST", "/api/conversations/"+conv+"/messages", map[string]any{"message": map[string]any{"text": text, "from_bot": false}})
}

// history returns "user: …" / "bot: …" lines.
func (e *env) history(conv string) []string {
	e.t.Helper()
	out := e.mustCall(200, "GET", "/api/conversations/"+conv+"/messages?limit=1000", nil)
	var lines []string
	for _, m := range out["messages"].([]any) {
		m := m.(map[string]any)
		who := "user"
		if m["from_bot"].(bool) {
			who = "bot"
		}
		lines = append(lines, who+": "+m["text"].(string))
	}
	return lines
}
