package userlike

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/observe"
	"github.com/flowbot/flowbot/runtime/turn"
)

// DefaultTokenHeader is the request header that carries the webhook token,
// as Userlike sends it.
const DefaultTokenHeader = "API-SECURITY-TOKEN"

// MaxBodyBytes is the largest webhook body accepted; a larger one gets 413.
const MaxBodyBytes = 1 << 20

// Error kinds reported to Observer.Error: runtime/turn's vocabulary,
// and the Handler's own (panic, write, timer).
const (
	// ErrKindFlow: the flow took an error path (a template, a variable too
	// big for the context, …); the answer is still 200.
	ErrKindFlow = turn.KindFlow
	// ErrKindScriptTimeout: a script step was stopped by its time limit
	// (and the flow took its error path), in a webhook turn or a resumed
	// one.
	ErrKindScriptTimeout = turn.KindScriptTimeout
	// ErrKindContextTooBig: the new context would exceed 10,240 bytes; a
	// fresh context is sent instead.
	ErrKindContextTooBig = turn.KindContextTooBig
	// ErrKindContextLost: the state changed but the turn produced no event
	// to carry the new context. No longer counted: the Handler carries it
	// in a zero-second delay packet instead (turn.Request.Carry).
	ErrKindContextLost = turn.KindContextLost
	// ErrKindPanic: a panic was recovered (a bug; the answer was 500).
	ErrKindPanic = "panic"
	// ErrKindWrite: the answer could not be written (client gone).
	ErrKindWrite = "write"
	// ErrKindContextForged: with Options.ContextKeys, a context whose
	// signature does not verify (edited, replayed from another
	// conversation, or sealed with another secret); the conversation
	// restarted politely (and counts as a RecoveryForeign).
	ErrKindContextForged = turn.KindContextForged
	// ErrKindContextUnsigned: with Options.ContextKeys, a flowbot context
	// without a signature: written before signing was turned on, or its
	// signature was stripped. Restarted politely, as above.
	ErrKindContextUnsigned = turn.KindContextUnsigned
	// ErrKindContextUnknownKey: with Options.ContextKeys, a context signed
	// with a key id the ring does not list: a retired key (removed too
	// early?) or a made-up id. Restarted politely, as above.
	ErrKindContextUnknownKey = turn.KindContextUnknownKey
)

// Recovery kinds reported to Observer.Recovery.
const (
	// RecoveryForeign: the context was not written by flowbot (garbage,
	// another bot's, wrong type, oversized); the flow restarted politely.
	RecoveryForeign = turn.RecoveryForeign
	// RecoveryMigrated: the context came from an older version of the flow
	// whose state still exists; the conversation continued.
	RecoveryMigrated = string(engine.RecoveryMigrated)
	// RecoveryRestarted: the context's flow or state is gone; the flow
	// restarted politely.
	RecoveryRestarted = string(engine.RecoveryRestarted)
)

// Observer receives what the Handler measures; runtime/metrics implements
// it with Prometheus. Methods are called concurrently and must be cheap.
type Observer interface {
	// Request counts one answered request by HTTP status.
	Request(status int)
	// Turn records one handled event: the flow, the state the conversation
	// is in afterwards, and the time from request to answer.
	Turn(flow, state string, d time.Duration)
	// Error counts a problem by kind (the ErrKind constants).
	Error(flow, kind string)
	// Recovery counts a context that had to be recovered, by kind (the
	// Recovery constants).
	Recovery(flow, kind string)
}

// JobRunner makes the requests of http and llm steps (httpjob.Runner,
// llm.Runner): runtime/turn's Runner.
type JobRunner = turn.Runner

// MaxJobsPerTurn bounds the jobs a flow makes in a row without the contact
// speaking (a flow may chain HTTP states), within a webhook call and
// across the background jobs that follow it; the next one gets an error
// result instead. It is turn.MaxChainedJobs, as in platform mode.
const MaxJobsPerTurn = turn.MaxChainedJobs

// ErrKindOf is the error kind of an error a turn's flow met:
// ErrKindScriptTimeout for a script's time-out, else ErrKindFlow.
func ErrKindOf(err error) string { return turn.KindOf(err) }

