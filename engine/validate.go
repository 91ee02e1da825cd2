package engine

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flowbot/flowbot/flows"
)

var emailRe = regexp.MustCompile(`^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:.]{2,}$`)

// answer checks an event against a question. It returns the value to save
// and whether the answer is valid.
func answer(q *flows.Question, ev Event) (string, bool) {
	switch q.Expect {
	case "media":
		if ev.Name == EvMedia && ev.MediaURL != "" {
			return clip(ev.MediaURL, q.MaxLength)
		}
		return "", false
	case "location":
		if ev.Name == EvLocation && ev.Location != nil {
			return fmt.Sprintf("%g,%g", ev.Location.Latitude, ev.Location.Longitude), true
		}
		return "", false
	}
	if ev.Name != EvMessage && !(ev.Name == EvStart && ev.Text != "") {
		return "", false
	}
	text := strings.TrimSpace(clean(ev.Text))
	if text == "" || utf8.RuneCountInString(text) > q.MaxLength {
		return "", false
	}
	switch q.Expect {
	case "text":
		return text, true
	case "email":
		if emailRe.MatchString(text) {
			return text, true
		}
	case "phone":
		return phone(text)
	case "number":
		s := strings.ReplaceAll(text, ",", ".")
		if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpPnN_") && inRange(q, f) {
			return strconv.FormatFloat(f, 'f', -1, 64), true
		}
	case "date":
		return date(q, text, ev.Now)
	case "yes_no":
		switch strings.ToLower(strings.Trim(text, ".!? ")) {
		case "yes", "y", "yeah", "yep", "sure", "ok", "okay", "ja", "si", "sí", "oui", "true":
			return "yes", true
		case "no", "n", "nope", "nein", "non", "false":
			return "no", true
		}
	case "regex":
		if q.Pattern != nil && q.Pattern.MatchString(text) {
			return text, true
		}
	}
	return "", false
}

// inRange applies a number question's integer, min and max.
func inRange(q *flows.Question, f float64) bool {
	return (!q.Integer || f == math.Trunc(f)) && (q.Min == nil || f >= *q.Min) && (q.Max == nil || f <= *q.Max)
}

// date reads a date answer in one of flows.DateFormats, or today and
// tomorrow, on the day now is in the question's zone; it saves 2006-01-02.
func date(q *flows.Question, text string, now time.Time) (string, bool) {
	zone := q.Zone
	if zone == nil {
		zone = time.UTC
	}
	y, m, d := now.In(zone).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	var day time.Time
	switch t := strings.ToLower(strings.TrimSpace(strings.Trim(text, ".!"))); t {
	case "today", "heute":
		day = today
	case "tomorrow", "morgen":
		day = today.AddDate(0, 0, 1)
	default:
		t = strings.Join(strings.Fields(strings.ReplaceAll(text, ",", " ")), " ")
		for _, layout := range flows.DateFormats {
			if parsed, err := time.Parse(layout, t); err == nil {
				day = parsed
				break
			}
		}
		if day.IsZero() {
			return "", false
		}
	}
	days := int(day.Sub(today).Hours() / 24)
	if q.DateMin != nil && days < *q.DateMin || q.DateMax != nil && days > *q.DateMax {
		return "", false
	}
	return day.Format("2006-01-02"), true
}

func clip(s string, max int) (string, bool) {
	if utf8.RuneCountInString(s) > max {
		return "", false
	}
	return s, true
}

// phone accepts 6 to 15 digits with optional +, spaces, dots, dashes and
// parentheses, and returns the digits (with a leading + if given).
func phone(s string) (string, bool) {
	var b strings.Builder
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		default:
			return "", false
		}
	}
	if digits < 6 || digits > 15 {
		return "", false
	}
	return b.String(), true
}

// clean removes control characters (but newlines and tabs) from an answer,
// so that a saved value takes at most 4 bytes per character in the context.
func clean(s string) string {
	if !strings.ContainsFunc(s, isBadControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isBadControl(r) {
			return -1
		}
		return r
	}, s)
}

func isBadControl(r rune) bool {
	return (unicode.IsControl(r) && r != '\n' && r != '\t') || r == utf8.RuneError
}
