// Package store keeps the state of platform mode (flowbot serve's Chat API):
// bots, conversations with their flow session, the message history, the
// webhook delivery queue with its attempt log, the background HTTP jobs of
// flows, and idempotency keys.
//
// One interface, Store, has two implementations that share their SQL: an
// embedded SQLite file (the default; one process) and PostgreSQL (several
// flowbot serve processes share conversations and queues; workers claim
// with FOR UPDATE SKIP LOCKED). Open picks one from the address:
// "postgres://…" or "postgresql://…" is PostgreSQL, anything else a SQLite
// file path. The schema is migrated when the store opens, by flowbot's
// one list of migrations for both modes (runtime/schema).
//
// # Messages and delivery
//
// A conversation's messages have a seq: the order they were produced in,
// which is the order of the history. A user's message is visible at once.
// A bot's message is visible at once when the conversation has no webhook
// (the app polls the history); otherwise it waits in the delivery queue and
// becomes visible when its webhook answered 2xx, as the Chat API of seed
// 000 promises. The history runs up to the first bot message not yet
// delivered: it is the conversation as the user has seen it, in order, and
// a reader that pages with the last seq it saw never misses a message. Deliveries of
// one conversation go out in seq order: only the oldest undelivered message
// of a conversation can be claimed. A claim is a lease: a worker that
// crashes loses it when it expires, and another worker takes the delivery
// over with the same message id (at-least-once).
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound: no such bot, conversation or message.
var ErrNotFound = errors.New("not found")

// ErrUserNotFound: a conversation for a user the store has never seen was
// asked for without CreateUser.
var ErrUserNotFound = errors.New("user not found")

// Store is the persistence of platform mode. Implementations are safe for
// concurrent use by many goroutines and, for PostgreSQL, many processes.
type Store interface {
	// CreateBot stores a new bot; b.ID and b.CreatedAt must be set.
	CreateBot(ctx context.Context, b Bot) error
	// Bot returns the bot with the id, or ErrNotFound.
	Bot(ctx context.Context, id string) (Bot, error)

	// OpenConversation returns the conversation of (BotID, UserID), creating
	// it when there is none. When it creates one, it calls start on the new
	// conversation and stores start's output in the same transaction
	// (the flow's first turn); created reports that. An existing
	// conversation gets the request's Webhook and Channel when they are set.
	OpenConversation(ctx context.Context, req OpenRequest, start TurnFunc) (c Conversation, created bool, err error)
	// Conversation returns the conversation with the id, or ErrNotFound.
	Conversation(ctx context.Context, id string) (Conversation, error)
	// Turn runs fn on the conversation under an exclusive lock and stores
	// its output atomically. With an idempotency key already used in the
	// conversation, fn is not called and the result is the first call's
	// (Duplicate set). fn may return ErrSkip to store nothing.
	Turn(ctx context.Context, req TurnRequest, fn TurnFunc) (TurnResult, error)

	// History returns the conversation's messages with a seq greater than
	// after, oldest first, at most limit of them, stopping before the first
	// bot message not yet delivered to the webhook, or (without a
	// webhook) not yet due at now.
	History(ctx context.Context, conversationID string, after int64, limit int, now time.Time) ([]Message, error)
	// Message returns one message of a conversation with its delivery
	// state and attempts (for bot messages sent to a webhook).
	Message(ctx context.Context, conversationID, messageID string) (Message, *Delivery, []Attempt, error)
	// Pending counts the conversation's bot messages not yet delivered and
	// returns the oldest one's delivery, if any.
	Pending(ctx context.Context, conversationID string) (n int, head *Delivery, err error)

	// ClaimDeliveries leases up to limit deliveries that are due at now,
	// at most one per conversation (its oldest undelivered message), until
	// now+lease, for owner.
	ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishDeliveries records attempts: each adds an Attempt row; a
	// delivered one makes its message visible, a failed one is due again at
	// its Retry time. An outcome for a delivery that is no longer pending is
	// recorded as an attempt and changes nothing else.
	FinishDeliveries(ctx context.Context, outcomes []Outcome) error
	// NextDelivery is when the next pending delivery is due (ok false when
	// none is pending). Leased deliveries count at their lease's end.
	NextDelivery(ctx context.Context) (at time.Time, ok bool, err error)

	// ClaimJobs leases up to limit background jobs due at now.
	ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Job, error)
	// NextJob is when the next job is due (ok false when none is queued).
	NextJob(ctx context.Context) (at time.Time, ok bool, err error)

	// Timers returns the conversation's armed timers, by name.
	Timers(ctx context.Context, conversationID string) ([]Timer, error)

	// Depth counts pending deliveries and queued jobs (for metrics).
	Depth(ctx context.Context) (deliveries, jobs int, err error)

	// Close releases the database.
	Close() error
}

