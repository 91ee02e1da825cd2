package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowbot/flowbot/bench/internal/harness"
)

// stats counts flowbot's answers and the failures among them.
type stats struct {
	mu       sync.Mutex
	status   map[string]map[int]int // kind (webhook, api) → status → answers
	conn     map[string]int         // kind → connection errors (flowbot down)
	failures []string               // the first failures, for the report
	nfail    int
	flowErrs []string // answers with the flow's error text (not failures; reported)
	nflow    int
}

// flowError records an answer with the flow's error text.
func (s *stats) flowError(what string) {
	s.mu.Lock()
	s.nflow++
	if len(s.flowErrs) < 10 {
		s.flowErrs = append(s.flowErrs, what)
	}
	s.mu.Unlock()
}

func newStats() *stats {
	return &stats{status: map[string]map[int]int{"webhook": {}, "api": {}, "bad": {}}, conn: map[string]int{}}
}

func (s *stats) answer(kind string, status int) {
	s.mu.Lock()
	s.status[kind][status]++
	s.mu.Unlock()
}

func (s *stats) connError(kind string) {
	s.mu.Lock()
	s.conn[kind]++
	s.mu.Unlock()
}

// fail records a failure (at most 30 are kept for the report).
func (s *stats) fail(format string, args ...any) {
	s.mu.Lock()
	s.nfail++
	if len(s.failures) < 30 {
		s.failures = append(s.failures, fmt.Sprintf(format, args...))
	}
	s.mu.Unlock()
}

// countIf counts the answers whose status satisfies pred; with
// wellFormed, only those to the clients' well-formed requests.
func (s *stats) countIf(wellFormed bool, pred func(int) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for kind, m := range s.status {
		if wellFormed && kind == "bad" {
			continue
		}
		for st, c := range m {
			if pred(st) {
				n += c
			}
		}
	}
	return n
}

// count5xx counts every 5xx answer; count4xx the 4xx answers to
// well-formed requests.
func (s *stats) count5xx() int { return s.countIf(false, func(st int) bool { return st >= 500 }) }
func (s *stats) count4xx() int {
	return s.countIf(true, func(st int) bool { return st >= 400 && st < 500 })
}

func (s *stats) connErrors() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.conn {
		n += c
	}
	return n
}

// errGaveUp: the run ended (drain timeout, interrupt) before flowbot
// answered.
var errGaveUp = errors.New("gave up: the run was stopped before flowbot answered")

// sent is the outcome of a request sent until flowbot answered it.
type sent struct {
	status   int
	body     []byte
	attempts int
	// maybe: an earlier attempt may have reached flowbot (it was cut by a
	// kill after it was written, or timed out, or was answered 5xx);
	// "connection refused" attempts surely did not.
	maybe bool
}

// send sends a request built by mk until flowbot answers it: connection
// errors (flowbot is down or being killed) are retried after a short
// pause; a 5xx is recorded as a failure and retried; any other answer is
// returned. kind is "webhook" or "api".
func (r *run) send(client *http.Client, kind string, mk func() (*http.Request, error)) (sent, error) {
	var s sent
	pause := 50 * time.Millisecond
	for {
		req, err := mk()
		if err != nil {
			return s, err
		}
		s.attempts++
		resp, err := client.Do(req)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			r.stats.connError(kind)
			// net/http replays a request with an Idempotency-Key by itself
			// when its connection broke after writing it, so only a
			// request without one is known not to have arrived when the
			// error is "connection refused".
			if !errors.Is(err, syscall.ECONNREFUSED) || req.Header.Get("Idempotency-Key") != "" {
				s.maybe = true
			}
		} else {
			r.stats.answer(kind, resp.StatusCode)
			if resp.StatusCode < 500 {
				s.status, s.body = resp.StatusCode, body
				return s, nil
			}
			s.maybe = true
			r.stats.fail("%s %s answered %d%s: %.300s", req.Method, req.URL.Path, resp.StatusCode, r.nearKill(), body)
		}
		select {
		case <-r.abort:
			return s, errGaveUp
		case <-time.After(pause + mrand.N(pause)):
		}
		pause = min(2*pause, time.Second)
	}
}

// nearKill says whether flowbot was killed in the last 2 seconds.
func (r *run) nearKill() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.kills); n > 0 && time.Since(r.kills[n-1]) < 2*time.Second {
		return " (within 2 s of a kill)"
	}
	return ""
}

