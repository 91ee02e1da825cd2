package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/store"
)

// botpressRequest is a message of the Botpress-style endpoint (seed 001).
// Every field is required; payload may be any JSON value but null.
type botpressRequest struct {
	UserID         *string         `json:"userId"`
	MessageID      *string         `json:"messageId"`
	ConversationID *string         `json:"conversationId"`
	Type           *string         `json:"type"`
	Text           *string         `json:"text"`
	Payload        json.RawMessage `json:"payload"`
}

// fieldProblem is one invalid field of a request.
type fieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// check lists every problem of the request, not only the first.
func (r *botpressRequest) check() []fieldProblem {
	var out []fieldProblem
	str := func(name string, v *string, max int) {
		switch {
		case v == nil:
			out = append(out, fieldProblem{name, "required (a string)"})
		case name != "text" && strings.TrimSpace(*v) == "":
			out = append(out, fieldProblem{name, "must not be empty"})
		default:
			if err := checkText(name, *v, max, false); err != nil {
				out = append(out, fieldProblem{name, err.(*fieldError).msg})
			}
		}
	}
	str("userId", r.UserID, MaxIDChars)
	str("messageId", r.MessageID, MaxIDChars)
	str("conversationId", r.ConversationID, MaxIDChars)
	str("type", r.Type, MaxNameChars)
	str("text", r.Text, MaxTextChars)
	if p := strings.TrimSpace(string(r.Payload)); p == "" || p == "null" {
		out = append(out, fieldProblem{"payload", `required: any JSON value, e.g. {} (for type "text", the payload may repeat the text)`})
	}
	return out
}

// botpressMessage is POST /api/botpress/{bot_id}: a user's message in the
// Botpress-style format. The conversation is the bot's conversation with
// the app's conversationId (created on its first message); its replies go
// to the bot's response_endpoint, one POST per message, in the Botpress
// reply format, with the retries of every webhook delivery. A messageId
// seen before in the conversation is answered 200 and makes no turn.
func (a *API) botpressMessage(w http.ResponseWriter, r *http.Request) {
	var req botpressRequest
	if !decode(w, r, &req) {
		return
	}
	if problems := req.check(); len(problems) > 0 {
		var e struct {
			Error struct {
				Status  int            `json:"status"`
				Message string         `json:"message"`
				Errors  []fieldProblem `json:"errors"`
			} `json:"error"`
		}
		e.Error.Status, e.Error.Errors = http.StatusBadRequest, problems
		e.Error.Message = fmt.Sprintf("%d invalid field(s): %s", len(problems), problems[0].Field+": "+problems[0].Message)
		writeJSON(w, http.StatusBadRequest, e)
		return
	}
	id := mux.Vars(r)["bot_id"]
	bot, err := store.Bot{}, store.ErrNotFound
	if storable(id) {
		bot, err = a.bot(r.Context(), id)
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "", "no bot with id "+strconv.Quote(id)+": create one with POST /api/bots")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if bot.ResponseEndpoint == "" {
		writeError(w, http.StatusConflict, "", "bot "+strconv.Quote(id)+" has no response_endpoint for its replies: create the bot with \"response_endpoint\": \"https://…\"")
		return
	}
	now := a.clock.Now()
	c, _, err := a.store.OpenConversation(r.Context(), store.OpenRequest{ID: a.newID(), BotID: bot.ID,
		UserID: store.BotpressUserPrefix + *req.ConversationID, CreateUser: true, Webhook: bot.ResponseEndpoint,
		WebhookFormat: store.FormatBotpress, Now: now}, nil)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	answer := map[string]any{"conversationId": *req.ConversationID, "messageId": *req.MessageID, "botpressConversationId": c.ID}
	res, err := a.store.Turn(r.Context(), a.userTurn(bot, c, "botpress:"+*req.MessageID, now),
		func(c store.Conversation) (store.TurnOutput, error) {
			// The app's first message starts the flow (its text goes
			// with the start, as on messaging channels); later ones are
			// messages.
			ev := userEvent(*req.Text, "")
			if len(c.Context) == 0 {
				ev = engine.Event{Name: engine.EvStart, Text: *req.Text}
			}
			ev.Now = now
			st, err := a.answer(r.Context(), bot, c, ev, store.Message{ID: a.newID(), Text: *req.Text, CreatedAt: now})
			return st.out, err
		})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res.Duplicate {
		answer["duplicate"] = true
	} else {
		a.wakeWorkers(res.Deliveries, res.Jobs)
	}
	writeJSON(w, http.StatusOK, answer)
}
