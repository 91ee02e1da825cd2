// Package llm runs the `llm` steps of flows: it sends an engine.Job's
// LLMRequest to an OpenAI-compatible chat-completions endpoint (OpenAI
// itself, or a local server such as llama.cpp, Ollama or vLLM) and turns
// the reply into the engine.HTTPResult the flow continues with.
//
// The endpoint is the operator's: ConfigFromEnv reads it from
// FLOWBOT_LLM_BASE_URL, FLOWBOT_LLM_MODEL and FLOWBOT_LLM_API_KEY, and
// Runner sends LLM jobs to a Client and every other job to the HTTP runner.
// Package llmtest has an OpenAI-compatible fake for tests and demos.
package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/retryafter"
	"github.com/flowbot/flowbot/runtime/turn"
)

// The environment variables ConfigFromEnv reads.
const (
	// EnvBaseURL is the endpoint's base URL, the part before
	// /chat/completions: "https://api.openai.com/v1", "http://127.0.0.1:8088/v1".
	EnvBaseURL = "FLOWBOT_LLM_BASE_URL"
	// EnvAPIKey is the bearer key; local endpoints usually need none.
	EnvAPIKey = "FLOWBOT_LLM_API_KEY"
	// EnvModel is the model every llm step asks for, e.g. "gpt-4o-mini".
	EnvModel = "FLOWBOT_LLM_MODEL"
)

// Limits of a Client.
const (
	// DefaultTimeout applies to a request that sets none.
	DefaultTimeout = 30 * time.Second
	// MaxAnswer bounds the endpoint's answer; a bigger one is an error.
	MaxAnswer = 1 << 20
	// MaxReply bounds the text Complete returns; a longer reply is cut
	// at a UTF-8 boundary.
	MaxReply = 8000
	// MaxRetryWait is the longest Retry-After a 429 or 503 answer may ask
	// for to be retried (once); a longer one fails at once.
	MaxRetryWait = 2 * time.Second
)

// userAgent is sent with every request (the same as httpjob's).
const userAgent = "flowbot (+https://github.com/flowbot/flowbot)"

// maxErrorText bounds the endpoint's words quoted in an error.
const maxErrorText = 200

// Config says where llm steps go.
type Config struct {
	BaseURL string // e.g. "https://api.openai.com/v1"; "/chat/completions" is appended
	APIKey  string // sent as "Authorization: Bearer <key>"; empty sends none
	Model   string // the "model" of every request
}

// ConfigFromEnv reads the configuration from FLOWBOT_LLM_BASE_URL,
// FLOWBOT_LLM_MODEL and FLOWBOT_LLM_API_KEY (getenv is usually os.Getenv).
// ok is false, with no error, when neither the base URL nor the model is
// set: llm steps are off. Setting only one of them, or a base URL that is
// not an absolute http(s) URL, is an error that says what to set.
func ConfigFromEnv(getenv func(string) string) (cfg Config, ok bool, err error) {
	cfg = Config{
		BaseURL: strings.TrimSpace(getenv(EnvBaseURL)),
		APIKey:  strings.TrimSpace(getenv(EnvAPIKey)),
		Model:   strings.TrimSpace(getenv(EnvModel)),
	}
	switch {
	case cfg.BaseURL == "" && cfg.Model == "":
		return Config{}, false, nil
	case cfg.Model == "":
		return Config{}, false, fmt.Errorf("%s is set but %s is not: set it to the model llm steps should use (e.g. %s=gpt-4o-mini), or unset %[1]s", EnvBaseURL, EnvModel, EnvModel)
	case cfg.BaseURL == "":
		return Config{}, false, fmt.Errorf("%s is set but %s is not: set it to the endpoint's base URL (e.g. %[2]s=https://api.openai.com/v1), or unset %[1]s", EnvModel, EnvBaseURL)
	}
	if err := checkBaseURL(cfg.BaseURL); err != nil {
		return Config{}, false, err
	}
	return cfg, true, nil
}

// checkBaseURL says what is wrong with a base URL, without repeating it
// (it may carry a password).
func checkBaseURL(s string) error {
	const want = "an absolute http(s) URL such as https://api.openai.com/v1 or http://127.0.0.1:8088/v1"
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%s is not a URL: set it to %s", EnvBaseURL, want)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s has no http or https scheme: set it to %s", EnvBaseURL, want)
	case u.Host == "":
		return fmt.Errorf("%s has no host: set it to %s", EnvBaseURL, want)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%s must not have a query or fragment: set it to %s", EnvBaseURL, want)
	}
	return nil
}

// Error is why a completion failed. Every error Complete returns is one.
type Error struct {
	// Status is the endpoint's HTTP status when it answered with one
	// other than 2xx; 0 when it did not answer (unreachable, timeout) or
	// its 2xx answer was unusable (too big, not JSON, no content).
	Status int
	// Message is short, meant for an operator, and never holds the API key.
	Message string
	err     error // what it wraps (context.DeadlineExceeded, …), or nil
}

