package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Endpoint serves a handler on a fixed loopback address and can be taken
// down (the listener and every connection closed: callers get "connection
// refused", requests in flight are cut) and brought back on the same
// address, or made to answer 503 to everything for a while.
type Endpoint struct {
	// Name names it in reports.
	Name string

	addr    string
	handler http.Handler
	failing atomic.Bool
	refused atomic.Int64 // requests answered 503 while failing

	mu  sync.Mutex
	srv *http.Server
}

// NewEndpoint serves h on a free loopback port.
func NewEndpoint(name string, h http.Handler) (*Endpoint, error) {
	e := &Endpoint{Name: name, handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.addr = ln.Addr().String()
	e.serve(ln)
	return e, nil
}

// URL returns the endpoint's base URL.
func (e *Endpoint) URL() string { return "http://" + e.addr }

func (e *Endpoint) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(e.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	e.mu.Lock()
	e.srv = srv
	e.mu.Unlock()
	go srv.Serve(ln)
}

func (e *Endpoint) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if e.failing.Load() {
		io.Copy(io.Discard, r.Body)
		e.refused.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"the harness made this endpoint fail"}`)
		return
	}
	e.handler.ServeHTTP(w, r)
}

// Down closes the listener and every connection.
func (e *Endpoint) Down() {
	e.mu.Lock()
	srv := e.srv
	e.srv = nil
	e.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Up listens again on the same address (retrying for a few seconds if the
// port is not free yet).
func (e *Endpoint) Up() error {
	e.mu.Lock()
	up := e.srv != nil
	e.mu.Unlock()
	if up {
		return nil
	}
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", e.addr); err == nil {
			e.serve(ln)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("harness: %s cannot listen on %s again: %w", e.Name, e.addr, err)
}

// SetFailing makes every request answer 503 (true) or be served (false).
func (e *Endpoint) SetFailing(on bool) { e.failing.Store(on) }

// Refused returns how many requests were answered 503 by SetFailing.
func (e *Endpoint) Refused() int64 { return e.refused.Load() }

// OrderAPI plays the webshop's order service: GET /orders/{id} answers
// {"status": "shipped"} after a random delay up to MaxDelay, so that
// lookups are in flight when flowbot is killed. It counts the requests per
// order id (a lookup repeated after a crash counts twice).
type OrderAPI struct {
	MaxDelay time.Duration

	total atomic.Int64
	mu    sync.Mutex
	byID  map[string]int
}

// NewOrderAPI returns an order service.
func NewOrderAPI(maxDelay time.Duration) *OrderAPI {
	return &OrderAPI{MaxDelay: maxDelay, byID: map[string]int{}}
}

func (o *OrderAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/orders/")
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	o.total.Add(1)
	o.mu.Lock()
	o.byID[id]++
	o.mu.Unlock()
	if o.MaxDelay > 0 {
		t := time.NewTimer(rand.N(o.MaxDelay))
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"shipped","id":%q}`, id)
}

// Requests returns the requests received in all and for one order id.
func (o *OrderAPI) Requests(id string) (total int64, forID int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total.Load(), o.byID[id]
}

// PushAPI plays a Userlike chatbot's API URL, where flowbot pushes the
// results of async HTTP steps (docs/userlike.md, "The push request"): it
// requires the SECURITY-TOKEN, reads X-Flowbot-Push-Id and the events, and
// records per cid the distinct push ids received and the texts of each
// request that brought a new one. It answers 200 {}.
type PushAPI struct {
	Token string

	mu       sync.Mutex
	requests int
	byCID    map[string]*Pushes
	pushes   map[string]int // push id → requests that carried it
	bad      []string
}

// Pushes is what one conversation (cid) received.
type Pushes struct {
	IDs      []string // distinct push ids, in the order first received
	Requests int      // requests for the cid, redeliveries included
	Texts    []string // message bodies of the requests that brought a new id
	Context  json.RawMessage
	// Arrivals are the requests that brought a new id, in order.
	Arrivals []Arrival
}

