// Package platformtest plays the Userlike platform against a flowbot
// webhook over real HTTP, for tests and load generators.
//
// Like Userlike, a Platform keeps one context object per chatbot session
// (cid), sends it with every webhook call, and after each answer stores the
// last non-empty context found in the answer's events (an empty one is
// ignored, as Userlike does). It checks what Userlike would rely on: a 200
// answer is a JSON array of events, each carrying the call's cid and a
// context. It records every packet received.
//
//	p := platformtest.New(server.URL + "/bots/name-email-forward/webhook")
//	c := p.Conversation("cid-1", "web")
//	r, err := c.Start("")     // → r.Texts() == ["Welcome! …"]
//	r, err = c.Say("Ada")     // the context from the start travels along
//
// Platform.API plays the bot's API URL too, where flowbot pushes the
// results of async HTTP steps: a pushed context becomes the conversation's,
// as it does on Userlike, so the next webhook call continues from it.
package platformtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Platform is an emulated Userlike account talking to one webhook URL. It is
// safe for concurrent use by many conversations.
type Platform struct {
	// Client sends the webhook calls; New sets one with a 10 s timeout.
	Client *http.Client
	// Token, when set, is sent in TokenHeader (default API-SECURITY-TOKEN).
	Token       string
	TokenHeader string
	// AllowEmptyContext accepts answer events without a context (Userlike
	// does, and keeps the previous one). By default an event without one is
	// an error, because flowbot promises a context on every event.
	AllowEmptyContext bool

	mu       sync.Mutex
	url      string
	contexts map[string]json.RawMessage
	packets  map[string][]Packet
	record   bool
}

// New returns a platform that calls the webhook at url.
func New(url string) *Platform {
	return &Platform{
		Client:   &http.Client{Timeout: 10 * time.Second},
		url:      url,
		contexts: map[string]json.RawMessage{},
		packets:  map[string][]Packet{},
		record:   true,
	}
}

// SetURL points the platform at another webhook URL (for example a new
// server instance); the stored contexts stay.
func (p *Platform) SetURL(url string) {
	p.mu.Lock()
	p.url = url
	p.mu.Unlock()
}

// URL returns the webhook URL called.
func (p *Platform) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.url
}

// Record turns the recording of packets on or off (load generators turn it
// off to keep memory flat). It is on by default.
func (p *Platform) Record(on bool) {
	p.mu.Lock()
	p.record = on
	p.mu.Unlock()
}

// Context returns the context stored for cid (nil before any).
func (p *Platform) Context(cid string) json.RawMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.contexts[cid]
}

// SetContext replaces the context stored for cid, as if a bot had sent it.
func (p *Platform) SetContext(cid string, ctx json.RawMessage) {
	p.mu.Lock()
	p.contexts[cid] = ctx
	p.mu.Unlock()
}

// Packets returns every packet received for cid, in order.
func (p *Platform) Packets(cid string) []Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Packet(nil), p.packets[cid]...)
}

// Packet is one event of an answer.
type Packet struct {
	Name    string          // packet.name
	Payload map[string]any  // packet.payload, decoded
	Raw     json.RawMessage // packet.payload as sent
	CID     string          // info.cid
	Context json.RawMessage // info.context
}

// Reply is the answer to one webhook call.
type Reply struct {
	Status  int
	Body    []byte
	Packets []Packet // the events of a 200 answer
	Error   string   // the "error" of a non-200 answer
}

// Names lists the packet names in order.
func (r Reply) Names() []string {
	out := make([]string, len(r.Packets))
	for i, p := range r.Packets {
		out[i] = p.Name
	}
	return out
}

// Texts lists the bodies of the message packets in order.
func (r Reply) Texts() []string {
	var out []string
	for _, p := range r.Packets {
		if p.Name == "message" {
			b, _ := p.Payload["body"].(string)
			out = append(out, b)
		}
	}
	return out
}

// Find returns the first packet named name.
func (r Reply) Find(name string) (Packet, bool) {
	for _, p := range r.Packets {
		if p.Name == name {
			return p, true
		}
	}
	return Packet{}, false
}