// Options configure a Handler. The zero value is usable: no token, the
// default header, logs to slog.Default.
type Options struct {
	// Token, when not empty, is required in the TokenHeader of every
	// request (compared in constant time); otherwise the answer is 401.
	Token string
	// TokenHeader is the header carrying the token; DefaultTokenHeader if empty.
	TokenHeader string
	// LogBodies adds message texts, clicks, contact data and the answer to
	// the turn logs. Off by default: logs carry no personal data then.
	LogBodies bool
	// Logger receives one record per turn (Info) and per problem; nil is
	// slog.Default().
	Logger *slog.Logger
	// Observer receives measurements; nil discards them.
	Observer Observer
	// Now is the clock given to the engine; nil is time.Now.
	Now func() time.Time
	// BotName extracts the bot's name from a request; nil reads it from a
	// path of the form …/bots/{name}/webhook.
	BotName func(*http.Request) string
	// Jobs makes the flows' HTTP requests; nil is an httpjob.Runner.
	// Synchronous ones (and, without a Queue, async ones too) run during the
	// webhook call, and the answer carries what the flow said before and
	// after the request.
	Jobs JobRunner
	// Queue, when set, keeps async HTTP jobs durably for a background
	// worker: the webhook answers at once with what the flow said before the
	// request, and the worker pushes the result later (see Resume). Nil
	// runs async jobs during the webhook call.
	Queue Queue
	// ContextKeys, when set, sign (and with an encrypting first key,
	// encrypt) every context the Handler writes, bound to the
	// conversation's cid, and every context it reads must verify: one that
	// does not restarts the conversation politely and is counted as
	// ErrKindContextForged, ErrKindContextUnsigned or
	// ErrKindContextUnknownKey. Nil: unsigned contexts. See
	// engine.ParseContextKeys for the key ring (FLOWBOT_CONTEXT_KEYS).
	ContextKeys *engine.ContextKeys
	// Timers keeps the follow-ups of flows with `on_silence` rules (see
	// Timers). Nil: the Queue, if it implements Timers (runtime/worker's
	// Worker does); without either, follow-ups are off (logged once per
	// flow that has them).
	Timers Timers
	// Turns, when set, is told of every turn (turn.Request.Observe): the
	// funnel metrics, the turn log.
	Turns turn.Observer
}

// Queue keeps the async HTTP jobs of flows until a background worker has
// run them (runtime/worker implements it over runtime/outbox). The Handler
// calls it only on turns that ask for an async job, and on the rare turn
// that leaves a job's result unwanted; ordinary turns never touch it.
type Queue interface {
	// Enqueue stores the job durably and returns its id. The webhook
	// answer is written only after it returned nil; on an error the job
	// runs during the webhook call instead.
	Enqueue(ctx context.Context, j QueuedJob) (int64, error)
	// Supersede records that conversation cid of bot no longer waits for
	// job number seq (the contact moved on): its result must not be pushed.
	Supersede(ctx context.Context, bot, cid string, seq int) error
}

// QueuedJob is an async HTTP job with everything needed to continue its
// conversation when the result comes (see Handler.Resume).
type QueuedJob struct {
	Bot         string            // the flow's name
	FlowVersion string            // the flow's short hash
	CID         string            // the conversation
	Channel     string            // the contact's channel (normalized)
	Context     []byte            // the encoded context after the turn; it awaits Job.Seq
	Contact     map[string]string // the contact fields of the turn (nil when the flow reads none)
	Job         *engine.Job       // the request
	// Chain is the job's place in its chain of jobs made without the
	// contact speaking (1 for the first); its result's turn counts on from
	// it (turn.MaxChainedJobs).
	Chain int
}

// Bots is where a Handler finds the flows it serves, by name. Each flow is
// a deployment: its current version and the earlier versions live
// conversations may still be on. flowset.Set is one; it may change while
// the handler runs (reloads).
type Bots interface {
	Get(name string) *engine.Deployment
	Names() []string
}

// fixedBots is a Bots that never changes.
type fixedBots struct {
	deps  map[string]*engine.Deployment
	names []string
}

