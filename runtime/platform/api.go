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
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
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
		workers: opts.JobWorkers, pending: opts.MaxPending, llm: opts.LLM, jobWake: make(chan struct{}, 1)}
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
	api.HandleFunc("/botpress/{bot_id}", a.botpressMessage).Methods(http.MethodPost)
	// The same paths with any other method: 405 with the allowed ones.
	for path, allowed := range map[string]string{"/bots": "POST", "/bots/{id}": "GET", "/conversations": "POST",
		"/conversations/{id}": "GET", "/conversations/{id}/messages": "GET, POST", "/conversations/{id}/messages/{message_id}": "GET", "/botpress/{bot_id}": "POST"} {
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

// ---- authentication, errors, decoding ----

func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.insecure {
			next.ServeHTTP(w, r)
			return
		}
		if len(a.keys) == 0 {
			writeError(w, http.StatusUnauthorized, "", "the Chat API has no API keys configured: start flowbot serve with FLOWBOT_API_KEYS=<key> and send Authorization: Bearer <key>")
			return
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			writeError(w, http.StatusUnauthorized, "", "missing API key: send Authorization: Bearer <key>")
			return
		}
		match := 0
		for _, k := range a.keys {
			match |= subtle.ConstantTimeCompare(k, []byte(strings.TrimSpace(token)))
		}
		if match != 1 {
			writeError(w, http.StatusUnauthorized, "", "invalid API key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// apiError is the body of every error answer.
type apiError struct {
	Error struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, field, msg string) {
	var e apiError
	e.Error.Status, e.Error.Message, e.Error.Field = status, msg, field
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"error":{"status":500,"message":"cannot encode the answer"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fieldError is a request that decoded but is invalid.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func invalid(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// decode reads a JSON body into v: at most MaxBodyBytes, one object, no
// unknown fields. It writes the error answer and returns false on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "", "cannot read the request body: "+err.Error())
		return false
	}
	if len(body) > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "invalid JSON: " + jsonMessage(err)
		// The body is read as JSON whatever its Content-Type (curl -d sends
		// application/x-www-form-urlencoded); say so when that may be why.
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
			msg += " (the body must be JSON; it was sent as " + ct + ")"
		}
		writeError(w, http.StatusBadRequest, jsonField(err), msg)
		return false
	}
	// Only JSON whitespace may follow the value (dec.More alone lets a
	// stray } or ] through).
	if rest := strings.TrimLeft(string(body[dec.InputOffset():]), " \t\r\n"); rest != "" {
		msg := "invalid JSON: more than one value in the body"
		if !dec.More() {
			msg = fmt.Sprintf("invalid JSON: unexpected %q after the value", rest[:1])
		}
		writeError(w, http.StatusBadRequest, "", msg)
		return false
	}
	return true
}

// jsonField names the field a decoding error is about, if it can tell.
func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(f, `"`)
	}
	return ""
}

func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + f
	}
	if errors.Is(err, io.EOF) {
		return "the body is empty; send a JSON object"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a number"
}

func checkText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid(field, "required")
	}
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalid(field, "contains the NUL character (U+0000)") // PostgreSQL cannot store it
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(field, "%d characters; at most %d", n, max)
	}
	return nil
}

// storable tells whether an id from a request's path can name anything
// stored: text is valid UTF-8 without NUL (PostgreSQL refuses any other,
// which must be a 404, not a 503).
func storable(id string) bool { return utf8.ValidString(id) && strings.IndexByte(id, 0) < 0 }

func checkURL(field, s string) error {
	if len(s) > MaxURLChars {
		return invalid(field, "%d characters; at most %d", len(s), MaxURLChars)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid(field, "must be an absolute http or https URL, like https://example.com/webhook")
	}
	return nil
}