func (r *run) think() {
	if r.c.think > 0 {
		time.Sleep(mrand.N(r.c.think))
	}
}

// ---- Userlike webhook conversations ----

// ulConv is one Userlike conversation of the webshop flow.
type ulConv struct {
	cid, order string
	failed     string    // why it did not complete ("" when every turn was answered 200)
	answered   bool      // the lookup turn was answered 200
	attempts   int       // of the lookup turn
	maybe      bool      // an unanswered attempt of the lookup turn may have run
	inline     bool      // the lookup's result came in the answer (the job was not queued)
	flowErrors int       // order ids answered with the flow's error text (sent again)
	moved      bool      // "menu" was answered after the lookup turn, before its result
	movedAt    time.Time // when that answer arrived
}

var ulNext, chatNext, keyNext counter

// counter is a shared sequence.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// flowErrorText is the flows' default error text (flows/parse.go): the
// turn took the flow's error path (in the webshop, the order id's script
// hit its time limit), the conversation stays where it was, and the user
// is asked to try again.
const flowErrorText = "Sorry, something went wrong on my side"

// maxFlowErrors is how often a client sends an order id again after the
// flow's error text before it gives the conversation up.
const maxFlowErrors = 3

func (r *run) userlikeWorker(int) {
	client := &http.Client{Timeout: 20 * time.Second}
	for !r.stopping.Load() {
		n := ulNext.next()
		cv := &ulConv{cid: "chatbot::fault:" + strconv.Itoa(n), order: "U-" + strconv.Itoa(10000000+n)}
		turns := []struct{ name, payload string }{
			{"start", `{}`},
			{"click", `{"value":{"id":"delivery","label":"Delivery status"}}`},
			{"message", `{"body":"` + cv.order + `"}`},
		}
		ctx := []byte("{}")
		for i := 0; i < len(turns); i++ {
			t := turns[i]
			r.think()
			body := harness.WebhookBody(nil, cv.cid, "web", ctx, t.name, t.payload)
			s, err := r.send(client, "webhook", func() (*http.Request, error) {
				req, err := http.NewRequest(http.MethodPost, r.next().URL()+"/bots/webshop/webhook", bytes.NewReader(body))
				if err == nil {
					req.Header.Set("Content-Type", "application/json")
				}
				return req, err
			})
			if err != nil {
				cv.failed = fmt.Sprintf("turn %d (%s): %v", i+1, t.name, err)
				break
			}
			if s.status != http.StatusOK {
				cv.failed = fmt.Sprintf("turn %d (%s) answered %d: %.200s", i+1, t.name, s.status, s.body)
				r.stats.fail("Userlike %s, turn %d (%s): a well-formed call answered %d: %.200s", cv.cid, i+1, t.name, s.status, s.body)
				break
			}
			var events []harness.Event
			if err := json.Unmarshal(s.body, &events); err != nil || len(events) == 0 {
				cv.failed = fmt.Sprintf("turn %d (%s): not a non-empty event array: %.200s", i+1, t.name, s.body)
				r.stats.fail("Userlike %s: %s", cv.cid, cv.failed)
				break
			}
			if next := harness.LastContext(events); next != nil {
				ctx = next
			}
			if i < len(turns)-1 {
				continue
			}
			texts := strings.Join(harness.Texts(events), "\n")
			switch {
			case strings.Contains(texts, "Order "+cv.order+":"):
				cv.inline = true
			case strings.Contains(texts, "Let me check order "+cv.order):
			case strings.Contains(texts, flowErrorText) && cv.flowErrors < maxFlowErrors:
				// The user tries again, as asked, with the context answered.
				cv.flowErrors++
				r.stats.flowError(fmt.Sprintf("Userlike %s: order id %s answered %q", cv.cid, cv.order, texts))
				i--
				continue
			default:
				cv.failed = fmt.Sprintf("the lookup turn answered %q", texts)
				r.stats.fail("Userlike %s: the lookup turn answered %q", cv.cid, texts)
			}
			if cv.failed == "" {
				cv.answered, cv.attempts, cv.maybe = true, s.attempts, s.maybe
				if !cv.inline && r.c.moveOn > 0 && mrand.Float64() < r.c.moveOn {
					r.moveOn(client, cv, ctx)
				}
			}
		}
		r.mu.Lock()
		r.ul = append(r.ul, cv)
		r.mu.Unlock()
	}
}