func (f *fixedBots) Get(name string) *engine.Deployment { return f.deps[name] }
func (f *fixedBots) Names() []string                    { return f.names }

// Handler answers Userlike webhook calls for a set of bots. It keeps no
// state per conversation and is safe for concurrent use.
type Handler struct {
	bots      Bots
	token     [sha256.Size]byte
	hasToken  bool
	header    string // canonical form, for lookups
	shown     string // as configured, for messages
	logBodies bool
	log       *slog.Logger
	obs       Observer
	now       func() time.Time
	botName   func(*http.Request) string
	jobs      JobRunner
	queue     Queue
	keys      *engine.ContextKeys // nil: unsigned contexts
	timers    Timers              // nil: no follow-ups
	turns     turn.Observer       // nil: no one is told of turns
	silence   sync.Map            // *engine.Deployment → silenceInfo
	silenceN  atomic.Int32        // entries stored in silence
	pool      sync.Pool           // *scratch
}

// New returns a Handler serving bots under their flows' names. Two bots with
// the same name are an error.
func New(bots []*engine.Bot, opts Options) (*Handler, error) {
	fixed := &fixedBots{deps: make(map[string]*engine.Deployment, len(bots))}
	for _, b := range bots {
		name := b.Flow().Name
		if _, dup := fixed.deps[name]; dup {
			return nil, fmt.Errorf("two flows are named %q (%s and another); each bot needs its own name", name, b.Flow().File)
		}
		fixed.deps[name] = engine.NewDeployment(b)
		fixed.names = append(fixed.names, name)
	}
	slices.Sort(fixed.names)
	return NewWithBots(fixed, opts)
}