// ErrSkip, returned by a TurnFunc, stores nothing and is not an error for
// the caller of Turn.
var ErrSkip = errors.New("store: nothing to store")

// TurnFunc computes a turn from the conversation's current state. It runs
// inside the store's transaction, holding the conversation's lock: it must
// be quick and do no I/O.
type TurnFunc func(c Conversation) (TurnOutput, error)

// Bot is a bot of the Chat API: a name, the flow it runs, and attributes
// visible to the flow's templates and scripts as bot.<name>.
type Bot struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Flow       string      `json:"flow,omitempty"`
	Freeform   string      `json:"freeform,omitempty"`
	Attributes []Attribute `json:"attributes"`
	// ResponseEndpoint is where the replies of the bot's Botpress-style
	// conversations are POSTed.
	ResponseEndpoint string `json:"response_endpoint,omitempty"`
	// Timing is the bot's timing settings (a flows.Timing as JSON), empty
	// for none.
	Timing    json.RawMessage `json:"timing,omitempty"`
	CreatedAt time.Time       `json:"-"`
}

// Attribute is a name and a value of a bot.
type Attribute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Conversation is one user's conversation with one bot.
type Conversation struct {
	ID      string
	BotID   string
	UserID  string
	Channel string // the channel whose rendering rules apply ("custom" by default)
	Webhook string // where bot messages are delivered; empty: the app polls
	// WebhookFormat is the body of deliveries: FormatChat (default) or
	// FormatGPTBots.
	WebhookFormat string
	// WebhookAuth, when set, is the Authorization header of deliveries
	// ("Bearer …" or "Basic …").
	WebhookAuth string
	// Context is the flow session (engine.EncodeContext), empty before the
	// first turn.
	Context []byte
	// Status is "open", or what the flow did last: "forwarded", "ended"…
	Status string
	// Contact is what the flow stored with contact_update.
	Contact map[string]string
	// Timing overrides the bot's timing settings (a flows.Timing as JSON).
	Timing    json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
	// Timers are the conversation's armed timers; only a TurnFunc sees them.
	Timers []Timer
	// Unsent are the conversation's bot messages not yet sent, oldest
	// first, when the TurnRequest asked for them (only a TurnFunc sees them).
	Unsent []Message
}

// Timer is a named job due at a time, at most one of each name per
// conversation: setting one replaces the one of the same name. It fires on
// any process, through ClaimJobs (Job.Timer is its name).
type Timer struct {
	Name  string
	DueAt time.Time
	Spec  json.RawMessage
}

// OpenRequest asks for the conversation of a bot and a user.
type OpenRequest struct {
	ID         string // the id of the conversation if it is created
	BotID      string
	UserID     string
	CreateUser bool   // create the user when the store has not seen it
	Webhook    string // set (or replace) the webhook; empty keeps it
	// WebhookFormat and WebhookAuth set (or replace) the delivery format
	// and Authorization header when not empty ("-" clears the header).
	WebhookFormat, WebhookAuth string
	Channel                    string // set (or replace) the channel; empty keeps it ("custom" for a new one)
	// Timing, when not nil, sets (or replaces) the conversation's timing settings.
	Timing json.RawMessage
	Now    time.Time
}

// TurnRequest names the conversation of a turn.
type TurnRequest struct {
	ConversationID string
	// IdempotencyKey, when set, makes the turn happen once: a second Turn
	// with the same key in the same conversation returns the first result.
	IdempotencyKey string
	// Job, when set, is the id of the background job whose result this
	// turn handles; the turn removes it from the queue.
	Job int64
	Now time.Time
	// Unsent, when set, loads the conversation's bot messages not yet sent
	// into Conversation.Unsent, as of the time it returns when called
	// under the conversation's lock (so that a message a reader saw while
	// the turn waited for the lock counts as sent): with a webhook, those
	// whose delivery was never attempted and is not claimed (they stay
	// locked until the turn ends); without, those not yet due.
	Unsent func() time.Time
}

