// Package delivery sends the bot messages of platform-mode conversations
// (flowbot serve's Chat API) to each conversation's webhook.
//
// Every bot message of a conversation with a webhook waits in the store's
// delivery queue (runtime/store) until its webhook answers 2xx. A Worker
// claims the due deliveries with a lease, POSTs each one (Sender) with the
// JSON of Body, signed the Standard Webhooks way (Signer,
// https://www.standardwebhooks.com), and records every attempt. A failed
// attempt is due again after the wait of a Schedule (or the Retry-After of
// the answer), forever: the Chat API promises to keep trying until the
// webhook accepts the message.
//
// Deliveries of one conversation go out one at a time, in the order the bot
// produced them: the store hands out only a conversation's oldest
// undelivered message, and the Worker claims the next one as soon as the
// previous one is recorded as delivered. Delivery is at least once: a
// receiver deduplicates with the webhook-id header, which is the message id
// on every attempt.
//
// Every wait reads an injected clock (runtime/clock), so that tests move
// time by hand.
package delivery

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/flowbot/flowbot/runtime/dialect"
	"github.com/flowbot/flowbot/runtime/store"
)

// body is the JSON document POSTed for one message.
type body struct {
	ConversationID string      `json:"conversation_id"`
	Message        bodyMessage `json:"message"`
}

type bodyMessage struct {
	ID            string     `json:"id"`
	Text          string     `json:"text"`
	FromBot       bool       `json:"from_bot"`
	SentAt        int64      `json:"sent_at"`
	AttachedMedia *bodyMedia `json:"attached_media"`
}

type bodyMedia struct {
	URL string `json:"url"`
}

// Body returns the JSON document POSTed to the webhook for a delivery:
//
//	{"conversation_id": "…", "message": {"id": "…", "text": "…",
//	 "from_bot": true, "sent_at": 1767225600, "attached_media": {"url": "…"}}}
//
// sent_at is d.CreatedAt in Unix seconds (when the bot produced the
// message); attached_media is null when the message has no media. The
// bytes depend only on d's message, so every attempt of a delivery sends
// (and signs) the same body.
func Body(d store.Delivery) []byte {
	switch d.Format {
	case store.FormatGPTBots:
		return encode(gptbotsBody(d))
	case store.FormatBotpress:
		return encode(botpressBody(d))
	}
	b := body{
		ConversationID: d.ConversationID,
		Message: bodyMessage{
			ID:      d.MessageID,
			Text:    d.Text,
			FromBot: true,
			SentAt:  d.CreatedAt.Unix(),
		},
	}
	if url := dialect.Media(d.MediaURL); url != "" {
		b.Message.AttachedMedia = &bodyMedia{URL: url}
	}
	return encode(b)
}

// gptbots is the body of a GPTBots-style reply (seed 002): the message as
// an ANSWER, or a QUESTION when the user's next message answers it (an
// ask's prompt, a choice); its text as the flow output of one component,
// followed for a choice by one output per option, whose branch is the
// option's id.
type gptbots struct {
	MessageID      string          `json:"message_id"`
	MessageType    string          `json:"message_type"`
	Text           string          `json:"text"`
	FlowOutput     []gptbotsOutput `json:"flow_output"`
	CreateTime     int64           `json:"create_time"`
	ConversationID string          `json:"conversation_id"`
}

type gptbotsOutput struct {
	Content           string `json:"content"`
	Branch            string `json:"branch"`
	FromComponentName string `json:"from_component_name"`
}

// The GPTBots message types.
const (
	gptbotsAnswer   = "ANSWER"
	gptbotsQuestion = "QUESTION"
)

// gptbotsComponent names flowbot as the component of every flow output;
// gptbotsOptionComponent the options of a choice.
const (
	gptbotsComponent       = "flowbot"
	gptbotsOptionComponent = "flowbot.option"
)

func gptbotsBody(d store.Delivery) gptbots {
	rep := dialect.Decode(d.MediaURL)
	text := d.Text
	if rep.MediaURL != "" {
		text = strings.TrimSpace(text + "\n" + rep.MediaURL) // GPTBots replies carry text only
	}
	b := gptbots{MessageID: d.MessageID, MessageType: gptbotsAnswer, Text: text,
		FlowOutput: []gptbotsOutput{{Content: text, Branch: "1", FromComponentName: gptbotsComponent}},
		CreateTime: d.CreatedAt.Unix(), ConversationID: d.ConversationID}
	if rep.Question {
		b.MessageType = gptbotsQuestion
	}
	if rep.Choice != nil {
		for _, o := range rep.Choice.Options {
			b.FlowOutput = append(b.FlowOutput, gptbotsOutput{Content: o.Label, Branch: o.ID, FromComponentName: gptbotsOptionComponent})
		}
	}
	return b
}

// botpress is the body of a reply to a Botpress-style conversation (seed
// 001): one bot message, addressed with the app's conversationId.
type botpress struct {
	Type                   string         `json:"type"`
	Payload                map[string]any `json:"payload"`
	ConversationID         string         `json:"conversationId"`
	BotpressUserID         string         `json:"botpressUserId"`
	BotpressMessageID      string         `json:"botpressMessageId"`
	BotpressConversationID string         `json:"botpressConversationId"`
}

// botpressMediaKeys are the payload keys of the Botpress media types.
var botpressMediaKeys = map[string]string{"image": "imageUrl", "video": "videoUrl", "audio": "audioUrl", "file": "fileUrl"}

func botpressBody(d store.Delivery) botpress {
	conv, user := dialect.BotpressUser(d.UserID)
	b := botpress{Type: "text", Payload: map[string]any{"text": d.Text},
		ConversationID: conv, BotpressUserID: user,
		BotpressMessageID: d.MessageID, BotpressConversationID: d.ConversationID}
	rep := dialect.Decode(d.MediaURL)
	switch {
	case rep.MediaURL != "":
		typ := rep.MediaType
		if botpressMediaKeys[typ] == "" {
			typ = dialect.MediaTypeOf(rep.MediaURL)
		}
		b.Type, b.Payload = typ, map[string]any{botpressMediaKeys[typ]: rep.MediaURL}
		if d.Text != "" {
			b.Payload["title"] = d.Text
		}
	case rep.Choice != nil && rep.Choice.Form == "carousel":
		items := make([]map[string]any, len(rep.Choice.Options))
		for i, o := range rep.Choice.Options {
			card := map[string]any{"title": o.Label,
				"actions": []map[string]string{{"action": "postback", "label": o.Label, "value": o.ID}}}
			if o.Description != "" {
				card["subtitle"] = o.Description
			}
			if o.Image != "" {
				card["imageUrl"] = o.Image
			}
			items[i] = card
		}
		if len(items) == 1 {
			b.Type, b.Payload = "card", items[0]
		} else {
			b.Type, b.Payload = "carousel", map[string]any{"items": items}
		}
	case rep.Choice != nil:
		opts := make([]map[string]string, len(rep.Choice.Options))
		for i, o := range rep.Choice.Options {
			opts[i] = map[string]string{"label": o.Label, "value": o.ID}
		}
		b.Type, b.Payload = "choice", map[string]any{"text": rep.Choice.Text, "options": opts}
	}
	return b
}

// encode writes v as compact JSON without HTML escaping.
func encode(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <, > and & readable in texts
	if err := enc.Encode(v); err != nil {
		// Strings, a bool and an int always encode.
		panic("delivery: cannot encode a body: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
