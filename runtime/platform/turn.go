package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/turn"
)

// errFlowGone: the bot's flow is no longer loaded (it was removed from the
// flows folder). The conversation is kept; the turn is refused.
var errFlowGone = turn.ErrFlowGone

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

// step runs ev through the conversation's flow (runtime/turn: the same
// turn as Userlike mode's, rendered as text, every job left to queue) and
// turns the outcome into a TurnOutput: the new context, the bot's messages
// for the conversation's channel, segmented and scheduled by the
// conversation's timing (a flow's `delay` steps included), contact updates,
// the status, at most one background job, and the follow-up timer,
// counted from when the last of the replies is sent. It does no I/O.
func (a *API) step(ctx context.Context, bot store.Bot, c store.Conversation, ev engine.Event, opts turnOpts) (stepped, error) {
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
	ev.Channel = c.Channel
	ev.Contact = c.Contact
	ev.Bot = botVars(bot)
	start := a.clock.Now()
	o, err := turn.Run(ctx, turn.Request{Deployment: dep, Session: &session, Binding: c.ID, Event: ev, Text: true, Chain: opts.chain,
		Observe: a.turns})
	if err != nil {
		return stepped{}, err
	}
	res := o.Result
	flow := o.Bot.Flow().Name
	defer func() { a.obs.Turn(flow, res.Session.State, a.clock.Now().Sub(start)) }()
	for _, k := range o.Kinds() {
		a.obs.Error(flow, k)
	}
	if o.TooBig {
		a.log.Error("the new context is too big; restarting the conversation", "conversation", c.ID, "state", res.Session.State)
	}
	st := stepped{res: res, state: res.Session.State}
	st.out.Context = o.Context
	now := ev.Now
	var pause time.Duration
	var pauses map[string]time.Duration // a `delay` step's pause, before the message that follows it
	add := func(m store.Message) {
		if pause > 0 {
			if pauses == nil {
				pauses = map[string]time.Duration{}
			}
			pauses[m.ID] = pause
			pause = 0
		}
		st.out.BotMessages = append(st.out.BotMessages, m)
	}
	for _, p := range o.Rendered.Packets {
		switch p.Name {
		case channels.PacketMessage:
			m := p.Payload.(channels.MessagePayload)
			add(store.Message{ID: a.newID(), Text: storableText(m.Body), CreatedAt: now})
		case channels.PacketMedia:
			m := p.Payload.(channels.MediaPayload)
			add(store.Message{ID: a.newID(), Text: storableText(m.Caption), MediaURL: storableText(m.Link), CreatedAt: now})
		case channels.PacketDelay:
			if d, ok := p.Payload.(channels.DelayPayload); ok && d.Seconds > 0 {
				pause += time.Duration(d.Seconds * float64(time.Second))
			}
		}
	}
	if speaksDialect(c.WebhookFormat) {
		markDialect(st.out.BotMessages, dialectReplies(o.Rendered.Packets, res.Actions, asks(o.Bot.Flow(), res)))
	}
	st.out.Contact, st.out.Status = effects(res.Actions)
	if res.Session.Done && st.out.Status == "" {
		st.out.Status = StatusEnded
	}
	pace := timing(bot, c, o.Bot.Flow(), res.Session.State)
	st.out.BotMessages = segment(st.out.BotMessages, pace.Segment, a.newID)
	first := now
	if opts.delayed {
		first = now.Add(pace.ResponseDelay)
	}
	schedule(st.out.BotMessages, first, pace, pauses)
	// Silence counts from when the contact got the last reply.
	activity := now
	if n := len(st.out.BotMessages); n > 0 {
		activity = st.out.BotMessages[n-1].CreatedAt
	}
	if err := followUp(&st.out, c, res.Timer, activity, opts.silenceBase, pace); err != nil {
		return stepped{}, err
	}
	if res.Job != nil {
		spec, err := json.Marshal(queuedJob{Job: *res.Job, Chain: o.Chain})
		if err != nil {
			return stepped{}, err
		}
		st.out.Jobs = []store.NewJob{{Spec: spec, DueAt: now}}
	}
	return st, nil
}

// effects are the contact updates and the status a turn's platform
// actions ask for, read from the actions themselves: a contact_update's
// field is stored as its text, or, for an object or list (custom_fields),
// as JSON.
func effects(actions []engine.Action) (contact map[string]string, status string) {
	for _, act := range actions {
		if act.Kind != engine.ActPlatform {
			continue
		}
		switch act.Name {
		case "contact_update":
			for k, v := range act.Payload {
				if contact == nil {
					contact = map[string]string{}
				}
				contact[storableText(k)] = storableText(contactValue(v))
			}
		case "forward_any", "forward_group", "forward_skills":
			status = StatusForwarded
		case "end":
			status = StatusEnded
		}
	}
	return contact, status
}

// contactValue is a contact_update field as stored: a text as it is,
// anything else (an object, a list, a number) as JSON.
func contactValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(sb.String(), "\n")
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

// queuedJob is a job as the store keeps it: the request, and its place in
// a chain of requests (a result whose flow asks for another request).
type queuedJob struct {
	Job   engine.Job `json:"job"`
	Chain int        `json:"chain"`
}

// MaxChainedJobs bounds the HTTP requests a flow makes one after the other
// without the user speaking (a flow looping over HTTP steps): the next one
// is not made and the flow sees an error result. It is turn.MaxChainedJobs,
// as in Userlike mode.
const MaxChainedJobs = turn.MaxChainedJobs

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
func (a *API) pace(bot store.Bot, c store.Conversation) (engine.Session, turn.Pace) {
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
