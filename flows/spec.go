package flows

// This file is the single description of the flow language's keys. The
// parser checks every mapping against it (unknown keys, wrong types), and
// the JSON Schema is generated from it, so the two cannot drift.

import "fmt"

// Kind is the YAML shape a key accepts.
type Kind string

// The shapes a key may take.
const (
	KString     Kind = "string"
	KInt        Kind = "integer"
	KNumber     Kind = "number"
	KBool       Kind = "boolean"
	KStrings    Kind = "string or list of strings"
	KState      Kind = "state name"
	KMessages   Kind = "message or list of messages"
	KMap        Kind = "mapping"
	KList       Kind = "list"
	KNext       Kind = "state name or list of branches"
	KActions    Kind = "list of actions"
	KAny        Kind = "any value"
	KObject     Kind = "object"
	KStateMap   Kind = "mapping of names to states"
	KVarMap     Kind = "mapping of variables to values"
	KStatesDefs Kind = "mapping of state names to states"
	KDuration   Kind = "duration" // a Go duration string: "90s", "10m", "1h30m"
)

// Field describes one key of a mapping in the flow language.
type Field struct {
	Name     string
	Kind     Kind
	Object   string // for KObject and lists of objects: the name of the object's field table
	Required bool
	Doc      string
	Enum     []string // the values a text may take (nil: any)
	Min      *float64 // the smallest number allowed (nil: none)
}

// atLeast is a Field's Min.
func atLeast(v float64) *float64 { return &v }

