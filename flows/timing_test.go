package flows

import "testing"

// TestParseQuietHours: quiet hours read as HH:MM-HH:MM (how they defer a
// follow-up: runtime/turn's Pace.Defer).
func TestParseQuietHours(t *testing.T) {
	if q, err := ParseQuietHours("22:00-08:00"); err != nil || q.From != 22*60 || q.To != 8*60 {
		t.Fatalf("%+v %v", q, err)
	}
	for _, bad := range []string{"", "22:00", "22-08", "25:00-08:00", "22:00-08:60", "08:00-08:00", "8:0-9:00"} {
		if _, err := ParseQuietHours(bad); err == nil {
			t.Errorf("ParseQuietHours(%q) accepted", bad)
		}
	}
}