// moveOn sends "menu" (a command of the webshop flow) right after the
// lookup turn, to the next instance: the conversation no longer waits
// for the result, which must not be pushed after this answer.
func (r *run) moveOn(client *http.Client, cv *ulConv, ctx []byte) {
	body := harness.WebhookBody(nil, cv.cid, "web", ctx, "message", `{"body":"menu"}`)
	s, err := r.send(client, "webhook", func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, r.next().URL()+"/bots/webshop/webhook", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
	if err != nil || s.status != http.StatusOK {
		cv.failed = fmt.Sprintf("menu after the lookup: %v %d %.200s", err, s.status, s.body)
		r.stats.fail("Userlike %s: %s", cv.cid, cv.failed)
		return
	}
	var events []harness.Event
	if json.Unmarshal(s.body, &events) != nil || !strings.Contains(strings.Join(harness.Texts(events), "\n"), "How can I help you?") {
		// The result came first (the turn answered on the result's
		// context, or a busy text): not a move before the result.
		return
	}
	cv.moved, cv.movedAt = true, time.Now()
}

// ---- Chat API conversations ----

// chatConv is one Chat API conversation.
type chatConv struct {
	user, id string
	failed   string
	sent     []chatMsg // user messages that got a 202
	orders   []string  // order ids sent
	timeouts []string  // order ids whose result did not arrive within -result-wait
}

// chatMsg is a user message the Chat API accepted.
type chatMsg struct {
	text, key, id string
	attempts      int
	duplicate     bool // the 202 said duplicate: an earlier attempt had its turn
}

func (r *run) apiClient() *http.Client { return &http.Client{Timeout: 20 * time.Second} }

// api builds a Chat API request.
func (r *run) api(method, path string, body any, key string) func() (*http.Request, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	return func() (*http.Request, error) {
		req, err := http.NewRequest(method, r.next().URL()+path, bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+r.apiKey)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		return req, nil
	}
}

func (r *run) createBot() (string, error) {
	s, err := r.send(r.apiClient(), "api", r.api(http.MethodPost, "/api/bots", map[string]any{"name": "Fault shop", "flow": "webshop"}, ""))
	if err != nil {
		return "", err
	}
	var out struct {
		Bot struct {
			ID string `json:"id"`
		} `json:"bot"`
	}
	if s.status != http.StatusCreated || json.Unmarshal(s.body, &out) != nil || out.Bot.ID == "" {
		return "", fmt.Errorf("POST /api/bots answered %d: %s", s.status, s.body)
	}
	return out.Bot.ID, nil
}

func (r *run) chatWorker(int) {
	client := r.apiClient()
	for !r.stopping.Load() {
		n := chatNext.next()
		cv := &chatConv{user: "fault_user_" + strconv.Itoa(n)}
		r.mu.Lock()
		r.chats = append(r.chats, cv)
		r.mu.Unlock()
		r.chatConversation(client, cv, n)
	}
}

func (r *run) chatConversation(client *http.Client, cv *chatConv, n int) {
	s, err := r.send(client, "api", r.api(http.MethodPost, "/api/conversations", map[string]any{"bot_id": r.botID, "user_id": cv.user,
		"create_user_if_not_exists": true, "webhook": r.recvEP.URL() + "/webhook"}, ""))
	if err != nil {
		cv.failed = "create: " + err.Error()
		return
	}
	var conv struct {
		Conversation struct {
			ID string `json:"id"`
		} `json:"conversation"`
	}
	if (s.status != http.StatusCreated && s.status != http.StatusOK) || json.Unmarshal(s.body, &conv) != nil || conv.Conversation.ID == "" {
		cv.failed = fmt.Sprintf("create answered %d: %.200s", s.status, s.body)
		r.stats.fail("Chat API %s: POST /api/conversations answered %d: %.200s", cv.user, s.status, s.body)
		return
	}
	r.mu.Lock()
	cv.id = conv.Conversation.ID
	r.mu.Unlock()
	for round := range r.c.rounds {
		order := "C-" + strconv.Itoa(10000000+n*100+round)
		if !r.post(client, cv, "1") {
			return
		}
		for try := 0; ; try++ {
			from := r.recv.Count(cv.id)
			if !r.post(client, cv, order) {
				return
			}
			r.mu.Lock()
			cv.orders = append(cv.orders, order)
			r.mu.Unlock()
			got, ok := r.recv.WaitAny(cv.id, from, []string{"Order " + order + ":", flowErrorText}, r.c.resultWait, r.abort)
			if !ok {
				r.mu.Lock()
				cv.timeouts = append(cv.timeouts, order)
				r.mu.Unlock()
			}
			if got != 1 || try == maxFlowErrors {
				break
			}
			// The flow's error text: the user sends the order id again.
			r.stats.flowError(fmt.Sprintf("Chat API %s: order id %s answered with the flow's error text", cv.id, order))
		}
		if !r.post(client, cv, "3") {
			return
		}
	}
}

// post sends a user message with its own Idempotency-Key until a 202.
func (r *run) post(client *http.Client, cv *chatConv, text string) bool {
	r.think()
	key := fmt.Sprintf("fault-%d", keyNext.next())
	s, err := r.send(client, "api", r.api(http.MethodPost, "/api/conversations/"+cv.id+"/messages",
		map[string]any{"message": map[string]any{"text": text, "from_bot": false}}, key))
	if err != nil {
		cv.failed = fmt.Sprintf("message %q: %v", text, err)
		return false
	}
	var out struct {
		Message struct {
			ID string `json:"id"`
		} `json:"message"`
		Duplicate bool `json:"duplicate"`
	}
	if s.status != http.StatusAccepted || json.Unmarshal(s.body, &out) != nil || out.Message.ID == "" {
		cv.failed = fmt.Sprintf("message %q answered %d: %.200s", text, s.status, s.body)
		r.stats.fail("Chat API %s: POST …/messages %q (attempt %d) answered %d: %.200s", cv.id, text, s.attempts, s.status, s.body)
		return false
	}
	if out.Duplicate && s.attempts == 1 {
		r.stats.fail("Chat API %s: message %q answered duplicate:true to its first attempt (key %s)", cv.id, text, key)
	}
	r.mu.Lock()
	cv.sent = append(cv.sent, chatMsg{text: text, key: key, id: out.Message.ID, attempts: s.attempts, duplicate: out.Duplicate})
	r.mu.Unlock()
	return true
}

func (r *run) chatConversations() []*chatConv {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.chats)
}

