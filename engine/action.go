package engine

import "time"

// ActionKind says what an Action asks the channel to show or the platform to do.
type ActionKind string

// The kinds of action a step can produce.
const (
	// ActText is a text message (Text, optionally Markdown).
	ActText ActionKind = "text"
	// ActMedia is an image, video, audio clip or file given by URL (Media).
	ActMedia ActionKind = "media"
	// ActButtons is a text with URL buttons (Text, Buttons).
	ActButtons ActionKind = "buttons"
	// ActNavigate makes the contact's browser open URL.
	ActNavigate ActionKind = "navigate"
	// ActDelay pauses the following messages for Seconds, showing a typing indicator.
	ActDelay ActionKind = "delay"
	// ActChoice offers options to click (Choice).
	ActChoice ActionKind = "choice"
	// ActPlatform is a platform action passed through to the chat platform
	// (contact_update, forward_any, end, …): Name and Payload.
	ActPlatform ActionKind = "platform"
)

// Action is one thing the bot says or does, before any channel rendering.
// Exactly the fields that belong to Kind are set.
type Action struct {
	Kind     ActionKind
	Text     string      // ActText, ActButtons: the message body
	Markdown bool        // ActText: Text uses markdown (text_format markdown_v1)
	Media    *Media      // ActMedia
	Buttons  []URLButton // ActButtons
	URL      string      // ActNavigate
	Seconds  float64     // ActDelay
	Choice   *Choice     // ActChoice
	Name     string      // ActPlatform: the Userlike packet name, e.g. "contact_update"
	Payload  map[string]any
}

// Media is a file the bot sends by URL.
type Media struct {
	Type    string // image, video, audio or file
	URL     string
	Caption string
}

// URLButton is a button that opens a URL; it produces no click event.
type URLButton struct {
	Label string
	URL   string
}

// Choice forms an author may ask for. The channel renderer may degrade them.
const (
	FormBubbles        = "bubbles"
	FormButtonTemplate = "button_template"
	FormListTemplate   = "list_template"
	FormCarousel       = "carousel"
)

// Choice is a question with options to click.
type Choice struct {
	Form     string // one of the Form constants; empty means bubbles
	Body     string // the question shown above the options
	Fallback string // text shown before the numbered options where buttons are impossible
	Header   string // optional; button and list templates only
	Footer   string // optional; button and list templates only
	Button   string // optional; the list template's button text
	Options  []Option
}

// Option is one clickable answer of a Choice.
type Option struct {
	ID          string
	Label       string
	Description string // optional; list templates show it
	Image       string // optional image URL; carousels show it
}

// Job is an HTTP request a state asks for. The engine does no I/O: the
// runtime makes the request and feeds the outcome back as an EvHTTPResult
// event with the same Seq.
type Job struct {
	Seq     int
	State   string
	Method  string
	URL     string
	Headers [][2]string
	Body    []byte
	Timeout time.Duration
	Async   bool // answer the contact now and push the result later
	// LLM, when set, makes this a chat-completions request instead of an
	// HTTP request (Method, URL, Headers and Body are empty): the runtime
	// sends it to the configured model and returns the reply's text as
	// the result's Body, with Status 200.
	LLM *LLMRequest `json:",omitempty"`
}

// LLMRequest is the prompt of an llm step.
type LLMRequest struct {
	System      string       // the system prompt
	Messages    []LLMMessage // the transcript, oldest first, ending with the user's turn
	MaxTokens   int          `json:",omitempty"`
	Temperature *float64     `json:",omitempty"`
}

// LLMMessage is one message of a chat-completions transcript.
type LLMMessage struct {
	Role    string `json:"role"` // "user" or "assistant"
	Content string `json:"content"`
}

// Timer is a follow-up a conversation should get if the contact stays
// silent: the runtime fires EvSilence{State, Rule} After the last activity
// (or, with Continue, After the activity the previous rule counted from).
type Timer struct {
	State    string
	Rule     int
	After    time.Duration
	Continue bool
}
