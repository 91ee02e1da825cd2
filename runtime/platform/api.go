// Package platform is flowbot serve's platform mode: a Chat API for apps
// that have no chat platform (SPEC §6, seed 000). Apps create bots and
// conversations, post their users' messages, and receive the bot's
// messages on a webhook (runtime/delivery) or by polling the history.
//
//	POST /api/bots                                      create a bot for a loaded flow
//	GET  /api/bots/{id}                                 read it
//	POST /api/conversations                             the conversation of (bot, user); the flow starts
//	GET  /api/conversations/{id}                        its state, contact and delivery backlog
//	POST /api/conversations/{id}/messages               a user's message → 202; replies follow
//	GET  /api/conversations/{id}/messages?after=&limit= the history, oldest first, with a cursor
//	GET  /api/conversations/{id}/messages/{message_id}  one message with its delivery attempts
//
// Every request needs Authorization: Bearer <api key> (keys from the
// configuration, never from a flow); every answer, errors included, is JSON.
// Everything lives in the store (runtime/store): the flow's session is
// stored with the conversation, a turn and its bot messages are committed
// together, and nothing is kept in memory between requests.
//
// A user's message is one turn (runtime/turn, inside store.Turn — the same
// turn as Userlike mode's): the engine steps the flow, the replies are
// rendered as text for the conversation's channel (channels.RenderText: a
// choice is a numbered list, and "2" or a label picks an option), and they
// are stored — visible in the history at once when the conversation has no
// webhook, else queued for delivery. A flow's HTTP or llm step becomes a
// queued job that RunJobs runs in the background; its result is the next
// turn (at most turn.MaxChainedJobs in a row without the user speaking; a
// job whose worker died turn.MaxJobAttempts times gets an error result).
package platform

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/observe"
	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/turn"
)

// Conversation statuses.
const (
	StatusOpen      = "open"
	StatusForwarded = "forwarded" // the flow handed the conversation to a human
	StatusEnded     = "ended"
)

// Limits of the Chat API's requests.
const (
	MaxBodyBytes     = 64 << 10 // a request body
	MaxTextChars     = 8000     // a message's text
	MaxURLChars      = 2048     // a webhook or media URL
	MaxIDChars       = 200      // a user id or idempotency key
	MaxNameChars     = 100      // a bot's name
	MaxAttributes    = 50       // attributes of a bot
	MaxAttrNameChars = 64
	MaxAttrChars     = 2000 // an attribute's value, and a bot's freeform
	DefaultPage      = 100  // messages per history page
	MaxPage          = 1000
)

// Bots looks up the loaded flows by name (runtime/flowset implements it).
type Bots interface {
	Get(name string) *engine.Deployment
	Names() []string
}

// Waker is told that new work was queued (the delivery worker).
type Waker interface{ Wake() }

// Observer receives what the API measures (runtime/metrics implements it).
type Observer interface {
	// Turn counts a turn of a flow that ended in state, and its duration.
	Turn(flow, state string, d time.Duration)
	// Error counts a problem by kind (runtime/turn's Kind constants: flow,
	// script_timeout, context_too_big).
	Error(flow, kind string)
	// Timer counts a timer (reply, silence) by outcome: fired, dropped
	// (the conversation moved on).
	Timer(name, outcome string)
	// Cancelled counts bot messages an interruption cancelled.
	Cancelled(n int)
}

// Options configure the API.
type Options struct {
	Store store.Store
	Bots  Bots
	// APIKeys are the accepted bearer tokens. Without keys every request is
	// refused with 401 — unless InsecureNoAuth.
	APIKeys        []string
	InsecureNoAuth bool
	// Deliveries is woken when a turn queued bot messages for a webhook.
	Deliveries Waker
	// Jobs runs the flows' HTTP steps; nil is an httpjob.Runner guarded by
	// Network.
	Jobs turn.Runner
	// Network says which addresses outgoing requests may reach; nil is
	// public addresses only. It guards the default Jobs runner, and a
	// conversation whose webhook names a refused address literally
	// (http://10.0.0.5/…, http://localhost/…) is refused with 422 at once.
	// Only that early check: the delivery worker's Sender must be given
	// the same policy, and its check at connection time is the one that
	// counts (a host name may resolve to anything).
	Network *netguard.Policy
	// Clock is the time source; nil is the system clock.
	Clock clock.Clock
	// NewID makes ids of bots, conversations and messages; nil is UUIDv4.
	NewID  func() string
	Logger *slog.Logger
	// Owner names this process in job claims; empty is random.
	Owner string
	// JobLease is how long a claimed job is reserved; 0 is 60 s.
	JobLease time.Duration
	// JobPoll is how often RunJobs looks for jobs queued by other
	// processes; 0 is 250 ms.
	JobPoll time.Duration
	// JobWorkers bounds the jobs run at once; 0 is 8.
	JobWorkers int
	// MaxPending bounds the bot messages of one conversation waiting for
	// its webhook: past it, the conversation's new user messages are
	// refused with 429 until the webhook accepts deliveries again. 0 is
	// DefaultMaxPending.
	MaxPending int
	// Observer receives turns and errors; nil measures nothing.
	Observer Observer
	// LLM says a language model is configured (Jobs runs llm steps):
	// without it, persona bots (no flow) are refused with 422.
	LLM bool
	// Turns, when set, is told of every turn (turn.Request.Observe): the
	// funnel metrics, the turn log.
	Turns turn.Observer
	// InstallTest, when set, replaces the installation test of a bot's
	// response_endpoint (TestResponseEndpoint over the Network policy):
	// a non-nil error refuses the bot with 422 and the error's text.
	InstallTest func(ctx context.Context, endpoint string) error
}