// All returns every packet named name.
func (r Reply) All(name string) []Packet {
	var out []Packet
	for _, p := range r.Packets {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// Conversation is one chatbot session on a channel.
type Conversation struct {
	P       *Platform
	CID     string
	Channel string         // info.conversation.contact_channel.type
	Contact map[string]any // info.contact; nil sends none
	// Info holds more info fields, sent over the defaults: approach_mode
	// ("normal" unless set), widget, or a whole conversation object.
	Info map[string]any
}

// Conversation starts talking as session cid on channel (web,
// whatsapp_business, …; empty sends no channel).
func (p *Platform) Conversation(cid, channel string) *Conversation {
	return &Conversation{P: p, CID: cid, Channel: channel}
}

// Start sends a start event; a non-empty body is the first message, as on
// messaging channels.
func (c *Conversation) Start(body string) (Reply, error) {
	if body == "" {
		return c.Send("start", map[string]any{})
	}
	return c.Send("start", map[string]any{"body": body})
}

// Say sends a message event.
func (c *Conversation) Say(text string) (Reply, error) {
	return c.Send("message", map[string]any{"body": text})
}

// Click sends a click on the option id.
func (c *Conversation) Click(id string) (Reply, error) {
	return c.Send("click", map[string]any{"value": map[string]any{"id": id}})
}

// Media sends an upload.
func (c *Conversation) Media(url string) (Reply, error) {
	return c.Send("media", map[string]any{"url": url})
}

// Location sends a shared location.
func (c *Conversation) Location(lat, lon float64, address string) (Reply, error) {
	return c.Send("location", map[string]any{"latitude": lat, "longitude": lon, "address": address})
}

// Send sends any event with the stored context and stores the new one.
func (c *Conversation) Send(name string, payload any) (Reply, error) {
	p := c.P
	p.mu.Lock()
	ctx := p.contexts[c.CID]
	url := p.url
	p.mu.Unlock()
	info := map[string]any{"cid": c.CID, "approach_mode": "normal"}
	if len(ctx) > 0 {
		info["context"] = ctx
	} else {
		info["context"] = map[string]any{}
	}
	if c.Channel != "" {
		info["conversation"] = map[string]any{"contact_channel": map[string]any{"state": "valid", "type": c.Channel}}
	}
	if c.Contact != nil {
		info["contact"] = c.Contact
	}
	for k, v := range c.Info {
		info[k] = v
	}
	body, err := json.Marshal(map[string]any{"info": info, "packet": map[string]any{"name": name, "payload": payload}})
	if err != nil {
		return Reply{}, err
	}
	return p.post(url, c.CID, body)
}

// Post sends a raw body as the webhook call of session cid and processes the
// answer like Send (cid may be empty when the body is not a valid event).
func (p *Platform) Post(cid string, body []byte) (Reply, error) {
	return p.post(p.URL(), cid, body)
}

func (p *Platform) post(url, cid string, body []byte) (Reply, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.Token != "" {
		h := p.TokenHeader
		if h == "" {
			h = "API-SECURITY-TOKEN"
		}
		req.Header.Set(h, p.Token)
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Reply{}, err
	}
	r := Reply{Status: resp.StatusCode, Body: raw}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return r, fmt.Errorf("status %d with Content-Type %q, want application/json", resp.StatusCode, ct)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Error == "" {
			return r, fmt.Errorf("status %d without a JSON {\"error\"}: %q", resp.StatusCode, raw)
		}
		r.Error = e.Error
		return r, nil
	}
	pks, last, err := parseEvents(raw, cid, p.AllowEmptyContext)
	r.Packets = pks
	if err != nil {
		return r, err
	}
	p.mu.Lock()
	if last != nil {
		p.contexts[cid] = last
	}
	if p.record {
		p.packets[cid] = append(p.packets[cid], r.Packets...)
	}
	p.mu.Unlock()
	return r, nil
}

// parseEvents reads an array of triggerable events for session cid as
// Userlike would, and returns them with the last non-empty context.
func parseEvents(raw []byte, cid string, allowEmpty bool) ([]Packet, json.RawMessage, error) {
	var events []struct {
		Info struct {
			CID     string          `json:"cid"`
			Context json.RawMessage `json:"context"`
		} `json:"info"`
		Packet struct {
			Name    string          `json:"name"`
			Payload json.RawMessage `json:"payload"`
		} `json:"packet"`
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		return nil, nil, fmt.Errorf("a 200 answer must be a JSON array of events: %v: %q", err, raw)
	}
	var last json.RawMessage
	var out []Packet
	for i, e := range events {
		if e.Info.CID != cid {
			return out, nil, fmt.Errorf("event %d: info.cid is %q, want %q", i, e.Info.CID, cid)
		}
		if e.Packet.Name == "" {
			return out, nil, fmt.Errorf("event %d: packet.name is missing", i)
		}
		if empty(e.Info.Context) {
			if !allowEmpty {
				return out, nil, fmt.Errorf("event %d (%s): no context; flowbot sends its context on every event", i, e.Packet.Name)
			}
		} else if e.Info.Context[0] != '{' {
			return out, nil, fmt.Errorf("event %d: the context must be a JSON object, got %s", i, e.Info.Context)
		}
		if len(e.Info.Context) > 10240 {
			return out, nil, fmt.Errorf("event %d: the context is %d bytes, over 10 KB", i, len(e.Info.Context))
		}
		pk := Packet{Name: e.Packet.Name, Raw: e.Packet.Payload, CID: e.Info.CID, Context: e.Info.Context}
		if err := json.Unmarshal(e.Packet.Payload, &pk.Payload); err != nil {
			return out, nil, fmt.Errorf("event %d (%s): the payload must be an object: %v", i, e.Packet.Name, err)
		}
		out = append(out, pk)
		if !empty(e.Info.Context) {
			last = e.Info.Context
		}
	}
	return out, last, nil
}

// empty reports a context Userlike ignores: absent, null or {}.
func empty(ctx json.RawMessage) bool {
	s := string(bytes.TrimSpace(ctx))
	return s == "" || s == "null" || s == "{}"
}
