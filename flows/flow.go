package flows

import (
	"regexp"
	"strings"
	"time"
)

// LanguageVersion is the version of the flow language this package reads.
const LanguageVersion = 1

// Pos is a position in a flow file (1-based).
type Pos struct {
	Line   int
	Column int
}

// Flow is a compiled, validated flow. It is immutable once loaded and safe
// to share between goroutines.
type Flow struct {
	Name        string
	Description string
	File        string // the path it was loaded from
	Hash        string // hex SHA-256 of the source; identifies this version
	Start       string
	StartPos    Pos // where `start` is written
	States      map[string]*State
	Order       []string // state names in the order the file lists them
	Commands    []*Command
	APIURL      Template // where self-initiated events go; may be empty
	APIToken    Template
	apiPos      Pos
	migrateKeys []Target
	apiTokenPos Pos
	On          map[string]Target // flow-wide handlers: event name or "error" → state
	Migrate     map[string]Target // old state name → state, for conversations on earlier versions
	Texts       Texts
	Locales     []string // the flow's languages (`locales`); the first is its texts' own; nil: one language
	localesPos  Pos
	localePos   []Pos          // where each of Locales is written
	textsPos    Pos            // where `texts` is written
	Scripts     ScriptLimits   // limits of script steps the flow asks for (zero: the server's defaults)
	Sizes       map[string]int // declared longest values of variables, in characters (`sizes`)
	Defaults    []Assignment   // variables set when a conversation starts, before anything else (`defaults`)
	sizesPos    map[string]Pos
	Source      []byte // the file's bytes, for version history
	Lints       Lints  // the warnings found while loading
}

// ShortHash is the first 12 hex digits of Hash, as carried in contexts.
func (f *Flow) ShortHash() string {
	if len(f.Hash) < 12 {
		return f.Hash
	}
	return f.Hash[:12]
}

// ScriptLimits are the limits a flow asks for its script steps; zero
// fields leave the server's defaults. The server caps both.
type ScriptLimits struct {
	Timeout time.Duration
	Memory  int64 // bytes
	Pos     Pos   // where `scripts` is written
}

// Bounds of ScriptLimits.
const (
	MaxScriptTimeout = 10 * time.Second
	MinScriptMemory  = 1 << 20
	MaxScriptMemory  = 1 << 30
)

// Texts are the messages flowbot itself says; a flow may override them.
type Texts struct {
	Invalid Template // said when an answer is not valid and the question has no `invalid`
	Error   Template // said when a step fails and no error state is set
	Restart Template // said when a conversation restarts because its state is gone
	Busy    Template // said when the contact writes while a background request runs
}

// State is one step of a flow. Entering a state says its messages, then
// either waits (a question or a choice) or runs its actions and moves on.
type State struct {
	// kindWaiting and kinds cache Waiting and Has for parsed flows:
	// kindWaiting is 0 not known, 1 none, else 2 + the kind's index in
	// StepKinds; kinds has bit i set for StepKinds[i], and kindsKnown.
	kindWaiting int8
	kinds       uint32

	Name     string
	Pos      Pos
	Say      []Message
	Ask      *Question
	Choice   *Choice
	Wait     bool           // wait silently for the next input, then go on by Next
	Script   *Script        // JavaScript run when the state completes
	HTTP     *HTTPStep      // a request made on entry; the state waits for its result
	OnStatus map[int]Target // HTTP status code → state
	Set      []Assignment   // variables set when the state completes
	Do       []PlatformAction
	Next     []Branch          // evaluated in order; the first that matches wins
	On       map[string]Target // event name or "error" → state
	LLM      *LLMStep          // a chat-completions request made on entry; the state waits for the reply
	Silence  []Silence         // what happens after the contact has been silent a while (`on_silence`)
	Timing   *Timing           // pacing of the bot's messages while in this state (platform mode)
}

// Silence is one rule of a state's `on_silence`: when the contact has not
// written for After since the bot last answered, say Say (a reminder) and,
// with Goto, move on. Rules are ordered by After.
type Silence struct {
	Pos   Pos
	After time.Duration
	Say   []Message
	Goto  Target // empty: stay, and the next rule stays armed
}

// LLMStep asks a chat-completions model for the bot's reply. The engine
// keeps a short transcript of the exchanges in the variable HistoryVar.
type LLMStep struct {
	Pos         Pos
	System      Template // the system prompt: who the bot is
	Prompt      Template // the user's turn; empty: the event's text
	Save        string   // the variable that receives the reply, if any
	Quiet       bool     // do not say the reply (only save it)
	Async       bool     // Userlike mode: answer now, push the reply through api_url
	History     int      // earlier messages sent with the prompt
	MaxTokens   int      // 0: the endpoint's default
	Temperature *float64 // nil: the endpoint's default
	Timeout     float64  // seconds
	systemPos   Pos      // where System and Prompt are written, for lints
	promptPos   Pos
}

