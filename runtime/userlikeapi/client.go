// Package userlikeapi sends self-initiated events to a Userlike chatbot's
// API URL: the results of asynchronous HTTP steps that arrive after the
// webhook call was answered.
//
// A request is a POST of a JSON array of triggerable events, the same shape
// as a webhook answer, with the bot's token in the SECURITY-TOKEN header:
//
//	POST <api_url>
//	SECURITY-TOKEN: <api_token>
//	Content-Type: application/json
//	X-Flowbot-Push-Id: p-01…, p-02…
//
//	[{"info":{"cid":"…","context":{…}},"packet":{"name":"message","payload":{"body":"Order A-12345: shipped."}}}, …]
//
// X-Flowbot-Push-Id lists the ids of the pushes whose events the request
// carries, in order; a request repeated after a crash carries the same ids,
// so that a duplicate can be recognised.
//
// The package also holds the delivery policy: Classify maps an answer to
// sent, retry or failed; ParseRetryAfter reads a 429's Retry-After; Backoff
// spaces retries; Limiter keeps to Userlike's 20 requests per minute per
// conversation.
package userlikeapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/retryafter"
)

// Headers of a push request.
const (
	// TokenHeader carries the bot's API token.
	TokenHeader = "SECURITY-TOKEN"
	// PushIDHeader lists the push ids the request delivers, comma-separated.
	PushIDHeader = "X-Flowbot-Push-Id"
)

// DefaultTimeout bounds one request to the API URL.
const DefaultTimeout = 10 * time.Second

// UserAgent is sent with every request.
const UserAgent = "flowbot (+https://github.com/flowbot/flowbot)"

// Outcome is what to do with the pushes of a request after its answer.
type Outcome int

// Outcomes.
const (
	// Sent: a 2xx; the pushes are delivered.
	Sent Outcome = iota
	// Retry: a network error, a timeout, a 408 or a 5xx; try again later
	// with backoff.
	Retry
	// RateLimited: a 429; try again after Retry-After (or with backoff
	// when it has none).
	RateLimited
	// Failed: any other status (a 4xx: bad token, unknown conversation,
	// refused payload); trying again would not help.
	Failed
)

// String names the outcome, as in logs and metrics.
func (o Outcome) String() string {
	switch o {
	case Sent:
		return "sent"
	case Retry:
		return "retry"
	case RateLimited:
		return "rate_limited"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is the answer to one request.
type Result struct {
	Outcome Outcome
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// RetryAfter is the wait a 429 (or 503) asked for; valid when
	// HasRetryAfter.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// Err describes a failure (network error, or the start of the answer's
	// body for a refused request); empty on success.
	Err string
}

// Client posts events to API URLs. The zero value is ready to use.
type Client struct {
	// HTTP sends the requests; nil is a client without redirects.
	HTTP *http.Client
	// Timeout bounds one request; 0 is DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for Retry-After dates; nil is time.Now.
	Now func() time.Time
}

// defaultHTTP is deliberately not guarded by runtime/netguard, unlike the
// clients of HTTP steps and Chat API webhooks: the API URL is the
// operator's (the flow's api_url, from the Userlike dashboard through the
// environment: flows refuses {{ variables }} in it), never a contact's or
// an API client's, so an operator who points it at an internal relay or a
// local stand-in may. It follows no redirects.
var defaultHTTP = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Send posts events (a JSON array) to url with token and the push ids, and
// classifies the answer. It never returns a Go error: every failure is a
// Result.
func (c *Client) Send(ctx context.Context, url, token string, pushIDs []string, events []byte) Result {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(events))
	if err != nil {
		return Result{Outcome: Failed, Err: "cannot make the request: " + netguard.RequestError(err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(TokenHeader, token)
	req.Header.Set(PushIDHeader, strings.Join(pushIDs, ", "))
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return Result{Outcome: Retry, Err: fmt.Sprintf("no answer within %s", timeout)}
		}
		return Result{Outcome: Retry, Err: netguard.RequestError(err)}
	}
	defer resp.Body.Close()
	// Read a little of the answer: enough for an error message, and to let
	// the connection be reused.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return Classify(resp.StatusCode, resp.Header.Get("Retry-After"), head, now())
}

// Classify maps an answer's status (and Retry-After header, read at now)
// to an Outcome. body is the start of the answer, for the error text.
func Classify(status int, retryAfter string, body []byte, now time.Time) Result {
	r := Result{Status: status}
	switch {
	case status >= 200 && status <= 299:
		r.Outcome = Sent
		return r
	case status == http.StatusTooManyRequests:
		r.Outcome = RateLimited
	case status == http.StatusRequestTimeout || status >= 500:
		r.Outcome = Retry
	default:
		r.Outcome = Failed
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		r.RetryAfter, r.HasRetryAfter = ParseRetryAfter(retryAfter, now)
	}
	r.Err = fmt.Sprintf("HTTP %d", status)
	if b := strings.TrimSpace(string(bytes.ToValidUTF8(body, nil))); b != "" {
		if len(b) > 200 {
			b = b[:200] + "…"
		}
		r.Err += ": " + b
	}
	return r
}

// MaxRetryAfter caps the wait a Retry-After may ask for.
const MaxRetryAfter = time.Hour

// ParseRetryAfter reads a Retry-After header: a number of seconds or an
// HTTP date (RFC 9110 §10.2.3), as a wait from now. A date in the past is a
// wait of 0; a wait over MaxRetryAfter is capped. ok is false when the
// header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	return retryafter.Parse(v, now, MaxRetryAfter)
}
