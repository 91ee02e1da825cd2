package platform

// The Chat API's bots: POST /api/bots and GET /api/bots/{id}.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/store"
)

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
	if bot.ResponseEndpoint != "" {
		if err := a.install(r.Context(), bot.ResponseEndpoint); err != nil {
			a.fail(w, r, invalid("response_endpoint", "%s", err.Error()))
			return
		}
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
