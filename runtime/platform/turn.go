package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/engine/script"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/store"
)

// errFlowGone: the bot's flow is no longer loaded (it was removed from the
// flows folder). The conversation is kept; the turn is refused.
var errFlowGone = errors.New("flow not loaded")

// stepped is what one engine step produced, ready to store.
type stepped struct {
	out        store.TurnOutput
	res        engine.Result
	state      string // the session's state after the turn
	aggregated bool   // the user's message waits for the reply timer
}

// turnOpts say what kind of turn a step is.
type turnOpts struct {
	// chain is how many jobs led to this turn since the user last spoke
	// (0 for a user's message).
	chain int
	// delayed: the replies wait the response delay (a user's message
	// answered at once; an aggregated one has waited already).
	delayed bool
	// silenceBase is, for a follow-up, the activity its rules count from.
	silenceBase time.Time
	// session, when set, is c.Context already decoded (answer reads it
	// first, for the state's timing).
	session *engine.Session
}

// deployment returns the flow a bot runs: the loaded flow it names, or
// the built-in persona flow for a bot without one.
func (a *API) deployment(bot store.Bot) *engine.Deployment {
	if bot.Flow == "" {
		return personaDeployment()
	}
	return a.bots.Get(bot.Flow)
}

// step runs ev through the conversation's flow and turns the result into a
// TurnOutput: the new context, the bot's messages rendered as text for the
// conversation's channel, segmented and scheduled by the conversation's
// timing, contact updates, the status, at most one background job, and
// the follow-up timer. It does no I/O.
func (a *API) step(ctx context.Context, bot store.Bot, c store.Conversation, ev engine.Event, opts turnOpts) (stepped, error) {
	chain := opts.chain
	dep := a.deployment(bot)
	if dep == nil {
		return stepped{}, fmt.Errorf("%w: bot %s runs flow %q", errFlowGone, bot.ID, bot.Flow)
	}
	var session engine.Session
	if opts.session != nil {
		session = *opts.session
	} else {
		session, _ = engine.DecodeContext(c.Context) // garbage cannot get here, but restarts politely if it did
	}
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
	pace := timing(bot, c, eng.Flow(), res.Session.State)
	st.out.BotMessages = segment(st.out.BotMessages, pace.Segment, a.newID)
	first := now
	if opts.delayed {
		first = now.Add(pace.ResponseDelay)
	}
	schedule(st.out.BotMessages, first, pace)
	if err := followUp(&st.out, c, res.Timer, now, opts.silenceBase, pace); err != nil {
		return stepped{}, err
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
// bot.id, bot.name, bot.freeform and bot.persona (freeform and attributes
// as one text, for prompts); an attribute of the same name wins.
func botVars(b store.Bot) map[string]string {
	vars := make(map[string]string, len(b.Attributes)+3)
	vars["id"], vars["name"] = b.ID, b.Name
	if b.Freeform != "" {
		vars["freeform"] = b.Freeform
	}
	if p := personaText(b); p != "" {
		vars["persona"] = p
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

// answer computes the turn of a user's message (the body of its TurnFunc).
// With aggregation on and a response delay, a text message is stored and
// the reply timer moved; the turn runs when the delay ends (runTimer).
// Otherwise — no aggregation, a media message, or a choice waiting for
// its answer (a "2" must stay a click) — the flow steps at once, with the
// texts still waiting for the reply timer first, and its replies wait the
// response delay. Either way the message is activity: the follow-up timer is
// cancelled or re-armed, and with interruption on, the bot's messages not
// yet sent are cancelled.
func (a *API) answer(ctx context.Context, bot store.Bot, c store.Conversation, ev engine.Event, user store.Message) (stepped, error) {
	session, pace := a.pace(bot, c)
	var cancel []string
	if pace.Interrupt && len(c.Unsent) > 0 {
		// The flow goes on from what the user saw: an llm step's
		// transcript forgets the cancelled part of the model's reply.
		texts := make([]string, len(c.Unsent))
		for i, m := range c.Unsent {
			texts[i], cancel = m.Text, append(cancel, m.ID)
		}
		if unsaid, ok := engine.Unsay(session, texts); ok {
			if encoded, err := engine.EncodeContext(unsaid); err == nil {
				c.Context, session = encoded, unsaid
			}
		}
	}
	var st stepped
	if pace.Aggregate && pace.ResponseDelay > 0 && len(c.Context) > 0 && ev.Name == engine.EvMessage && ev.MediaURL == "" && session.Pending == nil {
		st = stepped{state: session.State, aggregated: true}
		st.out = store.TurnOutput{Context: c.Context}
		cancelTimer(&st.out, c, timerSilence)
		if err := aggregate(&st.out, c, ev.Text, ev.Now, pace.ResponseDelay); err != nil {
			return stepped{}, err
		}
	} else {
		waiting, flush := timerOf(c, timerReply)
		if flush {
			ev = withWaiting(ev, waiting)
		}
		var err error
		if st, err = a.step(ctx, bot, c, ev, turnOpts{delayed: true, session: &session}); err != nil {
			return stepped{}, err
		}
		if flush {
			st.out.CancelTimers = append(st.out.CancelTimers, timerReply)
		}
	}
	st.out.UserMessage = &user
	st.out.Cancel = cancel
	return st, nil
}

// pace reads the conversation's session and its timing in the state it is in.
func (a *API) pace(bot store.Bot, c store.Conversation) (engine.Session, flows.Pace) {
	var flow *flows.Flow
	session, _ := engine.DecodeContext(c.Context)
	if dep := a.deployment(bot); dep != nil {
		flow = dep.For(session).Flow()
	}
	return session, timing(bot, c, flow, session.State)
}

// userTurn is the TurnRequest of a user's message: with interruption on in
// the conversation's state (as last read; the turn reads it again under
// the lock), the bot messages not yet sent are loaded to be cancelled.
func (a *API) userTurn(bot store.Bot, c store.Conversation, key string, now time.Time) store.TurnRequest {
	req := store.TurnRequest{ConversationID: c.ID, IdempotencyKey: key, Now: now}
	if _, pace := a.pace(bot, c); pace.Interrupt {
		req.Unsent = a.clock.Now
	}
	return req
}
