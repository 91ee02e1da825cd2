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
)

// Event is one inbound chat event, already decoded from its protocol.
type Event struct {
	Name     string    // one of the Ev constants, or an unknown name
	Text     string    // message body (message, or start on messaging channels)
	ClickID  string    // click: the option id
	MediaURL string    // media (or start with an upload): the file's URL
	Location *Location // location
	Channel  string    // the contact's channel type: web, whatsapp_business, …
	Contact  map[string]string
	Now      time.Time // injected clock; the engine never reads the system clock
}

// Location is a place the contact shared.
type Location struct {
	Latitude  float64
	Longitude float64
	Address   string
}
