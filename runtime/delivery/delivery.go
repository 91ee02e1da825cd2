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
	if d.MediaURL != "" {
		b.Message.AttachedMedia = &bodyMedia{URL: d.MediaURL}
	}
	return encode(b)
}

// gptbots is the body of a GPTBots-style reply (seed 002): the message as
// an ANSWER, its text also as the flow output of one component.
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

func gptbotsBody(d store.Delivery) gptbots {
	text := d.Text
	if d.MediaURL != "" {
		text = strings.TrimSpace(text + "\n" + d.MediaURL) // GPTBots replies carry text only
	}
	return gptbots{MessageID: d.MessageID, MessageType: "ANSWER", Text: text,
		FlowOutput: []gptbotsOutput{{Content: text, Branch: "1", FromComponentName: "flowbot"}},
		CreateTime: d.CreatedAt.Unix(), ConversationID: d.ConversationID}
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

func botpressBody(d store.Delivery) botpress {
	b := botpress{Type: "text", Payload: map[string]any{"text": d.Text},
		ConversationID: strings.TrimPrefix(d.UserID, store.BotpressUserPrefix), BotpressUserID: d.UserID,
		BotpressMessageID: d.MessageID, BotpressConversationID: d.ConversationID}
	if d.MediaURL != "" {
		b.Type, b.Payload = "image", map[string]any{"imageUrl": d.MediaURL, "title": d.Text}
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