// DefaultMaxPending is the default of Options.MaxPending.
const DefaultMaxPending = 1000

// API serves the Chat API and runs its background jobs.
type API struct {
	store    store.Store
	bots     Bots
	keys     [][]byte
	insecure bool
	wake     Waker
	network  *netguard.Policy
	jobs     turn.Runner
	clock    clock.Clock
	newID    func() string
	log      *slog.Logger
	owner    string
	lease    time.Duration
	poll     time.Duration
	workers  int
	pending  int
	obs      Observer
	llm      bool
	turns    turn.Observer // nil: no one is told of turns
	install  func(ctx context.Context, endpoint string) error
	jobWake  chan struct{}
	// botCache keeps the bots read from the store by id: a bot never
	// changes once created, so each message need not read it again.
	botCache sync.Map
}

// bot returns the bot with the id, from the cache or the store.
func (a *API) bot(ctx context.Context, id string) (store.Bot, error) {
	if b, ok := a.botCache.Load(id); ok {
		return b.(store.Bot), nil
	}
	b, err := a.store.Bot(ctx, id)
	if err == nil {
		a.botCache.Store(id, b)
	}
	return b, err
}

// New checks the options and returns the API.
func New(opts Options) (*API, error) {
	if opts.Store == nil || opts.Bots == nil {
		return nil, errors.New("platform: a Store and Bots are required")
	}
	a := &API{store: opts.Store, bots: opts.Bots, insecure: opts.InsecureNoAuth, wake: opts.Deliveries, network: opts.Network, jobs: opts.Jobs,
		clock: opts.Clock, newID: opts.NewID, log: opts.Logger, owner: opts.Owner, lease: opts.JobLease, poll: opts.JobPoll,
		workers: opts.JobWorkers, pending: opts.MaxPending, llm: opts.LLM, turns: opts.Turns, install: opts.InstallTest, jobWake: make(chan struct{}, 1)}
	if a.install == nil {
		client := opts.Network.Client(netguard.ClientWebhook, installTimeout)
		a.install = func(ctx context.Context, endpoint string) error { return TestResponseEndpoint(ctx, client, endpoint) }
	}
	if a.pending <= 0 {
		a.pending = DefaultMaxPending
	}
	if a.obs = opts.Observer; a.obs == nil {
		a.obs = observe.Nop{}
	}
	for _, k := range opts.APIKeys {
		if k = strings.TrimSpace(k); k != "" {
			a.keys = append(a.keys, []byte(k))
		}
	}
	if a.jobs == nil {
		a.jobs = &httpjob.Runner{Network: opts.Network}
	}
	if a.clock == nil {
		a.clock = clock.Real{}
	}
	if a.newID == nil {
		a.newID = func() string { return uuid.NewString() }
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.owner == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		a.owner = fmt.Sprintf("jobs-%x", b)
	}
	if a.lease <= 0 {
		a.lease = 60 * time.Second
	}
	if a.poll <= 0 {
		a.poll = 250 * time.Millisecond
	}
	if a.workers <= 0 {
		a.workers = 8
	}
	if len(a.keys) == 0 && !a.insecure {
		a.log.Warn("the Chat API has no API keys and answers 401 to every request: set FLOWBOT_API_KEYS=<key>[,<key>…] (or use --insecure-no-auth for local development)")
	}
	return a, nil
}

// Register adds the Chat API's routes (all under /api/) to r.
func (a *API) Register(r *mux.Router) {
	r.SkipClean(true) // answer odd paths (//, ..) with a JSON 404, not a bare redirect
	api := r.PathPrefix("/api").Subrouter()
	api.Use(a.authenticate)
	api.HandleFunc("/bots", a.createBot).Methods(http.MethodPost)
	api.HandleFunc("/bots/{id}", a.getBot).Methods(http.MethodGet)
	api.HandleFunc("/conversations", a.openConversation).Methods(http.MethodPost)
	api.HandleFunc("/conversations/{id}", a.getConversation).Methods(http.MethodGet)
	api.HandleFunc("/conversations/{id}/messages", a.postMessage).Methods(http.MethodPost)
	api.HandleFunc("/conversations/{id}/messages", a.history).Methods(http.MethodGet)
	api.HandleFunc("/conversations/{id}/messages/{message_id}", a.getMessage).Methods(http.MethodGet)
	api.HandleFunc("/conversations/{id}/generate-response", a.generateResponse).Methods(http.MethodPost)
	api.HandleFunc("/botpress/{bot_id}", a.botpressMessage).Methods(http.MethodPost)
	// The same paths with any other method: 405 with the allowed ones.
	for path, allowed := range map[string]string{"/bots": "POST", "/bots/{id}": "GET", "/conversations": "POST",
		"/conversations/{id}": "GET", "/conversations/{id}/messages": "GET, POST", "/conversations/{id}/messages/{message_id}": "GET", "/conversations/{id}/generate-response": "POST", "/botpress/{bot_id}": "POST"} {
		api.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			writeError(w, http.StatusMethodNotAllowed, "", r.Method+" is not allowed on "+r.URL.Path+"; use "+allowed)
		})
	}
	api.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "", "no such endpoint: "+r.Method+" "+r.URL.Path+" (see docs/platform.md)")
		})).ServeHTTP(w, r)
	})
}
