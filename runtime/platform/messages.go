package platform

// The Chat API's messages: a user's message (one turn), the history and
// one message with its delivery attempts.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/flowbot/flowbot/runtime/dialect"
	"github.com/flowbot/flowbot/runtime/store"
)

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
	if url := dialect.Media(m.MediaURL); url != "" {
		out.AttachedMedia = &mediaJSON{URL: url}
	}
	return out
}

// postMessage is POST /api/conversations/{id}/messages: the user's message,
// answered 202; the replies follow on the webhook or in the history.
func (a *API) postMessage(w http.ResponseWriter, r *http.Request) { a.userMessage(w, r, false) }

// generateResponse is POST /api/conversations/{id}/generate-response, seed
// 000's "generate a response" pattern: the user's message, answered 200
// with the bot's replies to it, for a conversation without a webhook.
func (a *API) generateResponse(w http.ResponseWriter, r *http.Request) { a.userMessage(w, r, true) }

// userMessage runs the turn of a user's message; with generate it answers
// with the bot's replies of the turn (or, for a repeated Idempotency-Key,
// those the first call made that are due).
func (a *API) userMessage(w http.ResponseWriter, r *http.Request, generate bool) {
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
	if generate && c.Webhook != "" {
		writeError(w, http.StatusConflict, "", fmt.Sprintf("conversation %s has a webhook, where its replies go: send with POST /api/conversations/%s/messages, or open a conversation without a webhook to be answered here", c.ID, c.ID))
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
		out := map[string]any{"message": toMessageJSON(user), "duplicate": true}
		if generate {
			replies, err := a.repliesTo(r, c.ID, user.Seq)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			out["messages"] = replies
			writeJSON(w, http.StatusOK, out)
			return
		}
		writeJSON(w, http.StatusAccepted, out)
		return
	}
	a.wakeWorkers(res.Deliveries, res.Jobs)
	if res.Cancelled > 0 {
		a.obs.Cancelled(res.Cancelled)
	}
	a.log.Info("turn", "conversation", c.ID, "state", st.state, "replies", len(st.out.BotMessages), "jobs", res.Jobs,
		"aggregated", st.aggregated, "cancelled", res.Cancelled)
	for _, e := range st.res.Errors {
		a.log.Warn("the flow took an error path", "conversation", c.ID, "state", st.state, "error", e.Error())
	}
	if generate {
		replies := make([]messageJSON, len(st.out.BotMessages))
		for i, m := range st.out.BotMessages {
			m.FromBot = true
			replies[i] = toMessageJSON(m)
		}
		writeJSON(w, http.StatusOK, map[string]any{"message": toMessageJSON(user), "messages": replies})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message": toMessageJSON(user)})
}

// repliesTo returns the bot messages of a conversation's history that
// follow the user message at position seq, up to the next user message.
func (a *API) repliesTo(r *http.Request, conv string, seq int64) ([]messageJSON, error) {
	msgs, err := a.store.History(r.Context(), conv, seq, MaxPage, a.clock.Now())
	if err != nil {
		return nil, err
	}
	out := []messageJSON{}
	for _, m := range msgs {
		if !m.FromBot {
			break
		}
		out = append(out, toMessageJSON(m))
	}
	return out, nil
}

// wakeWorkers tells the delivery worker and the job runner about queued work.
func (a *API) wakeWorkers(deliveries, jobs int) {
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