// Arrival is one push request that brought a new push id.
type Arrival struct {
	At      time.Time       // when it was received
	Texts   []string        // its message bodies
	Context json.RawMessage // the last context it carried
}

// NewPushAPI returns an API URL requiring token.
func NewPushAPI(token string) *PushAPI {
	return &PushAPI{Token: token, byCID: map[string]*Pushes{}, pushes: map[string]int{}}
}

func (a *PushAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the sender died mid-request: nothing received
	}
	answer := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if msg == "" {
			io.WriteString(w, "{}")
		} else {
			json.NewEncoder(w).Encode(map[string]string{"error": msg})
		}
	}
	var events []Event
	jsonErr := json.Unmarshal(body, &events)
	var ids []string
	for _, id := range strings.Split(r.Header.Get("X-Flowbot-Push-Id"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests++
	switch {
	case r.Method != http.MethodPost:
		a.bad = append(a.bad, "a push with method "+r.Method)
		answer(http.StatusMethodNotAllowed, "POST only")
		return
	case r.Header.Get("SECURITY-TOKEN") != a.Token:
		a.bad = append(a.bad, fmt.Sprintf("a push with SECURITY-TOKEN %q", r.Header.Get("SECURITY-TOKEN")))
		answer(http.StatusUnauthorized, "wrong SECURITY-TOKEN")
		return
	case jsonErr != nil || len(events) == 0:
		a.bad = append(a.bad, fmt.Sprintf("a push that is not a non-empty event array: %v: %.200s", jsonErr, body))
		answer(http.StatusBadRequest, "not an event array")
		return
	case len(ids) == 0:
		a.bad = append(a.bad, fmt.Sprintf("a push without X-Flowbot-Push-Id: %.200s", body))
	}
	cid := events[0].Info.CID
	for _, e := range events {
		if e.Info.CID != cid {
			a.bad = append(a.bad, fmt.Sprintf("a push mixing cids %q and %q", cid, e.Info.CID))
			break
		}
	}
	p := a.byCID[cid]
	if p == nil {
		p = &Pushes{}
		a.byCID[cid] = p
	}
	p.Requests++
	fresh := false
	for _, id := range ids {
		if a.pushes[id] == 0 {
			fresh = true
			p.IDs = append(p.IDs, id)
		}
		a.pushes[id]++
	}
	if fresh || len(ids) == 0 {
		p.Texts = append(p.Texts, Texts(events)...)
		p.Arrivals = append(p.Arrivals, Arrival{At: time.Now(), Texts: Texts(events), Context: LastContext(events)})
	}
	if c := LastContext(events); c != nil {
		p.Context = c
	}
	answer(http.StatusOK, "")
}

// Of returns a copy of what cid received (nil if nothing).
func (a *PushAPI) Of(cid string) *Pushes {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.byCID[cid]
	if p == nil {
		return nil
	}
	c := *p
	c.IDs = append([]string(nil), p.IDs...)
	c.Texts = append([]string(nil), p.Texts...)
	c.Arrivals = append([]Arrival(nil), p.Arrivals...)
	return &c
}

// CIDs returns every cid that received a push.
func (a *PushAPI) CIDs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.byCID))
	for cid := range a.byCID {
		out = append(out, cid)
	}
	return out
}

// Totals returns the requests received, the distinct push ids, the push
// ids received more than once, and the malformed requests.
func (a *PushAPI) Totals() (requests, distinct, redelivered int, bad []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range a.pushes {
		if n > 1 {
			redelivered++
		}
	}
	return a.requests, len(a.pushes), redelivered, append([]string(nil), a.bad...)
}

// Receiver is an app's Chat API webhook (docs/platform.md, "Webhook
// delivery"): it verifies each delivery's Standard Webhooks signature,
// records it by webhook-id, notes duplicates (which must carry the same
// body) and answers 200.
type Receiver struct {
	verify *standardwebhooks.Webhook

	mu      sync.Mutex
	total   int
	byID    map[string]*Delivery
	order   map[string][]string // conversation → distinct webhook-ids, first receipt order
	bad     []string
	changed chan struct{}
}