// checkWebhookHost refuses a webhook whose host is an address (or
// localhost) the network policy does not allow. It is a courtesy to the
// API client — the error comes at once, not as failed deliveries — and no
// guard: a host name is checked by the delivery Sender when it connects.
func (a *API) checkWebhookHost(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return nil // checkURL said so already
	}
	host := u.Hostname()
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if h := strings.ToLower(strings.TrimSuffix(host, ".")); h != "localhost" && !strings.HasSuffix(h, ".localhost") {
			return nil
		}
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1}) // RFC 6761: always the loopback interface
	}
	var refused *netguard.RefusedError
	if !errors.As(a.network.Check(netip.AddrPortFrom(ip, 0)), &refused) {
		return nil
	}
	return invalid("webhook", "%s is a %s address: this server delivers to public addresses only, unless its operator allows others (--%s %s)",
		host, refused.Class, netguard.Flag, refused.Allow())
}

// fail writes the answer for an error of the store or a check.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusUnprocessableEntity, fe.field, fe.Error())
	case errors.Is(err, errFlowGone):
		writeError(w, http.StatusConflict, "", err.Error()+"; it is no longer loaded: put it back in the flows folder")
	case errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, "", "the request was cancelled")
	default:
		a.log.Error("chat API request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "", "the data store is unavailable; try again")
	}
}

// ---- bots ----

type botRequest struct {
	Name       string             `json:"name"`
	Flow       string             `json:"flow"`
	Freeform   string             `json:"freeform"`
	Attributes *[]store.Attribute `json:"attributes"`
	// ResponseEndpoint receives the replies of the bot's Botpress-style
	// conversations (POST /api/botpress/{bot_id}).
	ResponseEndpoint string `json:"response_endpoint"`
	// Timing paces the bot's replies (conversations and flow states may
	// override it).
	Timing *flows.Timing `json:"timing"`
}

type botJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Flow       string            `json:"flow,omitempty"`
	Freeform   string            `json:"freeform,omitempty"`
	Attributes []store.Attribute `json:"attributes"`
	Endpoint   string            `json:"response_endpoint,omitempty"`
	Timing     json.RawMessage   `json:"timing,omitempty"`
	CreatedAt  int64             `json:"created_at"`
}

func toBotJSON(b store.Bot) botJSON {
	attrs := b.Attributes
	if attrs == nil {
		attrs = []store.Attribute{}
	}
	return botJSON{ID: b.ID, Name: b.Name, Flow: b.Flow, Freeform: b.Freeform, Attributes: attrs, Endpoint: b.ResponseEndpoint, Timing: b.Timing, CreatedAt: b.CreatedAt.Unix()}
}

func (a *API) createBot(w http.ResponseWriter, r *http.Request) {
	var req botRequest
	if !decode(w, r, &req) {
		return
	}
	bot := store.Bot{ID: a.newID(), Name: req.Name, Flow: req.Flow, Freeform: req.Freeform, ResponseEndpoint: req.ResponseEndpoint, CreatedAt: a.clock.Now()}
	if req.Attributes != nil {
		bot.Attributes = *req.Attributes
	}
	var err error
	if bot.Timing, err = timingJSON(req.Timing); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.checkBot(bot); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.store.CreateBot(r.Context(), bot); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"bot": toBotJSON(bot)})
}

