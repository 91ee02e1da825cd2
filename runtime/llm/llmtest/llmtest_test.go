package llmtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flowbot/flowbot/runtime/llm/llmtest"
)

func TestDefaultReply(t *testing.T) {
	long := strings.Repeat("a", 250)
	for _, tc := range []struct {
		name string
		msgs []llmtest.Message
		want string
	}{
		{"system and history",
			[]llmtest.Message{{"system", "You are Bob.\nBe brief."}, {"user", "hi"}, {"assistant", "hello"}, {"user", "Where is  my\norder?"}},
			"Hey! You said: \"Where is my order?\"\n\nThat makes 3 messages so far. My instructions begin: \"You are Bob.\""},
		{"one message, no system",
			[]llmtest.Message{{"user", "hi"}},
			"Hey! You said: \"hi\"\n\nThat makes 1 message so far."},
		{"no user message",
			[]llmtest.Message{{"system", "S"}, {"assistant", "Hello?"}},
			"Hey! Nobody has said anything yet.\n\nThat makes 1 message so far. My instructions begin: \"S\""},
		{"long message is cut",
			[]llmtest.Message{{"user", long}},
			"Hey! You said: \"" + long[:200] + "\"\n\nThat makes 1 message so far."},
	} {
		if got := llmtest.DefaultReply(llmtest.Request{Model: "m", Messages: tc.msgs}); got != tc.want {
			t.Errorf("%s: %q;\nwant %q", tc.name, got, tc.want)
		}
	}
}

type answer struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

func do(t *testing.T, srv *httptest.Server, method, path, auth, body string) (int, answer) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s %s: %s: %v", method, path, b, err)
	}
	return resp.StatusCode, a
}

const hi = `{"model":"fake","messages":[{"role":"user","content":"hi"}]}`

func TestFakeRefuses(t *testing.T) {
	fake := llmtest.NewFake(nil)
	fake.Key = "sk-test"
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, tc := range []struct {
		method, path, auth, body string
		status                   int
		message                  string
	}{
		{"POST", "/v1/models", "Bearer sk-test", hi, 404, "Unknown request URL: POST /v1/models. Use POST /v1/chat/completions."},
		{"GET", "/v1/chat/completions", "Bearer sk-test", "", 405, "Method GET is not allowed: use POST."},
		{"POST", "/v1/chat/completions", "", hi, 401, "Incorrect API key provided"},
		{"POST", "/chat/completions", "Bearer sk-wrong", hi, 401, "Incorrect API key provided"},
		{"POST", "/v1/chat/completions", "sk-test", hi, 401, "Incorrect API key provided"},
		{"POST", "/v1/chat/completions", "Bearer sk-test", "{", 400, "We could not parse the JSON body of your request."},
		{"POST", "/v1/chat/completions", "Bearer sk-test", `{"messages":[{"role":"user","content":"hi"}]}`, 400, "You must provide a model parameter."},
		{"POST", "/v1/chat/completions", "Bearer sk-test", `{"model":"m","messages":[]}`, 400, "'messages' must contain at least one message."},
	} {
		status, a := do(t, srv, tc.method, tc.path, tc.auth, tc.body)
		if status != tc.status || a.Error == nil || a.Error.Message != tc.message || a.Error.Type != "invalid_request_error" {
			t.Errorf("%s %s %q: %d %+v; want %d %q", tc.method, tc.path, tc.auth, status, a.Error, tc.status, tc.message)
		}
	}
	// The chat-completions requests with a JSON body are recorded, refused or not.
	reqs := fake.Requests()
	if len(reqs) != 5 || reqs[0].Authorization != "" || reqs[1].Authorization != "Bearer sk-wrong" {
		t.Errorf("recorded %+v", reqs)
	}
}

func TestFakeAnswers(t *testing.T) {
	fake := llmtest.NewFake(nil)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	body := `{"model":"fake-1","messages":[{"role":"system","content":"Be nice."},{"role":"user","content":"hello there"}],"max_tokens":32,"temperature":0.5}`
	for i, path := range []string{"/v1/chat/completions", "/chat/completions"} {
		status, a := do(t, srv, "POST", path, "Bearer anything", body)
		if status != 200 || a.Error != nil || len(a.Choices) != 1 {
			t.Fatalf("%s: %d %+v", path, status, a)
		}
		c := a.Choices[0]
		want := "Hey! You said: \"hello there\"\n\nThat makes 1 message so far. My instructions begin: \"Be nice.\""
		if a.ID != fmt.Sprintf("chatcmpl-fake-%d", i+1) || a.Object != "chat.completion" || a.Created == 0 || a.Model != "fake-1" ||
			c.Index != 0 || c.Message.Role != "assistant" || c.Message.Content != want || c.FinishReason != "stop" {
			t.Errorf("%s: %+v", path, a)
		}
		if u := a.Usage; u.PromptTokens != 4 || u.CompletionTokens != len(strings.Fields(want)) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage %+v", u)
		}
	}
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Model != "fake-1" || r.MaxTokens != 32 || r.Temperature == nil || *r.Temperature != 0.5 || r.Authorization != "Bearer anything" ||
		r.SystemPrompt() != "Be nice." || r.LastUserMessage() != "hello there" || len(r.Messages) != 2 {
		t.Errorf("recorded %+v", r)
	}
	status, _ := do(t, srv, "POST", "/v1/chat/completions", "", hi)
	if reqs := fake.Requests(); status != 200 || len(reqs) != 3 || reqs[2].Temperature != nil || reqs[2].MaxTokens != 0 || reqs[2].Authorization != "" {
		t.Errorf("without options or key: %d, %+v", status, reqs[2])
	}
}

func TestFakeCustomReplyConcurrently(t *testing.T) {
	fake := llmtest.NewFake(func(req llmtest.Request) string { return "echo: " + req.LastUserMessage() })
	srv := httptest.NewServer(fake)
	defer srv.Close()
	const n = 20
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":"%d"}]}`, i)
			status, a := do(t, srv, "POST", "/v1/chat/completions", "", body)
			if status != 200 || len(a.Choices) != 1 || a.Choices[0].Message.Content != fmt.Sprintf("echo: %d", i) {
				t.Errorf("request %d: %d %+v", i, status, a)
				return
			}
			ids[i] = a.ID
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	if len(seen) != n || len(fake.Requests()) != n {
		t.Errorf("%d distinct ids, %d requests; want %d", len(seen), len(fake.Requests()), n)
	}
}
