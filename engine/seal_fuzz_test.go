package engine

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// fuzzRing signs with an encrypting key and still verifies an older,
// signing-only one: both kinds of sealed context reach the decoder.
func fuzzRing(t testing.TB) *ContextKeys {
	return mustKeys(t, "k2:"+secret2+":enc,k1:"+secret1)
}

// fuzzSessions are the sessions of the seed corpus.
func fuzzSessions() []Session {
	return []Session{
		sampleSession(),
		{Flow: "name-email-forward", Version: "180027d77598", State: "ask_name"},
		{Flow: "webshop", Version: "0123456789ab", State: "lookup", Vars: map[string]string{"order_id": "A-12345"}, JobSeq: 1, AwaitSeq: 1},
		{Flow: "menu", Version: "v", State: "menu", Done: true, Pending: &Pending{Options: []PendingOption{{"apple", "Apple"}, {"pear", ""}}}},
	}
}

// sameSession compares sessions, an empty variable map being no map.
func sameSession(a, b Session) bool {
	if len(a.Vars) == 0 && len(b.Vars) == 0 {
		a.Vars, b.Vars = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// TestWriteSealedFuzzSeeds rewrites the committed seed corpus of
// FuzzDecodeContextSealed:
//
//	FLOWBOT_UPDATE_SEEDS=1 go test ./engine -run TestWriteSealedFuzzSeeds
func TestWriteSealedFuzzSeeds(t *testing.T) {
	if os.Getenv("FLOWBOT_UPDATE_SEEDS") == "" {
		t.Skip("set FLOWBOT_UPDATE_SEEDS=1 to rewrite testdata/fuzz/FuzzDecodeContextSealed")
	}
	signer := mustKeys(t, "k1:"+secret1)
	ring := fuzzRing(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeContextSealed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSessions() {
		for name, k := range map[string]*ContextKeys{"signed": signer, "encrypted": ring} {
			raw, err := k.Encode(s, cid)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, name+"-"+strconv.Itoa(i))
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(raw)) + ")\n"
			if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzDecodeContextSealed: any bytes decode to a session or to an error
// with a foreign session, never panic; and whatever decodes is one of the
// seed corpus's sessions, since nobody without the key can make another
// verify (were the MAC's input ambiguous, a mutation could).
func FuzzDecodeContextSealed(f *testing.F) {
	ring := fuzzRing(f)
	known := fuzzSessions()
	plain, _ := EncodeContext(known[0])
	f.Add(plain)
	f.Add([]byte(`{"fb":1,"f":"m","v":"x","s":"menu","k":"k1","m":"AAAAAAAAAAAAAAAAAAAAAA"}`))
	f.Add([]byte(`{"fb":2,"f":"m","v":"x","e":"AAAA","k":"k2","m":"AAAAAAAAAAAAAAAAAAAAAA"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"state":"email"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ring.Decode(raw, cid)
		if err != nil {
			if !s.Foreign || !errors.Is(err, ErrForeignContext) {
				t.Fatalf("error %v with session %+v", err, s)
			}
			return
		}
		if s.Flow == "" && reflect.DeepEqual(s, Session{}) {
			return // a new conversation
		}
		found := false
		for _, k := range known {
			found = found || sameSession(s, k)
		}
		if !found {
			t.Fatalf("%q verified as a session nobody signed: %+v", raw, s)
		}
		again, err := ring.Encode(s, cid)
		if err != nil {
			t.Fatalf("decoded but cannot encode: %v", err)
		}
		if back, err := ring.Decode(again, cid); err != nil || !sameSession(back, s) {
			t.Fatalf("re-encoded does not round trip: %+v %v", back, err)
		}
	})
}

// BenchmarkContextCodec encodes and decodes a typical session (three
// variables, a pending choice): unsigned, signed, and encrypted.
func BenchmarkContextCodec(b *testing.B) {
	s := sampleSession()
	for _, c := range []struct {
		name string
		keys *ContextKeys
	}{{"unsigned", nil}, {"signed", mustKeys(b, "k1:"+secret1)}, {"encrypted", mustKeys(b, "k1:"+secret1+":enc")}} {
		b.Run(c.name, func(b *testing.B) {
			raw, _ := c.keys.Encode(s, cid)
			b.ReportMetric(float64(len(raw)), "bytes")
			b.ReportAllocs()
			for b.Loop() {
				raw, err := c.keys.Encode(s, cid)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.keys.Decode(raw, cid); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSealedFuzzSeedsVerify keeps the committed corpus useful: every sealed
// seed verifies (had the format or the key derivation changed, they would
// all be refused and the fuzzer would never reach a verified context).
func TestSealedFuzzSeedsVerify(t *testing.T) {
	ring := fuzzRing(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeContextSealed", "*"))
	if len(files) < 8 {
		t.Fatalf("%d seed files", len(files))
	}
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		quoted, ok := strings.CutPrefix(lines[len(lines)-1], "[]byte(")
		raw, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
		if !ok || err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if _, err := ring.Decode([]byte(raw), cid); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}
