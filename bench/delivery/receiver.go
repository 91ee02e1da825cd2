package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Replies of the webshop flow on the custom channel: the start turn sends
// the welcome and the menu; the user's "3" (opening hours) is answered with
// the hours and the menu again, so every measured turn is two bot messages.
const (
	startReplies = 2
	turnReplies  = 2
	userText     = "3"
	hoursPrefix  = "We're open" // the first reply of a "3" turn
	floorConv    = "floor"      // the conversation id of the floor's bodies
)

// receiver is the webhook: it answers 200 to every POST and matches each
// bot message with the user message that caused it.
//
// Matching: the flowbot store hands out a conversation's deliveries one at
// a time in the order the bot produced them, and every user message
// produces turnReplies bot messages. So each conversation keeps a FIFO of
// its turns whose replies have not all arrived, pushed by the client before
// its POST is sent; a delivery belongs to the oldest turn of its
// conversation (deliveries are deduplicated by webhook-id first). The text
// of the first reply of each turn is checked, so that a mismatch shows as
// an error instead of wrong latencies.
type receiver struct {
	url string
	srv *http.Server

	convs atomic.Pointer[map[string]*conv] // nil during setup

	setup      atomic.Int64 // deliveries before the conversations were registered (start messages)
	floor      atomic.Int64 // floor bodies received
	delivered  atomic.Int64 // flowbot deliveries that arrived in the window
	dups       atomic.Int64 // a webhook-id seen before (at-least-once)
	unexpected atomic.Int64 // a delivery for no outstanding turn
	misordered atomic.Int64 // a reply's text not where the turn expects it
	afterError atomic.Int64 // deliveries of a conversation given up after an error
	bad        atomic.Int64 // unreadable bodies

	from, until atomic.Int64 // the window, in Unix nanoseconds

	mu   sync.Mutex
	seen map[string]struct{}
	lat  []time.Duration // every bot message of a measured turn
	last []time.Duration // the last message of each measured turn
}

// conv is one conversation of the run, with its outstanding turns.
type conv struct {
	id     string
	mu     sync.Mutex
	turns  []*turn
	broken bool // an error made its turns unmatchable: it is no longer used
}

// turn is one user message on its way.
type turn struct {
	sent     time.Time
	measured bool // sent within the window
	got      int  // replies received
	done     chan struct{}
}

// push adds a turn that is about to be sent.
func (c *conv) push(t *turn) {
	c.mu.Lock()
	c.turns = append(c.turns, t)
	c.mu.Unlock()
}

// fail gives the conversation up: its outstanding turns are released.
func (c *conv) fail() {
	c.mu.Lock()
	c.broken = true
	for _, t := range c.turns {
		close(t.done)
	}
	c.turns = nil
	c.mu.Unlock()
}

// outstanding counts the replies of measured turns not yet received.
func (c *conv) outstanding() (measured, all int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.turns {
		all += turnReplies - t.got
		if t.measured {
			measured += turnReplies - t.got
		}
	}
	return measured, all
}

type webhookBody struct {
	ConversationID string `json:"conversation_id"`
	Message        struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	} `json:"message"`
}

func newReceiver() *receiver {
	return &receiver{seen: make(map[string]struct{}, 1<<16)}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var b webhookBody
	if err == nil {
		err = json.Unmarshal(raw, &b)
	}
	if err != nil || r.Method != http.MethodPost {
		rc.bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	id := r.Header.Get("webhook-id")
	if id == "" {
		id = b.Message.ID
	}
	rc.mu.Lock()
	_, dup := rc.seen[id]
	if !dup {
		rc.seen[id] = struct{}{}
	}
	rc.mu.Unlock()
	if dup {
		rc.dups.Add(1)
		return
	}
	rc.record(at, b)
}

// record matches one delivery that arrived at at.
func (rc *receiver) record(at time.Time, b webhookBody) {
	if b.ConversationID == floorConv {
		rc.floor.Add(1)
		return
	}
	m := rc.convs.Load()
	if m == nil {
		rc.setup.Add(1)
		return
	}
	c := (*m)[b.ConversationID]
	if c == nil {
		rc.unexpected.Add(1)
		return
	}
	if n := at.UnixNano(); n >= rc.from.Load() && n < rc.until.Load() {
		rc.delivered.Add(1)
	}
	c.mu.Lock()
	if c.broken {
		c.mu.Unlock()
		rc.afterError.Add(1)
		return
	}
	if len(c.turns) == 0 {
		c.mu.Unlock()
		rc.unexpected.Add(1)
		return
	}
	t := c.turns[0]
	k := t.got
	t.got++
	last := t.got == turnReplies
	if last {
		c.turns[0] = nil
		c.turns = c.turns[1:]
		close(t.done)
	}
	c.mu.Unlock()
	if (k == 0) != strings.HasPrefix(b.Message.Text, hoursPrefix) {
		rc.misordered.Add(1)
	}
	if t.measured {
		d := at.Sub(t.sent)
		rc.mu.Lock()
		rc.lat = append(rc.lat, d)
		if last {
			rc.last = append(rc.last, d)
		}
		rc.mu.Unlock()
	}
}
