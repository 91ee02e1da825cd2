package userlike

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/flowbot/flowbot/engine"
)

// Continuation is a conversation waiting for the result of an async HTTP
// job, as the Queue stored it with the job.
type Continuation struct {
	Bot     string            // the flow's name
	CID     string            // the conversation
	Channel string            // the contact's channel, for rendering
	Context []byte            // the encoded context after the turn that made the job
	Contact map[string]string // the contact fields of that turn
	JobID   int64             // the job's id in the Queue, for logs
}

// Resumed is the turn an async job's result made: what to push to the
// bot's API URL.
type Resumed struct {
	// Events is a JSON array of triggerable events, each with the cid and
	// the new context — the same shape as a webhook answer. It is "[]" when
	// the turn said nothing.
	Events []byte
	// Packets is the number of events.
	Packets int
	// Context is the conversation's new context.
	Context []byte
	// Next is a further async job the turn asked for, with Context; nil
	// if none.
	Next *QueuedJob
	// Ignored: the conversation no longer waited for this result (its
	// context had moved on); nothing is to be pushed.
	Ignored bool
	// From and To are the conversation's states before and after.
	From, To string
}

// Resume continues a conversation with the result of its async job: it
// steps the flow from the stored context with an engine.EvHTTPResult, runs
// any synchronous HTTP jobs the flow chains (bounded as in a webhook turn),
// renders for the stored channel and encodes the new context, exactly as a
// webhook turn would — with the Handler's ContextKeys, bound to c.CID: a
// stored context that does not verify restarts the conversation. It fails
// only for a bot it does not serve.
func (h *Handler) Resume(ctx context.Context, c Continuation, result engine.HTTPResult) (Resumed, error) {
	dep := h.bots.Get(c.Bot)
	if dep == nil {
		return Resumed{}, fmt.Errorf("no bot named %q is served (was its flow removed?)", c.Bot)
	}
	start := h.now()
	session, cerr := h.keys.Decode(c.Context, c.CID)
	bot := dep.For(session)
	ev := engine.Event{Name: engine.EvHTTPResult, HTTP: &result, Channel: c.Channel, Contact: c.Contact, Now: start, ContextKeys: h.keys}
	o := h.complete(ctx, bot, c.Bot, c.CID, &ev, bot.StepContext(ctx, session, ev), false)
	res := o.res
	out := Resumed{Context: o.ctx, Ignored: res.Ignored, From: session.State, To: res.Session.State, Packets: len(o.rendered.Packets)}
	out.Events = appendEvents(nil, c.CID, o.ctx, o.rendered.Packets)
	if res.Job != nil {
		out.Next = &QueuedJob{Bot: c.Bot, FlowVersion: bot.Flow().ShortHash(), CID: c.CID, Channel: c.Channel,
			Context: o.ctx, Contact: c.Contact, Job: res.Job}
	}
	recovery := string(res.Recovery)
	if cerr != nil {
		recovery = RecoveryForeign
		h.refused(ctx, c.Bot, c.CID, cerr, slog.Int64("job", c.JobID))
	}
	if recovery != "" {
		h.obs.Recovery(c.Bot, recovery)
	}
	for _, e := range res.Errors {
		h.obs.Error(c.Bot, ErrKindFlow)
		h.log.LogAttrs(ctx, slog.LevelWarn, "the flow took an error path",
			slog.String("bot", c.Bot), slog.String("cid", c.CID), slog.Int64("job", c.JobID), slog.String("state", out.To), slog.String("error", e.Error()))
	}
	if out.Packets == 0 && !res.Ignored && (out.To != out.From || res.Session.Done != session.Done) {
		h.obs.Error(c.Bot, ErrKindContextLost)
		h.log.LogAttrs(ctx, slog.LevelWarn, "the result changed the state but made no event to carry the context",
			slog.String("bot", c.Bot), slog.String("cid", c.CID), slog.Int64("job", c.JobID), slog.String("from", out.From), slog.String("to", out.To))
	}
	if h.log.Enabled(ctx, slog.LevelInfo) {
		attrs := []slog.Attr{slog.String("bot", c.Bot), slog.String("cid", c.CID), slog.Int64("job", c.JobID),
			slog.String("channel", c.Channel), slog.String("from", out.From), slog.String("to", out.To),
			slog.Int("events", out.Packets), slog.Int("status", result.Status), slog.Duration("duration", h.now().Sub(start))}
		if recovery != "" {
			attrs = append(attrs, slog.String("recovery", recovery))
		}
		if res.Ignored {
			attrs = append(attrs, slog.Bool("ignored", true))
		}
		if h.logBodies {
			attrs = append(attrs, slog.String("answer", string(out.Events)))
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "resumed", attrs...)
	}
	return out, nil
}

// APITarget returns the API URL and token of bot's flow (api_url,
// api_token), where its self-initiated events go. It fails when the bot is
// not served or its flow has no API URL (an unset ${env…} included).
func (h *Handler) APITarget(bot string) (url, token string, err error) {
	dep := h.bots.Get(bot)
	if dep == nil {
		return "", "", fmt.Errorf("no bot named %q is served (was its flow removed?)", bot)
	}
	f := dep.Current().Flow()
	if f.APIURL.IsZero() {
		return "", "", fmt.Errorf("the flow %s has no api_url: its results cannot be pushed", bot)
	}
	if url, err = f.APIURL.Render(nil); err != nil {
		return "", "", fmt.Errorf("the flow %s: api_url: %w", bot, err)
	}
	if url == "" {
		return "", "", fmt.Errorf("the flow %s: api_url is empty: its results cannot be pushed", bot)
	}
	if token, err = f.APIToken.Render(nil); err != nil {
		return "", "", fmt.Errorf("the flow %s: api_token: %w", bot, err)
	}
	return url, token, nil
}
