package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/flowbot/flowbot/runtime/store/storetest"
)

// The burst of TestTwoInstancesOnPostgresSurviveSIGKILL.
const (
	miConversations = 20 // half opened through A, half through B
	miMessages      = 10 // user messages per conversation
	miKey           = "sk_test"
	// miKillAt is the webhook request after which A is killed: about a
	// third of the 20 × (2 + 2×10) = 440 bot messages.
	miKillAt = 140
	// miWait bounds every wait of the test.
	miWait = 60 * time.Second
)

// Bot messages of the webshop flow for "3" (opening hours) and its menu.
const (
	miWelcome = "Welcome to our shop! I'm the shop's bot."
	miMenu    = "\n3. Opening hours\n" // a choice is a numbered list on the custom channel
	miHours   = "We're open Monday to Friday"
)

// miReceiver is an app's webhook on loopback: it records every POST,
// verifies its signature with the Standard Webhooks reference library, and
// answers 200 after 20–50 ms, so that deliveries are in flight when a
// process dies.
type miReceiver struct {
	verify *standardwebhooks.Webhook
	srv    *httptest.Server

	mu      sync.Mutex
	total   int                 // requests received
	order   map[string][]string // conversation → distinct webhook-ids, in first-receipt order
	body    map[string][]byte   // webhook-id → the first body
	conv    map[string]string   // webhook-id → conversation_id of the body
	text    map[string]string   // webhook-id → message.text
	count   map[string]int      // webhook-id → requests
	badSig  []string            // signatures that did not verify
	bad     []string            // malformed requests, duplicates with another body…
	changed chan struct{}       // closed (and replaced) on every new webhook-id
	killAt  int
	kill    chan struct{} // closed at the killAt-th request
}

func newMIReceiver(t *testing.T, secret string, killAt int) *miReceiver {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &miReceiver{verify: wh, order: map[string][]string{}, body: map[string][]byte{}, conv: map[string]string{},
		text: map[string]string{}, count: map[string]int{}, changed: make(chan struct{}), killAt: killAt, kill: make(chan struct{})}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *miReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return // the sender died mid-request: nothing was received
	}
	id := req.Header.Get("webhook-id")
	sigErr := r.verify.Verify(body, req.Header)
	var p struct {
		ConversationID string `json:"conversation_id"`
		Message        struct {
			ID      string `json:"id"`
			Text    string `json:"text"`
			FromBot bool   `json:"from_bot"`
		} `json:"message"`
	}
	jsonErr := json.Unmarshal(body, &p)

	r.mu.Lock()
	r.total++
	if r.total == r.killAt {
		close(r.kill)
	}
	switch {
	case sigErr != nil:
		r.badSig = append(r.badSig, fmt.Sprintf("%s: %v", id, sigErr))
	case jsonErr != nil || id == "" || p.Message.ID != id || !p.Message.FromBot || p.ConversationID == "":
		r.bad = append(r.bad, fmt.Sprintf("webhook-id %q, body %s: %v", id, body, jsonErr))
	}
	r.count[id]++
	if first, seen := r.body[id]; !seen {
		r.body[id], r.conv[id], r.text[id] = body, p.ConversationID, p.Message.Text
		r.order[p.ConversationID] = append(r.order[p.ConversationID], id)
		close(r.changed)
		r.changed = make(chan struct{})
	} else if !bytes.Equal(first, body) {
		r.bad = append(r.bad, fmt.Sprintf("webhook-id %s delivered again with another body:\n%s\n%s", id, first, body))
	}
	r.mu.Unlock()

	// A slow app: the kill lands while requests are in flight.
	t := time.NewTimer(time.Duration(20+mrand.IntN(31)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-req.Context().Done():
		return
	}
	w.WriteHeader(http.StatusOK)
}

// waitFor waits until cond (called with r.mu held) holds, or the deadline.
func (r *miReceiver) waitFor(deadline time.Time, cond func() bool) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			return cond()
		}
	}
}

// distinct is the number of messages of a conversation received so far.
func (r *miReceiver) distinct(conv string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order[conv])
}

