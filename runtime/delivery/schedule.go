package delivery

import (
	"fmt"
	"strings"
	"time"

	"github.com/flowbot/flowbot/runtime/retryafter"
)

// Schedule is the wait before each attempt of a delivery: s[n] before
// attempt n (attempt 0 is the first delivery), and the last step again for
// every attempt after the end, forever.
type Schedule []time.Duration

// DefaultSchedule is the retry schedule of the Chat API: at once, then 5
// seconds, 5 minutes, 30 minutes, 2 hours, 5 hours, and every 10 hours from
// then on.
var DefaultSchedule = Schedule{
	0,
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
}

// ParseSchedule reads a schedule written as durations separated by commas,
// as in "0s,5s,5m,30m,2h". Steps may not be negative, and the last one,
// which repeats forever, must be above 0.
func ParseSchedule(s string) (Schedule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf(`retry schedule is empty: write durations separated by commas, e.g. "0s,5s,5m"`)
	}
	parts := strings.Split(s, ",")
	out := make(Schedule, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("retry schedule %q: step %d is empty", s, i+1)
		}
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, fmt.Errorf("retry schedule %q: step %d, %q, is not a duration (write e.g. 0s, 5s, 5m or 2h)", s, i+1, p)
		}
		if d < 0 {
			return nil, fmt.Errorf("retry schedule %q: step %d, %q, is negative", s, i+1, p)
		}
		out = append(out, d)
	}
	if out[len(out)-1] <= 0 {
		return nil, fmt.Errorf("retry schedule %q: the last step repeats forever and must be above 0", s)
	}
	return out, nil
}

// String writes the schedule the way ParseSchedule reads it.
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		v := d.String()
		if strings.HasSuffix(v, "m0s") {
			v = strings.TrimSuffix(v, "0s")
		}
		if strings.HasSuffix(v, "h0m") {
			v = strings.TrimSuffix(v, "0m")
		}
		parts[i] = v
	}
	return strings.Join(parts, ",")
}

// Jitter is how far Delay moves a step at most, as a fraction of it.
const Jitter = 0.2

// Delay returns the wait before attempt number attempt (0 is the first
// delivery, 1 the first retry…): the schedule's step for it (the last step
// past the end), moved by up to ±20% with rnd, a random number in [0, 1)
// (0 makes it 20% shorter, 0.5 leaves it as is). A step of 0 stays 0. An
// empty schedule is DefaultSchedule.
func (s Schedule) Delay(attempt int, rnd float64) time.Duration {
	if len(s) == 0 {
		s = DefaultSchedule
	}
	base := s[min(max(attempt, 0), len(s)-1)]
	if base <= 0 {
		return 0
	}
	rnd = min(max(rnd, 0), 1)
	return time.Duration(float64(base) * (1 - Jitter + 2*Jitter*rnd))
}

// MaxRetryAfter caps the wait a Retry-After header may ask for.
const MaxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3), a number
// of seconds or an HTTP date, as a wait from now. A date in the past is a
// wait of 0; a wait over MaxRetryAfter is capped. ok is false when the
// header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	return retryafter.Parse(v, now, MaxRetryAfter)
}
