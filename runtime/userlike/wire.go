package userlike

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
)

// Webhook is the body of one inbound webhook call, as Userlike sends it.
// Besides what it needs itself (cid, context, the channel), flowbot reads
// the platform's metadata for flows that use it (approach_mode, widget, the
// conversation object, the contact: see conversationFields).
type Webhook struct {
	Info   Info   `json:"info"`
	Packet Packet `json:"packet"`
}

// Info is the webhook's info object: the chatbot session and its context.
type Info struct {
	// CID identifies the chatbot session; every answer event repeats it.
	CID string `json:"cid"`
	// Context is the object flowbot sent last (any JSON; flowbot's own is
	// written by engine.EncodeContext).
	Context json.RawMessage `json:"context,omitempty"`
	// Conversation carries the contact's channel.
	Conversation Conversation `json:"conversation"`
	// Contact is the contact object; its scalar fields become contact.NAME
	// in templates (see contactFields).
	Contact json.RawMessage `json:"contact,omitempty"`
	// ApproachMode ("proactive" when the messenger opened by itself, else
	// "normal") and Widget (the widget the chat started from) become
	// conversation.approach_mode and conversation.widget.NAME in flows.
	ApproachMode json.RawMessage `json:"approach_mode,omitempty"`
	Widget       json.RawMessage `json:"widget,omitempty"`
	// ConversationRaw is the whole info.conversation object (subject,
	// topics, locale, custom fields…), read only for flows that use
	// platform data; its fields become conversation.NAME.
	ConversationRaw json.RawMessage `json:"-"`
}

// Conversation is the part of info.conversation flowbot reads.
type Conversation struct {
	ContactChannel ContactChannel `json:"contact_channel"`
}

// ContactChannel names the channel the contact writes from.
type ContactChannel struct {
	// Type is web, whatsapp_business, facebook, telegram, threema, sms or
	// custom; absent means web, anything else is treated as custom.
	Type string `json:"type"`
}