// NewWithBots returns a Handler serving the flows of bots, which may change
// while it runs.
func NewWithBots(bots Bots, opts Options) (*Handler, error) {
	h := &Handler{
		bots:      bots,
		header:    opts.TokenHeader,
		logBodies: opts.LogBodies,
		log:       opts.Logger,
		obs:       opts.Observer,
		now:       opts.Now,
		botName:   opts.BotName,
		jobs:      opts.Jobs,
		queue:     opts.Queue,
		keys:      opts.ContextKeys,
		timers:    opts.Timers,
		turns:     opts.Turns,
	}
	if h.timers == nil {
		h.timers, _ = opts.Queue.(Timers)
	}
	if opts.Token != "" {
		h.token, h.hasToken = sha256.Sum256([]byte(opts.Token)), true
	}
	if h.header == "" {
		h.header = DefaultTokenHeader
	}
	h.shown = h.header
	h.header = http.CanonicalHeaderKey(h.header)
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.obs == nil {
		h.obs = observe.Nop{}
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.botName == nil {
		h.botName = botNameFromPath
	}
	if h.jobs == nil {
		h.jobs = &httpjob.Runner{}
	}
	h.pool.New = func() any { return &scratch{body: make([]byte, 0, 4096), out: make([]byte, 0, 4096)} }
	return h, nil
}

// Names returns the names of the bots served, sorted.
func (h *Handler) Names() []string { return slices.Clone(h.bots.Names()) }

// botNameFromPath reads {name} from a path ending in /bots/{name}/webhook.
func botNameFromPath(r *http.Request) string {
	p, ok := strings.CutSuffix(r.URL.Path, "/webhook")
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 || !strings.HasSuffix(p[:i+1], "/bots/") {
		return ""
	}
	return p[i+1:]
}

// scratch is the reusable memory of one request.
type scratch struct {
	body  []byte
	dec   decoder
	in    Inbound
	out   []byte
	wrote bool
}

// maxPooledBytes: buffers that grew past this are not kept for reuse.
const maxPooledBytes = 64 << 10

var jsonContentType = []string{"application/json"}

// ServeHTTP handles one webhook call. It always answers JSON: 200 with an
// array of events, or 4xx with {"error": "…"}.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	s := h.pool.Get().(*scratch)
	s.wrote = false
	panicked := true
	defer func() {
		if !panicked {
			if cap(s.body) <= maxPooledBytes && cap(s.out) <= maxPooledBytes {
				s.in = Inbound{}
				h.pool.Put(s)
			}
			return
		}
		v := recover()
		if v == http.ErrAbortHandler {
			panic(v)
		}
		h.obs.Error("", ErrKindPanic)
		h.log.Error("panic while handling a webhook call; answered 500", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		if !s.wrote {
			h.writeError(w, s, http.StatusInternalServerError, "internal error; the problem was logged")
		}
	}()
	h.serve(w, r, s, start)
	panicked = false
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, s *scratch, start time.Time) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, r, s, http.StatusMethodNotAllowed, "", "the webhook takes POST requests only")
		return
	}
	if h.hasToken {
		got := r.Header[h.header]
		if len(got) == 0 || got[0] == "" {
			h.reject(w, r, s, http.StatusUnauthorized, "", "the "+h.shown+" header is missing: send the webhook token configured for flowbot")
			return
		}
		sum := sha256.Sum256([]byte(got[0]))
		if subtle.ConstantTimeCompare(sum[:], h.token[:]) != 1 {
			h.reject(w, r, s, http.StatusUnauthorized, "", "the "+h.shown+" header does not match the webhook token configured for flowbot")
			return
		}
	}
	name := h.botName(r)
	dep := h.bots.Get(name)
	if dep == nil {
		h.reject(w, r, s, http.StatusNotFound, name, fmt.Sprintf("no bot named %s here; the bots are %s", quoteShort(name), strings.Join(h.bots.Names(), ", ")))
		return
	}
	if r.ContentLength > MaxBodyBytes {
		h.reject(w, r, s, http.StatusRequestEntityTooLarge, name, fmt.Sprintf("the body is %d bytes; a webhook event may be at most %d", r.ContentLength, MaxBodyBytes))
		return
	}
	body, err := readBody(r.Body, s.body[:0])
	s.body = body
	if err != nil {
		if errors.Is(err, errTooLarge) {
			h.reject(w, r, s, http.StatusRequestEntityTooLarge, name, fmt.Sprintf("the body is over %d bytes; a webhook event may be at most %d", MaxBodyBytes, MaxBodyBytes))
			return
		}
		h.reject(w, r, s, http.StatusBadRequest, name, "cannot read the body: "+err.Error())
		return
	}
	in := &s.in
	wantContact, wantConv := h.logBodies || dep.UsesContact(), dep.UsesConversation()
	if err := s.dec.decode(body, in, wantContact, wantConv); err != nil {
		h.reject(w, r, s, http.StatusBadRequest, name, err.Error())
		return
	}
	if in.Event.Name == engine.EvStart && !(wantContact && wantConv) && len(dep.Current().Flow().Locales) > 1 {
		// A multilingual flow reads the platform's locale at the start
		// (the engine keeps it in the context), so its other turns skip
		// decoding the conversation and the contact, as single-language
		// flows do.
		_ = s.dec.decode(body, in, true, true)
	}
	// The platform's locale (docs/flows.md, Languages): the conversation's, else the contact's.
	in.Event.Locale = firstNonEmpty(in.Event.Conversation["locale"], in.Event.Contact["locale"])
	if !in.Known {
		s.out = append(s.out[:0], "[]"...)
		h.write(w, s, http.StatusOK)
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "event ignored: flowbot does not know it",
			slog.String("bot", name), slog.String("cid", in.CID), slog.String("event", in.Event.Name))
		return
	}
	h.turn(w, r, s, dep, name, start)
}

// request is the runtime/turn request of an event of conversation cid on
// dep, at the Handler's settings.
func (h *Handler) request(dep *engine.Deployment, cid string, ev engine.Event, ctx []byte) turn.Request {
	return turn.Request{Deployment: dep, Context: ctx, Keys: h.keys, Binding: cid, Event: ev,
		Jobs: h.jobs, QueueAsync: h.queue != nil, Carry: true, Now: h.now, Observe: h.turns}
}

