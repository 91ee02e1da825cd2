package engine

import "time"

// Event names the engine understands. Any other name is ignored.
const (
	EvStart               = "start"
	EvMessage             = "message"
	EvClick               = "click"
	EvMedia               = "media"
	EvLocation            = "location"
	EvForwardFailed       = "forward_failed"
	EvCampaignUnsubscribe = "campaign_unsubscribe"
	// EvHTTPResult carries the answer to a Job. Only the runtime creates it
	// (Event.HTTP set); a webhook packet of that name has no HTTP and is ignored.
	EvHTTPResult = "http_result"
	// EvSilence is a follow-up timer that fired: the contact has been
	// silent for the time a rule of the state's `on_silence` names
	// (Event.Silence). Only the runtime creates it.
	EvSilence = "silence"
)

// Event is one inbound chat event, already decoded from its protocol.
type Event struct {
	Name     string    // one of the Ev constants, or an unknown name
	Text     string    // message body (message, or start on messaging channels)
	ClickID  string    // click: the option id
	MediaURL string    // media (or start with an upload): the file's URL
	Location *Location // location
	Channel  string    // the contact's channel type: web, whatsapp_business, …
	Locale   string    // the platform's locale for the conversation (de, de_DE, …), if it sends one
	Contact  map[string]string
	// Conversation is the platform's metadata of the chat, read in flows
	// as conversation.NAME (Userlike: approach_mode, widget.NAME, and the
	// conversation object's subject, topics, locale, custom_fields.NAME…).
	Conversation map[string]string
	Bot          map[string]string // the bot's attributes (platform mode)
	HTTP         *HTTPResult       // EvHTTPResult
	Silence      *SilenceEvent     // EvSilence
	Now          time.Time         // injected clock; the engine never reads the system clock
}

// HTTPResult is the outcome of a Job, fed back into the flow.
type HTTPResult struct {
	Seq    int    // the Job's Seq
	Status int    // HTTP status; 0 when the request failed
	Body   []byte // the response body (the caller bounds its size)
	Err    string // network error, timeout, response too big…; empty on an answer
}

// Location is a place the contact shared.
type Location struct {
	Latitude  float64
	Longitude float64
	Address   string
}

// SilenceEvent says which `on_silence` rule of which state a timer was set
// for (see Result.Timer).
type SilenceEvent struct {
	State string
	Rule  int // index into the state's Silence rules
}