// Error returns the Message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying error (a context error, a network error),
// if any.
func (e *Error) Unwrap() error { return e.err }

// StatusOf returns the HTTP status of a failed completion (an *Error in
// err's chain), or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Client sends chat-completions requests to one endpoint. It is safe for
// concurrent use.
type Client struct {
	cfg      Config
	endpoint string
	hc       *http.Client
}

// New returns a client for cfg. A nil hc is a client with dial and TLS
// handshake timeouts that follows no redirects. The base URL is the
// operator's: unlike the HTTP steps' runner, nothing guards which
// addresses it may reach.
func New(cfg Config, hc *http.Client) *Client {
	if hc == nil {
		hc = defaultHTTPClient()
	}
	return &Client{cfg: cfg, endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions", hc: hc}
}

func defaultHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
	}
	return &http.Client{
		Transport: tr,
		// A redirected POST turns into a GET: better to say where it went.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// chatRequest is the body of POST /chat/completions.
type chatRequest struct {
	Model       string              `json:"model"`
	Messages    []engine.LLMMessage `json:"messages"`
	MaxTokens   int                 `json:"max_tokens,omitempty"`
	Temperature *float64            `json:"temperature,omitempty"`
}

// chatAnswer is the part of the answer Complete reads, and of an error
// answer: OpenAI's {"error":{"message":…}}, or {"error":"…"} as some
// compatible servers send.
type chatAnswer struct {
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Error json.RawMessage `json:"error"`
}

// errTimeout is the cause of Complete's own deadline.
var errTimeout = errors.New("llm timeout")

// Complete sends req to the endpoint and returns the reply's text,
// trimmed of surrounding space and cut to MaxReply bytes. timeout bounds
// the whole call, a retry included (0 is DefaultTimeout); ctx may end it
// sooner. A 429 or 503 answer is retried once when its Retry-After asks
// for at most MaxRetryWait. Errors are *Error.
func (c *Client) Complete(ctx context.Context, req *engine.LLMRequest, timeout time.Duration) (string, error) {
	if req == nil {
		return "", &Error{Message: "no llm request"}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	body, err := json.Marshal(c.body(req))
	if err != nil {
		return "", &Error{Message: fmt.Sprintf("cannot encode the llm request: %v", err)}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		text, wait, err := c.attempt(ctx, body, timeout)
		if err == nil {
			return text, nil
		}
		if attempt > 0 || wait < 0 {
			return "", err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			return "", err // no time left to retry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", c.ctxError(ctx, timeout)
		case <-t.C:
		}
	}
}

func (c *Client) body(req *engine.LLMRequest) chatRequest {
	msgs := make([]engine.LLMMessage, 0, len(req.Messages)+1)
	if req.System != "" {
		msgs = append(msgs, engine.LLMMessage{Role: "system", Content: req.System})
	}
	msgs = append(msgs, req.Messages...)
	cr := chatRequest{Model: c.cfg.Model, Messages: msgs, Temperature: req.Temperature}
	if req.MaxTokens > 0 {
		cr.MaxTokens = req.MaxTokens
	}
	return cr
}

// attempt makes one request. wait is how long to wait before retrying
// after a failure; negative means do not retry.
func (c *Client) attempt(ctx context.Context, body []byte, timeout time.Duration) (text string, wait time.Duration, err error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", -1, &Error{Message: fmt.Sprintf("cannot make the llm request: %v", c.redact(err.Error()))}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", userAgent)
	if c.cfg.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return "", -1, c.ctxError(ctx, timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", -1, &Error{Message: c.redact(fmt.Sprintf("cannot reach the llm endpoint: %v", err)), err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		if ctx.Err() != nil {
			return "", -1, c.ctxError(ctx, timeout)
		}
		return "", -1, &Error{Status: resp.StatusCode, Message: c.redact(fmt.Sprintf("reading the llm endpoint's answer: %v", err)), err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		wait = -1
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			if d, ok := retryafter.Parse(resp.Header.Get("Retry-After"), time.Now(), MaxRetryWait+time.Second); ok && d <= MaxRetryWait {
				wait = d
			}
		}
		return "", wait, &Error{Status: resp.StatusCode, Message: c.redact(c.statusMessage(resp, b))}
	}
	if len(b) > MaxAnswer {
		return "", -1, &Error{Message: fmt.Sprintf("the llm endpoint's answer is over %d bytes", MaxAnswer)}
	}
	var a chatAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return "", -1, &Error{Message: c.redact(fmt.Sprintf("the llm endpoint answered %d with something other than chat-completions JSON (check %s): %s",
			resp.StatusCode, EnvBaseURL, snippet(b)))}
	}
	if len(a.Choices) == 0 {
		if msg := errorText(a.Error); msg != "" {
			return "", -1, &Error{Message: c.redact("the llm endpoint answered with an error: " + msg)}
		}
		return "", -1, &Error{Message: "the llm endpoint answered without any choice"}
	}
	ch := a.Choices[0]
	if ch.Message.Content == nil || strings.TrimSpace(*ch.Message.Content) == "" {
		msg := "the llm endpoint answered with empty content"
		if ch.FinishReason != "" {
			msg += fmt.Sprintf(" (finish_reason %q)", cut(ch.FinishReason, 40))
		}
		return "", -1, &Error{Message: c.redact(msg)}
	}
	return cut(strings.TrimSpace(*ch.Message.Content), MaxReply), -1, nil
}