// TurnOutput is what a turn stores.
type TurnOutput struct {
	// Context replaces the conversation's session.
	Context []byte
	// Status, when set, replaces the conversation's status.
	Status string
	// Contact fields are merged into the conversation's contact.
	Contact map[string]string
	// UserMessage, when set, is the user's message of the turn.
	UserMessage *Message
	// BotMessages are the flow's replies, in order.
	BotMessages []Message
	// Jobs are background HTTP requests to queue.
	Jobs []NewJob
	// Cancel removes these bot messages, which must be among the
	// conversation's Unsent (see TurnRequest.Unsent), before BotMessages
	// are stored.
	Cancel []string
	// CancelTimers removes the conversation's timers of these names.
	CancelTimers []string
	// SetTimers arms timers, each replacing the one of its name.
	SetTimers []Timer
}

// TurnResult is what Turn stored.
type TurnResult struct {
	// UserMessageID is the id of the turn's user message (for a duplicate,
	// the first call's).
	UserMessageID string
	// Duplicate: the idempotency key was used before; nothing was stored.
	Duplicate bool
	// Skipped: the TurnFunc returned ErrSkip.
	Skipped bool
	// Deliveries: bot messages were queued for a webhook.
	Deliveries int
	// Jobs: background jobs (and timers) were queued.
	Jobs int
	// Cancelled: unsent bot messages were removed (Cancel).
	Cancelled int
}

// Message is one message of a conversation.
type Message struct {
	ID             string
	ConversationID string
	Seq            int64 // the order messages were produced in (and of the history)
	FromBot        bool
	Text           string
	MediaURL       string
	// CreatedAt is when the user sent it, or when the bot sends it: a bot
	// message with a CreatedAt in the future (a typing delay) is delivered,
	// or shown in the history, from then on.
	CreatedAt time.Time
	SentAt    time.Time // when it became visible: sent, or delivered to the webhook (zero while not)
}

// Webhook body formats.
const (
	FormatChat    = "chat"    // {conversation_id, message: {id, text, from_bot, sent_at, attached_media}}
	FormatGPTBots = "gptbots" // {message_id, message_type: "ANSWER", text, flow_output, create_time, conversation_id}
	// FormatBotpress: {type, payload, conversationId, botpressUserId,
	// botpressMessageId, botpressConversationId}, for conversations opened
	// through the Botpress-style endpoint; the app's conversation id is the
	// user id after BotpressUserPrefix.
	FormatBotpress = "botpress"
)

// BotpressUserPrefix starts the user id of a Botpress-style conversation;
// the app's conversationId follows it.
const (
	BotpressUserPrefix = "botpress:"
)

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
)

// Delivery is one bot message on its way to a webhook.
type Delivery struct {
	MessageID      string
	ConversationID string
	Seq            int64
	URL            string // the conversation's webhook now
	Format         string // the conversation's webhook format now
	UserID         string // the conversation's user
	Auth           string // the Authorization header, if any
	Text           string
	MediaURL       string
	CreatedAt      time.Time
	State          string
	Attempts       int       // attempts made before this claim
	DueAt          time.Time // when it is (or was) due
	LastStatus     int       // the HTTP status of the last attempt (0: none, or no answer)
	LastError      string
}

// Outcome is the result of one delivery attempt.
type Outcome struct {
	MessageID string
	Owner     string // the claim's owner
	At        time.Time
	Duration  time.Duration
	Status    int    // the HTTP status, 0 when there was no answer
	Error     string // why it failed (empty when delivered)
	Delivered bool
	Retry     time.Time // when to try again (when not delivered)
}

// Attempt is one recorded delivery attempt.
type Attempt struct {
	N          int           `json:"attempt"`
	At         time.Time     `json:"at"`
	Status     int           `json:"status"`
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"-"`
	Delivered  bool          `json:"delivered"`
	DurationMS int64         `json:"duration_ms"`
}

// NewJob is a background HTTP request of a flow, to run outside the turn.
type NewJob struct {
	Spec  json.RawMessage // the engine.Job, JSON-encoded
	DueAt time.Time
}

// Job is a queued background request, claimed by a worker.
type Job struct {
	ID             int64
	ConversationID string
	Spec           json.RawMessage
	Attempts       int    // claims before this one
	Timer          string // the timer's name, for a timer
}
