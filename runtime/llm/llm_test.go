package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/llm"
	"github.com/flowbot/flowbot/runtime/llm/llmtest"
)

// The HTTP steps' runner is what Runner.Next usually is.
var _ llm.JobRunner = (*httpjob.Runner)(nil)
var _ llm.JobRunner = (*llm.Runner)(nil)

const key = "sk-test-very-secret-4242"

func ptr[T any](v T) *T { return &v }

// serve starts h on loopback and returns a client for it.
func serve(t *testing.T, h http.HandlerFunc, apiKey string) *llm.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return llm.New(llm.Config{BaseURL: srv.URL + "/v1", APIKey: apiKey, Model: "test-model"}, nil) // the default client
}

func hello() *engine.LLMRequest {
	return &engine.LLMRequest{Messages: []engine.LLMMessage{{Role: "user", Content: "hi"}}}
}

func TestRequestShape(t *testing.T) {
	history := []engine.LLMMessage{{Role: "user", Content: "one"}, {Role: "assistant", Content: "two"}, {Role: "user", Content: "three"}}
	for _, tc := range []struct {
		name     string
		key      string
		req      *engine.LLMRequest
		wantMsgs []engine.LLMMessage
		wantMax  string // the raw max_tokens, "" when absent
		wantTemp string // the raw temperature, "" when absent
	}{
		{name: "system first, history in order, options present", key: key,
			req:      &engine.LLMRequest{System: "Be brief.", Messages: history, MaxTokens: 64, Temperature: ptr(0.2)},
			wantMsgs: append([]engine.LLMMessage{{Role: "system", Content: "Be brief."}}, history...),
			wantMax:  "64", wantTemp: "0.2"},
		{name: "no system, no options, no key",
			req:      &engine.LLMRequest{Messages: history},
			wantMsgs: history},
		{name: "temperature 0 is sent",
			req:      &engine.LLMRequest{Messages: history[:1], Temperature: ptr(0.0), MaxTokens: -1},
			wantMsgs: history[:1], wantTemp: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				method, path, auth, ctype string
				hasAuth                   bool
				body                      map[string]json.RawMessage
			}
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				got.method, got.path = r.Method, r.URL.Path
				got.auth, got.ctype = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
				_, got.hasAuth = r.Header["Authorization"]
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &got.body); err != nil {
					t.Errorf("body %s: %v", b, err)
				}
				io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"ok"}}]}`)
			}, tc.key)
			if _, err := c.Complete(context.Background(), tc.req, 0); err != nil {
				t.Fatal(err)
			}
			if got.method != http.MethodPost || got.path != "/v1/chat/completions" {
				t.Errorf("request %s %s; want POST /v1/chat/completions", got.method, got.path)
			}
			if got.ctype != "application/json" {
				t.Errorf("Content-Type %q", got.ctype)
			}
			wantAuth := ""
			if tc.key != "" {
				wantAuth = "Bearer " + tc.key
			}
			if got.auth != wantAuth || got.hasAuth != (tc.key != "") {
				t.Errorf("Authorization %q (present %v); want %q", got.auth, got.hasAuth, wantAuth)
			}
			if m := string(got.body["model"]); m != `"test-model"` {
				t.Errorf("model %s", m)
			}
			var msgs []engine.LLMMessage
			json.Unmarshal(got.body["messages"], &msgs)
			if !equalMsgs(msgs, tc.wantMsgs) {
				t.Errorf("messages %+v; want %+v", msgs, tc.wantMsgs)
			}
			if m := string(got.body["max_tokens"]); m != tc.wantMax {
				t.Errorf("max_tokens %q; want %q", m, tc.wantMax)
			}
			if tp := string(got.body["temperature"]); tp != tc.wantTemp {
				t.Errorf("temperature %q; want %q", tp, tc.wantTemp)
			}
		})
	}
}

func equalMsgs(a, b []engine.LLMMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCompleteWithFake(t *testing.T) {
	fake := llmtest.NewFake(nil)
	fake.Key = key
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, base := range []string{srv.URL + "/v1", srv.URL + "/v1/", srv.URL} {
		c := llm.New(llm.Config{BaseURL: base, APIKey: key, Model: "fake"}, srv.Client())
		req := &engine.LLMRequest{System: "You are a shop.\nBe kind.", Messages: []engine.LLMMessage{
			{Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello"}, {Role: "user", Content: "Where is my order?"}}}
		got, err := c.Complete(context.Background(), req, time.Second)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		want := "Hey! You said: \"Where is my order?\"\n\nThat makes 3 messages so far. My instructions begin: \"You are a shop.\""
		if got != want {
			t.Errorf("%s: reply %q; want %q", base, got, want)
		}
	}
	reqs := fake.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests; want 3", len(reqs))
	}
	if r := reqs[0]; r.Model != "fake" || len(r.Messages) != 4 || r.Messages[0].Role != "system" || r.Authorization != "Bearer "+key {
		t.Errorf("request %+v", r)
	}
}

func TestCompleteCutsReply(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          int // bytes
	}{
		{"two-byte runes", strings.Repeat("é", 5000), 8000},
		{"three-byte runes", strings.Repeat("€", 3000), 7998},
		{"four-byte runes after one byte", "x" + strings.Repeat("😀", 2500), 7997},
		{"short, trimmed", "  \n ok \n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]string{"content": tc.content}}}})
			}, "")
			got, err := c.Complete(context.Background(), hello(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want || !utf8.ValidString(got) {
				t.Errorf("%d bytes (valid UTF-8 %v); want %d", len(got), utf8.ValidString(got), tc.want)
			}
		})
	}
}

func TestCompleteErrors(t *testing.T) {
	status := func(code int, header, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if header != "" {
				k, v, _ := strings.Cut(header, ": ")
				w.Header().Set(k, v)
			}
			w.WriteHeader(code)
			io.WriteString(w, body)
		}
	}
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name       string
		h          http.HandlerFunc
		wantStatus int
		want       string // the whole error
		wantCalls  int32
	}{
		{name: "401 with OpenAI error", wantStatus: 401, wantCalls: 1,
			h:    status(401, "Content-Type: application/json", `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`),
			want: "llm endpoint answered 401: Incorrect API key provided"},
		{name: "error as a string", wantStatus: 400, wantCalls: 1,
			h:    status(400, "", `{"error":"model \"x\" not found"}`),
			want: `llm endpoint answered 400: model "x" not found`},
		{name: "500 with plain body", wantStatus: 500, wantCalls: 1,
			h:    status(500, "", "upstream\n  exploded\n"),
			want: "llm endpoint answered 500: upstream exploded"},
		{name: "500 with a long body", wantStatus: 500, wantCalls: 1,
			h:    status(500, "", long),
			want: "llm endpoint answered 500: " + long[:200]},
		{name: "502 with empty body", wantStatus: 502, wantCalls: 1,
			h:    status(502, "", ""),
			want: "llm endpoint answered 502: Bad Gateway"},
		{name: "redirect is not followed", wantStatus: 301, wantCalls: 1,
			h:    status(301, "Location: https://example.com/v1/chat/completions", ""),
			want: "llm endpoint answered 301: redirect to https://example.com/v1/chat/completions: set FLOWBOT_LLM_BASE_URL to the final URL"},
		{name: "429 with a long Retry-After is not retried", wantStatus: 429, wantCalls: 1,
			h:    status(429, "Retry-After: 3", `{"error":{"message":"Rate limit reached"}}`),
			want: "llm endpoint answered 429: Rate limit reached"},
		{name: "503 without Retry-After is not retried", wantStatus: 503, wantCalls: 1,
			h:    status(503, "", `overloaded`),
			want: "llm endpoint answered 503: overloaded"},
		{name: "500 with Retry-After is not retried", wantStatus: 500, wantCalls: 1,
			h:    status(500, "Retry-After: 0", `oops`),
			want: "llm endpoint answered 500: oops"},
		{name: "429 twice", wantStatus: 429, wantCalls: 2,
			h:    status(429, "Retry-After: 0", `{"error":{"message":"slow down"}}`),
			want: "llm endpoint answered 429: slow down"},
		{name: "not JSON", wantCalls: 1,
			h:    status(200, "Content-Type: text/html", "<html>\n<title>Welcome</title></html>"),
			want: "the llm endpoint answered 200 with something other than chat-completions JSON (check FLOWBOT_LLM_BASE_URL): <html> <title>Welcome</title></html>"},
		{name: "no choices", wantCalls: 1,
			h:    status(200, "", `{"choices":[]}`),
			want: "the llm endpoint answered without any choice"},
		{name: "error in a 200", wantCalls: 1,
			h:    status(200, "", `{"error":{"message":"quota exceeded"}}`),
			want: "the llm endpoint answered with an error: quota exceeded"},
		{name: "empty content", wantCalls: 1,
			h:    status(200, "", `{"choices":[{"message":{"content":" \n"},"finish_reason":"length"}]}`),
			want: `the llm endpoint answered with empty content (finish_reason "length")`},
		{name: "null content", wantCalls: 1,
			h:    status(200, "", `{"choices":[{"message":{"content":null}}]}`),
			want: "the llm endpoint answered with empty content"},
		{name: "oversized answer", wantCalls: 1,
			h:    status(200, "", `{"choices":[{"message":{"content":"`+strings.Repeat("a", 1<<20)+`"}}]}`),
			want: "the llm endpoint's answer is over 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tc.h(w, r)
			}, "")
			got, err := c.Complete(context.Background(), hello(), 5*time.Second)
			if err == nil {
				t.Fatalf("reply %q; want an error", got)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q;\nwant  %q", err, tc.want)
			}
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != tc.wantStatus || llm.StatusOf(err) != tc.wantStatus {
				t.Errorf("status %d (%T); want %d", llm.StatusOf(err), err, tc.wantStatus)
			}
			if n := calls.Load(); n != tc.wantCalls {
				t.Errorf("%d calls; want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestRetryOnceThenSuccess(t *testing.T) {
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		var calls atomic.Int32
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(code)
				return
			}
			io.WriteString(w, `{"choices":[{"message":{"content":"second time lucky"}}]}`)
		}, "")
		got, err := c.Complete(context.Background(), hello(), 5*time.Second)
		if err != nil || got != "second time lucky" {
			t.Errorf("%d: %q, %v", code, got, err)
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("%d: %d calls; want 2", code, n)
		}
	}
}

// blocking answers nothing until the client gives up. (The server notices
// that only once the body is read.)
func blocking(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

func TestTimeout(t *testing.T) {
	c := serve(t, blocking, "")
	_, err := c.Complete(context.Background(), hello(), 50*time.Millisecond)
	if err == nil || err.Error() != "llm endpoint did not answer within 50ms" {
		t.Fatalf("error %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || llm.StatusOf(err) != 0 {
		t.Errorf("error %#v: want a DeadlineExceeded with status 0", err)
	}
}

func TestCallerCancels(t *testing.T) {
	entered := make(chan struct{})
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		blocking(w, r)
	}, "")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-entered; cancel() }()
	_, err := c.Complete(ctx, hello(), time.Minute)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("error %v; want an abandoned request", err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := llm.New(llm.Config{BaseURL: "http://" + addr + "/v1", Model: "m"}, nil)
	_, err = c.Complete(context.Background(), hello(), 5*time.Second)
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach the llm endpoint: ") || llm.StatusOf(err) != 0 {
		t.Fatalf("error %v", err)
	}
}

// TestKeyNeverInErrors: an endpoint that echoes what it was sent cannot
// make the key show up in an error.
func TestKeyNeverInErrors(t *testing.T) {
	echo := func(code int, format string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			b, _ := json.Marshal(r.Header.Get("Authorization"))
			io.WriteString(w, strings.ReplaceAll(format, "AUTH", string(b[1:len(b)-1])))
		}
	}
	for name, h := range map[string]http.HandlerFunc{
		"401 JSON":      echo(401, `{"error":{"message":"Incorrect API key provided: AUTH"}}`),
		"500 plain":     echo(500, `bad key AUTH`),
		"200 not JSON":  echo(200, `AUTH`),
		"200 error":     echo(200, `{"error":"AUTH"}`),
		"finish_reason": echo(200, `{"choices":[{"message":{"content":""},"finish_reason":"AUTH"}]}`),
		"timeout":       blocking,
	} {
		c := serve(t, h, key)
		_, err := c.Complete(context.Background(), hello(), 100*time.Millisecond)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), key[:12]) {
			t.Errorf("%s: error %q shows the key", name, err)
		}
	}
	// and the fake with another key
	fake := llmtest.NewFake(nil)
	fake.Key = "sk-other"
	srv := httptest.NewServer(fake)
	defer srv.Close()
	_, err := llm.New(llm.Config{BaseURL: srv.URL, APIKey: key, Model: "m"}, nil).Complete(context.Background(), hello(), time.Second)
	if err == nil || err.Error() != "llm endpoint answered 401: Incorrect API key provided" || strings.Contains(err.Error(), key) {
		t.Errorf("error %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    llm.Config
		ok      bool
		wantErr string // a part of the error
	}{
		{name: "nothing set"},
		{name: "only a key", env: map[string]string{"FLOWBOT_LLM_API_KEY": "sk-x"}},
		{name: "OpenAI", ok: true,
			env:  map[string]string{"FLOWBOT_LLM_BASE_URL": "https://api.openai.com/v1", "FLOWBOT_LLM_MODEL": "gpt-4o-mini", "FLOWBOT_LLM_API_KEY": "sk-x"},
			want: llm.Config{BaseURL: "https://api.openai.com/v1", Model: "gpt-4o-mini", APIKey: "sk-x"}},
		{name: "local, no key, spaces", ok: true,
			env:  map[string]string{"FLOWBOT_LLM_BASE_URL": " http://127.0.0.1:8088/v1 ", "FLOWBOT_LLM_MODEL": "fake\n"},
			want: llm.Config{BaseURL: "http://127.0.0.1:8088/v1", Model: "fake"}},
		{name: "base URL only", env: map[string]string{"FLOWBOT_LLM_BASE_URL": "http://127.0.0.1:8088/v1"},
			wantErr: "FLOWBOT_LLM_BASE_URL is set but FLOWBOT_LLM_MODEL is not: set it"},
		{name: "model only", env: map[string]string{"FLOWBOT_LLM_MODEL": "gpt-4o-mini"},
			wantErr: "FLOWBOT_LLM_MODEL is set but FLOWBOT_LLM_BASE_URL is not: set it"},
		{name: "no scheme", env: map[string]string{"FLOWBOT_LLM_BASE_URL": "api.openai.com/v1", "FLOWBOT_LLM_MODEL": "m"},
			wantErr: "FLOWBOT_LLM_BASE_URL has no http or https scheme"},
		{name: "other scheme", env: map[string]string{"FLOWBOT_LLM_BASE_URL": "ftp://host/v1", "FLOWBOT_LLM_MODEL": "m"},
			wantErr: "no http or https scheme"},
		{name: "no host", env: map[string]string{"FLOWBOT_LLM_BASE_URL": "http:///v1", "FLOWBOT_LLM_MODEL": "m"},
			wantErr: "FLOWBOT_LLM_BASE_URL has no host"},
		{name: "query", env: map[string]string{"FLOWBOT_LLM_BASE_URL": "http://h/v1?x=1", "FLOWBOT_LLM_MODEL": "m"},
			wantErr: "must not have a query"},
		{name: "not a URL, password not repeated", env: map[string]string{"FLOWBOT_LLM_BASE_URL": "http://u:hunter2@[::1/v1", "FLOWBOT_LLM_MODEL": "m"},
			wantErr: "FLOWBOT_LLM_BASE_URL is not a URL: set it to an absolute http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok, err := llm.ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || ok {
					t.Fatalf("ok %v, error %v; want one containing %q", ok, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil || ok != tc.ok || cfg != tc.want {
				t.Fatalf("%+v, %v, %v; want %+v, %v", cfg, ok, err, tc.want, tc.ok)
			}
		})
	}
}

type recorder struct{ jobs []*engine.Job }

func (r *recorder) Run(ctx context.Context, job *engine.Job) engine.HTTPResult {
	r.jobs = append(r.jobs, job)
	return engine.HTTPResult{Seq: job.Seq, Status: 204}
}

func TestRunner(t *testing.T) {
	httpJob := &engine.Job{Seq: 3, Method: "GET", URL: "https://example.com/"}
	llmJob := &engine.Job{Seq: 4, LLM: hello(), Timeout: time.Second}

	next := &recorder{}
	r := &llm.Runner{Next: next}
	if res := r.Run(context.Background(), httpJob); res.Status != 204 || res.Seq != 3 || len(next.jobs) != 1 || next.jobs[0] != httpJob {
		t.Errorf("HTTP job: %+v, %d jobs to Next", res, len(next.jobs))
	}
	res := r.Run(context.Background(), llmJob)
	want := "no LLM endpoint is configured: set FLOWBOT_LLM_BASE_URL and FLOWBOT_LLM_MODEL (and FLOWBOT_LLM_API_KEY if the endpoint needs one)"
	if res.Seq != 4 || res.Status != 0 || res.Err != want || len(next.jobs) != 1 {
		t.Errorf("LLM job without a client: %+v", res)
	}
	if res := (&llm.Runner{}).Run(context.Background(), httpJob); res.Seq != 3 || res.Err != "no HTTP runner" {
		t.Errorf("HTTP job without Next: %+v", res)
	}

	fake := llmtest.NewFake(func(req llmtest.Request) string { return "reply to " + req.LastUserMessage() })
	fake.Key = key
	srv := httptest.NewServer(fake)
	defer srv.Close()
	r.Client = llm.New(llm.Config{BaseURL: srv.URL + "/v1", APIKey: key, Model: "fake"}, srv.Client())
	if res := r.Run(context.Background(), llmJob); res.Seq != 4 || res.Status != 200 || string(res.Body) != "reply to hi" || res.Err != "" {
		t.Errorf("LLM job: %+v", res)
	}
	other := llmtest.NewFake(nil)
	other.Key = "sk-other"
	srv2 := httptest.NewServer(other)
	defer srv2.Close()
	r.Client = llm.New(llm.Config{BaseURL: srv2.URL + "/v1", APIKey: key, Model: "fake"}, srv2.Client())
	if res := r.Run(context.Background(), llmJob); res.Seq != 4 || res.Status != 401 || res.Body != nil || res.Err != "llm endpoint answered 401: Incorrect API key provided" {
		t.Errorf("LLM job refused: %+v", res)
	}
	if len(next.jobs) != 1 {
		t.Errorf("%d jobs went to Next; want 1", len(next.jobs))
	}
}
