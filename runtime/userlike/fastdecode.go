package userlike

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The fast decoder reads the webhook envelope in one validating pass over
// the bytes, without reflection and without copying the context: on a
// webhook turn it is most of the JSON work flowbot does. It handles the
// ordinary case only, and gives up (ok false) on anything unusual — a
// syntax error, a field of the wrong type, a null, a duplicate or
// non-lower-case key, deep nesting — leaving the decision and the precise
// error to the encoding/json path. FuzzFastDecodeMatches proves that
// whenever it succeeds it gives exactly what the encoding/json path gives.

// maxFastDepth is the deepest nesting the fast decoder follows; deeper
// input goes to encoding/json (which allows 10,000 levels).
const maxFastDepth = 200

// fastEnvelope is what the fast pass finds; raw values are spans of the body.
type fastEnvelope struct {
	cid, name, channel string
	context, contact   []byte
	approach, widget   []byte // info.approach_mode and info.widget, raw
	conversation       []byte // info.conversation, raw
	payload            []byte // the packet's payload, raw (nil when absent)
}

type fastScanner struct {
	b     []byte
	i     int
	depth int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *fastScanner) ws() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

// peek returns the next non-space byte (0 at the end).
func (s *fastScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str scans a string at s.i (which must be '"') and returns its content
// span; plain is false when it holds escapes or invalid UTF-8 (so the bytes
// are not its value).
func (s *fastScanner) str() (start, end int, plain, ok bool) {
	b := s.b
	i := s.i + 1
	start = i
	plain = true
	ascii := true
	for {
		for i < len(b) && !strSpecial[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, 0, false, false
		}
		switch c := b[i]; {
		case c == '"':
			end = i
			s.i = i + 1
			if !ascii && plain && !utf8.Valid(b[start:end]) {
				plain = false
			}
			return start, end, plain, true
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return 0, 0, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, 0, false, false
				}
				i += 6
			default:
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		default: // c >= 0x80
			ascii = false
			i++
		}
	}
}

// strSpecial marks the bytes that end the fast loop over a string's bytes:
// the closing quote, escapes, control characters and non-ASCII.
var strSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// stringValue reads a string value (s.i at '"'), unescaping through
// encoding/json when needed so that the result is identical.
func (s *fastScanner) stringValue() (string, bool) {
	from := s.i
	start, end, plain, ok := s.str()
	if !ok {
		return "", false
	}
	if plain {
		return string(s.b[start:end]), true
	}
	var v string
	if json.Unmarshal(s.b[from:s.i], &v) != nil {
		return "", false
	}
	return v, true
}

// number scans a JSON number.
func (s *fastScanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s.i = i
	return true
}

