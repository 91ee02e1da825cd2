package engine

import (
	"strconv"
	"strings"
)

// Read maps a typed reply to an option id: exactly a valid number when the
// options were shown numbered, or an option's label (trimmed, any case) on
// every channel. It reports false for anything else.
func (p *Pending) Read(text string) (string, bool) {
	if p == nil {
		return "", false
	}
	t := strings.TrimSpace(text)
	if t == "" {
		return "", false
	}
	if p.Numbered {
		if n, err := strconv.Atoi(t); err == nil && n >= 1 && n <= len(p.Options) && t[0] != '+' && t[0] != '0' {
			return p.Options[n-1].ID, true
		}
	}
	for _, o := range p.Options {
		if strings.EqualFold(strings.TrimSpace(o.Label), t) {
			return o.ID, true
		}
	}
	return "", false
}

// Has reports whether id is one of the pending options.
func (p *Pending) Has(id string) bool {
	if p == nil {
		return false
	}
	for _, o := range p.Options {
		if o.ID == id {
			return true
		}
	}
	return false
}
