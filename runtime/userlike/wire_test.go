package userlike

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
)

func TestDecodeWebhook(t *testing.T) {
	cases := []struct {
		name string
		body string
		want Inbound
	}{
		{"start on web", `{"info":{"approach_mode":"proactive","cid":"chatbot::258:a5","contact":{},"context":{},"conversation":{"contact_channel":{"state":"valid","type":"web"}},"widget":{"id":1}},"packet":{"name":"start","payload":{}}}`,
			Inbound{CID: "chatbot::258:a5", Context: json.RawMessage(`{}`), Channel: "web", Known: true,
				Event: engine.Event{Name: "start", Channel: "web", Conversation: map[string]string{"approach_mode": "proactive",
					"contact_channel.state": "valid", "contact_channel.type": "web", "widget.id": "1"}}}},
		{"start with a first message", `{"info":{"cid":"c","conversation":{"contact_channel":{"type":"whatsapp_business"}}},"packet":{"name":"start","payload":{"body":"start"}}}`,
			Inbound{CID: "c", Channel: "whatsapp_business", Known: true, Event: engine.Event{Name: "start", Text: "start", Channel: "whatsapp_business",
				Conversation: map[string]string{"contact_channel.type": "whatsapp_business"}}}},
		{"start with an upload", `{"info":{"cid":"c"},"packet":{"name":"start","payload":{"url":"https://x/y.png"}}}`,
			Inbound{CID: "c", Channel: "web", Known: true, Event: engine.Event{Name: "start", MediaURL: "https://x/y.png", Channel: "web"}}},
		{"message", `{"info":{"cid":"c","context":{"fb":1}},"packet":{"name":"message","payload":{"body":"Ada \"the\" Countess"}}}`,
			Inbound{CID: "c", Context: json.RawMessage(`{"fb":1}`), Channel: "web", Known: true, Event: engine.Event{Name: "message", Text: `Ada "the" Countess`, Channel: "web"}}},
		{"message without payload", `{"info":{"cid":"c"},"packet":{"name":"message"}}`,
			Inbound{CID: "c", Channel: "web", Known: true, Event: engine.Event{Name: "message", Channel: "web"}}},
		{"click", `{"info":{"cid":"c"},"packet":{"name":"click","payload":{"value":{"id":"start","label":"start","extra":1}}}}`,
			Inbound{CID: "c", Channel: "web", Known: true, Event: engine.Event{Name: "click", ClickID: "start", Channel: "web"}}},
		{"media url", `{"info":{"cid":"c"},"packet":{"name":"media","payload":{"url":"https://x/a.jpg","mime_type":"image/jpeg"}}}`,
			Inbound{CID: "c", Channel: "web", Known: true, Event: engine.Event{Name: "media", MediaURL: "https://x/a.jpg", Channel: "web"}}},
		{"media link", `{"info":{"cid":"c"},"packet":{"name":"media","payload":{"link":"https://x/b.pdf"}}}`,
			Inbound{CID: "c", Channel: "web", Known: true, Event: engine.Event{Name: "media", MediaURL: "https://x/b.pdf", Channel: "web"}}},
		{"location", `{"info":{"cid":"c"},"packet":{"name":"location","payload":{"latitude":52.52,"longitude":"13.405","address":"Berlin"}}}`,
			Inbound{CID: "c", Channel: "web", Known: true, Event: engine.Event{Name: "location", Location: &engine.Location{Latitude: 52.52, Longitude: 13.405, Address: "Berlin"}, Channel: "web"}}},
		{"forward_failed", `{"info":{"cid":"c"},"packet":{"name":"forward_failed","payload":{}}}`,
			Inbound{CID: "c", Channel: "web", Known: true, Event: engine.Event{Name: "forward_failed", Channel: "web"}}},
		{"campaign_unsubscribe", `{"info":{"cid":"c","conversation":{"contact_channel":{"type":" WhatsApp_Business "}}},"packet":{"name":"campaign_unsubscribe","payload":{"keyword":"STOP"}}}`,
			Inbound{CID: "c", Channel: "whatsapp_business", Known: true, Event: engine.Event{Name: "campaign_unsubscribe", Channel: "whatsapp_business",
				Conversation: map[string]string{"contact_channel.type": " WhatsApp_Business "}}}},
		{"unknown event: payload unread", `{"info":{"cid":"c","contact":"not read"},"packet":{"name":"typing","payload":[1,2]}}`,
			Inbound{CID: "c", Channel: "web", Event: engine.Event{Name: "typing", Channel: "web"}}},
		{"unknown channel", `{"info":{"cid":"c","conversation":{"contact_channel":{"type":"pigeon"}}},"packet":{"name":"message","payload":{"body":"hi"}}}`,
			Inbound{CID: "c", Channel: "custom", Known: true, Event: engine.Event{Name: "message", Text: "hi", Channel: "custom",
				Conversation: map[string]string{"contact_channel.type": "pigeon"}}}},
		{"contact fields", `{"info":{"cid":"c","contact":{"id":42,"name":"Ada","email":"ada@example.com","mobile_number":"+49 1","is_mobile":true,"note":null,"tags":["a"],"custom_fields":{"tier":"gold","score":7,"deep":{"x":1}},"locale":"caf\u00e9"}},"packet":{"name":"message","payload":{"body":"x"}}}`,
			Inbound{CID: "c", Channel: "web", Known: true, Event: engine.Event{Name: "message", Text: "x", Channel: "web",
				Contact: map[string]string{"id": "42", "name": "Ada", "email": "ada@example.com", "mobile_number": "+49 1", "is_mobile": "true",
					"custom_fields.tier": "gold", "custom_fields.score": "7", "locale": "café"}}}},
		{"conversation metadata", `{"info":{"cid":"c","approach_mode":"proactive","widget":{"id":7,"name":"Shop widget","colors":{"primary":"#f00"},"tags":[1,2]},` +
			`"conversation":{"contact_channel":{"type":"whatsapp_business"},"subject":"Order","locale":"de_DE","topics":[{"id":3,"name":"Billing"},{"id":4,"name":"Returns"}],` +
			`"custom_fields":{"order_id":"A-1","vip":true},"url":"https://userlike.example/c/1","note":null}},"packet":{"name":"message","payload":{"body":"x"}}}`,
			Inbound{CID: "c", Channel: "whatsapp_business", Known: true, Event: engine.Event{Name: "message", Text: "x", Channel: "whatsapp_business",
				Conversation: map[string]string{"approach_mode": "proactive", "widget.id": "7", "widget.name": "Shop widget", "widget.colors.primary": "#f00",
					"widget.tags": "1, 2", "contact_channel.type": "whatsapp_business", "subject": "Order", "locale": "de_DE", "topics": "Billing, Returns",
					"custom_fields.order_id": "A-1", "custom_fields.vip": "true", "url": "https://userlike.example/c/1"}}}},
		{"approach mode not a string is skipped", `{"info":{"cid":"c","approach_mode":[1],"widget":"w"},"packet":{"name":"message","payload":{"body":"x"}}}`,
			Inbound{CID: "c", Channel: "web", Known: true, Event: engine.Event{Name: "message", Text: "x", Channel: "web"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeWebhook([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Context) == 0 {
				got.Context = nil
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestDecodeReusesScratch checks that a pooled Webhook leaves nothing from
// one call in the next.
func TestDecodeReusesScratch(t *testing.T) {
	var d decoder
	var in Inbound
	if err := d.decode([]byte(`{"info":{"cid":"a","context":{"fb":1},"contact":{"name":"A"},"conversation":{"contact_channel":{"type":"sms"}}},"packet":{"name":"location","payload":{"body":"x","latitude":1,"longitude":2,"value":{"id":"z"}}}}`), &in, true, true); err != nil {
		t.Fatal(err)
	}
	if err := d.decode([]byte(`{"info":{"cid":"b"},"packet":{"name":"click","payload":{"value":{"id":"o"}}}}`), &in, true, true); err != nil {
		t.Fatal(err)
	}
	want := Inbound{CID: "b", Context: in.Context, Channel: "web", Known: true, Event: engine.Event{Name: "click", ClickID: "o", Channel: "web"}}
	if len(in.Context) != 0 || !reflect.DeepEqual(in, want) {
		t.Fatalf("got %+v", in)
	}
}

// FuzzDecodeWebhook: any body decodes or gives a DecodeError; never a panic,
// and a decoded event always has a cid and a name.
func FuzzDecodeWebhook(f *testing.F) {
	for _, s := range []string{
		`{"info":{"cid":"c","context":{"fb":1,"f":"x","s":"y"}},"packet":{"name":"message","payload":{"body":"hi"}}}`,
		`{"info":{"cid":"c","contact":{"name":"A","custom_fields":{"a":1}}},"packet":{"name":"click","payload":{"value":{"id":"start"}}}}`,
		`{"info":{"cid":"c"},"packet":{"name":"location","payload":{"latitude":"1e400","longitude":-0}}}`,
		`{"info":{"cid":"c"},"packet":{"name":"media","payload":{"link":"\ud800"}}}`,
		`{"info":{"cid":"c"},"packet":{"name":"start","payload":null}}`,
		`{"info":null,"packet":{"name":"start"}}`,
		`[1]`, `"x"`, `{`, ``, `null`, `{"info":{"cid":""}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeWebhook(body)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Msg == "" {
				t.Fatalf("error %T %v is not a DecodeError", err, err)
			}
			return
		}
		if in.CID == "" || in.Event.Name == "" {
			t.Fatalf("decoded without cid or name: %+v", in)
		}
		if in.Known && in.Event.Name == engine.EvClick && in.Event.ClickID == "" {
			t.Fatalf("click without id: %+v", in)
		}
		if in.Event.Name == engine.EvLocation && in.Known && in.Event.Location == nil {
			t.Fatalf("location without coordinates")
		}
		if in.Channel != channels.Normalize(in.Channel) {
			t.Fatalf("channel %q not normalized", in.Channel)
		}
	})
}

// encodingJSON is the reference: encoding/json without HTML escaping.
func encodingJSON(t testing.TB, v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// tricky strings exercise escaping.
var tricky = []string{"", "plain", `q"uo\te`, "<a href='x'>&</a>", "line\nbreak\ttab\r\b\f\x00\x1f", "bad \xff utf8 \xe2\x82", "sep \u2028 \u2029 end", "émoji 🎉 ünï"}

// fill sets every string field of a struct (recursively, through slices)
// to s and every float to f, so that a field added to a channels payload
// type later shows up in the comparison.
func fill(v reflect.Value, s string, f float64) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Float64:
		v.SetFloat(f)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), s, f)
		}
	case reflect.Slice:
		if v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		}
		for i := range v.Len() {
			fill(v.Index(i), s, f)
		}
	}
}

// TestAppendPayloadMatchesEncodingJSON proves the hand-written encoder
// writes what encoding/json writes, for every payload type channels
// produces and the plain data of platform actions.
func TestAppendPayloadMatchesEncodingJSON(t *testing.T) {
	types := []any{
		channels.MessagePayload{}, channels.ChoicePayload{}, channels.OptionPayload{}, channels.MediaPayload{},
		channels.ButtonsPayload{}, channels.NavigatePayload{}, channels.DelayPayload{},
	}
	for _, typ := range types {
		for _, s := range tricky {
			for _, f := range []float64{0, 1.5, 1e-7, 1e21, 123456789} {
				v := reflect.New(reflect.TypeOf(typ)).Elem()
				fill(v, s, f)
				payload := v.Interface()
				got := string(appendPayload(nil, payload))
				if want := encodingJSON(t, payload); got != want {
					t.Errorf("%T\n got %s\nwant %s", payload, got, want)
				}
				zero := reflect.Zero(reflect.TypeOf(typ)).Interface()
				if got, want := string(appendPayload(nil, zero)), encodingJSON(t, zero); got != want {
					t.Errorf("zero %T\n got %s\nwant %s", zero, got, want)
				}
			}
		}
	}
	plain := []any{
		struct{}{},
		map[string]any{"campaigns": true, "name": "Ada <3", "n": 2.0, "list": []any{"a", 1.0, false, nil, map[string]any{"z": "y", "a": "b"}}},
		map[string]any{"custom_fields": map[string]any{"k": "v"}, "big": 1e300, "small": -1e-9},
		map[string]string{"b": "2", "a": "1"},
		[]any{}, "s", 3, int64(-4), nil,
		struct {
			A string `json:"a"`
		}{"x<y"},
	}
	for _, p := range plain {
		got := string(appendPayload(nil, p))
		if want := encodingJSON(t, p); got != want {
			t.Errorf("%T\n got %s\nwant %s", p, got, want)
		}
	}
}

// FuzzAppendString compares the string encoder with encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendString(nil, s)), encodingJSON(t, s); got != want {
			t.Fatalf("%q\n got %s\nwant %s", s, got, want)
		}
	})
}