func (a *API) checkBot(b store.Bot) error {
	if b.ResponseEndpoint != "" {
		if err := checkURL("response_endpoint", b.ResponseEndpoint); err != nil {
			return err
		}
		if err := a.checkWebhookHost(b.ResponseEndpoint); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				fe.field = "response_endpoint"
			}
			return err
		}
	}
	if err := checkText("name", b.Name, MaxNameChars, true); err != nil {
		return err
	}
	if err := checkText("freeform", b.Freeform, MaxAttrChars, false); err != nil {
		return err
	}
	if len(b.Attributes) > MaxAttributes {
		return invalid("attributes", "%d attributes; at most %d", len(b.Attributes), MaxAttributes)
	}
	seen := map[string]bool{}
	for i, at := range b.Attributes {
		f := fmt.Sprintf("attributes[%d]", i)
		if err := checkText(f+".name", at.Name, MaxAttrNameChars, true); err != nil {
			return err
		}
		if seen[at.Name] {
			return invalid(f+".name", "%q is given twice", at.Name)
		}
		seen[at.Name] = true
		if err := checkText(f+".value", at.Value, MaxAttrChars, false); err != nil {
			return err
		}
	}
	names := a.bots.Names()
	if b.Flow == "" {
		if b.Freeform == "" && len(b.Attributes) == 0 {
			return invalid("flow", "required: name one of the loaded flows (%s), or give freeform and attributes for a persona bot", strings.Join(names, ", "))
		}
		if !a.llm {
			return invalid("flow", "a bot without a flow is a persona bot, which needs a language model: set FLOWBOT_LLM_BASE_URL (an OpenAI-compatible endpoint, e.g. https://api.openai.com/v1), FLOWBOT_LLM_MODEL and, if it needs one, FLOWBOT_LLM_API_KEY, and restart flowbot serve; or name one of the loaded flows (%s)", strings.Join(names, ", "))
		}
		return nil
	}
	if a.bots.Get(b.Flow) == nil {
		return invalid("flow", "unknown flow %q%s; loaded flows: %s", b.Flow, flows.DidYouMean(b.Flow, names), strings.Join(names, ", "))
	}
	return nil
}

func (a *API) getBot(w http.ResponseWriter, r *http.Request) {
	b, err := store.Bot{}, store.ErrNotFound
	if id := mux.Vars(r)["id"]; storable(id) {
		b, err = a.bot(r.Context(), id)
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "", "no bot with id "+strconv.Quote(mux.Vars(r)["id"]))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"bot": toBotJSON(b)})
}

// ---- conversations ----

type conversationRequest struct {
	BotID      string `json:"bot_id"`
	UserID     string `json:"user_id"`
	CreateUser bool   `json:"create_user_if_not_exists"`
	Webhook    string `json:"webhook"`
	Channel    string `json:"channel"`
	// WebhookFormat is "chat" (default) or "gptbots" (seed 002's reply
	// format); WebhookAuth the Authorization header sent with deliveries.
	WebhookFormat string `json:"webhook_format"`
	WebhookAuth   string `json:"webhook_auth"`
	// Timing overrides the bot's timing settings for this conversation.
	Timing *flows.Timing `json:"timing"`
}

type conversationJSON struct {
	ID        string            `json:"id"`
	BotID     string            `json:"bot_id"`
	UserID    string            `json:"user_id"`
	Channel   string            `json:"channel"`
	Webhook   *string           `json:"webhook"`
	Format    string            `json:"webhook_format"`
	Auth      string            `json:"webhook_auth,omitempty"`
	Status    string            `json:"status"`
	State     string            `json:"state,omitempty"`
	Contact   map[string]string `json:"contact"`
	CreatedAt int64             `json:"created_at"`
	UpdatedAt int64             `json:"updated_at"`
	Timing    json.RawMessage   `json:"timing,omitempty"`
	Delivery  *backlogJSON      `json:"delivery,omitempty"`
	Timers    *timersJSON       `json:"timers,omitempty"`
}

// timersJSON says when the conversation's armed timers fire (Unix
// seconds): the answer to the messages held for aggregation, and the
// follow-up after silence.
type timersJSON struct {
	ReplyAt    *int64 `json:"reply_at,omitempty"`
	FollowUpAt *int64 `json:"follow_up_at,omitempty"`
}

// backlogJSON tells how far webhook delivery is behind.
type backlogJSON struct {
	Pending       int    `json:"pending"`
	NextMessageID string `json:"next_message_id,omitempty"`
	Attempts      int    `json:"attempts,omitempty"`
	LastStatus    int    `json:"last_status,omitempty"`
	LastError     string `json:"last_error,omitempty"`
	NextAttemptAt *int64 `json:"next_attempt_at,omitempty"`
}

