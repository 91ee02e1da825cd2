package turn

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/flowbot/flowbot/flows"
)

// Pace is a flow's `timing` (flows.Timing) with every field resolved,
// ready to schedule with: both modes pace and defer with it.
type Pace struct {
	ResponseDelay time.Duration
	TypingSpeed   float64 // 0: none
	TypingMin     time.Duration
	TypingMax     time.Duration
	Segment       int
	Aggregate     bool
	Interrupt     bool
	Quiet         *flows.QuietHours // nil: none
	Location      *time.Location
}

// PaceOf resolves t, unset fields taking their defaults (no delays, no
// segmentation, no aggregation, no interruption, no quiet hours, UTC).
// Settings that do not Check are treated as unset.
func PaceOf(t flows.Timing) Pace {
	sec := func(v *float64) time.Duration {
		if v == nil || *v < 0 || *v != *v {
			return 0
		}
		return time.Duration(*v * float64(time.Second))
	}
	p := Pace{Location: time.UTC}
	p.ResponseDelay = min(sec(t.ResponseDelay), flows.MaxResponseDelay*time.Second)
	p.TypingMin = min(sec(t.TypingMin), flows.MaxTypingDelay*time.Second)
	p.TypingMax = flows.MaxTypingDelay * time.Second
	if t.TypingMax != nil {
		p.TypingMax = max(min(sec(t.TypingMax), flows.MaxTypingDelay*time.Second), p.TypingMin)
	}
	if t.TypingSpeed != nil && *t.TypingSpeed >= 1 {
		p.TypingSpeed = *t.TypingSpeed
	}
	if t.Segment != nil && *t.Segment >= flows.MinSegment {
		p.Segment = min(*t.Segment, flows.MaxSegment)
	}
	p.Aggregate = t.Aggregate != nil && *t.Aggregate
	p.Interrupt = t.Interrupt != nil && *t.Interrupt
	if t.QuietHours != nil {
		if q, err := flows.ParseQuietHours(*t.QuietHours); err == nil {
			p.Quiet = q
		}
	}
	if t.TimeZone != nil {
		if loc, err := time.LoadLocation(*t.TimeZone); err == nil {
			p.Location = loc
		}
	}
	return p
}

// Typing is how long the bot "types" a message of n characters before
// sending it (every message of a reply but the first, which waits
// ResponseDelay).
func (p Pace) Typing(n int) time.Duration {
	if p.TypingSpeed == 0 {
		return p.TypingMin
	}
	d := time.Duration(float64(n) / p.TypingSpeed * float64(time.Second))
	return min(max(d, p.TypingMin), p.TypingMax)
}

// NextBase is the activity the next `on_silence` rule counts from when a
// rule that counted from base and was planned for planned fires at now:
// base moved by how late the rule fired (quiet hours deferred it, or no
// process was running, or a busy worker), so that the rules keep their
// distances.
func NextBase(base, planned, now time.Time) time.Time {
	if late := now.Sub(planned); late > 0 && !planned.IsZero() {
		return base.Add(late)
	}
	return base
}

// Defer returns t, or the end of the pace's quiet hours t falls in (in
// its Location).
func (p Pace) Defer(t time.Time) time.Time {
	q, loc := p.Quiet, p.Location
	if q == nil {
		return t
	}
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	midnight := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	at := func(day time.Time, minutes int) time.Time {
		return time.Date(day.Year(), day.Month(), day.Day(), minutes/60, minutes%60, 0, 0, loc)
	}
	switch {
	case q.From < q.To: // same day, e.g. 12:00-14:00
		if m >= q.From && m < q.To {
			return at(midnight, q.To)
		}
	case m >= q.From: // wraps: evening part
		return at(midnight.AddDate(0, 0, 1), q.To)
	case m < q.To: // wraps: morning part
		return at(midnight, q.To)
	}
	return t
}

// ContextHash identifies an encoded context (24 hex digits of its
// SHA-256): a follow-up timer keeps it to tell that its conversation has
// moved on (platform mode's timers, Userlike mode's outbox).
func ContextHash(ctx []byte) string {
	sum := sha256.Sum256(ctx)
	return hex.EncodeToString(sum[:12])
}
