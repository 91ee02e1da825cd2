package userlike

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/turn"
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
	// Chain is the job's place in its chain of jobs made without the
	// contact speaking (QueuedJob.Chain): the result's turn counts on.
	Chain int
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
	// Timer, for a flow with `on_silence` rules whose turn sent events, is
	// the conversation's follow-up to arm with the push, replacing any;
	// when it is nil, CancelTimer says whether to cancel the armed one.
	// Both unset: leave the conversation's follow-up as it is.
	Timer       *FollowUp
	CancelTimer bool
	// Supersede, for a follow-up (FireFollowUp), is the number of the async job
	// the conversation waited for and no longer does: its result must not
	// be pushed (see Queue.Supersede). 0: none.
	Supersede int
}

// Resume continues a conversation with the result of its async job: it
// steps the flow from the stored context with an engine.EvHTTPResult, runs
// any synchronous HTTP jobs the flow chains (bounded as in a webhook turn),
// renders for the stored channel and encodes the new context, exactly as a
// webhook turn would — with the Handler's ContextKeys, bound to c.CID: a
// stored context that does not verify restarts the conversation. For a
// flow with `on_silence` rules, the result says which follow-up to arm
// (Timer, CancelTimer). It fails only for a bot it does not serve.
func (h *Handler) Resume(ctx context.Context, c Continuation, result engine.HTTPResult) (Resumed, error) {
	start := h.now()
	ev := engine.Event{Name: engine.EvHTTPResult, HTTP: &result, Channel: c.Channel, Contact: c.Contact, Now: start}
	return h.continueTurn(ctx, c, ev, start, time.Time{}, "resumed", slog.Int64("job", c.JobID), slog.Int("status", result.Status))
}

// continueTurn is a turn the Handler makes on its own (an async job's
// result, a follow-up): ev stepped from c's stored context at start,
// completed, rendered and sealed as a webhook turn is; silenceBase is, for
// a follow-up, the activity its rules count from. msg and attrs are for
// its log record.
func (h *Handler) continueTurn(ctx context.Context, c Continuation, ev engine.Event, start, silenceBase time.Time, msg string, attrs ...slog.Attr) (Resumed, error) {
	dep := h.bots.Get(c.Bot)
	if dep == nil {
		return Resumed{}, fmt.Errorf("no bot named %q is served (was its flow removed?)", c.Bot)
	}
	req := h.request(dep, c.CID, ev, c.Context)
	req.Chain = c.Chain
	if ev.Name != engine.EvHTTPResult {
		req.Chain = 0 // a follow-up starts a chain, like a contact's message
	}
	o, _ := turn.Run(ctx, req)
	if o.Dropped {
		// A follow-up never restarts a silent conversation: the context it
		// was set for no longer verifies (a retired key), or its state is
		// gone from the flow. Drop it.
		attrs := []slog.Attr{slog.String("bot", c.Bot), slog.String("cid", c.CID), slog.String("from", o.From.State)}
		if o.ContextErr != nil {
			attrs = append(attrs, slog.String("error", o.ContextErr.Error()))
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "follow-up not fired: its conversation cannot continue from the stored context", attrs...)
		return Resumed{Events: []byte("[]"), Ignored: true, From: o.From.State, To: o.From.State}, nil
	}
	res := &o.Result
	out := Resumed{Context: o.Context, Ignored: res.Ignored, From: o.From.State, To: res.Session.State, Packets: len(o.Rendered.Packets), Supersede: o.Supersede}
	out.Events = appendEvents(nil, c.CID, o.Context, o.Rendered.Packets)
	if res.Job != nil {
		out.Next = &QueuedJob{Bot: c.Bot, FlowVersion: o.Bot.Flow().ShortHash(), CID: c.CID, Channel: c.Channel,
			Context: o.Context, Contact: c.Contact, Job: res.Job, Chain: o.Chain}
	}
	if !res.Ignored && out.Packets > 0 && h.followUps(dep) {
		out.Timer = followUpOf(res.Timer, o.Bot, c.Bot, c.CID, c.Channel, contactFor(dep, c.Contact), o.Context, start.Add(o.Delays()), silenceBase)
		out.CancelTimer = out.Timer == nil
	}
	h.logJobs(ctx, c.Bot, c.CID, &o)
	recovery := h.count(ctx, c.Bot, c.CID, &o, attrs...)
	h.logProblems(ctx, c.Bot, c.CID, &o, attrs...)
	if h.log.Enabled(ctx, slog.LevelInfo) {
		la := append([]slog.Attr{slog.String("bot", c.Bot), slog.String("cid", c.CID)}, attrs...)
		la = append(la, slog.String("channel", c.Channel), slog.String("from", out.From), slog.String("to", out.To),
			slog.Int("events", out.Packets), slog.Duration("duration", h.now().Sub(start)))
		if recovery != "" {
			la = append(la, slog.String("recovery", recovery))
		}
		if res.Ignored {
			la = append(la, slog.Bool("ignored", true))
		}
		if out.Timer != nil {
			la = append(la, slog.Time("next_follow_up", out.Timer.Due))
		}
		if h.logBodies {
			la = append(la, slog.String("answer", string(out.Events)))
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, msg, la...)
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
