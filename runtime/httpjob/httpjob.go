// Package httpjob makes the HTTP requests that flows ask for (engine.Job)
// and turns the outcome into the engine.HTTPResult the flow continues with.
//
// The engine does no I/O: a state with an `http:` step ends its turn with a
// Job; the runtime runs it here and steps the flow again with an
// engine.EvHTTPResult event carrying the status and body (or the error).
package httpjob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/netguard"
)

// Defaults of a Runner.
const (
	// DefaultTimeout applies to a job that sets none.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout caps any job's timeout.
	MaxTimeout = 60 * time.Second
	// DefaultMaxBody is the largest response body read; a bigger one is an error.
	DefaultMaxBody = 1 << 20
)

// UserAgent is sent with every request.
const UserAgent = "flowbot (+https://github.com/flowbot/flowbot)"

// Runner runs jobs with an http.Client. The zero value is ready to use, and
// connects to public addresses only.
type Runner struct {
	// Client sends the requests as it is: guarding it is the caller's
	// business (netguard.Policy.Transport). Nil is a client that follows
	// at most 5 redirects and connects only where Network allows.
	Client *http.Client
	// Network says which addresses the default client may connect to
	// (checked on every connection, redirects included); nil is public
	// addresses only. It is ignored when Client is set.
	//
	// A step's URL is a template that may carry what a contact typed:
	// without the guard a flow could be made to call the loopback
	// interface, the private network or the cloud metadata service.
	Network *netguard.Policy
	// MaxBody bounds the response body; 0 is DefaultMaxBody.
	MaxBody int64
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("more than 5 redirects")
	}
	return nil
}

// Run makes the job's request and returns its outcome. It never fails:
// network errors, timeouts and oversized answers come back in Err, for the
// flow's error path.
func (r *Runner) Run(ctx context.Context, job *engine.Job) engine.HTTPResult {
	res := engine.HTTPResult{Seq: job.Seq}
	timeout := job.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	timeout = min(timeout, MaxTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method := job.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if len(job.Body) > 0 {
		body = bytes.NewReader(job.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, job.URL, body)
	if err != nil {
		res.Err = "cannot make the request: " + netguard.RequestError(err)
		return res
	}
	req.Header.Set("User-Agent", UserAgent)
	for _, h := range job.Headers {
		req.Header.Add(h[0], h[1])
	}
	client := r.Client
	if client == nil {
		client = &http.Client{Transport: r.Network.Transport(netguard.ClientHTTPStep), CheckRedirect: checkRedirect}
	}
	resp, err := client.Do(req)
	if err != nil {
		var refused *netguard.RefusedError
		var ue *url.Error
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			res.Err = fmt.Sprintf("no answer within %s", timeout)
		case errors.As(err, &refused) && errors.As(err, &ue):
			// `Get "<url>": refusing to connect to …: allow it with …`,
			// without the dialer's "dial tcp <addr>:" in between.
			res.Err = (&url.Error{Op: ue.Op, URL: netguard.RedactURL(ue.URL), Err: refused}).Error()
		default:
			res.Err = netguard.RequestError(err)
		}
		return res
	}
	defer resp.Body.Close()
	limit := r.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		res.Err = "reading the answer: " + netguard.RequestError(err)
	case int64(len(b)) > limit:
		res.Err = fmt.Sprintf("the answer is over %d bytes", limit)
	default:
		res.Status, res.Body = resp.StatusCode, b
	}
	return res
}
