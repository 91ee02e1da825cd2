package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/dialect"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/store"
)

// botpressRequest is a message of the Botpress-style endpoint (seed 001).
// Every field is required but payload, which only media, location and
// postback messages need (FIELD-NOTES: missing means {text}).
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

// botpressMediaKeys are the payload fields of the Botpress media types.
var botpressMediaKeys = map[string]string{"image": "imageUrl", "audio": "audioUrl", "video": "videoUrl", "file": "fileUrl"}

// check lists every problem of the request, not only the first, and
// returns the engine event it asks for (a message, media, a location or a
// click; its Name is EvMessage for any other type).
func (r *botpressRequest) check() (engine.Event, []fieldProblem) {
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
	if r.Type == nil || r.Text == nil {
		return engine.Event{}, out
	}
	ev := engine.Event{Name: engine.EvMessage, Text: *r.Text}
	typ := *r.Type
	key, media := botpressMediaKeys[typ]
	if !media && typ != "location" && typ != "postback" {
		return ev, out // text, or a type flowbot reads as its text
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(r.Payload, &p) != nil || p == nil {
		example := map[string]string{"location": `{"latitude": 52.52, "longitude": 13.4}`, "postback": `{"value": "delivery"}`}[typ]
		if media {
			example = `{"` + key + `": "https://…"}`
		}
		return ev, append(out, fieldProblem{"payload", "required for type " + strconv.Quote(typ) + ": an object like " + example})
	}
	text := func(name string) (string, bool) {
		var v string
		return v, json.Unmarshal(p[name], &v) == nil
	}
	switch {
	case media:
		u, ok := text(key)
		if !ok {
			return ev, append(out, fieldProblem{"payload." + key, "required for type " + strconv.Quote(typ) + " (the file's URL)"})
		}
		if err := checkURL("payload."+key, u); err != nil {
			return ev, append(out, fieldProblem{"payload." + key, err.(*fieldError).msg})
		}
		ev = engine.Event{Name: engine.EvMedia, MediaURL: u}
	case typ == "location":
		var loc engine.Location
		for _, c := range []struct {
			name  string
			dst   *float64
			limit float64
		}{{"latitude", &loc.Latitude, 90}, {"longitude", &loc.Longitude, 180}} {
			if json.Unmarshal(p[c.name], c.dst) != nil || *c.dst < -c.limit || *c.dst > c.limit {
				out = append(out, fieldProblem{"payload." + c.name, fmt.Sprintf("required: a number from %v to %v", -c.limit, c.limit)})
			}
		}
		loc.Address, _ = text("address")
		if title, _ := text("title"); loc.Address == "" {
			loc.Address = title
		}
		if err := checkText("payload.address", loc.Address, MaxTextChars, false); err != nil {
			out = append(out, fieldProblem{"payload.address", err.(*fieldError).msg})
		}
		ev = engine.Event{Name: engine.EvLocation, Location: &loc, Text: *r.Text}
	default: // postback: a click on an option of a choice or card
		v, ok := text("value")
		if !ok || strings.TrimSpace(v) == "" {
			return ev, append(out, fieldProblem{"payload.value", `required for type "postback": the value of the option clicked`})
		}
		if err := checkText("payload.value", v, MaxIDChars, true); err != nil {
			return ev, append(out, fieldProblem{"payload.value", err.(*fieldError).msg})
		}
		ev = engine.Event{Name: engine.EvClick, ClickID: v}
	}
	return ev, out
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
	userEv, problems := req.check()
	if len(problems) > 0 {
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
		UserID: dialect.BotpressUserID(*req.ConversationID, *req.UserID), CreateUser: true, Webhook: bot.ResponseEndpoint,
		WebhookFormat: store.FormatBotpress, Now: now}, nil)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	answer := map[string]any{"conversationId": *req.ConversationID, "messageId": *req.MessageID, "userId": *req.UserID, "botpressConversationId": c.ID}
	res, err := a.store.Turn(r.Context(), a.userTurn(bot, c, "botpress:"+*req.MessageID, now),
		func(c store.Conversation) (store.TurnOutput, error) {
			// The app's first message starts the flow (its text, or
			// its upload, goes with the start, as on messaging
			// channels); later ones are messages, media, locations or
			// clicks.
			ev := userEv
			if len(c.Context) == 0 {
				ev = engine.Event{Name: engine.EvStart, Text: *req.Text, MediaURL: userEv.MediaURL}
			}
			ev.Now = now
			st, err := a.answer(r.Context(), bot, c, ev, store.Message{ID: a.newID(), Text: *req.Text, MediaURL: userEv.MediaURL, CreatedAt: now})
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

// installTimeout bounds the installation test of a response endpoint.
const installTimeout = 15 * time.Second

// botpressInstallTest is the body Botpress's HTTP integration POSTs to the
// response endpoint when it is installed (FIELD-NOTES).
const botpressInstallTest = `{"type":"test","payload":"test"}`

// TestResponseEndpoint makes the installation test of a Botpress-style
// response endpoint: it POSTs {"type":"test","payload":"test"}, as the
// Botpress integration does when it is installed, and fails unless the
// endpoint answers 2xx. The error says what the endpoint answered.
func TestResponseEndpoint(ctx context.Context, client *http.Client, endpoint string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(botpressInstallTest))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("the installation test %s could not be sent: %s", botpressInstallTest, netguard.RequestError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the endpoint answered %d to the installation test %s; it must answer 2xx", resp.StatusCode, botpressInstallTest)
	}
	return nil
}