// deliveryPending reads GET /api/conversations/{id}: delivery.pending.
func (r *run) deliveryPending(id string) (int, error) {
	if id == "" {
		return 0, nil
	}
	s, err := r.send(r.apiClient(), "api", r.api(http.MethodGet, "/api/conversations/"+id, nil, ""))
	if err != nil {
		return 0, err
	}
	var out struct {
		Conversation struct {
			Delivery *struct {
				Pending int `json:"pending"`
			} `json:"delivery"`
		} `json:"conversation"`
	}
	if s.status != http.StatusOK || json.Unmarshal(s.body, &out) != nil || out.Conversation.Delivery == nil {
		return 0, fmt.Errorf("GET /api/conversations/%s answered %d: %.200s", id, s.status, s.body)
	}
	return out.Conversation.Delivery.Pending, nil
}

// historyMsg is a message of GET …/messages.
type historyMsg struct {
	ID      string `json:"id"`
	Text    string `json:"text"`
	FromBot bool   `json:"from_bot"`
}

// history reads a conversation's whole history.
func (r *run) history(id string) ([]historyMsg, error) {
	var all []historyMsg
	after := "0"
	for {
		s, err := r.send(r.apiClient(), "api", r.api(http.MethodGet, "/api/conversations/"+id+"/messages?limit=1000&after="+after, nil, ""))
		if err != nil {
			return nil, err
		}
		var page struct {
			Messages   []historyMsg `json:"messages"`
			NextCursor string       `json:"next_cursor"`
			HasMore    bool         `json:"has_more"`
		}
		if s.status != http.StatusOK || json.Unmarshal(s.body, &page) != nil {
			return nil, fmt.Errorf("GET history of %s answered %d: %.200s", id, s.status, s.body)
		}
		all = append(all, page.Messages...)
		if !page.HasMore {
			return all, nil
		}
		after = page.NextCursor
	}
}

// ---- malformed requests ----

// badRequest is a malformed request and the status flowbot must answer.
type badRequest struct {
	name   string
	method string
	path   string // "{conv}" is replaced by a Chat API conversation's id
	body   string
	auth   bool
	want   int
}

