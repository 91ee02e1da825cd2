package server_test

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/llm"
	"github.com/flowbot/flowbot/runtime/llm/llmtest"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/store/storetest"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

// TestPersonaBotOverWebhooks is seed 000's persona bot: a bot with freeform
// and attributes but no flow answers through an OpenAI-compatible endpoint
// (a fake on loopback), in character, its replies segmented into several
// webhook deliveries, the transcript carried from one reply to the next.
func TestPersonaBotOverWebhooks(t *testing.T) {
	fake := llmtest.NewFake(nil)
	fake.Key = "sk-llm-test"
	model := httptest.NewServer(fake)
	defer model.Close()
	s := &asyncSetup{}
	cfg := server.Config{Flows: s.flows(t), Platform: &server.Platform{
		Database: storetest.Address(t, "sqlite"), APIKeys: []string{chatKey}, WebhookSecret: webhookSecret, Lease: 5 * time.Second,
	}, LLM: &llm.Config{BaseURL: model.URL + "/v1", Model: "fake-1", APIKey: "sk-llm-test"}}
	cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := serve(t, cfg, nil)
	t.Cleanup(func() { r.stop() })
	c := chat{t: t, url: r.url}
	hook := newReceiver(t, nil)

	bot := c.do(201, "POST", "/api/bots", map[string]any{
		"name":     "Anna",
		"freeform": "You're energetic and passionate",
		"attributes": []map[string]string{
			{"name": "bio", "value": "Certified personal trainer specializing in HIIT"},
			{"name": "age", "value": "28"},
			{"name": "location", "value": "Miami, FL"},
		},
		// Quicker than the persona defaults, so that the test is short.
		"timing": map[string]any{"response_delay": 0.2, "typing_min": 0.05, "typing_max": 0.2},
	})["bot"].(map[string]any)
	if bot["flow"] != nil {
		t.Fatalf("a persona bot shows a flow: %v", bot)
	}
	conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot["id"], "user_id": "user_example",
		"create_user_if_not_exists": true, "webhook": hook.url})["conversation"].(map[string]any)["id"].(string)

	c.send(conv, "Hi! Can you help me get fit?")
	first, second := hook.next(t), hook.next(t)
	if first.Text != `Hey! You said: "Hi! Can you help me get fit?"` || !strings.HasPrefix(second.Text, "That makes 1 message so far.") {
		t.Fatalf("replies: %q, %q", first.Text, second.Text)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests to the model", len(reqs))
	}
	sys := reqs[0].SystemPrompt()
	for _, want := range []string{"You are Anna. You're energetic and passionate", "- bio: Certified personal trainer specializing in HIIT", "- age: 28", "- location: Miami, FL"} {
		if !strings.Contains(sys, want) {
			t.Errorf("system prompt lacks %q:\n%s", want, sys)
		}
	}
	if reqs[0].Model != "fake-1" || reqs[0].Authorization != "Bearer sk-llm-test" {
		t.Errorf("request: model %q, authorization %q", reqs[0].Model, reqs[0].Authorization)
	}

	c.send(conv, "Three times a week")
	hook.next(t)
	if d := hook.next(t); !strings.HasPrefix(d.Text, "That makes 3 messages so far.") {
		t.Fatalf("the second reply does not see the transcript: %q", d.Text)
	}
	c.drained(conv)
	want := []string{
		"user: Hi! Can you help me get fit?",
		`bot: Hey! You said: "Hi! Can you help me get fit?"`,
		"user: Three times a week",
		`bot: Hey! You said: "Three times a week"`,
	}
	var got []string
	for _, line := range c.history(conv) {
		if !strings.HasPrefix(line, "bot: That makes") {
			got = append(got, line)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, metrics, _ := get(t, r.url+"/metrics")
	for _, line := range []string{`flowbot_llm_requests_total{outcome="ok"} 2`, "flowbot_llm_request_seconds_count 2"} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// conciergeFlows are two flows with an llm step for Userlike mode: one
// asks during the webhook call, one in the background (async) and pushes
// the reply through the API URL.
func conciergeFlows(t *testing.T, apiURL string) []*flows.Flow {
	t.Helper()
	var out []*flows.Flow
	for _, async := range []bool{false, true} {
		name := "concierge"
		if async {
			name = "concierge-async"
		}
		src := fmt.Sprintf(`
name: %s
api_url: %s
api_token: api-token
start: hello
states:
  hello:
    say: Hi! Ask me anything.
    next: listen
  listen:
    wait: true
    next: answer
  answer:
    say: Let me think…
    llm: {system: "You are the hotel's concierge.", async: %v}
    next: listen
`, name, apiURL, async)
		f, lints := flows.Parse(name+".yaml", []byte(src), flows.Options{})
		if f == nil || lints.HasErrors() {
			t.Fatal(lints)
		}
		out = append(out, f)
	}
	return out
}

// TestLLMStepInUserlikeMode: an llm step answers within the webhook call,
// or — with async — the webhook answers at once and the model's reply is
// pushed to the API URL with a context that continues the conversation.
func TestLLMStepInUserlikeMode(t *testing.T) {
	model := httptest.NewServer(llmtest.NewFake(nil))
	defer model.Close()
	plat := platformtest.New("")
	api := plat.API("api-token")
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	cfg := server.Config{Flows: conciergeFlows(t, apiSrv.URL+"/api/v3/chatbot"), DataPath: filepath.Join(t.TempDir(), "flowbot.db"),
		LLM: &llm.Config{BaseURL: model.URL + "/v1", Model: "fake-1"}}
	r := serve(t, cfg, nil)
	defer r.stop()

	plat.SetURL(r.url + "/bots/concierge/webhook")
	c := plat.Conversation("chatbot::sync", "web")
	must(t)(c.Start(""))
	got := must(t)(c.Say("Where is breakfast?")).Texts()
	// Userlike mode does not segment: the reply is one message.
	want := []string{"Let me think…", "Hey! You said: \"Where is breakfast?\"\n\nThat makes 1 message so far. My instructions begin: \"You are the hotel's concierge.\""}
	if !slices.Equal(got, want) {
		t.Fatalf("sync answer %q, want %q", got, want)
	}

	plat.SetURL(r.url + "/bots/concierge-async/webhook")
	a := plat.Conversation("chatbot::async", "web")
	must(t)(a.Start(""))
	if got := must(t)(a.Say("Is the pool open?")).Texts(); !slices.Equal(got, []string{"Let me think…"}) {
		t.Fatalf("async answer %q", got)
	}
	reqs := api.Wait(1, wait)
	if len(reqs) != 1 || reqs[0].CID != "chatbot::async" {
		t.Fatalf("pushes: %+v", reqs)
	}
	var texts []string
	for _, p := range reqs[0].Packets {
		if p.Name == "message" {
			texts = append(texts, p.Payload["body"].(string))
		}
	}
	if len(texts) != 1 || !strings.HasPrefix(texts[0], `Hey! You said: "Is the pool open?"`) {
		t.Fatalf("pushed %q", texts)
	}
	// The pushed context continues: the next message asks the model again,
	// with the transcript.
	must(t)(a.Say("And the gym?"))
	reqs = api.Wait(2, wait)
	if len(reqs) != 2 || !strings.Contains(fmt.Sprint(reqs[1].Packets), "That makes 3 messages so far.") {
		t.Fatalf("second push: %+v", reqs[len(reqs)-1].Packets)
	}
}