// Language lists, for each kind of mapping, the keys it accepts.
var Language = map[string][]Field{
	"flow": {
		{Name: "name", Kind: KString, Required: true, Doc: "The flow's name; serve exposes it at /bots/{name}/webhook."},
		{Name: "description", Kind: KString, Doc: "What the flow is for."},
		{Name: "version", Kind: KInt, Doc: "The flow language version (1)."},
		{Name: "start", Kind: KState, Required: true, Doc: "The state a new conversation starts in."},
		{Name: "states", Kind: KStatesDefs, Object: "state", Required: true, Doc: "The steps of the flow, by name."},
		{Name: "commands", Kind: KList, Object: "command", Doc: "Global commands that work from any state."},
		{Name: "api_url", Kind: KString, Doc: "The chat platform's API URL for messages the bot sends on its own (results of async HTTP steps), e.g. ${env.USERLIKE_API_URL}."},
		{Name: "api_token", Kind: KString, Doc: "The token sent with them (Userlike: the SECURITY-TOKEN header), e.g. ${env.USERLIKE_API_TOKEN}."},
		{Name: "on", Kind: KStateMap, Doc: "Flow-wide handlers: forward_failed, campaign_unsubscribe, media, location or error → state."},
		{Name: "migrate", Kind: KStateMap, Doc: "For redeploys: states of earlier versions that were renamed or removed → the state their conversations continue in."},
		{Name: "texts", Kind: KObject, Object: "texts", Doc: "The messages flowbot itself says."},
		{Name: "locales", Kind: KStrings, Doc: "The flow's languages, e.g. [en, de]; the first is the language its texts are written in, each other one has a translation file beside the flow (webshop.de.yaml). The contact's language is the `locale` variable, else the platform's locale, else the first."},
		{Name: "scripts", Kind: KObject, Object: "scripts", Doc: "Limits of this flow's script steps (each within what the server allows)."},
		{Name: "defaults", Kind: KVarMap, Doc: "Variables set when a conversation starts, before anything else runs (even a global command): variable: value (a template)."},
		{Name: "sizes", Kind: KVarMap, Doc: "The longest value of variables, in characters (1–5000), for the context budget: variable: 40. A longer value takes the error path."},
	},
	"scripts": {
		{Name: "timeout", Kind: KDuration, Doc: "How long one script step may run, as a duration: \"100ms\" (the default), at most \"10s\"."},
		{Name: "memory", Kind: KString, Doc: "How much the heap may grow while one script step runs: \"32MiB\" (the default), from \"1MiB\" to \"1GiB\"."},
	},
	"http": {
		{Name: "method", Kind: KString, Doc: "GET (default), POST, PUT, PATCH or DELETE."},
		{Name: "url", Kind: KString, Required: true, Doc: "The URL; may use {{ variables }} and ${env.NAME}."},
		{Name: "headers", Kind: KVarMap, Doc: "Request headers; values may use variables and ${env.NAME}."},
		{Name: "body", Kind: KString, Doc: "The request body (a template)."},
		{Name: "json", Kind: KMap, Doc: "A JSON request body, as a mapping whose strings are templates."},
		{Name: "timeout", Kind: KNumber, Doc: "Seconds to wait for the answer (default 10, at most 60)."},
		{Name: "async", Kind: KBool, Doc: "Answer the contact at once (with the state's `say`) and push the result later through the platform's API."},
		{Name: "save", Kind: KVarMap, Doc: "Variables to fill from the JSON answer: variable: field.path (`status`, `order.items.0.name`); `@status` is the HTTP status code."},
	},
	"texts": {
		{Name: "invalid", Kind: KString, Doc: "Said when an answer is invalid and the question has no `invalid` text."},
		{Name: "error", Kind: KString, Doc: "Said when a step fails and no error state is set."},
		{Name: "restart", Kind: KString, Doc: "Said when a conversation restarts because the flow changed under it."},
		{Name: "busy", Kind: KString, Doc: "Said when the contact writes while the bot waits for a background request."},
	},
	"state": {
		{Name: "say", Kind: KMessages, Object: "message", Doc: "Messages said when the state is entered."},
		{Name: "ask", Kind: KString, Doc: "A question; the state waits for the answer."},
		{Name: "markdown", Kind: KBool, Doc: "The question text uses markdown."},
		{Name: "expect", Kind: KString, Enum: Validators, Doc: "How to check the answer: text, email, phone, number, date, yes_no, regex, media or location."},
		{Name: "pattern", Kind: KString, Doc: "The regular expression an answer must match (expect: regex)."},
		{Name: "invalid", Kind: KString, Doc: "Said when the answer is not valid, before asking again."},
		{Name: "retries", Kind: KInt, Doc: "How many invalid answers the contact may give (1–100): the last of them goes to on_give_up. Commands, events and late taps do not count; the count restarts when the state is entered."},
		{Name: "on_give_up", Kind: KState, Doc: "Where the last invalid answer goes (alone, it means retries: 3)."},
		{Name: "save", Kind: KString, Doc: "The variable that receives the answer."},
		{Name: "max_length", Kind: KInt, Doc: "The longest answer accepted, in characters."},
		{Name: "min", Kind: KString, Doc: "The smallest answer accepted: a number (expect: number), or for expect: date `today`, `today+N` or `today-N` (days)."},
		{Name: "max", Kind: KString, Doc: "The largest answer accepted, written like `min`."},
		{Name: "integer", Kind: KBool, Doc: "Accept whole numbers only (expect: number)."},
		{Name: "choice", Kind: KObject, Object: "choice", Doc: "Options to click; the state waits for one."},
		{Name: "wait", Kind: KBool, Doc: "Wait silently for the contact's next message, click, media or location, then go on by `next` (which may test event.text or event.click)."},
		{Name: "script", Kind: KString, Doc: "JavaScript run when the state completes; it sees event, vars, contact, channel and bot, may change vars, call say(text) and act(name, payload), and may return the name of the next state."},
		{Name: "script_file", Kind: KString, Doc: "A .js file beside the flow, run like `script`."},
		{Name: "http", Kind: KObject, Object: "http", Doc: "An HTTP request made when the state is entered; the state waits for its result, then goes on by `next` (2xx), `on_status` or `on: error`."},
		{Name: "on_status", Kind: KStateMap, Doc: "Where to go for particular HTTP status codes of the state's `http` request, e.g. 404: not_found."},
		{Name: "set", Kind: KVarMap, Doc: "Variables to set when the state completes."},
		{Name: "do", Kind: KActions, Object: "action", Doc: "Platform actions run when the state completes."},
		{Name: "next", Kind: KNext, Object: "branch", Doc: "Where to go when the state completes."},
		{Name: "on", Kind: KStateMap, Doc: "Handlers for events in this state: forward_failed, campaign_unsubscribe, media, location or error → state."},
		{Name: "llm", Kind: KObject, Object: "llm", Doc: "Ask a language model for the bot's reply when the state is entered; the state waits for it, says it, then goes on by `next` (or `on: error`)."},
		{Name: "on_silence", Kind: KList, Object: "silence", Doc: "Follow-ups while the state waits and the contact stays silent: rules {after, say, goto}, in increasing order of `after`."},
		{Name: "timing", Kind: KObject, Object: "timing", Doc: "How the bot paces its messages while in this state (platform mode); overrides the bot's and the conversation's timing."},
	},
	"llm": {
		{Name: "system", Kind: KString, Doc: "The system prompt (a template): who the bot is and how it answers, e.g. You are {{bot.name}}. {{bot.persona}}"},
		{Name: "prompt", Kind: KString, Doc: "The user's turn (a template; default: the text of the contact's message)."},
		{Name: "save", Kind: KString, Doc: "The variable that receives the reply."},
		{Name: "quiet", Kind: KBool, Doc: "Do not say the reply, only `save` it."},
		{Name: "history", Kind: KInt, Doc: fmt.Sprintf("Earlier messages of the conversation sent with the prompt (0–%d, default %d).", MaxLLMHistory, DefaultLLMHistory)},
		{Name: "max_tokens", Kind: KInt, Doc: fmt.Sprintf("The longest reply, in tokens (1–%d; default: the model's).", MaxLLMTokens)},
		{Name: "temperature", Kind: KNumber, Doc: "Sampling temperature (0–2; default: the model's)."},
		{Name: "timeout", Kind: KNumber, Doc: fmt.Sprintf("Seconds to wait for the reply (1–%d, default %d).", MaxLLMTimeout, DefaultLLMTimeout)},
		{Name: "async", Kind: KBool, Doc: "Userlike mode: answer the webhook at once (with the state's `say`) and push the reply later through the flow's api_url, as an async http step does. Platform mode always asks in the background."},
	},
	"silence": {
		{Name: "after", Kind: KDuration, Required: true, Doc: "How long the contact has been silent, as a duration: \"90s\", \"10m\", \"1h30m\" (more than 0, at most 720h)."},
		{Name: "say", Kind: KMessages, Object: "message", Doc: "Messages said then (a reminder)."},
		{Name: "goto", Kind: KState, Doc: "Where the conversation goes then; without it, it stays and the next rule stays armed."},
	},
	"timing": TimingFields,
	"message": {
		{Name: "text", Kind: KString, Doc: "A text message (or the body of buttons)."},
		{Name: "markdown", Kind: KString, Doc: "A markdown message."},
		{Name: "image", Kind: KString, Doc: "An image URL."},
		{Name: "video", Kind: KString, Doc: "A video URL."},
		{Name: "audio", Kind: KString, Doc: "An audio URL."},
		{Name: "file", Kind: KString, Doc: "A file URL."},
		{Name: "caption", Kind: KString, Doc: "A caption for media."},
		{Name: "buttons", Kind: KList, Object: "button", Doc: "URL buttons, shown under `text`."},
		{Name: "navigate", Kind: KString, Doc: "A URL the contact's browser opens."},
		{Name: "delay", Kind: KNumber, Min: atLeast(0), Doc: "Seconds of typing indicator before the next message."},
	},
	"button": {
		{Name: "label", Kind: KString, Required: true, Doc: "The button's text."},
		{Name: "url", Kind: KString, Required: true, Doc: "The URL it opens."},
	},
	"choice": {
		{Name: "text", Kind: KString, Required: true, Doc: "The question shown with the options."},
		{Name: "fallback", Kind: KString, Doc: "Shown before a numbered list where buttons are impossible (default: text)."},
		{Name: "form", Kind: KString, Enum: Forms, Doc: "bubbles (default), button_template, list_template or carousel."},
		{Name: "header", Kind: KString, Doc: "Header of a button or list template."},
		{Name: "footer", Kind: KString, Doc: "Footer of a button or list template."},
		{Name: "button", Kind: KString, Doc: "The text of a list template's button."},
		{Name: "options", Kind: KList, Object: "option", Required: true, Doc: "The options."},
		{Name: "otherwise", Kind: KState, Doc: "Where any other answer goes (default: say `invalid` and send the choice again)."},
		{Name: "invalid", Kind: KString, Doc: "Said when the answer is none of the options, before the choice is sent again."},
		{Name: "save", Kind: KString, Doc: "The variable that receives the picked option's id (for a click, a typed number or a typed label alike)."},
		{Name: "retries", Kind: KInt, Doc: "Answers that are none of the options allowed before going to on_give_up."},
		{Name: "on_give_up", Kind: KState, Doc: "Where to go after too many answers that are none of the options."},
	},
	"option": {
		{Name: "id", Kind: KString, Required: true, Doc: "The option's id, sent back in the click event."},
		{Name: "label", Kind: KString, Required: true, Doc: "The option's text."},
		{Name: "description", Kind: KString, Doc: "A longer text (list templates)."},
		{Name: "image", Kind: KString, Doc: "An image URL (carousels)."},
		{Name: "goto", Kind: KState, Doc: "Where picking this option goes (default: the state's `next`)."},
	},
	"branch": {
		{Name: "if", Kind: KObject, Object: "condition", Doc: "The condition; without it the branch always matches."},
		{Name: "goto", Kind: KState, Required: true, Doc: "Where to go."},
	},
	"condition": {
		{Name: "var", Kind: KString, Required: true, Doc: "The variable to test: name, contact.email, event.text, channel, …"},
		{Name: "equals", Kind: KString, Doc: "Holds when the variable equals this value."},
		{Name: "not_equals", Kind: KString, Doc: "Holds when the variable differs from this value."},
		{Name: "in", Kind: KStrings, Doc: "Holds when the variable is one of these values."},
		{Name: "matches", Kind: KString, Doc: "Holds when the variable matches this regular expression."},
		{Name: "present", Kind: KBool, Doc: "Holds when the variable is set and not empty."},
		{Name: "absent", Kind: KBool, Doc: "Holds when the variable is unset or empty."},
		{Name: "greater_than", Kind: KNumber, Doc: "Holds when the variable is a number above this."},
		{Name: "less_than", Kind: KNumber, Doc: "Holds when the variable is a number below this."},
	},
	"command": {
		{Name: "match", Kind: KStrings, Doc: "Keywords; a message equal to one (trimmed, any case) triggers the command."},
		{Name: "pattern", Kind: KString, Doc: "A regular expression a message may match instead."},
		{Name: "clicks", Kind: KStrings, Doc: "Option ids whose clicks trigger the command, even on old choices."},
		{Name: "goto", Kind: KState, Required: true, Doc: "Where the command goes."},
	},
}