// Bounds and defaults of llm steps.
const (
	DefaultLLMHistory = 12  // messages (six exchanges)
	MaxLLMHistory     = 50  // messages
	DefaultLLMTimeout = 30  // seconds
	MaxLLMTimeout     = 120 // seconds
	// MaxLLMReply is the longest reply kept, in characters; a longer one is cut.
	MaxLLMReply = 1000
	// HistoryVar is the variable that holds an llm step's transcript (JSON).
	HistoryVar = "_history"
	// MaxHistoryBytes bounds the transcript kept in the context.
	MaxHistoryBytes = 3000
)

// Waits reports whether the state waits for the contact.
func (s *State) Waits() bool { return s.Waiting() != nil }

// Terminal reports whether the state hands the conversation off or ends it
// (end, abort, forward_*), so a missing `next` is not a dead end.
func (s *State) Terminal() bool {
	for _, a := range s.Do {
		if TerminalActions[a.Name] {
			return true
		}
	}
	return false
}

// TerminalActions are the platform actions after which the bot session is over.
var TerminalActions = map[string]bool{
	"end": true, "abort": true, "forward_any": true, "forward_group": true, "forward_skills": true,
}

// Target is a transition target with the position it was written at.
type Target struct {
	State string
	Pos   Pos
}

// MessageKind names the kinds of message a state can say.
type MessageKind string

// Message kinds.
const (
	MsgText     MessageKind = "text"
	MsgMarkdown MessageKind = "markdown"
	MsgImage    MessageKind = "image"
	MsgVideo    MessageKind = "video"
	MsgAudio    MessageKind = "audio"
	MsgFile     MessageKind = "file"
	MsgButtons  MessageKind = "buttons"
	MsgNavigate MessageKind = "navigate"
	MsgDelay    MessageKind = "delay"
)

// Message is one thing a state says.
type Message struct {
	Kind    MessageKind
	Pos     Pos
	Text    Template    // text, markdown, buttons body, media caption
	URL     Template    // media, navigate
	Buttons []URLButton // buttons
	Seconds float64     // delay
}

// URLButton is a button that opens a URL.
type URLButton struct {
	Label Template
	URL   Template
}

// Question asks the contact for a value and checks it.
type Question struct {
	Pos       Pos
	Prompt    Template
	Markdown  bool
	Expect    string         // text, email, phone, number, yes_no, regex, media, location
	Pattern   *regexp.Regexp // expect: regex
	Invalid   Template       // said on an invalid answer (default: Texts.Invalid, then the prompt again)
	Retries   int            // invalid answers allowed before giving up; 0 means ask forever
	OnGiveUp  Target
	Save      string // variable that receives the answer
	MaxLength int    // longest accepted answer, in characters
	// Min and Max bound a number (expect: number); Integer refuses fractions.
	Min, Max *float64
	Integer  bool
	// DateMin and DateMax bound a date (expect: date), in days from the
	// day of the answer (nil: no bound); Zone is the day's time zone (the
	// state's timing time_zone, else UTC).
	DateMin, DateMax *int
	Zone             *time.Location
}

// Validators are the built-in answer checks a question may expect.
var Validators = []string{"text", "email", "phone", "number", "date", "yes_no", "regex", "media", "location"}

// DateFormats are the ways a date answer may be written (Go layouts), besides
// "today" and "tomorrow"; the saved value is always 2006-01-02.
var DateFormats = []string{"2006-01-02", "2.1.2006", "2/1/2006", "2 Jan 2006", "Jan 2 2006", "2 January 2006", "January 2 2006"}

// DefaultMaxLength is the longest answer kept for each validator, in characters.
var DefaultMaxLength = map[string]int{
	"text": 500, "email": 254, "phone": 32, "number": 32, "date": 40, "yes_no": 16,
	"regex": 500, "media": 2000, "location": 64,
}

// Choice offers options; the contact answers by clicking, typing the number
// shown, or typing an option's label.
type Choice struct {
	Pos       Pos
	Form      string // bubbles, button_template, list_template, carousel
	Body      Template
	Fallback  Template
	Header    Template
	Footer    Template
	Button    Template
	Options   []*Option
	Otherwise Target   // where any other answer goes; empty: say Invalid and re-send the choice
	Invalid   Template // said before the choice is sent again
	Save      string   // variable that receives the picked option's id
	Retries   int      // invalid answers allowed before giving up; 0 means ask forever
	OnGiveUp  Target
}