func toConversationJSON(c store.Conversation) conversationJSON {
	out := conversationJSON{ID: c.ID, BotID: c.BotID, UserID: c.UserID, Channel: c.Channel, Format: c.WebhookFormat, Status: c.Status,
		Contact: c.Contact, Timing: c.Timing, CreatedAt: c.CreatedAt.Unix(), UpdatedAt: c.UpdatedAt.Unix()}
	if c.Webhook != "" {
		out.Webhook = &c.Webhook
	}
	if scheme, _, ok := strings.Cut(c.WebhookAuth, " "); ok {
		out.Auth = scheme + " ***" // the credentials are never shown again
	}
	if out.Contact == nil {
		out.Contact = map[string]string{}
	}
	if s, err := engine.DecodeContext(c.Context); err == nil {
		out.State = s.State
	}
	return out
}

func (a *API) openConversation(w http.ResponseWriter, r *http.Request) {
	var req conversationRequest
	if !decode(w, r, &req) {
		return
	}
	if err := a.checkConversation(&req); err != nil {
		a.fail(w, r, err)
		return
	}
	timing, err := timingJSON(req.Timing)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	bot, err := a.bot(r.Context(), req.BotID)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "bot_id", "no bot with id "+strconv.Quote(req.BotID)+": create one with POST /api/bots")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := a.clock.Now()
	var queued int
	c, created, err := a.store.OpenConversation(r.Context(), store.OpenRequest{ID: a.newID(), BotID: bot.ID, UserID: req.UserID,
		CreateUser: req.CreateUser, Webhook: req.Webhook, Channel: req.Channel, WebhookFormat: req.WebhookFormat, WebhookAuth: req.WebhookAuth, Timing: timing, Now: now},
		func(c store.Conversation) (store.TurnOutput, error) {
			st, err := a.step(r.Context(), bot, c, engine.Event{Name: engine.EvStart, Now: now}, turnOpts{})
			if c.Webhook != "" {
				queued = len(st.out.BotMessages)
			}
			return st.out, err
		})
	switch {
	case errors.Is(err, store.ErrUserNotFound):
		writeError(w, http.StatusNotFound, "user_id", "no user "+strconv.Quote(req.UserID)+": pass \"create_user_if_not_exists\": true to create it")
		return
	case err != nil:
		a.fail(w, r, err)
		return
	}
	if created {
		a.woke(queued, 0)
		a.log.Info("conversation created", "conversation", c.ID, "bot", bot.ID, "flow", bot.Flow, "channel", c.Channel, "webhook", c.Webhook != "")
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"conversation": toConversationJSON(c)})
}

func (a *API) checkConversation(req *conversationRequest) error {
	if err := checkText("bot_id", req.BotID, MaxIDChars, true); err != nil {
		return err
	}
	if err := checkText("user_id", req.UserID, MaxIDChars, true); err != nil {
		return err
	}
	if req.Webhook != "" {
		if err := checkURL("webhook", req.Webhook); err != nil {
			return err
		}
		if err := a.checkWebhookHost(req.Webhook); err != nil {
			return err
		}
	}
	switch req.WebhookFormat {
	case "", store.FormatChat, store.FormatGPTBots:
	default:
		return invalid("webhook_format", "unknown format %q; use %q (the default) or %q", req.WebhookFormat, store.FormatChat, store.FormatGPTBots)
	}
	if a := req.WebhookAuth; a != "" {
		scheme, cred, _ := strings.Cut(a, " ")
		if (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Basic")) || strings.TrimSpace(cred) == "" || strings.ContainsAny(a, "\r\n\x00") || len(a) > MaxURLChars {
			return invalid("webhook_auth", `must be "Bearer <token>" or "Basic <base64>": the Authorization header sent with each delivery`)
		}
	}
	if req.Channel != "" {
		ch := channels.Normalize(req.Channel)
		if ch == channels.Custom && !strings.EqualFold(strings.TrimSpace(req.Channel), channels.Custom) {
			return invalid("channel", "unknown channel %q; use one of %s", req.Channel, strings.Join(channels.Types, ", "))
		}
		req.Channel = ch
	}
	return nil
}