// logJobs logs the jobs a turn made.
func (h *Handler) logJobs(ctx context.Context, name, cid string, o *turn.Outcome) {
	if len(o.Jobs) == 0 || !h.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	for _, j := range o.Jobs {
		job, out := j.Job, j.Result
		attrs := []slog.Attr{slog.String("bot", name), slog.String("cid", cid), slog.String("state", job.State),
			slog.String("method", job.Method), slog.Int("status", out.Status), slog.Duration("duration", j.Took)}
		if out.Err != "" {
			attrs = append(attrs, slog.String("error", out.Err))
		}
		if job.Async {
			attrs = append(attrs, slog.Bool("async_inline", true))
		}
		if h.logBodies {
			attrs = append(attrs, slog.String("url", job.URL))
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "http request", attrs...)
	}
}

// turn runs one known event through the bot and writes the answer.
func (h *Handler) turn(w http.ResponseWriter, r *http.Request, s *scratch, dep *engine.Deployment, name string, start time.Time) {
	in := &s.in
	ctx := r.Context()
	in.Event.Now = start
	req := h.request(dep, in.CID, in.Event, in.Context)
	o, _ := turn.Run(ctx, req) // dep is not nil
	if o.Result.Job != nil {
		// An async job: keep it durably before answering, or run it now.
		if err := h.enqueue(ctx, name, in.CID, &in.Event, &o); err != nil {
			o = turn.Inline(ctx, req, o)
		}
	}
	h.logJobs(ctx, name, in.CID, &o)
	if h.queue != nil && o.Supersede != 0 {
		// The conversation no longer waits for that job: its result must
		// not be pushed.
		if err := h.queue.Supersede(context.WithoutCancel(ctx), name, in.CID, o.Supersede); err != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "cannot mark a background job superseded; its result may still be pushed",
				slog.String("bot", name), slog.String("cid", in.CID), slog.Int("seq", o.Supersede), slog.String("error", err.Error()))
		}
	}
	if h.followUps(dep) {
		// Every answered turn is activity: arm the follow-up it asks for,
		// or cancel the armed one, before the answer leaves.
		h.armAfterTurn(ctx, dep, name, in.CID, &in.Event, &o, start)
	}
	res, rendered := &o.Result, &o.Rendered
	s.out = appendEvents(s.out[:0], in.CID, o.Context, rendered.Packets)

	// The turn's metrics are counted before the answer is written, so that
	// whoever got the answer can read them.
	d := h.now().Sub(start)
	from, to := o.From.State, res.Session.State
	h.obs.Turn(name, to, d)
	recovery := h.count(ctx, name, in.CID, &o)
	h.write(w, s, http.StatusOK)
	h.logProblems(ctx, name, in.CID, &o)
	if !h.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	if from == "" {
		from = "(new)"
	}
	attrs := make([]slog.Attr, 0, 14)
	attrs = append(attrs,
		slog.String("bot", name),
		slog.String("cid", in.CID),
		slog.String("event", in.Event.Name),
		slog.String("channel", in.Channel),
		slog.String("from", from),
		slog.String("to", to),
		slog.Int("events", len(rendered.Packets)),
		slog.Duration("duration", d),
	)
	if recovery != "" {
		attrs = append(attrs, slog.String("recovery", recovery))
	}
	if res.Ignored {
		attrs = append(attrs, slog.Bool("ignored", true))
	}
	if h.logBodies {
		ev := &in.Event
		if ev.Text != "" {
			attrs = append(attrs, slog.String("text", ev.Text))
		}
		if ev.ClickID != "" {
			attrs = append(attrs, slog.String("click", ev.ClickID))
		}
		if ev.MediaURL != "" {
			attrs = append(attrs, slog.String("media", ev.MediaURL))
		}
		if len(ev.Contact) > 0 {
			attrs = append(attrs, slog.Any("contact", ev.Contact))
		}
		attrs = append(attrs, slog.String("answer", string(s.out)))
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "turn", attrs...)
}

// count counts a turn's recovery and problems (turn.Outcome.Kinds) and
// logs a refused context; it returns the recovery's kind.
func (h *Handler) count(ctx context.Context, name, cid string, o *turn.Outcome, extra ...slog.Attr) string {
	recovery := o.Recovery()
	if o.ContextErr != nil {
		h.refused(ctx, name, cid, o.ContextErr, extra...)
	}
	if recovery != "" {
		h.obs.Recovery(name, recovery)
	}
	for _, k := range o.Kinds() {
		if k == ErrKindContextForged || k == ErrKindContextUnsigned || k == ErrKindContextUnknownKey {
			continue // counted by refused
		}
		h.obs.Error(name, k)
	}
	return recovery
}

