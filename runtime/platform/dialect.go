package platform

// What a dialect conversation's bot messages carry beyond text (see
// runtime/dialect): the media type, a choice's options, the question.

import (
	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/dialect"
	"github.com/flowbot/flowbot/runtime/store"
)

// speaksDialect reports whether a conversation's deliveries use a format
// whose replies show more than text (Botpress, GPTBots).
func speaksDialect(format string) bool {
	return format == store.FormatBotpress || format == store.FormatGPTBots
}

// dialectReplies returns, for each bot message of a turn (one per message
// or media packet, in order), what a dialect shows of it: a media
// message's type, a choice shown as one numbered message its options. The
// last message is the turn's question when the flow waits for the user's
// answer (an ask or a choice).
func dialectReplies(packets []channels.Packet, actions []engine.Action, question bool) []dialect.Reply {
	perAction := map[int]int{} // message packets per action
	for _, p := range packets {
		if p.Name == channels.PacketMessage || p.Name == channels.PacketMedia {
			perAction[p.Action]++
		}
	}
	var out []dialect.Reply
	for _, p := range packets {
		var rep dialect.Reply
		switch p.Name {
		case channels.PacketMedia:
			if m, ok := p.Payload.(channels.MediaPayload); ok {
				rep.MediaURL, rep.MediaType = storableText(m.Link), m.Type
			}
		case channels.PacketMessage:
			if p.Action < len(actions) && perAction[p.Action] == 1 {
				if a := &actions[p.Action]; a.Kind == engine.ActChoice && a.Choice != nil && len(a.Choice.Options) > 0 {
					rep.Choice = choiceOf(a.Choice)
				}
			}
		default:
			continue
		}
		out = append(out, rep)
	}
	if question && len(out) > 0 {
		out[len(out)-1].Question = true
	}
	return out
}

// choiceOf is a choice as a dialect reply keeps it.
func choiceOf(ch *engine.Choice) *dialect.Choice {
	c := &dialect.Choice{Text: storableText(ch.Body), Form: ch.Form}
	for _, o := range ch.Options {
		c.Options = append(c.Options, dialect.Option{ID: storableText(o.ID), Label: storableText(o.Label),
			Description: storableText(o.Description), Image: storableText(o.Image)})
	}
	return c
}

// asks reports whether a turn ended waiting for the user's answer to a
// question: a choice is pending, or the state asks for a value.
func asks(flow *flows.Flow, res engine.Result) bool {
	if res.Session.Done || res.Job != nil {
		return false
	}
	if res.Session.Pending != nil {
		return true
	}
	st := flow.States[res.Session.State]
	return st != nil && st.Ask != nil
}

// markDialect stores the dialect replies of a turn's bot messages (made
// from the packets of the same actions, one per message) in their media
// URL column.
func markDialect(msgs []store.Message, replies []dialect.Reply) {
	if len(msgs) != len(replies) {
		return // cannot happen: both count the same packets
	}
	for i := range msgs {
		if replies[i].Rich() {
			msgs[i].MediaURL = replies[i].Stored()
		}
	}
}
