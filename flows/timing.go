package flows

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Timing is how a bot paces its replies in platform mode. A bot sets it,
// a conversation overrides it, and a flow state (its `timing` key)
// overrides both; a nil field keeps the value of the level below. The
// defaults (DefaultTiming) answer at once, one message per reply.
//
// The same struct is the `timing` object of the Chat API's bots and
// conversations (JSON) and of a flow state (YAML).
type Timing struct {
	// ResponseDelay is the seconds between a user's message and the
	// bot's first reply to it.
	ResponseDelay *float64 `json:"response_delay,omitempty"`
	// TypingSpeed, in characters per second, spaces the bot's messages:
	// each one after the first waits len(text)/speed seconds, bounded by
	// TypingMin and TypingMax. Without it, each waits TypingMin.
	TypingSpeed *float64 `json:"typing_speed,omitempty"`
	TypingMin   *float64 `json:"typing_min,omitempty"`
	TypingMax   *float64 `json:"typing_max,omitempty"`
	// Segment splits a text reply longer than this many characters into
	// several messages at paragraph, then sentence, then word boundaries
	// (0: never).
	Segment *int `json:"segment,omitempty"`
	// Aggregate: the user's messages that arrive while the bot waits to
	// answer (ResponseDelay) are answered together, as one turn whose text
	// is the messages joined by newlines.
	Aggregate *bool `json:"aggregate,omitempty"`
	// Interrupt: a user's message cancels the bot's messages not yet sent,
	// and the flow goes on with the new message.
	Interrupt *bool `json:"interrupt,omitempty"`
	// QuietHours ("22:00-08:00", in TimeZone) hold back messages the bot
	// sends on its own (follow-ups after silence) until they end.
	QuietHours *string `json:"quiet_hours,omitempty"`
	// TimeZone is the conversation's IANA time zone (default UTC).
	TimeZone *string `json:"time_zone,omitempty"`
}

// Bounds of the timing settings.
const (
	MaxResponseDelay = 300  // seconds
	MaxTypingDelay   = 60   // seconds
	MinSegment       = 20   // characters
	MaxSegment       = 4000 // characters
)

// TimingFields are the timing keys, in the order the schema lists them.
var TimingFields = []Field{
	{Name: "response_delay", Kind: KNumber, Doc: "Seconds between the user's message and the bot's first reply (0–300)."},
	{Name: "typing_speed", Kind: KNumber, Doc: "Characters per second: each further message waits its length / speed seconds, within typing_min and typing_max."},
	{Name: "typing_min", Kind: KNumber, Doc: "Shortest wait before each further message, in seconds (0–60)."},
	{Name: "typing_max", Kind: KNumber, Doc: "Longest wait before each further message, in seconds (0–60)."},
	{Name: "segment", Kind: KInt, Doc: "Split text replies longer than this many characters into several messages at paragraph, sentence or word boundaries (0: never; else 20–4000)."},
	{Name: "aggregate", Kind: KBool, Doc: "Answer the messages the user sends during response_delay together, as one turn."},
	{Name: "interrupt", Kind: KBool, Doc: "A new user message cancels the bot's messages not yet sent."},
	{Name: "quiet_hours", Kind: KString, Doc: "Hours (\"22:00-08:00\", in time_zone) during which follow-ups wait."},
	{Name: "time_zone", Kind: KString, Doc: "The conversation's IANA time zone, e.g. Europe/Berlin (default UTC)."},
}

// Check reports the first setting out of bounds, naming its key.
func (t Timing) Check() (field string, err error) {
	num := func(v *float64, hi float64) error {
		if v != nil && (*v < 0 || *v > hi || *v != *v) {
			return fmt.Errorf("must be between 0 and %g seconds", hi)
		}
		return nil
	}
	if err := num(t.ResponseDelay, MaxResponseDelay); err != nil {
		return "response_delay", err
	}
	if v := t.TypingSpeed; v != nil && (*v < 1 || *v > 1000 || *v != *v) {
		return "typing_speed", fmt.Errorf("must be between 1 and 1000 characters per second")
	}
	if err := num(t.TypingMin, MaxTypingDelay); err != nil {
		return "typing_min", err
	}
	if err := num(t.TypingMax, MaxTypingDelay); err != nil {
		return "typing_max", err
	}
	if t.TypingMin != nil && t.TypingMax != nil && *t.TypingMax < *t.TypingMin {
		return "typing_max", fmt.Errorf("must not be below typing_min (%g)", *t.TypingMin)
	}
	if v := t.Segment; v != nil && *v != 0 && (*v < MinSegment || *v > MaxSegment) {
		return "segment", fmt.Errorf("must be 0 (off) or between %d and %d characters", MinSegment, MaxSegment)
	}
	if t.QuietHours != nil && *t.QuietHours != "" {
		if _, err := ParseQuietHours(*t.QuietHours); err != nil {
			return "quiet_hours", err
		}
	}
	if t.TimeZone != nil && *t.TimeZone != "" {
		if _, err := time.LoadLocation(*t.TimeZone); err != nil || strings.ContainsAny(*t.TimeZone, " \\") {
			return "time_zone", fmt.Errorf("unknown time zone %q (use an IANA name such as Europe/Berlin)", *t.TimeZone)
		}
	}
	return "", nil
}

// Over returns t with every field that over sets replaced by over's.
func (t Timing) Over(over *Timing) Timing {
	if over == nil {
		return t
	}
	if over.ResponseDelay != nil {
		t.ResponseDelay = over.ResponseDelay
	}
	if over.TypingSpeed != nil {
		t.TypingSpeed = over.TypingSpeed
	}
	if over.TypingMin != nil {
		t.TypingMin = over.TypingMin
	}
	if over.TypingMax != nil {
		t.TypingMax = over.TypingMax
	}
	if over.Segment != nil {
		t.Segment = over.Segment
	}
	if over.Aggregate != nil {
		t.Aggregate = over.Aggregate
	}
	if over.Interrupt != nil {
		t.Interrupt = over.Interrupt
	}
	if over.QuietHours != nil {
		t.QuietHours = over.QuietHours
	}
	if over.TimeZone != nil {
		t.TimeZone = over.TimeZone
	}
	return t
}

// QuietHours is a daily window, in minutes after midnight; From > To
// wraps past midnight ("22:00-08:00").
type QuietHours struct {
	From, To int
}

// ParseQuietHours reads "HH:MM-HH:MM".
func ParseQuietHours(s string) (*QuietHours, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	bad := fmt.Errorf("quiet hours %q: write them as HH:MM-HH:MM, e.g. 22:00-08:00", s)
	if !ok {
		return nil, bad
	}
	f, ok1 := clockMinutes(from)
	t, ok2 := clockMinutes(to)
	if !ok1 || !ok2 || f == t {
		return nil, bad
	}
	return &QuietHours{From: f, To: t}, nil
}

func clockMinutes(s string) (int, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, false
	}
	return hh*60 + mm, true
}
