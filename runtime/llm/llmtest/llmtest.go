// Package llmtest has Fake, an OpenAI-compatible chat-completions endpoint
// for tests and demos: it answers every request with a short deterministic
// reply (DefaultReply, or a function of the test's) and records what it
// was sent.
//
//	fake := llmtest.NewFake(nil)
//	srv := httptest.NewServer(fake)
//	cfg := llm.Config{BaseURL: srv.URL + "/v1", Model: "fake"}
package llmtest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Message is one message of a request's transcript.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is a chat-completions request as the Fake received it.
type Request struct {
	Model         string    `json:"model"`
	Messages      []Message `json:"messages"`
	MaxTokens     int       `json:"max_tokens"`  // 0 when absent
	Temperature   *float64  `json:"temperature"` // nil when absent
	Authorization string    `json:"-"`           // the Authorization header, "" when absent
}

// SystemPrompt returns the content of the first system message, or "".
func (r Request) SystemPrompt() string {
	for _, m := range r.Messages {
		if m.Role == "system" {
			return m.Content
		}
	}
	return ""
}

// LastUserMessage returns the content of the last user message, or "".
func (r Request) LastUserMessage() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// maxQuote bounds what DefaultReply repeats of a message.
const maxQuote = 200

// DefaultReply is the Fake's reply when it has no function of its own. It
// is two paragraphs separated by a blank line:
//
//	Hey! You said: "<last user message>"
//
//	That makes <n> messages so far. My instructions begin: "<first line of the system prompt>"
//
// where n counts the messages other than system ones ("1 message" when
// there is one). The first paragraph is "Hey! Nobody has said anything
// yet." when there is no user message; the second sentence is left out
// when there is no system prompt. Quoted text has its white space
// collapsed to single spaces and is cut to 200 bytes.
func DefaultReply(req Request) string {
	first := "Hey! Nobody has said anything yet."
	if last := quote(req.LastUserMessage()); last != "" {
		first = fmt.Sprintf("Hey! You said: %q", last)
	}
	n := 0
	for _, m := range req.Messages {
		if m.Role != "system" {
			n++
		}
	}
	second := fmt.Sprintf("That makes %d messages so far.", n)
	if n == 1 {
		second = "That makes 1 message so far."
	}
	line, _, _ := strings.Cut(req.SystemPrompt(), "\n")
	if line = quote(line); line != "" {
		second += fmt.Sprintf(" My instructions begin: %q", line)
	}
	return first + "\n\n" + second
}

// quote collapses white space and cuts s to maxQuote bytes.
func quote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxQuote {
		return s
	}
	return strings.ToValidUTF8(s[:maxQuote], "")
}

// Fake is an OpenAI-compatible chat-completions endpoint: an http.Handler
// for POST /v1/chat/completions and POST /chat/completions. Other paths
// answer 404 and other methods 405, with OpenAI-style error JSON. The zero
// value answers with DefaultReply and requires no key. It is safe for
// concurrent use.
type Fake struct {
	// Key, when set, is the API key every request must send as
	// "Authorization: Bearer <Key>"; one without it answers 401.
	Key string

	reply    func(Request) string
	mu       sync.Mutex
	requests []Request
	answered int
}

// NewFake returns a Fake that answers with reply(request) (nil: DefaultReply).
func NewFake(reply func(req Request) string) *Fake {
	return &Fake{reply: reply}
}

// Requests returns a copy of every request received so far that had a
// readable JSON body, oldest first, including those refused for their key.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// ServeHTTP answers one request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/chat/completions" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Unknown request URL: %s %s. Use POST /v1/chat/completions.", r.Method, r.URL.Path))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %s is not allowed: use POST.", r.Method))
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	var req Request
	if err == nil {
		err = json.Unmarshal(b, &req)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request.")
		return
	}
	req.Authorization = r.Header.Get("Authorization")
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	if f.Key != "" && subtle.ConstantTimeCompare([]byte(req.Authorization), []byte("Bearer "+f.Key)) != 1 {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided")
		return
	}
	switch {
	case req.Model == "":
		writeError(w, http.StatusBadRequest, "You must provide a model parameter.")
		return
	case len(req.Messages) == 0:
		writeError(w, http.StatusBadRequest, "'messages' must contain at least one message.")
		return
	}
	reply := f.reply
	if reply == nil {
		reply = DefaultReply
	}
	text := reply(req)
	f.mu.Lock()
	f.answered++
	n := f.answered
	f.mu.Unlock()
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.Content))
	}
	words := len(strings.Fields(text))
	writeJSON(w, http.StatusOK, completion{
		ID:      fmt.Sprintf("chatcmpl-fake-%d", n),
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   req.Model,
		Choices: []choice{{Message: Message{Role: "assistant", Content: text}, FinishReason: "stop"}},
		Usage:   usage{PromptTokens: prompt, CompletionTokens: words, TotalTokens: prompt + words},
	})
}

// completion is the answer to a chat-completions request.
type completion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   usage    `json:"usage"`
}

type choice struct {
	Index        int     `json:"index"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"`
}

// usage counts words as tokens.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// writeError answers an OpenAI-style error.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error"}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