// logProblems logs the error paths a turn took and a context too big.
func (h *Handler) logProblems(ctx context.Context, name, cid string, o *turn.Outcome, extra ...slog.Attr) {
	to := o.Result.Session.State
	ids := append([]slog.Attr{slog.String("bot", name), slog.String("cid", cid)}, extra...)
	if o.TooBig && h.log.Enabled(ctx, slog.LevelError) {
		h.log.LogAttrs(ctx, slog.LevelError, "the new context is too big; restarting the conversation", append(ids, slog.String("state", to))...)
	}
	for _, e := range o.Result.Errors {
		h.log.LogAttrs(ctx, slog.LevelWarn, "the flow took an error path", append(ids, slog.String("state", to), slog.String("error", e.Error()))...)
	}
}

// enqueue hands the async job of o to the Queue, with the turn's context.
func (h *Handler) enqueue(ctx context.Context, name, cid string, ev *engine.Event, o *turn.Outcome) error {
	job := o.Result.Job
	id, err := h.queue.Enqueue(context.WithoutCancel(ctx), QueuedJob{Bot: name, FlowVersion: o.Bot.Flow().ShortHash(), CID: cid, Channel: ev.Channel,
		Context: o.Context, Contact: ev.Contact, Job: job, Chain: o.Chain})
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "cannot queue a background HTTP request; running it during the webhook call",
			slog.String("bot", name), slog.String("cid", cid), slog.String("state", job.State), slog.String("error", err.Error()))
		return err
	}
	if h.log.Enabled(ctx, slog.LevelInfo) {
		attrs := []slog.Attr{slog.String("bot", name), slog.String("cid", cid), slog.String("state", job.State),
			slog.String("method", job.Method), slog.Int64("job", id), slog.Int("seq", job.Seq)}
		if h.logBodies {
			attrs = append(attrs, slog.String("url", job.URL))
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "http request queued", attrs...)
	}
	return nil
}

// refused counts and logs a context refused for its signature (the
// conversation restarts); other decoding errors are only recoveries.
func (h *Handler) refused(ctx context.Context, name, cid string, err error, extra ...slog.Attr) {
	kind := turn.ContextKindOf(err)
	if kind == "" {
		return
	}
	h.obs.Error(name, kind)
	if !h.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	attrs := append([]slog.Attr{slog.String("bot", name), slog.String("cid", cid), slog.String("kind", kind), slog.String("error", err.Error())}, extra...)
	h.log.LogAttrs(ctx, slog.LevelWarn, "context refused: not validly signed with a configured key; restarting the conversation", attrs...)
}

// reject answers a bad request with {"error": msg} and logs why (never the body).
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, s *scratch, status int, bot, msg string) {
	h.writeError(w, s, status, msg)
	if h.log.Enabled(r.Context(), slog.LevelWarn) {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook call refused",
			slog.Int("status", status), slog.String("bot", bot), slog.String("error", msg),
			slog.String("remote", r.RemoteAddr))
	}
}

func (h *Handler) writeError(w http.ResponseWriter, s *scratch, status int, msg string) {
	s.out = append(s.out[:0], `{"error":`...)
	s.out = appendString(s.out, msg)
	s.out = append(s.out, '}')
	h.write(w, s, status)
}

// write sends s.out with status, once.
func (h *Handler) write(w http.ResponseWriter, s *scratch, status int) {
	if s.wrote {
		return
	}
	s.wrote = true
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = []string{strconv.Itoa(len(s.out))}
	w.WriteHeader(status)
	h.obs.Request(status)
	if _, err := w.Write(s.out); err != nil {
		h.obs.Error("", ErrKindWrite)
	}
}

var errTooLarge = errors.New("body too large")

// readBody reads all of r into buf, failing with errTooLarge past
// MaxBodyBytes.
func readBody(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(cap(buf), 4096), MaxBodyBytes+1))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > MaxBodyBytes {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
