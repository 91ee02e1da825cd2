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

// dialectReplies returns, for each bot message a turn's actions make (one
// per message or media packet of channels.RenderText, in order), what a
// dialect shows of it: a media message's type, a choice shown as one
// numbered message its options. The last message is the turn's question
// when the flow waits for the user's answer (an ask or a choice).
func dialectReplies(actions []engine.Action, channel string, question bool) []dialect.Reply {
	var out []dialect.Reply
	for i := range actions {
		a := &actions[i]
		r := channels.RenderText(actions[i:i+1], channel)
		n := 0
		for _, p := range r.Packets {
			if p.Name == channels.PacketMessage || p.Name == channels.PacketMedia {
				n++
			}
		}
		if n == 0 {
			continue
		}
		var rep dialect.Reply
		switch {
		case a.Kind == engine.ActMedia && a.Media != nil && n == 1 && r.Packets[0].Name == channels.PacketMedia:
			rep.MediaURL, rep.MediaType = storableText(a.Media.URL), a.Media.Type
			if rep.MediaType == "" {
				rep.MediaType = dialect.MediaTypeOf(a.Media.URL)
			}
		case a.Kind == engine.ActChoice && a.Choice != nil && n == 1 && len(a.Choice.Options) > 0:
			c := &dialect.Choice{Text: storableText(a.Choice.Body), Form: a.Choice.Form}
			for _, o := range a.Choice.Options {
				c.Options = append(c.Options, dialect.Option{ID: storableText(o.ID), Label: storableText(o.Label),
					Description: storableText(o.Description), Image: storableText(o.Image)})
			}
			rep.Choice = c
		}
		for range n - 1 {
			out = append(out, dialect.Reply{})
		}
		out = append(out, rep)
	}
	if question && len(out) > 0 {
		out[len(out)-1].Question = true
	}
	return out
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
			msgs[i].MediaURL = replies[i].Encode()
		}
	}
}
