package flowtest

// Kind is the YAML shape a key's value must have.
type Kind string

// The shapes of values in a test file.
const (
	Scalar    Kind = "scalar"     // a text, number or boolean
	Map       Kind = "map"        // a mapping of free names (variables, fields) to scalars
	Data      Kind = "data"       // a mapping of free names to any values
	Struct    Kind = "struct"     // a mapping whose keys are those of Child
	List      Kind = "list"       // a list of scalars
	StructSeq Kind = "struct seq" // a list of mappings whose keys are those of Child
	AnyValue  Kind = "any"        // any YAML value (JSON data)
)

// Section is one kind of mapping in a test file.
type Section struct {
	Name    string // as Field.Section and Field.Child name it
	Heading string // the heading of its key table in docs/testing.md
}

// Sections are the mappings of a test file, in the order docs/testing.md
// documents them.
var Sections = []Section{
	{"file", "Keys of a test file"},
	{"test", "Keys of a test"},
	{"mock", "Keys of a mock"},
	{"request", "Keys of a mock's request"},
	{"turn", "Keys of a turn"},
	{"location", "Keys of a location"},
	{"expect", "Keys of an expectation"},
}

// Field is one key a test file may hold. Fields is the one list of them:
// the strict parser knows these keys and no others, suggests them for
// typos, and a test checks that docs/testing.md documents each.
type Field struct {
	Section string // the mapping it belongs to
	Key     string
	Kind    Kind
	Child   string // the section of its value (Struct) or items (StructSeq)
	Doc     string // one line for the reference
}

// Fields are every key of a test file.
var Fields = []Field{
	{"file", "flow", Scalar, "", "the flow under test, relative to the test file (default: the file name without `_test`)"},
	{"file", "env", Map, "", "`${env.NAME}` values for the flow; they win over the process environment"},
	{"file", "tests", StructSeq, "test", "the conversations"},

	{"test", "name", Scalar, "", "what the conversation shows; printed with its failures"},
	{"test", "channels", List, "", "the channels to run it on, each a separate run (default: `[web]`)"},
	{"test", "locales", List, "", "platform locales to run it in, each a separate run with `contact.locale` set to it (default: none)"},
	{"test", "state", Scalar, "", "start in this state instead of the flow's start"},
	{"test", "vars", Map, "", "… with these variables set"},
	{"test", "contact", Map, "", "the contact's fields the flow reads as `{{ contact.NAME }}`"},
	{"test", "conversation", Map, "", "the platform's metadata the flow reads as `{{ conversation.NAME }}` (e.g. `approach_mode: proactive`)"},
	{"test", "now", Scalar, "", "the clock the flow sees, RFC 3339 (default 2026-01-01T12:00:00Z)"},
	{"test", "http", StructSeq, "mock", "mocked answers to HTTP and llm requests"},
	{"test", "turns", StructSeq, "turn", "what the contact does, and what the bot must answer"},

	{"mock", "url", Scalar, "", "the request's URL: exact (with `${env.NAME}`), or a regular expression between slashes"},
	{"mock", "method", Scalar, "", "the request's method (default: any; a different one fails the turn)"},
	{"mock", "request", Struct, "request", "what the request must carry, else the turn fails showing it"},
	{"mock", "status", Scalar, "", "the answer's status (default 200)"},
	{"mock", "json", AnyValue, "", "the answer's body, as JSON"},
	{"mock", "body", Scalar, "", "the answer's body, as text"},
	{"mock", "error", Scalar, "", "a network error (or a failed llm request) instead of an answer"},
	{"mock", "llm", Scalar, "", "makes it an llm mock for this user message: exact, `/regexp/`, or \"\" for any"},
	{"mock", "reply", Scalar, "", "an llm mock's answer: the model's text"},
	{"mock", "system_contains", Scalar, "", "text the llm request's system prompt must contain"},
	{"mock", "history_contains", Scalar, "", "text an earlier message of the llm transcript must contain"},

	{"request", "headers", Map, "", "headers it must have (names in any case; values exact or `/regexp/`)"},
	{"request", "json", AnyValue, "", "its body must be exactly this JSON (key order and spacing aside)"},
	{"request", "json_contains", AnyValue, "", "its JSON body must contain these fields and values (objects compared as subsets)"},
	{"request", "body", Scalar, "", "its body must be exactly this text"},
	{"request", "body_contains", Scalar, "", "its body must contain this text"},

	{"turn", "send", Scalar, "", "a message (`start`: the start event)"},
	{"turn", "click", Scalar, "", "a click on an option, by id or label"},
	{"turn", "media", Scalar, "", "a file sent, by URL"},
	{"turn", "location", Struct, "location", "a shared location"},
	{"turn", "event", Scalar, "", "a platform event (forward_failed, campaign_unsubscribe, …)"},
	{"turn", "silence", Scalar, "", "`true`, or a duration: the contact stays silent until the armed follow-up fires"},
	{"turn", "expect", StructSeq, "expect", "every packet the bot sends, in order (a text alone: a packet with that text)"},
	{"turn", "state", Scalar, "", "the state the conversation must be in after the turn"},
	{"turn", "vars", Map, "", "variables that must have these values after the turn"},

	{"location", "latitude", Scalar, "", "degrees north"},
	{"location", "longitude", Scalar, "", "degrees east"},

	{"expect", "text", Scalar, "", "a packet whose rendered text is exactly this (a message, a choice's question, a caption)"},
	{"expect", "match", Scalar, "", "a packet whose rendered text matches this regular expression"},
	{"expect", "choice", List, "", "a choice with these option ids, however the channel shows it (buttons, a list, numbered text)"},
	{"expect", "event", Scalar, "", "a packet of this name (message, bubbles, forward_any, contact_update, …)"},
	{"expect", "payload", Data, "", "with `event`: fields its payload must have, with these values"},
}

// fieldsOf lists the fields of a section, in table order.
func fieldsOf(section string) []Field {
	var out []Field
	for _, f := range Fields {
		if f.Section == section {
			out = append(out, f)
		}
	}
	return out
}

// keysOf lists the keys of a section.
func keysOf(section string) []string {
	var out []string
	for _, f := range fieldsOf(section) {
		out = append(out, f.Key)
	}
	return out
}
