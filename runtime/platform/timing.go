package platform

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/turn"
)

// Timer names: one of each at most per conversation.
const (
	// timerReply answers the user's messages aggregated during the
	// response delay, as one turn.
	timerReply = "reply"
	// timerSilence is the follow-up of the state the conversation waits
	// in (its next `on_silence` rule).
	timerSilence = "silence"
)

// replySpec is what a reply timer keeps: the messages to answer.
type replySpec struct {
	Texts []string  `json:"texts"`
	First time.Time `json:"first"` // when the first of them arrived
}

// silenceSpec is what a follow-up timer keeps: the rule, the activity it
// counts from, and a hash of the context it was set for. A conversation
// whose context changed since has moved on, and the timer is dropped.
type silenceSpec struct {
	State   string    `json:"state"`
	Rule    int       `json:"rule"`
	Base    time.Time `json:"base"`
	Due     time.Time `json:"due"` // when the rule was due, before quiet hours moved it
	Context string    `json:"context"`
}

// base is the activity the next rule counts from when this one fires at
// now: the rule's own base, moved by how late it fired (quiet hours, or
// no process running), so that the rules keep their distances.
func (s silenceSpec) base(now time.Time) time.Time { return turn.NextBase(s.Base, s.Due, now) }

// timing is the conversation's timing in state: the bot's settings, under
// the conversation's, under the state's. The built-in persona flow's
// settings are defaults instead: a persona bot's own settings, and its
// conversations', override them. Stored settings that no longer read are
// ignored (they were checked when stored).
func timing(bot store.Bot, c store.Conversation, flow *flows.Flow, state string) turn.Pace {
	var stateTiming *flows.Timing
	if flow != nil {
		if st := flow.States[state]; st != nil {
			stateTiming = st.Timing
		}
	}
	var t flows.Timing
	if bot.Flow == "" {
		t = t.Over(stateTiming)
	}
	for _, raw := range []json.RawMessage{bot.Timing, c.Timing} {
		if len(raw) == 0 {
			continue
		}
		var over flows.Timing
		if json.Unmarshal(raw, &over) == nil {
			t = t.Over(&over)
		}
	}
	if bot.Flow != "" {
		t = t.Over(stateTiming)
	}
	return turn.PaceOf(t)
}

// paragraphBreak is a blank line, where segmentation cuts first.
var paragraphBreak = regexp.MustCompile(`\n[ \t]*\n\s*`)

// segment splits the text of each message longer than max characters, or
// holding several paragraphs, into several messages: one per paragraph,
// each cut further at sentence or word boundaries to fit max. A media
// message keeps its caption whole.
func segment(msgs []store.Message, max int, newID func() string) []store.Message {
	if max <= 0 {
		return msgs
	}
	var out []store.Message
	for _, m := range msgs {
		if m.MediaURL != "" || (utf8.RuneCountInString(m.Text) <= max && !paragraphBreak.MatchString(m.Text)) {
			out = append(out, m)
			continue
		}
		first := true
		for _, para := range paragraphBreak.Split(strings.TrimSpace(m.Text), -1) {
			for _, chunk := range channels.SplitBody(para, max) {
				part := m
				part.Text = chunk
				if !first {
					part.ID = newID()
				}
				first = false
				out = append(out, part)
			}
		}
	}
	return out
}

// schedule gives the messages their send times: the first at start, each
// further one after its typing time; a message after a flow's `delay` step
// also waits its pause (pauses, by message id).
func schedule(msgs []store.Message, start time.Time, p turn.Pace, pauses map[string]time.Duration) {
	at := start
	for i := range msgs {
		if i > 0 {
			at = at.Add(p.Typing(utf8.RuneCountInString(msgs[i].Text)))
		}
		at = at.Add(pauses[msgs[i].ID])
		msgs[i].CreatedAt = at
	}
}

// followUp arms, replaces or cancels the conversation's follow-up timer
// after a turn, as the engine's Timer says, planned by turn.PlanFollowUp
// from activity (when the turn's last reply is sent).
func followUp(out *store.TurnOutput, c store.Conversation, t *engine.Timer, activity, silenceBase time.Time, p turn.Pace) error {
	f := turn.PlanFollowUp(t, activity, silenceBase, p)
	if f == nil {
		cancelTimer(out, c, timerSilence)
		return nil
	}
	spec, err := json.Marshal(silenceSpec{State: f.State, Rule: f.Rule, Base: f.Base, Due: f.Planned, Context: turn.ContextHash(out.Context)})
	if err != nil {
		return err
	}
	out.SetTimers = append(out.SetTimers, store.Timer{Name: timerSilence, DueAt: f.Due, Spec: spec})
	return nil
}

// cancelTimer cancels the conversation's timer of the name, if one is armed.
func cancelTimer(out *store.TurnOutput, c store.Conversation, name string) {
	if _, armed := timerOf(c, name); armed {
		out.CancelTimers = append(out.CancelTimers, name)
	}
}

// timerOf returns the conversation's armed timer of the name.
func timerOf(c store.Conversation, name string) (store.Timer, bool) {
	for _, t := range c.Timers {
		if t.Name == name {
			return t, true
		}
	}
	return store.Timer{}, false
}

// withWaiting puts the texts waiting for a reply timer before the event's
// own: they are answered now, in the same turn.
func withWaiting(ev engine.Event, t store.Timer) engine.Event {
	var spec replySpec
	if json.Unmarshal(t.Spec, &spec) != nil || len(spec.Texts) == 0 {
		return ev
	}
	texts := spec.Texts
	if strings.TrimSpace(ev.Text) != "" {
		texts = append(texts, ev.Text)
	}
	ev.Text = strings.Join(texts, "\n")
	if ev.Name == engine.EvMedia {
		ev.Name = engine.EvMessage // a text with a media URL, as userEvent makes it
	}
	return ev
}

// aggregate adds a user's message to the reply timer that answers the
// messages of the response delay together, and moves the timer to the end
// of the delay (at most 3 delays after the first message, so that a user
// who keeps writing is answered).
func aggregate(out *store.TurnOutput, c store.Conversation, text string, now time.Time, delay time.Duration) error {
	spec := replySpec{First: now}
	if t, ok := timerOf(c, timerReply); ok {
		var old replySpec
		if json.Unmarshal(t.Spec, &old) == nil && !old.First.IsZero() {
			spec = old
		}
	}
	if strings.TrimSpace(text) != "" {
		spec.Texts = append(spec.Texts, text)
	}
	due := now.Add(delay)
	if limit := spec.First.Add(3 * delay); due.After(limit) {
		due = limit
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	out.SetTimers = append(out.SetTimers, store.Timer{Name: timerReply, DueAt: due, Spec: raw})
	return nil
}

// timingJSON checks timing settings from a request and returns them as
// stored (nil when none were given).
func timingJSON(t *flows.Timing) (json.RawMessage, error) {
	if t == nil {
		return nil, nil
	}
	if field, err := t.Check(); err != nil {
		return nil, invalid("timing."+field, "%v", err)
	}
	return json.Marshal(t)
}