// badRequests are the malformed calls of the -bad clients: each must get
// its 4xx — a 5xx (or a 2xx) is a failure — and must change nothing (the
// Chat API ones go to the conversations of the checks).
var badRequests = []badRequest{
	{"webhook: not JSON", "POST", "/bots/webshop/webhook", `{"info":`, false, 400},
	{"webhook: cid a number", "POST", "/bots/webshop/webhook", `{"info":{"cid":7},"packet":{"name":"start","payload":{}}}`, false, 400},
	{"webhook: no packet", "POST", "/bots/webshop/webhook", `{"info":{"cid":"chatbot::bad"}}`, false, 400},
	{"webhook: click without value.id", "POST", "/bots/webshop/webhook", `{"info":{"cid":"chatbot::bad"},"packet":{"name":"click","payload":{"value":{}}}}`, false, 400},
	{"webhook: unknown bot", "POST", "/bots/no-such-bot/webhook", `{"info":{"cid":"chatbot::bad"},"packet":{"name":"start","payload":{}}}`, false, 404},
	{"webhook: GET", "GET", "/bots/webshop/webhook", "", false, 405},
	{"webhook: over 1 MiB", "POST", "/bots/webshop/webhook", `{"info":{"cid":"chatbot::bad"},"packet":{"name":"message","payload":{"body":"` + strings.Repeat("x", 1<<20) + `"}}}`, false, 413},
	{"api: no key", "POST", "/api/conversations/{conv}/messages", `{"message":{"text":"3","from_bot":false}}`, false, 401},
	{"api: not JSON", "POST", "/api/conversations/{conv}/messages", `{"message":`, true, 400},
	{"api: unknown field", "POST", "/api/conversations/{conv}/messages", `{"message":{"text":"3","from_bot":false},"webhok":"x"}`, true, 400},
	{"api: from_bot true", "POST", "/api/conversations/{conv}/messages", `{"message":{"text":"3","from_bot":true}}`, true, 422},
	{"api: text too long", "POST", "/api/conversations/{conv}/messages", `{"message":{"text":"` + strings.Repeat("y", 8001) + `","from_bot":false}}`, true, 422},
	{"api: over 64 KiB", "POST", "/api/conversations/{conv}/messages", `{"message":{"text":"` + strings.Repeat("z", 70000) + `","from_bot":false}}`, true, 413},
	{"api: no message", "POST", "/api/conversations/{conv}/messages", `{}`, true, 422},
	{"api: unknown conversation", "POST", "/api/conversations/no-such-conversation/messages", `{"message":{"text":"3","from_bot":false}}`, true, 404},
	{"api: bad cursor", "GET", "/api/conversations/{conv}/messages?after=-1", "", true, 400},
	{"api: webhook not a URL", "POST", "/api/conversations", `{"bot_id":"{bot}","user_id":"fault_bad","create_user_if_not_exists":true,"webhook":"ftp://x"}`, true, 422},
}

// badWorker sends the malformed requests, one after the other, until the
// run stops. A connection error (flowbot down) skips the request.
func (r *run) badWorker() {
	client := &http.Client{Timeout: 20 * time.Second}
	for i := 0; !r.stopping.Load(); i++ {
		b := badRequests[i%len(badRequests)]
		path := strings.ReplaceAll(b.path, "{conv}", r.someConversation())
		body := strings.ReplaceAll(b.body, "{bot}", r.botID)
		if strings.Contains(path, "/api/conversations//") {
			time.Sleep(100 * time.Millisecond)
			continue // no conversation yet
		}
		r.think()
		req, err := http.NewRequest(b.method, r.next().URL()+path, strings.NewReader(body))
		if err != nil {
			r.stats.fail("bad request %q: %v", b.name, err)
			continue
		}
		if b.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if b.auth {
			req.Header.Set("Authorization", "Bearer "+r.apiKey)
		}
		resp, err := client.Do(req)
		if err != nil {
			r.stats.connError("bad")
			continue
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r.stats.answer("bad", resp.StatusCode)
		if resp.StatusCode != b.want {
			r.stats.fail("malformed request %q answered %d, want %d: %.200s", b.name, resp.StatusCode, b.want, raw)
		}
	}
}

// someConversation returns the id of a random Chat API conversation ("" if
// none yet).
func (r *run) someConversation() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range 5 {
		if len(r.chats) == 0 {
			return ""
		}
		if id := r.chats[mrand.IntN(len(r.chats))].id; id != "" {
			return id
		}
	}
	return ""
}