// miInstance is a running flowbot serve whose stderr is drained in the
// background (so that it never blocks on a full pipe).
type miInstance struct {
	name string
	args []string
	p    *process
	url  string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{} // closed when stderr is closed
}

func startMI(t *testing.T, name string, env []string, args ...string) *miInstance {
	t.Helper()
	p := startServe(t, env, args...)
	in := &miInstance{name: name, args: args, p: p, url: "http://" + p.addr, done: make(chan struct{})}
	in.logs.WriteString(p.all.String())
	go func() {
		defer close(in.done)
		for line := range p.lines {
			in.mu.Lock()
			in.logs.WriteString(line + "\n")
			in.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of %s (last 80 lines):\n%s", in.name, tail(in.log(), 80))
		}
	})
	return in
}

func (in *miInstance) log() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.logs.String()
}

// signal sends sig and waits for the process to exit; its ProcessState
// then holds the exit status.
func (in *miInstance) signal(t *testing.T, sig syscall.Signal) *exec.Cmd {
	t.Helper()
	if err := in.p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.done:
	case <-time.After(miWait):
		t.Fatalf("%s did not exit within %s of %v", in.name, miWait, sig)
	}
	in.p.cmd.Wait() // the exit status is in ProcessState
	return in.p.cmd
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// miClient calls the Chat API.
type miClient struct{ hc *http.Client }

// call makes one request and decodes the answer into out; err is a
// transport error (no answer).
func (c miClient) call(method, url string, body any, idemKey string, out any) (status int, raw []byte, err error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+miKey)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, raw, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("answer %d is not JSON: %v: %s", resp.StatusCode, err, raw)
		}
	}
	return resp.StatusCode, raw, nil
}

// must makes a request that has to answer want.
func (c miClient) must(t *testing.T, want int, method, url string, body, out any) {
	t.Helper()
	status, raw, err := c.call(method, url, body, "", out)
	if err != nil || status != want {
		t.Fatalf("%s %s: %d %v %s (want %d)", method, url, status, err, raw, want)
	}
}

type miMessage struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	FromBot  bool   `json:"from_bot"`
	Position int64  `json:"position"`
}

// history reads a conversation's whole history.
func (c miClient) history(t *testing.T, base, conv string) []miMessage {
	t.Helper()
	var h struct {
		Messages []miMessage `json:"messages"`
		HasMore  bool        `json:"has_more"`
	}
	c.must(t, 200, "GET", base+"/api/conversations/"+conv+"/messages?limit=1000", nil, &h)
	if h.HasMore {
		t.Fatalf("conversation %s: more than 1000 messages", conv)
	}
	return h.Messages
}

// pending is the delivery backlog of a conversation.
func (c miClient) pending(t *testing.T, base, conv string) int {
	t.Helper()
	var out struct {
		Conversation struct {
			Delivery *struct {
				Pending int `json:"pending"`
			} `json:"delivery"`
		} `json:"conversation"`
	}
	c.must(t, 200, "GET", base+"/api/conversations/"+conv, nil, &out)
	if out.Conversation.Delivery == nil {
		t.Fatalf("conversation %s has no delivery backlog: no webhook?", conv)
	}
	return out.Conversation.Delivery.Pending
}

// drained polls (every 100 ms, up to miWait: the workers are other
// processes) until no conversation has a pending delivery.
func (c miClient) drained(t *testing.T, base string, convs []string) {
	t.Helper()
	deadline := time.Now().Add(miWait)
	for {
		left := 0
		for _, conv := range convs {
			left += c.pending(t, base, conv)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still pending after %s", left, miWait)
		}
		time.Sleep(100 * time.Millisecond) // polling another process's queue
	}
}

