package userlike

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/flowbot/flowbot/channels"
)

// OutEvent is one triggerable event of an answer, as Userlike reads it.
// The Handler writes these directly (appendEvents); the type documents the
// shape and serves clients and tests that decode answers.
type OutEvent struct {
	Info   OutInfo   `json:"info"`
	Packet OutPacket `json:"packet"`
}

// OutInfo addresses an answer event and carries the conversation's new
// context (on every event, so that Userlike keeps the newest whichever it
// stores last).
type OutInfo struct {
	CID     string          `json:"cid"`
	Context json.RawMessage `json:"context"`
}

// OutPacket is an answer event's name and payload.
type OutPacket struct {
	Name    string          `json:"name"`
	Payload json.RawMessage `json:"payload"`
}

// appendEvents writes the answer array: one event per packet, each with
// the cid and the context.
func appendEvents(dst []byte, cid string, ctx []byte, packets []channels.Packet) []byte {
	dst = append(dst, '[')
	if len(packets) == 0 {
		return append(dst, ']')
	}
	// The info object is the same on every event: write it once and copy it.
	dst = append(dst, `{"info":{"cid":`...)
	start := len(dst)
	dst = appendString(dst, cid)
	dst = append(dst, `,"context":`...)
	dst = append(dst, ctx...)
	dst = append(dst, `},"packet":{"name":`...)
	end := len(dst)
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, `,{"info":{"cid":`...)
			dst = append(dst, dst[start:end]...)
		}
		dst = appendString(dst, p.Name)
		dst = append(dst, `,"payload":`...)
		dst = appendPayload(dst, p.Payload)
		dst = append(dst, `}}`...)
	}
	return append(dst, ']')
}

// appendPayload writes a packet payload as JSON. The payload types of
// package channels and the plain data of platform actions are written
// directly, exactly as encoding/json (without HTML escaping) would write
// them; anything else goes through encoding/json.
func appendPayload(dst []byte, v any) []byte {
	switch p := v.(type) {
	case channels.MessagePayload:
		dst = append(dst, `{"body":`...)
		dst = appendString(dst, p.Body)
		if p.TextFormat != "" {
			dst = append(dst, `,"text_format":`...)
			dst = appendString(dst, p.TextFormat)
		}
		return append(dst, '}')
	case channels.ChoicePayload:
		dst = append(dst, `{"body":`...)
		dst = appendString(dst, p.Body)
		dst = append(dst, `,"fallback":`...)
		dst = appendString(dst, p.Fallback)
		dst = appendOptString(dst, `,"header":`, p.Header)
		dst = appendOptString(dst, `,"footer":`, p.Footer)
		dst = appendOptString(dst, `,"button":`, p.Button)
		if p.Options == nil {
			return append(dst, `,"options":null}`...)
		}
		dst = append(dst, `,"options":[`...)
		for i, o := range p.Options {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = appendString(dst, o.ID)
			dst = append(dst, `,"label":`...)
			dst = appendString(dst, o.Label)
			dst = appendOptString(dst, `,"description":`, o.Description)
			dst = appendOptString(dst, `,"image":`, o.Image)
			dst = append(dst, '}')
		}
		return append(dst, "]}"...)
	case channels.MediaPayload:
		dst = append(dst, `{"type":`...)
		dst = appendString(dst, p.Type)
		dst = append(dst, `,"link":`...)
		dst = appendString(dst, p.Link)
		dst = appendOptString(dst, `,"caption":`, p.Caption)
		return append(dst, '}')
	case channels.NavigatePayload:
		dst = append(dst, `{"url":`...)
		dst = appendString(dst, p.URL)
		return append(dst, '}')
	case channels.DelayPayload:
		dst = append(dst, `{"seconds":`...)
		if d, ok := appendFloat(dst, p.Seconds); ok {
			dst = d
		} else {
			dst = append(dst, '0')
		}
		return append(dst, '}')
	case struct{}:
		return append(dst, "{}"...)
	case map[string]any:
		if p == nil {
			return append(dst, "{}"...)
		}
		return appendValue(dst, p)
	}
	return appendValue(dst, v)
}

func appendOptString(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, key...)
	return appendString(dst, s)
}

// appendValue writes plain data (what flows.Value.Render gives) as JSON.
func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendString(dst, x)
	case bool:
		return strconv.AppendBool(dst, x)
	case float64:
		if d, ok := appendFloat(dst, x); ok {
			return d
		}
		return append(dst, "null"...)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case []any:
		if x == nil {
			return append(dst, "null"...)
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		return appendObject(dst, x, appendValue)
	case map[string]string:
		return appendObject(dst, x, appendString)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return append(dst, "null"...)
	}
	return append(dst, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// appendFloat writes f as encoding/json does; ok is false for NaN and ±Inf,
// which JSON cannot carry.
func appendFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does with
// HTML escaping off: invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029
// are escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendObject writes a map as a JSON object with sorted keys, as
// encoding/json does; appendV writes each value.
func appendObject[V any](dst []byte, m map[string]V, appendV func([]byte, V) []byte) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendV(dst, m[k])
	}
	return append(dst, '}')
}
