package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/engine/script"
	"github.com/flowbot/flowbot/runtime/store"
)

// errFlowGone: the bot's flow is no longer loaded (it was removed from the
// flows folder). The conversation is kept; the turn is refused.
var errFlowGone = errors.New("flow not loaded")

// stepped is what one engine step produced, ready to store.
type stepped struct {
	out   store.TurnOutput
	res   engine.Result
	state string // the session's state after the turn
}

// step runs ev through the conversation's flow and turns the result into a
// TurnOutput: the new context, the bot's messages rendered as text for the
// conversation's channel, contact updates, the status, and at most one
// background job. chain is how many jobs led to this turn since the user
// last spoke (0 for a user's message). It does no I/O.
func (a *API) step(ctx context.Context, bot store.Bot, c store.Conversation, ev engine.Event, chain int) (stepped, error) {
	dep := a.bots.Get(bot.Flow)
	if dep == nil {
		return stepped{}, fmt.Errorf("%w: bot %s runs flow %q", errFlowGone, bot.ID, bot.Flow)
	}
	session, _ := engine.DecodeContext(c.Context) // garbage cannot get here, but restarts politely if it did
	eng := dep.For(session)
	ev.Channel = c.Channel
	ev.Contact = c.Contact
	ev.Bot = botVars(bot)
	start := a.clock.Now()
	res := eng.StepContext(ctx, session, ev)
	flow := eng.Flow().Name
	defer func() { a.obs.Turn(flow, res.Session.State, a.clock.Now().Sub(start)) }()
	for _, e := range res.Errors {
		a.obs.Error(flow, errKind(e))
	}
	rendered, encoded, err := finish(res.Actions, res.Session, c.Channel)
	if err != nil {
		a.obs.Error(flow, "context_too_big")
		// The new context does not fit: restart the conversation politely
		// rather than store a state that cannot be kept.
		a.log.Error("the new context is too big; restarting the conversation",
			"conversation", c.ID, "state", res.Session.State, "error", err.Error())
		res = eng.StepContext(ctx, engine.Session{Foreign: true}, ev)
		if rendered, encoded, err = finish(res.Actions, res.Session, c.Channel); err != nil {
			return stepped{}, err
		}
	}
	st := stepped{res: res, state: res.Session.State}
	st.out.Context = encoded
	now := ev.Now
	for _, p := range rendered.Packets {
		switch p.Name {
		case channels.PacketMessage:
			m := p.Payload.(channels.MessagePayload)
			st.out.BotMessages = append(st.out.BotMessages, store.Message{ID: a.newID(), Text: storableText(m.Body), CreatedAt: now})
		case channels.PacketMedia:
			m := p.Payload.(channels.MediaPayload)
			st.out.BotMessages = append(st.out.BotMessages, store.Message{ID: a.newID(), Text: storableText(m.Caption), MediaURL: storableText(m.Link), CreatedAt: now})
		case "contact_update":
			if payload, ok := p.Payload.(map[string]any); ok {
				if st.out.Contact == nil {
					st.out.Contact = map[string]string{}
				}
				for k, v := range payload {
					st.out.Contact[storableText(k)] = storableText(fmt.Sprint(v))
				}
			}
		case "forward_any", "forward_group", "forward_skills":
			st.out.Status = StatusForwarded
		case "end":
			st.out.Status = StatusEnded
		}
	}
	if res.Session.Done && st.out.Status == "" {
		st.out.Status = StatusEnded
	}
	if res.Job != nil {
		spec, err := json.Marshal(queuedJob{Job: *res.Job, Chain: chain + 1})
		if err != nil {
			return stepped{}, err
		}
		st.out.Jobs = []store.NewJob{{Spec: spec, DueAt: now}}
	}
	return st, nil
}

// storableText drops what a database text column cannot hold (NUL, and
// invalid UTF-8 for PostgreSQL): a flow may build text from an HTTP step's
// answer.
func storableText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// errKind names the kind of a flow error for metrics.
func errKind(err error) string {
	if errors.Is(err, script.ErrTimeout) {
		return "script_timeout"
	}
	return "flow"
}

// queuedJob is a job as the store keeps it: the request, and its place in
// a chain of requests (a result whose flow asks for another request).
type queuedJob struct {
	Job   engine.Job `json:"job"`
	Chain int        `json:"chain"`
}

// MaxChainedJobs bounds the HTTP requests a flow makes one after the other
// without the user speaking (a flow looping over HTTP steps): the next one
// is not made and the flow sees an error result.
const MaxChainedJobs = 4

// finish renders the actions as text for the channel and encodes the
// session, remembering whether the last choice was numbered.
func finish(actions []engine.Action, s engine.Session, channel string) (channels.Rendered, []byte, error) {
	rendered := channels.RenderText(actions, channel)
	if rendered.Numbered && s.Pending != nil {
		s.Pending.Numbered = true
	}
	encoded, err := engine.EncodeContext(s)
	return rendered, encoded, err
}

// botVars are the bot's attributes as the flow sees them: bot.<name>, plus
// bot.id and bot.name (an attribute of the same name wins).
func botVars(b store.Bot) map[string]string {
	vars := make(map[string]string, len(b.Attributes)+3)
	vars["id"], vars["name"] = b.ID, b.Name
	if b.Freeform != "" {
		vars["freeform"] = b.Freeform
	}
	for _, a := range b.Attributes {
		vars[a.Name] = a.Value
	}
	return vars
}

// userEvent is the engine event of a user's message: a click when the text
// is a number or label of the pending choice is the engine's business
// (Pending.Read); here it is a message, or media with a URL.
func userEvent(text, mediaURL string) engine.Event {
	if mediaURL != "" && strings.TrimSpace(text) == "" {
		return engine.Event{Name: engine.EvMedia, MediaURL: mediaURL}
	}
	return engine.Event{Name: engine.EvMessage, Text: text, MediaURL: mediaURL}
}