func (s *fastScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// skip scans any value, validating it.
func (s *fastScanner) skip() bool {
	switch s.peek() {
	case '"':
		_, _, _, ok := s.str()
		return ok
	case '{':
		return s.object(nil, nil)
	case '[':
		s.depth++
		if s.depth > maxFastDepth {
			return false
		}
		s.i++
		if s.peek() == ']' {
			s.i++
			s.depth--
			return true
		}
		for {
			if !s.skip() {
				return false
			}
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				s.depth--
				return true
			default:
				return false
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case 0:
		return false
	}
	return s.number()
}

// raw scans any value but null and returns its bytes.
func (s *fastScanner) raw() ([]byte, bool) {
	if s.peek() == 'n' {
		return nil, false
	}
	from := s.i
	if !s.skip() {
		return nil, false
	}
	return s.b[from:s.i], true
}

// object scans an object. For each key that is one of known it calls
// field with the key's index and s.i at the value (field must consume the
// value); other keys' values are skipped. It gives up when an object with
// known keys has a key that is not plain lower-case ASCII (encoding/json
// matches keys case-insensitively) or a known key twice (encoding/json
// merges duplicates).
func (s *fastScanner) object(known []string, field func(k int) bool) bool {
	if s.peek() != '{' {
		return false
	}
	s.depth++
	if s.depth > maxFastDepth {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		s.depth--
		return true
	}
	var seen uint32
	for {
		if s.peek() != '"' {
			return false
		}
		start, end, plain, ok := s.str()
		if !ok {
			return false
		}
		if s.peek() != ':' {
			return false
		}
		s.i++
		k := -1
		if known != nil {
			if !plain {
				return false
			}
			key := s.b[start:end]
			for _, c := range key {
				if c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
					return false
				}
			}
			for j, name := range known {
				if string(key) == name {
					k = j
					break
				}
			}
		}
		if k >= 0 {
			if seen&(1<<k) != 0 {
				return false
			}
			seen |= 1 << k
			if !field(k) {
				return false
			}
		} else if !s.skip() {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// internedField reads a string value into dst like stringField, but
// without allocating when it is one of names.
func (s *fastScanner) internedField(dst *string, names []string) bool {
	if s.peek() != '"' {
		return false
	}
	from := s.i
	start, end, plain, ok := s.str()
	if !ok {
		return false
	}
	if plain {
		for _, n := range names {
			if string(s.b[start:end]) == n {
				*dst = n
				return true
			}
		}
		*dst = string(s.b[start:end])
		return true
	}
	s.i = from
	return s.stringField(dst)
}

// eventNames and channelNames are the strings internedField keeps without
// allocating.
var (
	eventNames   = []string{"message", "click", "start", "media", "location", "forward_failed", "campaign_unsubscribe"}
	channelNames = []string{"web", "whatsapp_business", "facebook", "telegram", "threema", "sms", "custom"}
)

// stringField reads a string value into dst; anything else gives up.
func (s *fastScanner) stringField(dst *string) bool {
	if s.peek() != '"' {
		return false
	}
	v, ok := s.stringValue()
	*dst = v
	return ok
}

var (
	topKeys            = []string{"info", "packet"}
	infoKeys           = []string{"cid", "context", "contact", "conversation", "approach_mode", "widget"}
	conversationKeys   = []string{"contact_channel"}
	contactChannelKeys = []string{"type"}
	packetKeys         = []string{"name", "payload"}
	payloadKeys        = []string{"body", "url", "link", "address", "latitude", "longitude", "value"}
	valueKeys          = []string{"id", "label"}
)

// fastDecode reads the envelope of body in one pass; false means "use
// encoding/json".
func fastDecode(body []byte, e *fastEnvelope) bool {
	*e = fastEnvelope{}
	s := fastScanner{b: body}
	var ok bool
	ok = s.object(topKeys, func(k int) bool {
		if k == 0 { // info
			return s.object(infoKeys, func(k int) bool {
				switch k {
				case 0:
					return s.stringField(&e.cid)
				case 1:
					e.context, ok = s.raw()
					return ok
				case 2:
					e.contact, ok = s.raw()
					return ok
				case 4:
					e.approach, ok = s.raw()
					return ok
				case 5:
					e.widget, ok = s.raw()
					return ok
				}
				s.ws()
				from := s.i
				ok = s.object(conversationKeys, func(int) bool {
					return s.object(contactChannelKeys, func(int) bool { return s.internedField(&e.channel, channelNames) })
				})
				e.conversation = s.b[from:s.i]
				return ok
			})
		}
		return s.object(packetKeys, func(k int) bool { // packet
			if k == 0 {
				return s.internedField(&e.name, eventNames)
			}
			e.payload, ok = s.raw()
			return ok
		})
	})
	if !ok {
		return false
	}
	s.ws()
	return s.i == len(body)
}

// fastPayload reads a known event's payload object; false means "use
// encoding/json".
func fastPayload(raw []byte, p *anyPayload) bool {
	*p = anyPayload{}
	if len(raw) == 0 {
		return true
	}
	s := fastScanner{b: raw}
	var ok bool
	return s.object(payloadKeys, func(k int) bool {
		switch k {
		case 0:
			return s.stringField(&p.Body)
		case 1:
			return s.stringField(&p.URL)
		case 2:
			return s.stringField(&p.Link)
		case 3:
			return s.stringField(&p.Address)
		case 4, 5:
			if c := s.peek(); c != '"' && c != '-' && (c < '0' || c > '9') {
				return false
			}
			var v []byte
			v, ok = s.raw()
			if k == 4 {
				p.Latitude = v
			} else {
				p.Longitude = v
			}
			return ok
		}
		v := &ClickValue{}
		p.Value = v
		return s.object(valueKeys, func(k int) bool {
			if k == 0 {
				return s.stringField(&v.ID)
			}
			return s.stringField(&v.Label)
		})
	})
}

// maxFastFields bounds the keys of one object fastObjectFields reads (it
// compares them pairwise to find duplicates).
const maxFastFields = 16

// fastObjectFields is objectFields for the usual object — plain keys, no
// key twice, values that are plain strings, numbers, booleans, nulls or
// objects of those — without encoding/json's maps; false (out untouched)
// means "use objectFields". FuzzObjectFieldsFast proves the two agree.
func fastObjectFields(raw []byte, prefix string, out map[string]string) bool {
	if len(raw) == 0 || raw[0] != '{' {
		return true // objectFields adds nothing either
	}
	var n int
	if !fastFields(raw, 0, nil, "", &n) || len(out)+n > maxContactFields {
		return false
	}
	return fastFields(raw, 0, out, prefix, &n)
}

// fastFields walks the object raw (depth 0: its objects are read one level
// deep) and, when out is not nil, adds its fields; n counts them. It gives
// up on anything fastObjectFields does not handle.
func fastFields(raw []byte, depth int, out map[string]string, prefix string, n *int) bool {
	s := fastScanner{b: raw}
	if s.peek() != '{' {
		return false
	}
	s.i++
	var keys [maxFastFields][2]int
	nk := 0
	if s.peek() == '}' {
		s.i++
		s.ws()
		return s.i == len(raw)
	}
	for {
		if s.peek() != '"' {
			return false
		}
		start, end, plain, ok := s.str()
		if !ok || !plain || nk == maxFastFields || bytes.IndexByte(raw[start:end], '.') >= 0 {
			return false // a dotted key may meet a nested field's name
		}
		for _, k := range keys[:nk] {
			if string(raw[k[0]:k[1]]) == string(raw[start:end]) {
				return false // encoding/json keeps the last of a duplicate
			}
		}
		keys[nk] = [2]int{start, end}
		nk++
		if s.peek() != ':' {
			return false
		}
		s.i++
		c := s.peek()
		from := s.i
		switch {
		case c == '{' && depth == 0:
			if !s.skip() {
				return false
			}
			if !fastFields(raw[from:s.i], 1, out, prefix+string(raw[start:end])+".", n) {
				return false
			}
		case c == '{' || c == '[':
			if depth == 0 || !s.skip() { // a list at the top: objectFields joins it
				return false
			}
		case c == '"':
			_, vend, vplain, ok := s.str()
			if !ok || !vplain {
				return false
			}
			*n++
			if out != nil {
				out[prefix+string(raw[start:end])] = string(raw[from+1 : vend])
			}
		case c == 'n':
			if !s.literal("null") {
				return false
			}
		default:
			if !s.skip() {
				return false
			}
			*n++
			if out != nil {
				out[prefix+string(raw[start:end])] = string(raw[from:s.i])
			}
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.ws()
			return s.i == len(raw)
		default:
			return false
		}
	}
}
