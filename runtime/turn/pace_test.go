package turn_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/turn"
)

func TestQuietHoursDefer(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	night, _ := flows.ParseQuietHours("22:00-08:00")
	noon, _ := flows.ParseQuietHours("12:00-13:30")
	for _, c := range []struct {
		q        *flows.QuietHours
		in, want string
	}{
		{night, "2026-12-03 21:59", "2026-12-03 21:59"},
		{night, "2026-12-03 22:00", "2026-12-04 08:00"},
		{night, "2026-12-03 23:30", "2026-12-04 08:00"},
		{night, "2026-12-04 03:00", "2026-12-04 08:00"},
		{night, "2026-12-04 08:00", "2026-12-04 08:00"},
		{noon, "2026-12-03 12:45", "2026-12-03 13:30"},
		{noon, "2026-12-03 13:30", "2026-12-03 13:30"},
		{nil, "2026-12-03 23:00", "2026-12-03 23:00"},
		// The night the clocks go back (25 hours): still 08:00 local.
		{night, "2026-10-24 23:00", "2026-10-25 08:00"},
	} {
		if got := (turn.Pace{Quiet: c.q, Location: berlin}).Defer(at(c.in)); !got.Equal(at(c.want)) {
			t.Errorf("%v.Defer(%s) = %s, want %s", c.q, c.in, got.In(berlin), c.want)
		}
	}
	for _, bad := range []string{"", "22:00", "22-08", "25:00-08:00", "22:00-08:60", "08:00-08:00", "8:0-9:00"} {
		if _, err := flows.ParseQuietHours(bad); err == nil {
			t.Errorf("ParseQuietHours(%q) accepted", bad)
		}
	}
}

func TestPaceTyping(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	p := turn.PaceOf(flows.Timing{TypingSpeed: f(20), TypingMin: f(1), TypingMax: f(3)})
	for n, want := range map[int]time.Duration{0: time.Second, 20: time.Second, 50: 2500 * time.Millisecond, 500: 3 * time.Second} {
		if got := p.Typing(n); got != want {
			t.Errorf("Typing(%d) = %s, want %s", n, got, want)
		}
	}
	if got := turn.PaceOf(flows.Timing{TypingMin: f(0.5)}).Typing(1000); got != 500*time.Millisecond {
		t.Errorf("without a speed: %s", got)
	}
	// Over: the upper level wins key by key.
	base := flows.Timing{ResponseDelay: f(2), TypingMin: f(1)}
	got := turn.PaceOf(base.Over(&flows.Timing{TypingMin: f(0)}))
	if got.ResponseDelay != 2*time.Second || got.TypingMin != 0 {
		t.Errorf("Over: %+v", got)
	}
}

// FuzzTiming: any timing settings that decode are checked or refused
// without a panic; those that pass Check resolve within the bounds, and
// quiet hours never move a time backwards or by more than a day.
func FuzzTiming(f *testing.F) {
	f.Add(`{"response_delay": 2, "typing_speed": 25, "typing_min": 0.8, "typing_max": 5, "segment": 280, "aggregate": true, "interrupt": true, "quiet_hours": "22:00-08:00", "time_zone": "Europe/Berlin"}`, int64(1_764_700_000))
	f.Add(`{"quiet_hours": "12:00-12:01", "time_zone": "Pacific/Chatham"}`, int64(0))
	f.Add(`{"typing_min": 3, "typing_max": 1}`, int64(-1))
	f.Add(`{"segment": 1e30, "response_delay": -1}`, int64(1<<40))
	f.Fuzz(func(t *testing.T, raw string, unix int64) {
		var tm flows.Timing
		if json.Unmarshal([]byte(raw), &tm) != nil {
			return
		}
		if _, err := tm.Check(); err != nil {
			return
		}
		p := turn.PaceOf(tm)
		if p.ResponseDelay < 0 || p.ResponseDelay > flows.MaxResponseDelay*time.Second || p.TypingMin > p.TypingMax || p.Typing(1<<20) > flows.MaxTypingDelay*time.Second {
			t.Fatalf("%s resolves out of bounds: %+v", raw, p)
		}
		if p.Segment != 0 && (p.Segment < flows.MinSegment || p.Segment > flows.MaxSegment) {
			t.Fatalf("%s: segment %d", raw, p.Segment)
		}
		at := time.Unix(unix%(1<<34), 0)
		got := p.Defer(at)
		if got.Before(at) || got.Sub(at) > 26*time.Hour {
			t.Fatalf("%s: Defer(%s) = %s", raw, at, got)
		}
	})
}