// Delivery is one bot message received (first receipt).
type Delivery struct {
	Conversation string
	Text         string
	Body         []byte
	Count        int // requests that carried it
}

// NewReceiver returns a receiver verifying signatures with secret
// (whsec_…).
func NewReceiver(secret string) (*Receiver, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	return &Receiver{verify: wh, byID: map[string]*Delivery{}, order: map[string][]string{}, changed: make(chan struct{})}, nil
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	id := r.Header.Get("webhook-id")
	sigErr := rc.verify.Verify(body, r.Header)
	var p struct {
		ConversationID string `json:"conversation_id"`
		Message        struct {
			ID      string `json:"id"`
			Text    string `json:"text"`
			FromBot bool   `json:"from_bot"`
		} `json:"message"`
	}
	jsonErr := json.Unmarshal(body, &p)
	rc.mu.Lock()
	rc.total++
	switch {
	case sigErr != nil:
		rc.bad = append(rc.bad, fmt.Sprintf("webhook-id %s: signature: %v", id, sigErr))
	case jsonErr != nil || id == "" || p.Message.ID != id || !p.Message.FromBot || p.ConversationID == "":
		rc.bad = append(rc.bad, fmt.Sprintf("webhook-id %q, body %.300s: %v", id, body, jsonErr))
	}
	if d := rc.byID[id]; d != nil {
		d.Count++
		if !bytes.Equal(d.Body, body) {
			rc.bad = append(rc.bad, fmt.Sprintf("webhook-id %s delivered again with another body:\n%s\n%s", id, d.Body, body))
		}
	} else {
		rc.byID[id] = &Delivery{Conversation: p.ConversationID, Text: p.Message.Text, Body: body, Count: 1}
		rc.order[p.ConversationID] = append(rc.order[p.ConversationID], id)
		close(rc.changed)
		rc.changed = make(chan struct{})
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// WaitText waits until a message of conversation conv containing substr
// has arrived, or timeout; it reports whether it did.
func (rc *Receiver) WaitText(conv, substr string, timeout time.Duration, stop <-chan struct{}) bool {
	_, ok := rc.WaitAny(conv, 0, []string{substr}, timeout, stop)
	return ok
}

// WaitAny waits until a message of conversation conv, from its from-th
// distinct message on (Count before the request that causes it), contains
// one of substrs, or timeout, or stop; it returns the index of the substr
// found.
func (rc *Receiver) WaitAny(conv string, from int, substrs []string, timeout time.Duration, stop <-chan struct{}) (int, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		rc.mu.Lock()
		ids := rc.order[conv]
		for _, id := range ids[min(from, len(ids)):] {
			for i, sub := range substrs {
				if strings.Contains(rc.byID[id].Text, sub) {
					rc.mu.Unlock()
					return i, true
				}
			}
		}
		ch := rc.changed
		rc.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return -1, false
		case <-stop:
			return -1, false
		}
	}
}

// Count returns how many distinct messages of conv have arrived.
func (rc *Receiver) Count(conv string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.order[conv])
}

// Received returns the first receipt of webhook-id id (nil if none).
func (rc *Receiver) Received(id string) *Delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if d := rc.byID[id]; d != nil {
		c := *d
		return &c
	}
	return nil
}

// Order returns the distinct webhook-ids of conv in first-receipt order.
func (rc *Receiver) Order(conv string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.order[conv]...)
}

// Totals returns the requests received, the distinct webhook-ids, the ids
// received more than once, and the bad requests (signature, shape, a
// duplicate with another body).
func (rc *Receiver) Totals() (requests, distinct, duplicated int, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, d := range rc.byID {
		if d.Count > 1 {
			duplicated++
		}
	}
	return rc.total, len(rc.byID), duplicated, append([]string(nil), rc.bad...)
}

// Conversations returns every conversation id the receiver heard of.
func (rc *Receiver) Conversations() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]string, 0, len(rc.order))
	for c := range rc.order {
		out = append(out, c)
	}
	return out
}
