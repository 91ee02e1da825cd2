package harness

import (
	"encoding/json"
	"strconv"
)

// WebhookBody appends a Userlike webhook call to b, as the platform sends
// it: cid, the context echoed from the last answer (ctx, raw JSON; "{}" on
// a new conversation), the contact's channel, a contact, and the packet.
func WebhookBody(b []byte, cid, channel string, ctx []byte, name, payload string) []byte {
	b = append(b, `{"info":{"approach_mode":"normal","cid":`...)
	b = strconv.AppendQuote(b, cid)
	b = append(b, `,"context":`...)
	if len(ctx) == 0 {
		ctx = []byte("{}")
	}
	b = append(b, ctx...)
	b = append(b, `,"conversation":{"contact_channel":{"state":"valid","type":`...)
	b = strconv.AppendQuote(b, channel)
	b = append(b, `}},"contact":{"name":"Load Tester","email":"load@example.com","mobile_number":"+4915112345678"}},"packet":{"name":`...)
	b = strconv.AppendQuote(b, name)
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	return append(b, "}}"...)
}

// Event is one event of a webhook answer or of a push.
type Event struct {
	Info struct {
		CID     string          `json:"cid"`
		Context json.RawMessage `json:"context"`
	} `json:"info"`
	Packet struct {
		Name    string `json:"name"`
		Payload struct {
			Body string `json:"body"`
		} `json:"payload"`
	} `json:"packet"`
}

// Texts returns the bodies of the events' packets that have one.
func Texts(events []Event) []string {
	var out []string
	for _, e := range events {
		if e.Packet.Payload.Body != "" {
			out = append(out, e.Packet.Payload.Body)
		}
	}
	return out
}

// LastContext returns the context of the last event (what the platform
// keeps), or nil.
func LastContext(events []Event) json.RawMessage {
	for i := len(events) - 1; i >= 0; i-- {
		if c := events[i].Info.Context; len(c) > 0 && string(c) != "null" && string(c) != "{}" {
			return c
		}
	}
	return nil
}
