package engine

// Session is the whole state of one conversation. It travels in the chat
// platform's context object (see EncodeContext), never in server memory.
type Session struct {
	Flow     string            // the flow's name
	Version  string            // the compiled flow's content hash (short form)
	State    string            // the current state; empty before the flow started
	Vars     map[string]string // collected variables
	Pending  *Pending          // the choice waiting for an answer, if any
	Retries  int               // invalid answers given to the current question
	Done     bool              // the flow reached an end (end, forward, abort)
	JobSeq   int               // the sequence number of the last job (http or llm request) made; the next is JobSeq+1
	AwaitSeq int               // the sequence number of the job the current state waits for (0: none)
	Foreign  bool              // the context could not be read: Step restarts politely (never serialized)
	// Recent names the states whose choices the conversation left last,
	// newest first, separated by spaces (at most LateTapDepth), so that a
	// late tap on an earlier choice's button can still be read as its click.
	Recent string
	// Locale is the platform's locale last seen, as one of the flow's
	// locales (multilingual flows only), so that turns without one (a
	// job's result, a timer) answer in the same language.
	Locale string
}

// LateTapDepth is how many earlier choices a late tap may answer: a click,
// or a typed label, of an option of one of the last LateTapDepth choices
// offered before the current state.
const LateTapDepth = 2

// Pending is the last choice sent, kept so that a reply of "2" or a typed
// label can be read back as a click on any instance.
type Pending struct {
	Options  []PendingOption
	Numbered bool // the options were shown as a numbered text list
}

// PendingOption is the id and label of one option of the pending choice.
type PendingOption struct {
	ID    string
	Label string
}
