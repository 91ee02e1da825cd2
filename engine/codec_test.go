package engine

import (
	"reflect"
	"testing"
)

func TestContextRoundTrip(t *testing.T) {
	s := Session{Flow: "f", Version: "abc", State: "s", Vars: map[string]string{"name": "Ada \"<&>\" ✓"}, Retries: 2, Done: true,
		Pending: &Pending{Numbered: true, Options: []PendingOption{{"a", "A"}, {"b", "B"}}}}
	raw, err := EncodeContext(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeContext(raw)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip: %+v %v\nwant %+v (%s)", got, err, s, raw)
	}
}

// FuzzDecodeContext: any bytes decode to a session or a foreign marker,
// never panic, and a decoded session encodes again within the limit.
func FuzzDecodeContext(f *testing.F) {
	f.Add([]byte(`{"fb":1,"f":"name-email-forward","v":"180027d77598","s":"ask_email","x":{"name":"Ann"},"r":1}`))
	f.Add([]byte(`{"fb":1,"f":"m","v":"x","s":"menu","p":{"n":true,"o":[["a","A"],["b"]]}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"fb":1,"f":"m","p":{"o":null}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := DecodeContext(raw)
		if err != nil {
			if !s.Foreign {
				t.Fatalf("error without foreign marker")
			}
			return
		}
		if len(raw) <= MaxContextBytes {
			if _, err := EncodeContext(s); err != nil && len(raw) < MaxContextBytes/2 {
				t.Fatalf("decoded %d bytes but cannot encode: %v", len(raw), err)
			}
		}
	})
}
