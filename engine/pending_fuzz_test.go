package engine

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzPendingRead: any reply maps to at most one of the pending options, a
// number only when the options were shown numbered, and never panics.
func FuzzPendingRead(f *testing.F) {
	for _, s := range []string{"1", " 2 ", "delivery status", "DELIVERY STATUS", "4", "0", "-1", "+1", "01", "1.", "", " ", "Talk to a human", "9999999999999999999999", "\u00a01"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, reply string, numbered bool) {
		p := &Pending{Numbered: numbered, Options: []PendingOption{
			{"delivery", "Delivery status"}, {"returns", "Return an item"}, {"hours", "Opening hours"}, {"human", "Talk to a human"},
		}}
		id, ok := p.Read(reply)
		if !ok {
			if id != "" {
				t.Fatalf("no match but id %q", id)
			}
			return
		}
		if !p.Has(id) {
			t.Fatalf("%q read as %q, which is not an option", reply, id)
		}
		trimmed := strings.TrimSpace(reply)
		if n, err := strconv.Atoi(trimmed); err == nil && !strings.EqualFold(trimmed, optionLabel(p, id)) {
			if !numbered {
				t.Fatalf("%q read as a number although no numbers were shown", reply)
			}
			if p.Options[n-1].ID != id {
				t.Fatalf("%q read as %q, want option %d", reply, id, n)
			}
		} else if !strings.EqualFold(trimmed, optionLabel(p, id)) {
			t.Fatalf("%q read as %q but is neither its number nor its label", reply, id)
		}
	})
}

func optionLabel(p *Pending, id string) string {
	for _, o := range p.Options {
		if o.ID == id {
			return o.Label
		}
	}
	return ""
}
