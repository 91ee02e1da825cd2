package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/store"
)

// Headers of a webhook request (Standard Webhooks).
const (
	HeaderID        = "webhook-id"        // the message id, the same on every attempt
	HeaderTimestamp = "webhook-timestamp" // the attempt's time, in Unix seconds
	HeaderSignature = "webhook-signature" // "v1,<base64>", when a Signer is set
)

// UserAgent is the User-Agent of webhook requests.
const UserAgent = "flowbot"

// DefaultTimeout bounds one webhook request when Sender.Timeout is 0.
const DefaultTimeout = 15 * time.Second

// maxDrain is how much of an answer's body is read (and discarded), so that
// the connection can be reused.
const maxDrain = 64 << 10

// Sender POSTs one delivery to its webhook. The zero value is ready to use;
// it is safe for concurrent use.
type Sender struct {
	// Client sends the requests as it is: guarding it is the caller's
	// business (netguard.Policy.Transport). Nil is a client with a
	// connection pool sized for many parallel requests that connects only
	// where Network allows. Redirects are never followed, whatever the
	// client's CheckRedirect.
	Client *http.Client
	// Network says which addresses the default client may connect to,
	// checked on every connection after DNS resolution; nil is public
	// addresses only. It is ignored when Client is set. A webhook URL comes
	// from an API client: without the guard it could point flowbot at the
	// loopback interface, the private network or the cloud metadata
	// service. A refused address is a failed attempt, retried on schedule
	// like any other (the operator may allow it meanwhile).
	Network *netguard.Policy
	// Signer signs the requests; nil sends them unsigned (no
	// webhook-signature header).
	Signer *Signer
	// Timeout bounds one request, answer included; 0 is DefaultTimeout.
	Timeout time.Duration
}

// Result is the outcome of one attempt.
type Result struct {
	// Status is the answer's HTTP status; 0 when there was none.
	Status int
	// RetryAfter is the wait a failed answer's Retry-After header asked
	// for (capped at MaxRetryAfter); 0 when there was none (a Retry-After
	// of 0, or a past date, leaves the wait to the schedule too).
	RetryAfter time.Duration
	// Err says why the attempt failed ("webhook answered 500", a network
	// error, a timeout); empty when delivered.
	Err string
	// Delivered: the webhook answered 2xx.
	Delivered bool
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Send POSTs Body(d) to d.URL with the Standard Webhooks headers of an
// attempt made at now (webhook-timestamp; Retry-After dates are read from
// now too). It never returns a Go error: every failure is a Result. At most
// 64 KiB of the answer's body is read, and discarded.
func (s *Sender) Send(ctx context.Context, d store.Delivery, now time.Time) Result {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	payload := Body(d)
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, d.URL, bytes.NewReader(payload))
	if err != nil {
		return Result{Err: "invalid webhook URL: " + unwrapURLError(err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if d.Auth != "" {
		req.Header.Set("Authorization", d.Auth)
	}
	req.Header.Set(HeaderID, d.MessageID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	if s.Signer != nil {
		req.Header.Set(HeaderSignature, s.Signer.Sign(d.MessageID, now, payload))
	}
	var c http.Client
	if s.Client != nil {
		c = *s.Client
	} else {
		// Many deliveries go to the same few webhooks at once: the guarded
		// transport keeps up to 64 connections per host, not the default 2.
		c.Transport = s.Network.Transport(netguard.ClientWebhook)
	}
	c.CheckRedirect = noRedirect
	resp, err := c.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return Result{Err: "interrupted: " + ctx.Err().Error()}
		case errors.Is(rctx.Err(), context.DeadlineExceeded):
			return Result{Err: fmt.Sprintf("no answer within %s", timeout)}
		default:
			return Result{Err: "POST failed: " + unwrapURLError(err)}
		}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	r := Result{Status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		r.Delivered = true
		return r
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		r.Err = fmt.Sprintf("webhook answered %d, a redirect: redirects are not followed, set the final URL as the webhook", resp.StatusCode)
	default:
		r.Err = fmt.Sprintf("webhook answered %d", resp.StatusCode)
	}
	if wait, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
		r.RetryAfter = wait
	}
	return r
}

// unwrapURLError drops the "Post "<url>": " of a *url.Error: the error
// texts are stored and logged, and a webhook URL may carry a token.
func unwrapURLError(err error) string {
	var refused *netguard.RefusedError
	if errors.As(err, &refused) {
		// Without the dialer's "dial tcp <addr>: ": the error names it.
		return refused.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