// Forms are the choice forms an author may ask for.
var Forms = []string{"bubbles", "button_template", "list_template", "carousel"}

// Option is one answer of a Choice.
type Option struct {
	Pos         Pos
	ID          string
	Label       Template
	Description Template
	Image       Template
	Goto        Target // empty: the state's `next` decides
}

// Assignment sets a variable from a template.
type Assignment struct {
	Pos   Pos
	Var   string
	Value Template
}

// PlatformAction is a Userlike platform action (contact_update, forward_any, …).
type PlatformAction struct {
	Pos     Pos
	Name    string
	Payload map[string]Value
}

// Value is a payload value: a string template, a number, a bool, a list or a map.
type Value struct {
	Str  *Template
	Num  *float64
	Bool *bool
	List []Value
	Map  map[string]Value
}

// Render turns the value into plain Go data for JSON.
func (v Value) Render(lookup Lookup) (any, error) {
	switch {
	case v.Str != nil:
		if typed, ok, err := v.Str.TypedJSON(lookup); ok {
			return typed, err
		}
		return v.Str.Render(lookup)
	case v.Num != nil:
		return *v.Num, nil
	case v.Bool != nil:
		return *v.Bool, nil
	case v.Map != nil:
		out := make(map[string]any, len(v.Map))
		for k, e := range v.Map {
			r, err := e.Render(lookup)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case v.List != nil:
		out := make([]any, 0, len(v.List))
		for _, e := range v.List {
			r, err := e.Render(lookup)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	return nil, nil
}

// templates calls fn for every template inside the value.
func (v Value) templates(fn func(Template)) {
	switch {
	case v.Str != nil:
		fn(*v.Str)
	case v.Map != nil:
		for _, e := range v.Map {
			e.templates(fn)
		}
	case v.List != nil:
		for _, e := range v.List {
			e.templates(fn)
		}
	}
}

// Script is JavaScript source with the place it was written, so that errors
// point into the flow file (or the .js file).
type Script struct {
	Source string
	File   string // the flow file, or the .js file for script_file
	Line   int    // where the first line of Source is
	Column int    // the column of Source's first character on that line
	Indent int    // columns to add to the following lines (block scalars)
}

// PosOf is the position in the flow file (or .js file) of the byte at
// offset in Source.
func (sc *Script) PosOf(offset int) Pos {
	before := sc.Source[:offset]
	line := strings.Count(before, "\n")
	if line == 0 {
		return Pos{sc.Line, sc.Column + offset}
	}
	return Pos{sc.Line + line, sc.Indent + offset - strings.LastIndex(before, "\n")}
}

// HTTPStep is a request a state makes.
type HTTPStep struct {
	Pos     Pos
	Method  string
	URL     Template
	Headers []Header
	Body    *Template
	JSON    *Value
	Timeout float64 // seconds
	Async   bool
	Save    []FieldSave
}

// Header is one templated request header.
type Header struct {
	Name  string
	Value Template
}

// FieldSave copies a field of a JSON answer into a variable. Path "@status"
// is the HTTP status code.
type FieldSave struct {
	Var  string
	Path string
}

// MaxHTTPTimeout is the longest an HTTP step may wait, in seconds.
const MaxHTTPTimeout = 60

// Branch is one arm of `next`: go to State if the condition holds (or always).
type Branch struct {
	Pos  Pos
	If   *Condition
	Goto Target
}

// Condition compares a variable with a value.
type Condition struct {
	Pos    Pos
	Var    string // a variable path: name, contact.email, event.text, channel
	Op     string // equals, not_equals, in, matches, present, absent, greater_than, less_than
	Value  string
	Values []string
	Regexp *regexp.Regexp
}

// Operators are the comparison operators a condition may use.
var Operators = []string{"equals", "not_equals", "in", "matches", "present", "absent", "greater_than", "less_than"}

// Command is a global command: a keyword or pattern that works from any state.
type Command struct {
	Pos     Pos
	Match   []string // keywords, compared trimmed and case-insensitively with the whole message
	Pattern *regexp.Regexp
	Clicks  []string // option ids whose clicks (even on old choices) trigger the command
	Goto    Target
}

// Events are the inbound events a flow may handle in `on:`, besides "error".
var Events = []string{"forward_failed", "campaign_unsubscribe", "media", "location", "error"}
