package server_test

import (
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/llm"
	"github.com/flowbot/flowbot/runtime/llm/llmtest"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/store/storetest"
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