// OnFailure are the values of a forward's `on_failure`: "feedback" asks
// the platform for a forward_failed event when no operator is available.
var OnFailure = []string{"feedback"}

// PlatformActions lists the Userlike platform actions a state may `do`, with
// the payload keys each accepts.
var PlatformActions = map[string][]Field{
	"contact_update": {
		{Name: "name", Kind: KString}, {Name: "email", Kind: KString}, {Name: "mobile_number", Kind: KString},
		{Name: "external_customer_id", Kind: KString}, {Name: "custom_fields", Kind: KMap}, {Name: "campaigns", Kind: KBool},
	},
	"conversation_update": {
		{Name: "subject", Kind: KString}, {Name: "topics", Kind: KStrings}, {Name: "locale", Kind: KString}, {Name: "custom_fields", Kind: KMap},
	},
	"note_create":    {{Name: "body", Kind: KString, Required: true}, {Name: "contact_identity_id", Kind: KAny}},
	"forward_group":  {{Name: "group_id", Kind: KAny, Required: true}, {Name: "on_failure", Kind: KString, Enum: OnFailure}},
	"forward_skills": {{Name: "skills", Kind: KStrings, Required: true}, {Name: "on_failure", Kind: KString, Enum: OnFailure}},
	"forward_any":    {{Name: "on_failure", Kind: KString, Enum: OnFailure}},
	"abort":          {},
	"end":            {},
	"addon_dispatch": {{Name: "type", Kind: KString, Required: true}},
	"email_dispatch": {{Name: "recipient_type", Kind: KString, Required: true, Enum: []string{"operator", "contact"}}, {Name: "recipient_id", Kind: KAny}},
	"delay":          {{Name: "seconds", Kind: KNumber, Required: true, Min: atLeast(0)}},
}
