package platform

// The Chat API's conversations: POST /api/conversations (the flow starts)
// and GET /api/conversations/{id}.

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/store"
)

type conversationRequest struct {
	BotID      string `json:"bot_id"`
	UserID     string `json:"user_id"`
	CreateUser bool   `json:"create_user_if_not_exists"`
	Webhook    string `json:"webhook"`
	Channel    string `json:"channel"`
	// Locale is the user's language (de, de_DE, …): a multilingual flow
	// starts in it; the conversation's context keeps it.
	Locale string `json:"locale"`
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
	// Messages is the history as GET /api/conversations/{id} shows it
	// (seed 000's SDK polls it and watches the array grow): the first
	// MaxPage messages, MoreMessages when there are more.
	Messages     *[]messageJSON `json:"messages,omitempty"`
	MoreMessages bool           `json:"more_messages,omitempty"`
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
			st, err := a.step(r.Context(), bot, c, engine.Event{Name: engine.EvStart, Locale: req.Locale, Now: now}, turnOpts{})
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
		a.wakeWorkers(queued, 0)
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
	msgs, err := a.store.History(r.Context(), c.ID, 0, MaxPage+1, a.clock.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if out.MoreMessages = len(msgs) > MaxPage; out.MoreMessages {
		msgs = msgs[:MaxPage]
	}
	list := make([]messageJSON, len(msgs))
	for i, m := range msgs {
		list[i] = toMessageJSON(m)
	}
	out.Messages = &list
	writeJSON(w, http.StatusOK, map[string]any{"conversation": out})
}