func (a *API) conversation(w http.ResponseWriter, r *http.Request) (store.Conversation, bool) {
	id := mux.Vars(r)["id"]
	c, err := store.Conversation{}, store.ErrNotFound
	if storable(id) {
		c, err = a.store.Conversation(r.Context(), id)
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "", "no conversation with id "+strconv.Quote(id))
		return c, false
	}
	if err != nil {
		a.fail(w, r, err)
		return c, false
	}
	return c, true
}

func (a *API) getConversation(w http.ResponseWriter, r *http.Request) {
	c, ok := a.conversation(w, r)
	if !ok {
		return
	}
	out := toConversationJSON(c)
	timers, err := a.store.Timers(r.Context(), c.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, t := range timers {
		if out.Timers == nil {
			out.Timers = &timersJSON{}
		}
		at := t.DueAt.Unix()
		switch t.Name {
		case timerReply:
			out.Timers.ReplyAt = &at
		case timerSilence:
			out.Timers.FollowUpAt = &at
		}
	}
	if c.Webhook != "" {
		n, head, err := a.store.Pending(r.Context(), c.ID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out.Delivery = &backlogJSON{Pending: n}
		if head != nil {
			next := head.DueAt.Unix()
			out.Delivery.NextMessageID, out.Delivery.Attempts = head.MessageID, head.Attempts
			out.Delivery.LastStatus, out.Delivery.LastError, out.Delivery.NextAttemptAt = head.LastStatus, head.LastError, &next
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversation": out})
}

// ---- messages ----

type mediaJSON struct {
	URL string `json:"url"`
}

type messageRequest struct {
	Message *struct {
		Text          string     `json:"text"`
		FromBot       *bool      `json:"from_bot"`
		AttachedMedia *mediaJSON `json:"attached_media"`
	} `json:"message"`
}

type messageJSON struct {
	ID            string     `json:"id"`
	Text          string     `json:"text"`
	FromBot       bool       `json:"from_bot"`
	SentAt        int64      `json:"sent_at"`
	AttachedMedia *mediaJSON `json:"attached_media"`
	Position      int64      `json:"position,omitempty"`
}

func toMessageJSON(m store.Message) messageJSON {
	out := messageJSON{ID: m.ID, Text: m.Text, FromBot: m.FromBot, SentAt: m.CreatedAt.Unix(), Position: m.Seq}
	if m.MediaURL != "" {
		out.AttachedMedia = &mediaJSON{URL: m.MediaURL}
	}
	return out
}

func (a *API) postMessage(w http.ResponseWriter, r *http.Request) {
	var req messageRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Message == nil {
		writeError(w, http.StatusUnprocessableEntity, "message", `message: required, like {"message": {"text": "hello", "from_bot": false}}`)
		return
	}
	m := req.Message
	media := ""
	if m.AttachedMedia != nil {
		media = m.AttachedMedia.URL
		if err := checkURL("message.attached_media.url", media); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if m.FromBot != nil && *m.FromBot {
		writeError(w, http.StatusUnprocessableEntity, "message.from_bot", "message.from_bot: must be false; the bot's messages come from its flow")
		return
	}
	if err := checkText("message.text", m.Text, MaxTextChars, media == ""); err != nil {
		a.fail(w, r, err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if err := checkText("Idempotency-Key", key, MaxIDChars, false); err != nil {
		a.fail(w, r, err)
		return
	}
	c, ok := a.conversation(w, r)
	if !ok {
		return
	}
	if c.Webhook != "" {
		// A webhook that accepts nothing must not let the queue grow
		// without bound.
		n, head, err := a.store.Pending(r.Context(), c.ID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if n >= a.pending {
			why := ""
			if head != nil && head.LastError != "" {
				why = " (last error: " + head.LastError + ")"
			}
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, "", fmt.Sprintf("conversation %s has %d bot messages its webhook has not accepted%s; fix the webhook, then send again", c.ID, n, why))
			return
		}
	}
	bot, err := a.bot(r.Context(), c.BotID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := a.clock.Now()
	user := store.Message{ID: a.newID(), Text: m.Text, MediaURL: media, CreatedAt: now}
	var st stepped
	res, err := a.store.Turn(r.Context(), a.userTurn(bot, c, key, now),
		func(c store.Conversation) (store.TurnOutput, error) {
			ev := userEvent(m.Text, media)
			ev.Now = now
			var err error
			st, err = a.answer(r.Context(), bot, c, ev, user)
			return st.out, err
		})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res.Duplicate {
		user.ID = res.UserMessageID
		if old, _, _, err := a.store.Message(r.Context(), c.ID, res.UserMessageID); err == nil {
			user = old
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"message": toMessageJSON(user), "duplicate": true})
		return
	}
	a.woke(res.Deliveries, res.Jobs)
	if res.Cancelled > 0 {
		a.obs.Cancelled(res.Cancelled)
	}
	a.log.Info("turn", "conversation", c.ID, "state", st.state, "replies", len(st.out.BotMessages), "jobs", res.Jobs,
		"aggregated", st.aggregated, "cancelled", res.Cancelled)
	for _, e := range st.res.Errors {
		a.log.Warn("the flow took an error path", "conversation", c.ID, "state", st.state, "error", e.Error())
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message": toMessageJSON(user)})
}

// woke tells the workers about queued work.
func (a *API) woke(deliveries, jobs int) {
	if deliveries > 0 && a.wake != nil {
		a.wake.Wake()
	}
	if jobs > 0 {
		select {
		case a.jobWake <- struct{}{}:
		default:
		}
	}
}

func (a *API) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, limit := int64(0), DefaultPage
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "after", "after: must be a message position (a whole number ≥ 0), like the next_cursor of the previous page")
			return
		}
		after = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPage {
			writeError(w, http.StatusBadRequest, "limit", fmt.Sprintf("limit: must be a whole number from 1 to %d", MaxPage))
			return
		}
		limit = n
	}
	c, ok := a.conversation(w, r)
	if !ok {
		return
	}
	msgs, err := a.store.History(r.Context(), c.ID, after, limit+1, a.clock.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	out := make([]messageJSON, len(msgs))
	cursor := after
	for i, m := range msgs {
		out[i] = toMessageJSON(m)
		cursor = m.Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out, "next_cursor": strconv.FormatInt(cursor, 10), "has_more": more})
}

func (a *API) getMessage(w http.ResponseWriter, r *http.Request) {
	c, ok := a.conversation(w, r)
	if !ok {
		return
	}
	id := mux.Vars(r)["message_id"]
	var (
		m        store.Message
		d        *store.Delivery
		attempts []store.Attempt
		err      = store.ErrNotFound
	)
	if storable(id) {
		m, d, attempts, err = a.store.Message(r.Context(), c.ID, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "", "no message "+strconv.Quote(id)+" in conversation "+strconv.Quote(c.ID))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := map[string]any{"message": toMessageJSON(m)}
	if d != nil {
		if attempts == nil {
			attempts = []store.Attempt{}
		}
		del := map[string]any{"state": d.State, "attempts": attempts}
		if d.State == store.DeliveryPending {
			del["next_attempt_at"] = d.DueAt.Unix()
		}
		out["delivery"] = del
	}
	writeJSON(w, http.StatusOK, out)
}