func TestAppendEvents(t *testing.T) {
	ctx := []byte(`{"fb":1,"f":"x"}`)
	out := appendEvents(nil, `chatbot::1:"q"`, ctx, []channels.Packet{
		{Name: "message", Payload: channels.MessagePayload{Body: "hi"}},
		{Name: "forward_any", Payload: map[string]any{}},
		{Name: "end", Payload: struct{}{}},
	})
	var events []OutEvent
	if err := json.Unmarshal(out, &events); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(events) != 3 {
		t.Fatalf("%d events: %s", len(events), out)
	}
	for i, e := range events {
		if e.Info.CID != `chatbot::1:"q"` || string(e.Info.Context) != string(ctx) {
			t.Errorf("event %d info %+v", i, e.Info)
		}
	}
	if string(events[0].Packet.Payload) != `{"body":"hi"}` || string(events[1].Packet.Payload) != `{}` || string(events[2].Packet.Payload) != `{}` {
		t.Errorf("payloads: %s", out)
	}
	if got := string(appendEvents(nil, "c", ctx, nil)); got != "[]" {
		t.Errorf("no packets: %s", got)
	}
}

func TestBotNameFromPath(t *testing.T) {
	for path, want := range map[string]string{
		"/bots/webshop/webhook":      "webshop",
		"/api/v1/bots/a-b_c/webhook": "a-b_c",
		"/bots//webhook":             "",
		"/bots/webshop/webhook/":     "",
		"/bots/a/b/webhook":          "",
		"/webhook":                   "",
		"/bot/x/webhook":             "",
	} {
		r := &http.Request{URL: &url.URL{Path: path}}
		if got := botNameFromPath(r); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

// usualBodies are webhook calls as Userlike sends them; they must take the
// fast path.
var usualBodies = []string{
	`{"info":{"approach_mode":"proactive","cid":"chatbot::258:a56785fb6fb84edd890905913b0c0821","contact":{"id":1,"name":"Ada","email":null,"custom_fields":{"a":[1,2,{"b":null}]}},"context":{"fb":1,"f":"name-email-forward","v":"180027d77598","s":"ask_email","x":{"name":"Ada \"A\" L\u00f6velace"}},"conversation":{"id":7,"url":"https://x","topic":null,"status":"open","contact_channel":{"state":"valid","type":"whatsapp_business"},"operator":{"id":2},"locale":"en","created_at":"2024","subject":"","tags":[]},"widget":{"id":3,"name":"Website"}},"packet":{"name":"message","payload":{"body":"ada@example.com"}}}`,
	`{"info":{"cid":"c","context":{}},"packet":{"name":"start","payload":{}}}`,
	`{"packet":{"payload":{"value":{"id":"start","label":"start","extra":true}},"name":"click"},"info":{"cid":"c"}}`,
	`{"info":{"cid":"c"},"packet":{"name":"location","payload":{"latitude":52.52,"longitude":"13.405","address":"Berlin"}}}`,
	`{"info":{"cid":"c"},"packet":{"name":"media","payload":{"url":"https://x/a.jpg","mime_type":"image/jpeg","size":12e3}}}`,
	` {"info" : {"cid" : "c\u00e9"} , "packet" : {"name" : "message" , "payload" : {"body" : "line\nbreak \ud83c\udf89"}}} `,
	`{"info":{"cid":"c"},"packet":{"name":"some_future_event","payload":[1,"x",null]}}`,
}

func TestFastPathTakesUsualEvents(t *testing.T) {
	for _, b := range usualBodies {
		var e fastEnvelope
		if !fastDecode([]byte(b), &e) {
			t.Errorf("fast decoder gave up on %s", b)
			continue
		}
		if knownEvents[e.name] {
			var p anyPayload
			if !fastPayload(e.payload, &p) {
				t.Errorf("fast payload decoder gave up on %s", e.payload)
			}
		}
	}
}

// FuzzFastDecodeMatches proves the fast decoder right: for any body, decode
// gives exactly what the encoding/json path gives (the same event, or the
// same error).
func FuzzFastDecodeMatches(f *testing.F) {
	for _, b := range usualBodies {
		f.Add([]byte(b))
	}
	for _, b := range []string{
		`{"info":{"cid":"a","CID":"b"},"packet":{"name":"start"}}`,
		`{"info":{"cid":"a"},"info":{"context":{}},"packet":{"name":"start"}}`,
		`{"info":{"c\u0069d":"a"},"packet":{"name":"start"}}`,
		`{"info":{"cid":"a\xff"},"packet":{"name":"message","payload":{"body":"\xfe"}}}`,
		`{"info":{"cid":"a","context":null},"packet":{"name":"start","payload":null}}`,
		`{"info":{"cid":"a"},"packet":{"name":"click","payload":{"value":{"id":7}}}}`,
		`{"info":{"cid":"a"},"packet":{"name":"location","payload":{"latitude":1e999,"longitude":-0.0e+1}}}`,
		`{"info":{"cid":"a"},"packet":{"name":"message","payload":{"body":"x","url":5}}}`,
		`{"info":{"cid":"a","conversation":{"contact_channel":{"type":"sms","Type":"web"}}},"packet":{"name":"start"}}`,
		`{"info":{"cid":"a","contact":"x"},"packet":{"name":"start"}} x`,
		`{"info":{"cid":"a"},"packet":{"name":"start","payload":{"bod\u0079":"x"}}}`,
		`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"info":{"cid":"a"},"packet":{"name":"start"}}`,
		`{"info":{"cid":"a"},"packet":{"name":"start","payload":{"body":01}}}`,
		`{"info":{"cid":"a"},"packet":{"name":"start","payload":{"ſ":1,"K":2}}}`,
		`{"info":{"cid":"a","approach_mode":"proactive","widget":{"id":1,"n":{"a":"b"}},"conversation":{"contact_channel":{"type":"web"},"topics":["a",{"name":"b"}],"locale":"de"}},"packet":{"name":"start"}}`,
		`{"info":{"cid":"a","approach_mode":null,"Widget":{"id":1}},"packet":{"name":"message","payload":{"body":"x"}}}`,
		`{"info":{"cid":"a","conversation":{"contact_channel":{"type":"web"},"custom_fields":{"x":1}},"conversation":{"subject":"s"}},"packet":{"name":"start"}}`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fd, sd decoder
		var fin, sin Inbound
		ferr := fd.decodeWith(body, &fin, true, true, true)
		serr := sd.decodeWith(body, &sin, true, true, false)
		if (ferr == nil) != (serr == nil) || ferr != nil && ferr.Error() != serr.Error() {
			t.Fatalf("errors differ for %q:\nfast: %v\nslow: %v", body, ferr, serr)
		}
		if len(fin.Context) == 0 {
			fin.Context = nil
		}
		if len(sin.Context) == 0 {
			sin.Context = nil
		}
		if !reflect.DeepEqual(fin, sin) {
			t.Fatalf("results differ for %q:\nfast: %+v\nslow: %+v", body, fin, sin)
		}
	})
}

// FuzzObjectFieldsFast: whenever the allocation-light reader of metadata
// objects answers, it gives what encoding/json's gives.
func FuzzObjectFieldsFast(f *testing.F) {
	for _, b := range []string{
		`{"contact_channel":{"state":"valid","type":"web"}}`,
		`{"subject":"Order","locale":"de_DE","custom_fields":{"tier":"gold","n":7,"x":null,"deep":{"a":1},"l":[1]},"ok":true,"no":null}`,
		`{"a.b":1,"a":{"b":2}}`, `{"a":1,"a":{"b":2}}`, `{"a":{"b":1,"b":null}}`, `{"t":"caf\u00e9"}`, `{"k":-1.5e3, "w" : "x" }`,
		`{"topics":["a",{"name":"b"}]}`, `{}`, `{"a":{}}`, `{"a":"\xff"}`, `{"A":1,"a":2}`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // both see only values the envelope's decoders accepted
		}
		fast := map[string]string{"approach_mode": "normal"}
		if !fastObjectFields(raw, "p.", fast) {
			return
		}
		slow := map[string]string{"approach_mode": "normal"}
		slowObjectFields(raw, "p.", slow)
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("for %s:\nfast %v\nslow %v", raw, fast, slow)
		}
	})
}