// Packet is the event: its name and its name-specific payload.
type Packet struct {
	Name    string          `json:"name"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// The inbound payloads flowbot reads, by packet name.
type (
	// StartPayload is a start event's payload: empty on web, and on
	// messaging channels the contact's first message (body) or upload
	// (url, or link).
	StartPayload struct {
		Body string `json:"body"`
		URL  string `json:"url"`
		Link string `json:"link"`
	}
	// MessagePayload is a message event's payload.
	MessagePayload struct {
		Body string `json:"body"`
	}
	// ClickPayload is a click event's payload: the option clicked.
	ClickPayload struct {
		Value *ClickValue `json:"value"`
	}
	// ClickValue is the option of a click; ID is required.
	ClickValue struct {
		ID    string `json:"id"`
		Label string `json:"label"`
	}
	// MediaPayload is a media event's payload: the upload's URL in url
	// (link is accepted too).
	MediaPayload struct {
		URL  string `json:"url"`
		Link string `json:"link"`
	}
	// LocationPayload is a location event's payload (WhatsApp). Latitude and
	// longitude are required: JSON numbers, or strings holding numbers.
	LocationPayload struct {
		Latitude  json.RawMessage `json:"latitude"`
		Longitude json.RawMessage `json:"longitude"`
		Address   string          `json:"address"`
	}
)

// Inbound is a decoded webhook call, ready for the engine.
type Inbound struct {
	CID     string          // info.cid, never empty
	Context json.RawMessage // info.context as sent (may be empty)
	Channel string          // the channel type, normalized: absent is web, unknown is custom
	Event   engine.Event    // the event; Now is left for the caller to set
	Known   bool            // the event is one flowbot handles; unknown ones are answered with []
}

// DecodeError is bad input: the Handler answers it with 400 and
// {"error": Msg}.
type DecodeError struct {
	Msg string
}

// Error returns the message sent to the client.
func (e *DecodeError) Error() string { return e.Msg }

func badf(format string, args ...any) error {
	return &DecodeError{Msg: fmt.Sprintf(format, args...)}
}

// knownEvents are the webhook events flowbot handles.
var knownEvents = map[string]bool{
	engine.EvStart: true, engine.EvMessage: true, engine.EvClick: true, engine.EvMedia: true,
	engine.EvLocation: true, engine.EvForwardFailed: true, engine.EvCampaignUnsubscribe: true,
}

// DecodeWebhook reads one webhook body. Malformed JSON, a missing info.cid
// or packet.name, and a field of the wrong type give a *DecodeError whose
// message names the field. An event name flowbot does not know decodes
// with Known false and its payload unread.
func DecodeWebhook(body []byte) (Inbound, error) {
	var d decoder
	var in Inbound
	err := d.decode(body, &in, true, true)
	in.Context = bytes.Clone(in.Context)
	return in, err
}

// anyPayload holds the fields of every known event's payload at once (the
// fast decoder reads a payload before it needs to know the event).
type anyPayload struct {
	Body      string          `json:"body"`
	URL       string          `json:"url"`
	Link      string          `json:"link"`
	Value     *ClickValue     `json:"value"`
	Latitude  json.RawMessage `json:"latitude"`
	Longitude json.RawMessage `json:"longitude"`
	Address   string          `json:"address"`
}

// decoder is the reusable memory of decoding (the Handler pools it with
// the rest of a request's scratch space).
type decoder struct {
	env  fastEnvelope
	pay  anyPayload
	slow Webhook
}

// decode reads body into in: in one pass with the fast decoder when it
// can, else with encoding/json, which also gives the precise error.
// in.Context aliases body or the decoder's memory. wantContact false skips
// reading the contact's fields (for flows that use none), wantMeta false
// the conversation's metadata (approach_mode, widget, conversation).
func (d *decoder) decode(body []byte, in *Inbound, wantContact, wantMeta bool) error {
	return d.decodeWith(body, in, wantContact, wantMeta, true)
}

// decodeWith is decode; fast false skips the fast decoder (for tests that
// compare the two).
func (d *decoder) decodeWith(body []byte, in *Inbound, wantContact, wantMeta, fast bool) error {
	*in = Inbound{}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return badf("the body is empty: send a webhook event as a JSON object {\"info\": {\"cid\": …}, \"packet\": {\"name\": …}}")
	}
	if body[0] != '{' {
		if !json.Valid(body) {
			return syntaxError(json.Unmarshal(body, new(any)))
		}
		return badf("the body must be a JSON object, got %s", jsonKind(body[0]))
	}
	e := &d.env
	if fast && fastDecode(body, e) {
		var p *anyPayload
		if knownEvents[e.name] {
			if !fastPayload(e.payload, &d.pay) {
				return d.decodeSlow(body, in, wantContact, wantMeta)
			}
			p = &d.pay
		}
		info := Info{CID: e.cid, Context: e.context, Contact: e.contact, ApproachMode: e.approach, Widget: e.widget}
		if wantMeta {
			info.ConversationRaw = e.conversation
		}
		info.Conversation.ContactChannel.Type = e.channel
		return finish(in, &info, e.name, nil, p, wantContact, wantMeta)
	}
	return d.decodeSlow(body, in, wantContact, wantMeta)
}

// decodeSlow decodes the envelope, then the payload by the event's name.
func (d *decoder) decodeSlow(body []byte, in *Inbound, wantContact, wantMeta bool) error {
	w := &d.slow
	w.Info.CID, w.Info.Conversation, w.Packet.Name = "", Conversation{}, ""
	w.Info.Context, w.Info.Contact, w.Packet.Payload = w.Info.Context[:0], w.Info.Contact[:0], w.Packet.Payload[:0]
	w.Info.ApproachMode, w.Info.Widget, w.Info.ConversationRaw = w.Info.ApproachMode[:0], w.Info.Widget[:0], nil
	if err := json.Unmarshal(body, w); err != nil {
		return fieldError("", err)
	}
	if wantMeta {
		// The conversation object as sent, for its metadata (a second
		// pass: this path is the rare one).
		var aux struct {
			Info struct {
				Conversation json.RawMessage `json:"conversation"`
			} `json:"info"`
		}
		if json.Unmarshal(body, &aux) == nil {
			w.Info.ConversationRaw = aux.Info.Conversation
		}
	}
	return finish(in, &w.Info, w.Packet.Name, w.Packet.Payload, nil, wantContact, wantMeta)
}

// finish checks the envelope and fills in. The payload is either raw (to
// decode by the event's name) or already decoded.
func finish(in *Inbound, info *Info, name string, raw json.RawMessage, p *anyPayload, wantContact, wantMeta bool) error {
	if info.CID == "" {
		return badf("info.cid is missing: every webhook event names its chatbot session")
	}
	if name == "" {
		return badf("packet.name is missing: every webhook event names its event (start, message, click, …)")
	}
	in.CID = info.CID
	in.Context = info.Context
	in.Channel = channelOf(info.Conversation.ContactChannel.Type)
	ev := &in.Event
	ev.Name = name
	ev.Channel = in.Channel
	if !knownEvents[name] {
		return nil
	}
	in.Known = true
	if err := checkObject("info.contact", info.Contact); err != nil {
		return err
	}
	if wantContact {
		ev.Contact = contactFields(info.Contact)
	}
	if wantMeta {
		ev.Conversation = conversationFields(info.ApproachMode, info.Widget, info.ConversationRaw)
	}
	if p == nil {
		var err error
		if p, err = payloadOf(name, raw); err != nil {
			return err
		}
	}
	switch name {
	case engine.EvStart:
		ev.Text = p.Body
		ev.MediaURL = firstNonEmpty(p.URL, p.Link)
	case engine.EvMessage:
		ev.Text = p.Body
	case engine.EvClick:
		if p.Value == nil {
			return badf("packet.payload.value is missing: a click carries the option clicked, {\"value\": {\"id\": …}}")
		}
		if p.Value.ID == "" {
			return badf("packet.payload.value.id is missing: a click names the id of the option clicked")
		}
		ev.ClickID = p.Value.ID
	case engine.EvMedia:
		ev.MediaURL = firstNonEmpty(p.URL, p.Link)
	case engine.EvLocation:
		lat, err := coordinate("latitude", p.Latitude, 90)
		if err != nil {
			return err
		}
		lon, err := coordinate("longitude", p.Longitude, 180)
		if err != nil {
			return err
		}
		ev.Location = &engine.Location{Latitude: lat, Longitude: lon, Address: p.Address}
	}
	return nil
}

// payloadOf decodes a known event's payload, holding only the fields that
// event uses against it.
func payloadOf(name string, raw json.RawMessage) (*anyPayload, error) {
	if err := checkObject("packet.payload", raw); err != nil {
		return nil, err
	}
	p := &anyPayload{}
	if isEmptyJSON(raw) {
		return p, nil
	}
	var err error
	switch name {
	case engine.EvStart:
		var sp StartPayload
		err = decodePayload(raw, &sp)
		p.Body, p.URL, p.Link = sp.Body, sp.URL, sp.Link
	case engine.EvMessage:
		var mp MessagePayload
		err = decodePayload(raw, &mp)
		p.Body = mp.Body
	case engine.EvClick:
		var cp ClickPayload
		err = decodePayload(raw, &cp)
		p.Value = cp.Value
	case engine.EvMedia:
		var mp MediaPayload
		err = decodePayload(raw, &mp)
		p.URL, p.Link = mp.URL, mp.Link
	case engine.EvLocation:
		var lp LocationPayload
		err = decodePayload(raw, &lp)
		p.Latitude, p.Longitude, p.Address = lp.Latitude, lp.Longitude, lp.Address
	}
	return p, err
}

// channelOf normalizes the contact channel type: absent means web (the
// Userlike chat widget, docs/userlike.md), anything unknown is custom.
func channelOf(typ string) string {
	if typ == "" {
		return channels.Web
	}
	return channels.Normalize(typ)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// isEmptyJSON reports an absent, null or {} value.
func isEmptyJSON(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null" || string(raw) == "{}"
}

// checkObject requires raw to be absent, null or a JSON object.
func checkObject(field string, raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == '{' || string(raw) == "null" {
		return nil
	}
	return badf("%s: expected an object, got %s", field, jsonKind(raw[0]))
}

func decodePayload(raw []byte, v any) error {
	if raw == nil {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fieldError("packet.payload", err)
	}
	return nil
}

// coordinate reads a latitude or longitude within ±limit: a JSON number,
// or a string holding one.
func coordinate(name string, raw json.RawMessage, limit float64) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, badf("packet.payload.%s is missing: a location carries latitude and longitude", name)
	}
	text := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &text) != nil {
			return 0, badf("packet.payload.%s: expected a number", name)
		}
	} else if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, badf("packet.payload.%s: expected a number, got %s", name, jsonKind(raw[0]))
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > limit {
		shown := quoteShort(text)
		if raw[0] != '"' && len(text) <= 40 {
			shown = text
		}
		return 0, badf("packet.payload.%s: %s is not a %s between -%g and %g", name, shown, name, limit, limit)
	}
	return f, nil
}

// fieldError turns an encoding/json error into a DecodeError that names
// the field (prefixed by prefix) and the types involved.
func fieldError(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if prefix != "" {
			if field == "" {
				field = prefix
			} else {
				field = prefix + "." + field
			}
		}
		if field == "" {
			field = "the body"
		}
		got, _, _ := strings.Cut(te.Value, " ")
		return badf("%s: expected %s, got %s", field, typeName(te.Type), article(got))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || prefix == "" {
		return syntaxError(err)
	}
	// A json.Number field given a string that is no number, and the like.
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return badf("%s: %s", prefix, msg)
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return badf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	if err == nil {
		return badf("malformed JSON")
	}
	return badf("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// typeName says what a Go type is as JSON.
func typeName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return "another type"
}

func article(kind string) string {
	switch kind {
	case "object", "array":
		return "an " + kind
	case "string", "number":
		return "a " + kind
	case "bool":
		return "true or false"
	case "":
		return "another type"
	}
	return kind
}

// jsonKind names the JSON type that starts with byte c.
func jsonKind(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "true or false"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return "something else"
}

// quoteShort quotes s for an error message, shortened to 40 characters.
func quoteShort(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:40]) + "…"
	}
	return strconv.Quote(s)
}

// maxContactFields bounds the contact fields read, so that a huge contact
// object cannot make a huge map.
const maxContactFields = 64

// contactFields reads the scalar fields of the contact object as strings:
// strings as they are, numbers and booleans as written in JSON. Fields of a
// nested object (custom_fields) are read one level deep as
// "custom_fields.NAME". Nulls, arrays and deeper objects are skipped, and so
// is everything when the object cannot be read.
func contactFields(raw []byte) map[string]string {
	if isEmptyJSON(raw) {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil || len(fields) == 0 {
		return nil
	}
	out := make(map[string]string, min(len(fields), maxContactFields))
	for k, v := range fields {
		if len(out) >= maxContactFields {
			break
		}
		if len(v) > 0 && v[0] == '{' {
			var sub map[string]json.RawMessage
			if json.Unmarshal(v, &sub) != nil {
				continue
			}
			for sk, sv := range sub {
				if len(out) >= maxContactFields {
					break
				}
				if s, ok := scalar(sv); ok {
					out[k+"."+sk] = s
				}
			}
			continue
		}
		if s, ok := scalar(v); ok {
			out[k] = s
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// scalar returns a JSON string's value, or a number's or boolean's text.
func scalar(v json.RawMessage) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		if len(v) >= 2 && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
			return string(v[1 : len(v)-1]), true
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case c == 't' || c == 'f' || c == '-' || c >= '0' && c <= '9':
		return string(v), true
	}
	return "", false
}

// conversationFields are the platform's metadata of the chat, as flows read
// them under conversation.: approach_mode (from info.approach_mode), the
// widget's fields as widget.NAME, and the fields of info.conversation as
// NAME (subject, locale, topics, contact_channel.type, custom_fields.NAME…).
// Strings are kept as they are, numbers and booleans as written in JSON;
// objects are read one level deep (NAME.FIELD), and a list of strings or
// numbers, or of objects with a name (topics), is the values (names)
// joined by ", ". Nulls and anything deeper are skipped; at most
// maxContactFields fields are read.
func conversationFields(approach, widget, conversation []byte) map[string]string {
	out := map[string]string{}
	if v, ok := scalar(approach); ok {
		out["approach_mode"] = v
	}
	objectFields(widget, "widget.", out)
	objectFields(conversation, "", out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// objectFields adds the fields of a JSON object to out, each under prefix
// (see conversationFields); anything but an object adds nothing.
func objectFields(raw []byte, prefix string, out map[string]string) {
	if len(raw) == 0 || raw[0] != '{' || fastObjectFields(raw, prefix, out) {
		return
	}
	slowObjectFields(raw, prefix, out)
}

// slowObjectFields is objectFields through encoding/json, for any object.
func slowObjectFields(raw []byte, prefix string, out map[string]string) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return
	}
	for _, k := range sortedKeys(fields) {
		if len(out) >= maxContactFields {
			return
		}
		v := fields[k]
		switch {
		case len(v) > 0 && v[0] == '{':
			var sub map[string]json.RawMessage
			if json.Unmarshal(v, &sub) != nil {
				continue
			}
			for _, sk := range sortedKeys(sub) {
				if s, ok := scalar(sub[sk]); ok && len(out) < maxContactFields {
					out[prefix+k+"."+sk] = s
				}
			}
		case len(v) > 0 && v[0] == '[':
			if s, ok := listText(v); ok {
				out[prefix+k] = s
			}
		default:
			if s, ok := scalar(v); ok {
				out[prefix+k] = s
			}
		}
	}
}

// listText joins a list of scalars, or of objects' names, with ", ".
func listText(raw []byte) (string, bool) {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return "", false
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		if len(it) > 0 && it[0] == '{' {
			var named struct {
				Name json.RawMessage `json:"name"`
			}
			if json.Unmarshal(it, &named) != nil {
				continue
			}
			it = named.Name
		}
		if s, ok := scalar(it); ok {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", "), true
}

// sortedKeys returns the keys of m in order, so that the field limit
// keeps the same fields every time.
func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
