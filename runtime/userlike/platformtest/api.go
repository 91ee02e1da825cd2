package platformtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// API plays a bot's Userlike API URL, where flowbot pushes the events it
// sends on its own (the results of async HTTP steps). Serve it with
// httptest.NewServer and set the flow's api_url to its URL.
//
// Like Userlike, it requires the token in the SECURITY-TOKEN header (401
// otherwise) and a JSON array of events; it answers 200 {} to a good
// request, stores the last context per cid as the conversation's context
// (so that the next webhook call of the Platform carries it) and records
// the packets with the Platform's. Respond can answer instead, to test
// retries.
type API struct {
	// Token is the SECURITY-TOKEN required.
	Token string
	// Respond, when set, is asked first about each request (n counts from
	// 1). A status other than 0 answers the request with it and header,
	// and its events are not taken.
	Respond func(n int, r *http.Request) (status int, header http.Header)

	p        *Platform
	now      func() time.Time
	mu       sync.Mutex
	changed  *sync.Cond
	requests []APIRequest
}

// APIRequest is one request the API received.
type APIRequest struct {
	N           int       // its number, from 1
	Status      int       // the status answered
	Accepted    bool      // a 2xx: its events were taken
	Token       string    // SECURITY-TOKEN
	ContentType string    // Content-Type
	PushIDs     []string  // X-Flowbot-Push-Id, split at commas
	CID         string    // the cid of its first event
	Packets     []Packet  // its events
	Error       string    // why it was refused (400, 401)
	At          time.Time // when it arrived (the API's Now)
}

// API returns an emulated API URL for the platform's conversations,
// requiring token.
func (p *Platform) API(token string) *API {
	a := &API{Token: token, p: p}
	a.changed = sync.NewCond(&a.mu)
	return a
}

// Clock sets the time source that stamps the requests (APIRequest.At);
// tests with a fake clock set it. The default is time.Now.
func (a *API) Clock(now func() time.Time) {
	a.mu.Lock()
	a.now = now
	a.mu.Unlock()
}

// ServeHTTP takes one push.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	a.mu.Lock()
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	req := APIRequest{N: len(a.requests) + 1, Token: r.Header.Get("SECURITY-TOKEN"), ContentType: r.Header.Get("Content-Type"), At: now()}
	a.mu.Unlock()
	for _, id := range strings.Split(r.Header.Get("X-Flowbot-Push-Id"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			req.PushIDs = append(req.PushIDs, id)
		}
	}
	var probe []struct {
		Info struct {
			CID string `json:"cid"`
		} `json:"info"`
	}
	if json.Unmarshal(body, &probe) == nil && len(probe) > 0 {
		req.CID = probe[0].Info.CID
	}
	answer := func(status int, hdr http.Header, msg string) {
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if msg != "" {
			b, _ := json.Marshal(map[string]string{"error": msg})
			w.Write(b)
		} else {
			w.Write([]byte("{}"))
		}
		req.Status, req.Error = status, msg
		a.mu.Lock()
		req.N = len(a.requests) + 1
		a.requests = append(a.requests, req)
		a.changed.Broadcast()
		a.mu.Unlock()
	}
	if a.Respond != nil {
		if status, hdr := a.Respond(req.N, r); status != 0 {
			answer(status, hdr, "")
			return
		}
	}
	switch {
	case r.Method != http.MethodPost:
		answer(http.StatusMethodNotAllowed, nil, "POST only")
		return
	case a.Token != "" && req.Token != a.Token:
		answer(http.StatusUnauthorized, nil, "wrong or missing SECURITY-TOKEN")
		return
	case !strings.HasPrefix(req.ContentType, "application/json"):
		answer(http.StatusUnsupportedMediaType, nil, "Content-Type must be application/json")
		return
	}
	pks, last, err := parseEvents(body, req.CID, a.p.AllowEmptyContext)
	if err != nil {
		answer(http.StatusBadRequest, nil, err.Error())
		return
	}
	req.Packets, req.Accepted = pks, true
	a.p.mu.Lock()
	if last != nil {
		a.p.contexts[req.CID] = last
	}
	if a.p.record {
		a.p.packets[req.CID] = append(a.p.packets[req.CID], pks...)
	}
	a.p.mu.Unlock()
	answer(http.StatusOK, nil, "")
}

// Requests returns the requests received so far, in order.
func (a *API) Requests() []APIRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]APIRequest(nil), a.requests...)
}

// Accepted returns the requests whose events were taken, in order.
func (a *API) Accepted() []APIRequest {
	var out []APIRequest
	for _, r := range a.Requests() {
		if r.Accepted {
			out = append(out, r)
		}
	}
	return out
}

// Wait blocks until at least n requests arrived or timeout (real time)
// passed, and returns the requests so far.
func (a *API) Wait(n int, timeout time.Duration) []APIRequest {
	stop := time.AfterFunc(timeout, func() {
		a.mu.Lock()
		a.changed.Broadcast()
		a.mu.Unlock()
	})
	defer stop.Stop()
	deadline := time.Now().Add(timeout)
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.requests) < n && time.Now().Before(deadline) {
		a.changed.Wait()
	}
	return append([]APIRequest(nil), a.requests...)
}