// statusMessage describes a non-2xx answer: the error message of its JSON,
// else the start of its body, else the status text.
func (c *Client) statusMessage(resp *http.Response, b []byte) string {
	var detail string
	var a chatAnswer
	if json.Unmarshal(b, &a) == nil {
		detail = errorText(a.Error)
	}
	if detail == "" {
		detail = snippet(b)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc := resp.Header.Get("Location"); loc != "" {
			detail = fmt.Sprintf("redirect to %s: set %s to the final URL", cut(loc, maxErrorText), EnvBaseURL)
		}
	}
	if detail == "" {
		detail = http.StatusText(resp.StatusCode)
	}
	return fmt.Sprintf("llm endpoint answered %d: %s", resp.StatusCode, detail)
}

// errorText reads the "error" member of an answer: {"message": …} or a string.
func errorText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return cut(oneLine(s), maxErrorText)
	}
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &e) == nil {
		return cut(oneLine(e.Message), maxErrorText)
	}
	return ""
}

// ctxError is the error for a context that ended: Complete's own timeout,
// or the caller's context.
func (c *Client) ctxError(ctx context.Context, timeout time.Duration) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, errTimeout) {
		return &Error{Message: fmt.Sprintf("llm endpoint did not answer within %s", timeout), err: context.DeadlineExceeded}
	}
	return &Error{Message: fmt.Sprintf("llm request abandoned: %v", cause), err: ctx.Err()}
}

// redact removes the API key from s, in case the endpoint echoed it.
func (c *Client) redact(s string) string {
	if c.cfg.APIKey == "" {
		return s
	}
	return strings.ReplaceAll(s, c.cfg.APIKey, "[redacted]")
}

// snippet is the start of a body, on one line.
func snippet(b []byte) string {
	return oneLine(cut(strings.ToValidUTF8(string(b[:min(len(b), 4*maxErrorText)]), ""), maxErrorText))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cut returns at most n bytes of s, cut at a UTF-8 boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// JobRunner runs the HTTP jobs of flows (*httpjob.Runner is one):
// runtime/turn's one Runner interface.
type JobRunner = turn.Runner

// NotConfigured is the error of an LLM job when no endpoint is configured.
const NotConfigured = "no LLM endpoint is configured: set " + EnvBaseURL + " and " + EnvModel + " (and " + EnvAPIKey + " if the endpoint needs one)"

// Runner is a JobRunner that sends LLM jobs (Job.LLM set) to Client and
// every other job to Next.
type Runner struct {
	Next   JobRunner // runs HTTP jobs
	Client *Client   // nil: LLM jobs fail with NotConfigured
	// Observer, if set, is told about every LLM request.
	Observer Observer
}

// Observer receives the outcome of each LLM request ("ok", "error",
// "not_configured") and how long it took (runtime/metrics implements it).
type Observer interface {
	LLMRequest(outcome string, d time.Duration)
}

// Run runs the job. It never fails: an LLM job's reply comes back as Body
// with Status 200; its failure in Err, with the endpoint's status if it
// answered one.
func (r *Runner) Run(ctx context.Context, job *engine.Job) engine.HTTPResult {
	if job.LLM == nil {
		if r.Next == nil {
			return engine.HTTPResult{Seq: job.Seq, Err: "no HTTP runner"}
		}
		return r.Next.Run(ctx, job)
	}
	if r.Client == nil {
		r.observe("not_configured", 0)
		return engine.HTTPResult{Seq: job.Seq, Err: NotConfigured}
	}
	start := time.Now()
	text, err := r.Client.Complete(ctx, job.LLM, job.Timeout)
	if err != nil {
		r.observe("error", time.Since(start))
		return engine.HTTPResult{Seq: job.Seq, Status: StatusOf(err), Err: err.Error()}
	}
	r.observe("ok", time.Since(start))
	return engine.HTTPResult{Seq: job.Seq, Status: http.StatusOK, Body: []byte(text)}
}

func (r *Runner) observe(outcome string, d time.Duration) {
	if r.Observer != nil {
		r.Observer.LLMRequest(outcome, d)
	}
}