// TestTwoInstancesOnPostgresSurviveSIGKILL: two flowbot serve processes
// share one PostgreSQL database; 20 conversations get a burst of user
// messages through both, and one process is killed with SIGKILL while
// turns and webhook deliveries are in flight. The client re-sends what
// the dead process did not answer to the other one, with the same
// Idempotency-Key. Nothing is lost: every bot message reaches the webhook,
// at least once, with the same webhook-id and body each time, signed, in
// the order of the history; no user message is turned twice.
func TestTwoInstancesOnPostgresSurviveSIGKILL(t *testing.T) {
	begin := time.Now()
	db := storetest.Address(t, "postgres") // before the processes: its schema is dropped after they are stopped
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		t.Fatal(err)
	}
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key[:])
	rcv := newMIReceiver(t, secret, miKillAt)
	env := []string{"FLOWBOT_API_KEYS=" + miKey, "FLOWBOT_WEBHOOK_SECRET=" + secret, "ORDER_API_URL=http://127.0.0.1:9",
		"USERLIKE_API_URL=", "USERLIKE_API_TOKEN=", "FLOWBOT_WEBHOOK_TOKEN="}
	flags := func(data string) []string {
		return []string{"--database", db, "--flows", examples(t), "--lease", "2s", "--delivery-schedule", "0s,200ms,500ms",
			"--data", filepath.Join(t.TempDir(), data)}
	}
	a := startMI(t, "A", env, flags("a.db")...) // A migrates the schema first
	b := startMI(t, "B", env, flags("b.db")...)
	api := miClient{hc: &http.Client{Timeout: miWait, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.Logf("A on %s, B on %s: started in %s", a.p.addr, b.p.addr, time.Since(begin).Round(time.Millisecond))

	var bot struct {
		Bot struct{ ID string } `json:"bot"`
	}
	api.must(t, 201, "POST", a.url+"/api/bots", map[string]any{"name": "Shop", "flow": "webshop"}, &bot)
	webhook := rcv.srv.URL + "/webhook"
	convs := make([]string, miConversations)
	for i := range convs {
		via := []*miInstance{a, b}[i%2]
		var c struct {
			Conversation struct{ ID string } `json:"conversation"`
		}
		api.must(t, 201, "POST", via.url+"/api/conversations", map[string]any{"bot_id": bot.Bot.ID, "user_id": fmt.Sprintf("user-%02d", i),
			"create_user_if_not_exists": true, "webhook": webhook}, &c)
		convs[i] = c.Conversation.ID
	}

	// The burst: each conversation's user sends miMessages "3"s, one after
	// the other, alternately through A and B; message j goes once the bot's
	// answers to message j-2 arrived, so that sending goes on while the
	// webhook deliveries do. All conversations at once.
	var killed atomic.Bool
	var resent, resentDuplicates, turnsA, turnsB atomic.Int64
	deadline := time.Now().Add(miWait)
	userIDs := make([][]string, len(convs)) // the user messages' ids, as answered
	byA := make([][]bool, len(convs))       // the turn was answered by A
	for i := range convs {
		userIDs[i], byA[i] = make([]string, miMessages), make([]bool, miMessages)
	}
	var wg sync.WaitGroup
	for i, conv := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 1; j <= miMessages; j++ {
				if !rcv.waitFor(deadline, func() bool { return len(rcv.order[conv]) >= 2*j-2 }) {
					t.Errorf("conversation %d: the answers to message %d did not arrive within %s (got %d bot messages)", i, j-2, miWait, rcv.distinct(conv))
					return
				}
				via := []*miInstance{a, b}[(i+j)%2]
				idem := fmt.Sprintf("burst-%d-%d", i, j)
				body := map[string]any{"message": map[string]any{"text": "3"}}
				var out struct {
					Message   struct{ ID string } `json:"message"`
					Duplicate bool                `json:"duplicate"`
				}
				status, raw, err := api.call("POST", via.url+"/api/conversations/"+conv+"/messages", body, idem, &out)
				if err != nil && via == a && killed.Load() {
					// A is dead: the client tries the other instance with
					// the same key. If A committed the turn, B says so.
					resent.Add(1)
					via = b
					status, raw, err = api.call("POST", via.url+"/api/conversations/"+conv+"/messages", body, idem, &out)
					if err == nil && out.Duplicate {
						resentDuplicates.Add(1)
					}
				}
				if err != nil || status != http.StatusAccepted {
					t.Errorf("conversation %d, message %d via %s: %d %v %s", i, j, via.name, status, err, raw)
					return
				}
				if !out.Duplicate {
					map[*miInstance]*atomic.Int64{a: &turnsA, b: &turnsB}[via].Add(1)
				}
				userIDs[i][j-1], byA[i][j-1] = out.Message.ID, via == a && !out.Duplicate
			}
		}()
	}

	// SIGKILL A in the middle of the burst.
	select {
	case <-rcv.kill:
	case <-time.After(miWait):
		wg.Wait()
		t.Fatalf("the receiver got fewer than %d requests within %s", miKillAt, miWait)
	}
	killed.Store(true)
	killedAt := time.Now()
	rcv.mu.Lock()
	atKill := rcv.total
	rcv.mu.Unlock()
	if cmd := a.signal(t, syscall.SIGKILL); cmd.ProcessState.ExitCode() != -1 {
		t.Fatalf("A after SIGKILL: %v", cmd.ProcessState)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	burstDone := time.Now()

	// Every bot message arrives: the start's 2 and 2 per user message.
	const want = 2 + 2*miMessages
	if !rcv.waitFor(time.Now().Add(miWait), func() bool {
		for _, c := range convs {
			if len(rcv.order[c]) < want {
				return false
			}
		}
		return true
	}) {
		for i, c := range convs {
			if n := rcv.distinct(c); n != want {
				t.Errorf("conversation %d: %d bot messages delivered, want %d", i, n, want)
			}
		}
		t.FailNow()
	}
	api.drained(t, b.url, convs)
	drainedAt := time.Now()

	// The histories (through B) against what the webhook got.
	rcv.mu.Lock()
	if len(rcv.badSig) > 0 {
		t.Errorf("%d signatures did not verify, e.g. %s", len(rcv.badSig), rcv.badSig[0])
	}
	for _, s := range rcv.bad {
		t.Error(s)
	}
	total, dupIDs := rcv.total, 0
	for _, n := range rcv.count {
		if n > 1 {
			dupIDs++
		}
	}
	rcv.mu.Unlock()
	wantUsers := map[string][]string{}
	for i, conv := range convs {
		wantUsers[conv] = slices.Clone(userIDs[i])
	}
	checkHistories := func(base string, convs []string, want int) {
		t.Helper()
		for i, conv := range convs {
			h := api.history(t, base, conv)
			var bots, users []string
			for k, m := range h {
				if m.Position != int64(k+1) {
					t.Errorf("conversation %d: message %d has position %d", i, k, m.Position)
				}
				if !m.FromBot {
					if m.Text != "3" {
						t.Errorf("conversation %d: user message %q", i, m.Text)
					}
					users = append(users, m.ID)
					continue
				}
				bots = append(bots, m.ID)
				rcv.mu.Lock()
				text, ok := rcv.text[m.ID]
				rcv.mu.Unlock()
				if ok && text != m.Text {
					t.Errorf("conversation %d: message %s: webhook text %q, history %q", i, m.ID, text, m.Text)
				}
				n := len(bots) - 1
				switch {
				case n == 0 && m.Text != miWelcome,
					n > 0 && n%2 == 1 && !strings.Contains(m.Text, miMenu),
					n > 0 && n%2 == 0 && !strings.Contains(m.Text, miHours):
					t.Errorf("conversation %d: bot message %d is %q", i, n, m.Text)
				}
			}
			if !slices.Equal(users, wantUsers[conv]) {
				t.Errorf("conversation %d: the history's user messages are not the ones answered 202, in the order sent (each turned once)\nhistory:  %v\nanswered: %v",
					i, users, wantUsers[conv])
			}
			rcv.mu.Lock()
			got := slices.Clone(rcv.order[conv])
			for _, id := range got {
				if rcv.conv[id] != conv {
					t.Errorf("conversation %d: webhook-id %s came with conversation_id %s", i, id, rcv.conv[id])
				}
			}
			rcv.mu.Unlock()
			if len(bots) != want || !slices.Equal(bots, got) {
				t.Errorf("conversation %d: the history's %d bot messages are not the %d webhook-ids in the order received\nhistory: %v\nwebhook: %v",
					i, len(bots), len(got), bots, got)
			}
		}
	}
	checkHistories(b.url, convs, want)
	t.Logf("burst: %d conversations × %d messages; A killed at request %d of the webhook, %s after the start; burst done %s after the kill, queue drained %s after it",
		len(convs), miMessages, atKill, killedAt.Sub(begin).Round(time.Millisecond), burstDone.Sub(killedAt).Round(time.Millisecond), drainedAt.Sub(killedAt).Round(time.Millisecond))
	t.Logf("deliveries: %d requests for %d bot messages, %d duplicate requests (%d messages delivered more than once); turns through A %d, through B %d; %d messages re-sent to B after the kill, %d of them already committed by A (duplicate: true)",
		total, len(convs)*want, total-len(convs)*want, dupIDs, turnsA.Load(), turnsB.Load(), resent.Load(), resentDuplicates.Load())
	if t.Failed() {
		t.FailNow()
	}

	// A client that never got A's answers re-sends those requests to B
	// with the same keys: none is turned again.
	replayed := 0
	for i, conv := range convs {
		for j, id := range userIDs[i] {
			if !byA[i][j] {
				continue
			}
			var out struct {
				Message   struct{ ID string } `json:"message"`
				Duplicate bool                `json:"duplicate"`
			}
			status, raw, err := api.call("POST", b.url+"/api/conversations/"+conv+"/messages", map[string]any{"message": map[string]any{"text": "3"}},
				fmt.Sprintf("burst-%d-%d", i, j+1), &out)
			if err != nil || status != http.StatusAccepted || !out.Duplicate || out.Message.ID != id {
				t.Errorf("conversation %d, message %d again through B: %d %v %s (want 202, duplicate, message %s)", i, j+1, status, err, raw, id)
			}
			replayed++
		}
	}
	checkHistories(b.url, convs, want)
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d requests A had answered re-sent to B with the same Idempotency-Key: all duplicates, nothing turned again", replayed)

	// A again, with the same flags and address: it serves, the queue stays
	// drained, and its turns are delivered like any other.
	rcv.mu.Lock()
	countsBefore := map[string]int{}
	for id, n := range rcv.count {
		countsBefore[id] = n
	}
	rcv.mu.Unlock()
	a2 := startMI(t, "A (restarted)", env, append(slices.Clone(a.args), "--addr", a.p.addr)...)
	api.must(t, 200, "GET", a2.url+"/healthz", nil, nil)
	for i, conv := range convs {
		if n := api.pending(t, a2.url, conv); n != 0 {
			t.Errorf("conversation %d: %d pending after the restart", i, n)
		}
	}
	var extra struct {
		Message struct{ ID string } `json:"message"`
	}
	status, raw, err := api.call("POST", a2.url+"/api/conversations/"+convs[0]+"/messages", map[string]any{"message": map[string]any{"text": "3"}}, "after-restart", &extra)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("message through the restarted A: %d %v %s", status, err, raw)
	}
	wantUsers[convs[0]] = append(wantUsers[convs[0]], extra.Message.ID)
	if !rcv.waitFor(time.Now().Add(miWait), func() bool { return len(rcv.order[convs[0]]) >= want+2 }) {
		t.Fatalf("the answers to the message through the restarted A did not arrive within %s", miWait)
	}
	api.drained(t, a2.url, convs)
	checkHistories(a2.url, convs[:1], want+2)
	rcv.mu.Lock()
	for id, n := range countsBefore {
		if rcv.count[id] != n {
			t.Errorf("message %s was delivered again after the restart (%d requests, %d before)", id, rcv.count[id], n)
		}
	}
	rcv.mu.Unlock()

	for _, in := range []*miInstance{a2, b} {
		cmd := in.signal(t, syscall.SIGTERM)
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s: exit %d after SIGTERM", in.name, code)
		}
	}
	for _, in := range []*miInstance{a, a2, b} {
		logs := in.log()
		for _, bad := range []string{"DATA RACE", "panic", "level=ERROR"} {
			if strings.Contains(logs, bad) {
				t.Errorf("%s logged %q:\n%s", in.name, bad, tail(logs, 80))
			}
		}
	}
}
