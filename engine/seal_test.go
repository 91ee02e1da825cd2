package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Test secrets: 32 fixed bytes each, in the forms ParseContextKeys reads.
var (
	secret1 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x11, 0xa7, 0xfe}, 11)[:32])    // padded, standard
	secret2 = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x22, 0xfb, 0xbf}, 11)[:32]) // unpadded, URL
	secret3 = base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0x33, 0x01}, 20))            // 40 bytes
)

// rings are the two ways of sealing, by name.
var rings = []struct{ name, spec string }{{"signed", "k1:" + secret1}, {"encrypted", "k1:" + secret1 + ":enc"}}

func mustKeys(t testing.TB, s string) *ContextKeys {
	t.Helper()
	k, err := ParseContextKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	if k == nil {
		t.Fatalf("%q gave no keys", s)
	}
	return k
}

// sampleSession has something in every field.
func sampleSession() Session {
	return Session{Flow: "name-email-forward", Version: "180027d77598", State: "ask_email",
		Vars:    map[string]string{"name": "Ada \"<&>\" ✓", "email": "ada@example.com", "email_verified": "no"},
		Pending: &Pending{Numbered: true, Options: []PendingOption{{"yes", "Yes, ada@example.com"}, {"no", "No"}}},
		Retries: 2, JobSeq: 3, AwaitSeq: 3}
}

const cid = "chatbot::258:a56785fb6fb84edd890905913b0c0821"

func TestParseContextKeys(t *testing.T) {
	k := mustKeys(t, " k2:"+secret2+":enc , k1:"+secret1+",old_-9:"+secret3)
	if got := k.IDs(); !reflect.DeepEqual(got, []string{"k2", "k1", "old_-9"}) {
		t.Errorf("ids %q", got)
	}
	if !k.Encrypts() || mustKeys(t, "k1:"+secret1+",k2:"+secret2+":enc").Encrypts() {
		t.Errorf("Encrypts follows the first key's :enc")
	}
	// Either alphabet, with or without padding.
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		raw := bytes.Repeat([]byte{0xfb, 0xff, 0xbe}, 11) // +, / or -, _ in the text
		mustKeys(t, "a:"+enc.EncodeToString(raw))
	}
	if k, err := ParseContextKeys("  "); k != nil || err != nil {
		t.Errorf("empty: %v %v; want no keys, no error", k, err)
	}
	for _, none := range []*ContextKeys{nil, {}} {
		if none.Encrypts() || none.IDs() != nil || !strings.Contains(none.String(), "not signed") {
			t.Errorf("no keys: %v", none)
		}
		raw, err := none.Encode(sampleSession(), cid)
		if plain, _ := EncodeContext(sampleSession()); err != nil || !bytes.Equal(raw, plain) {
			t.Errorf("no keys encode %s %v", raw, err)
		}
	}

	short := base64.StdEncoding.EncodeToString([]byte("twelve bytes"))
	for _, c := range []struct{ in, want string }{
		{"k1:" + short, `FLOWBOT_CONTEXT_KEYS: key "k1" is 12 bytes; use at least 32 random bytes, e.g. head -c32 /dev/urandom | base64`},
		{"k1:" + secret1 + ",,k2:" + secret2, "entry 2 is empty"},
		{secret1, "(44 characters, not shown: is it the secret?)"},
		{secret1 + ":k1", "(44 characters, not shown"},
		{"k1", `key "k1" has no secret`},
		{"k1:", `key "k1" has no secret`},
		{"toolongid:" + secret1, `key id "toolongid" must be 1–8 letters`},
		{"k 1:" + secret1, `key id "k 1" must be`},
		{":" + secret1, `key id "" must be`},
		{"k1:" + secret1 + ":aes", `unknown option "aes"; the only option is enc`},
		{"k1:" + secret1 + ":enc:x", "too many colons"},
		{"k1:not*base64" + secret1, "is not base64"},
		{"k1:" + strings.ReplaceAll(secret2, "_", "/") + "-", "is not base64"},
		{"k1:" + secret1 + ",k1:" + secret2, `key id "k1" is listed twice`},
		{"k1:" + secret1 + ",k2:" + strings.TrimRight(secret1, "="), `keys "k1" and "k2" have the same secret`},
	} {
		k, err := ParseContextKeys(c.in)
		if err == nil || k != nil {
			t.Errorf("%q: no error", c.in)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant …%s…", c.in, err, c.want)
		}
		for _, s := range []string{secret1, secret2, secret3, strings.TrimRight(secret1, "=")} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%q: the error shows a secret: %v", c.in, err)
			}
		}
	}
}

func TestContextKeysPrintNoSecret(t *testing.T) {
	k := mustKeys(t, "k2:"+secret2+":enc,k1:"+secret1)
	want := "k2 (signs, encrypts), k1 (verifies)"
	for _, got := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%+v", struct{ K *ContextKeys }{k}), fmt.Sprintf("%#v", k)} {
		if !strings.Contains(got, want) {
			t.Errorf("%q does not describe the ring as %q", got, want)
		}
	}
}

func TestSealedRoundTrip(t *testing.T) {
	sessions := []Session{sampleSession(), {Flow: "f", Version: "v"}, {Flow: "f", Version: "v", State: "s", Done: true, Vars: map[string]string{"a": ""}},
		{Flow: "f", Version: "v", State: "s", Pending: &Pending{Options: []PendingOption{}}}}
	for _, rg := range rings {
		ring, k := rg.name, mustKeys(t, rg.spec)
		for _, s := range sessions {
			raw, err := k.Encode(s, cid)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(raw) || raw[0] != '{' {
				t.Fatalf("not a JSON object: %s", raw)
			}
			got, err := k.Decode(raw, cid)
			if err != nil || !reflect.DeepEqual(got, s) {
				t.Fatalf("%s: round trip\n got %+v %v\nwant %+v\n(%s)", ring, got, err, s, raw)
			}
		}
	}
}

// TestNilKeysAreUnsigned: a nil ring is today's codec.
func TestNilKeysAreUnsigned(t *testing.T) {
	var k *ContextKeys
	s := sampleSession()
	raw, err := k.Encode(s, cid)
	want, _ := EncodeContext(s)
	if err != nil || !bytes.Equal(raw, want) {
		t.Fatalf("%s %v, want %s", raw, err, want)
	}
	if got, err := k.Decode(raw, "another cid"); err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("%+v %v", got, err)
	}
}

// edit changes a sealed context's JSON and keeps its signature.
func edit(t *testing.T, raw []byte, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantRefused(t *testing.T, what string, s Session, err, want error) {
	t.Helper()
	if err != want || !s.Foreign || !reflect.DeepEqual(s, Session{Foreign: true}) {
		t.Errorf("%s: got %+v, %v; want a foreign session and %v", what, s, err, want)
	}
	if !errors.Is(err, ErrForeignContext) {
		t.Errorf("%s: %v is not an ErrForeignContext", what, err)
	}
}

func TestForgedContextsAreRefused(t *testing.T) {
	k := mustKeys(t, "k1:"+secret1)
	raw, err := k.Encode(sampleSession(), cid)
	if err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(m map[string]any){
		"variable":        func(m map[string]any) { m["x"].(map[string]any)["email_verified"] = "yes" },
		"new variable":    func(m map[string]any) { m["x"].(map[string]any)["admin"] = "1" },
		"state":           func(m map[string]any) { m["s"] = "handoff" },
		"retries":         func(m map[string]any) { m["r"] = 0 },
		"done":            func(m map[string]any) { m["d"] = true },
		"pending option":  func(m map[string]any) { m["p"].(map[string]any)["o"].([]any)[1].([]any)[0] = "yes" },
		"numbered":        func(m map[string]any) { delete(m["p"].(map[string]any), "n") },
		"no pending":      func(m map[string]any) { delete(m, "p") },
		"flow":            func(m map[string]any) { m["f"] = "campaign-signup" },
		"awaited job":     func(m map[string]any) { m["jw"] = 2 },
		"mac":             func(m map[string]any) { m["m"] = strings.Repeat("A", 22) },
		"short mac":       func(m map[string]any) { m["m"] = m["m"].(string)[:21] },
		"mac not base64":  func(m map[string]any) { m["m"] = strings.Repeat("*", 22) },
		"mac without key": func(m map[string]any) { delete(m, "k") },
		"encrypted flag":  func(m map[string]any) { m["fb"] = 2 },
	}
	for name, change := range edits {
		s, err := k.Decode(edit(t, raw, change), cid)
		wantRefused(t, name, s, err, ErrContextForged)
	}
	// Another conversation.
	s, err := k.Decode(raw, cid+"x")
	wantRefused(t, "replayed into another cid", s, err, ErrContextForged)
	s, err = k.Decode(raw, "")
	wantRefused(t, "empty binding", s, err, ErrContextForged)
	// No signature at all.
	s, err = k.Decode(edit(t, raw, func(m map[string]any) { delete(m, "k"); delete(m, "m") }), cid)
	wantRefused(t, "signature removed", s, err, ErrContextUnsigned)
	plain, _ := EncodeContext(sampleSession())
	s, err = k.Decode(plain, cid)
	wantRefused(t, "unsigned", s, err, ErrContextUnsigned)
	// A key id the ring does not list.
	s, err = k.Decode(edit(t, raw, func(m map[string]any) { m["k"] = "k9" }), cid)
	wantRefused(t, "unknown key id", s, err, ErrContextUnknownKey)
	if !errors.Is(ErrContextUnsigned, ErrContextForged) || !errors.Is(ErrContextUnknownKey, ErrContextForged) {
		t.Error("the kinds of forged contexts must wrap ErrContextForged")
	}
}

func TestForgedEncryptedContextsAreRefused(t *testing.T) {
	k := mustKeys(t, "k1:"+secret1+":enc")
	raw, err := k.Encode(sampleSession(), cid)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(m map[string]any) {
		e := []byte(m["e"].(string))
		e[20] ^= 'A' ^ 'B'
		if e[20] == e[21] {
			e[20] = 'C'
		}
		m["e"] = string(e)
	}
	for name, change := range map[string]func(m map[string]any){
		"ciphertext":       flip,
		"ciphertext gone":  func(m map[string]any) { delete(m, "e") },
		"plaintext added":  func(m map[string]any) { m["x"] = map[string]any{"email_verified": "yes"} },
		"plain format":     func(m map[string]any) { m["fb"] = 1 },
		"state":            func(m map[string]any) { m["s"] = "handoff" },
		"ciphertext short": func(m map[string]any) { m["e"] = "AAAA" },
	} {
		s, err := k.Decode(edit(t, raw, change), cid)
		wantRefused(t, name, s, err, ErrContextForged)
	}
	s, err := k.Decode(raw, "another")
	wantRefused(t, "replayed into another cid", s, err, ErrContextForged)
	// Without keys an encrypted context cannot be read: restart, never a
	// conversation without its variables.
	s, err = DecodeContext(raw)
	wantRefused(t, "no keys", s, err, ErrForeignContext)
}

// TestNotFlowbotContextsAreNotForged: contexts flowbot did not write are
// what they were without keys: new (empty) or foreign, never forged.
func TestNotFlowbotContextsAreNotForged(t *testing.T) {
	k := mustKeys(t, "k1:"+secret1)
	for _, raw := range []string{``, `null`, `{}`, " {} \n"} {
		s, err := k.Decode([]byte(raw), cid)
		if err != nil || !reflect.DeepEqual(s, Session{}) {
			t.Errorf("%q: %+v %v; want a new conversation", raw, s, err)
		}
	}
	for _, raw := range []string{`"hello"`, `[1,2]`, `{"state":"email"}`, `{"fb":1}`, `{"fb":3,"f":"x","k":"k1"}`, `{"fb":1,"f":3}`, `{`, strings.Repeat(" ", 30000) + "{}x"} {
		s, err := k.Decode([]byte(raw), cid)
		if err != ErrForeignContext || !s.Foreign {
			t.Errorf("%.40q: %+v %v; want ErrForeignContext", raw, s, err)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	old := mustKeys(t, "k1:"+secret1)
	rotating := mustKeys(t, "k2:"+secret2+",k1:"+secret1)
	retired := mustKeys(t, "k2:"+secret2)
	s := sampleSession()
	raw, err := old.Encode(s, cid)
	if err != nil {
		t.Fatal(err)
	}
	// Signed by the second, still listed key: accepted ...
	got, err := rotating.Decode(raw, cid)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("older key: %+v %v", got, err)
	}
	// ... and written back signed by the first.
	again, err := rotating.Encode(got, cid)
	if err != nil {
		t.Fatal(err)
	}
	var w struct{ K string }
	json.Unmarshal(again, &w)
	if w.K != "k2" {
		t.Fatalf("re-signed with %q, want k2: %s", w.K, again)
	}
	if got, err := retired.Decode(again, cid); err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("after retirement, a re-signed context: %+v %v", got, err)
	}
	// Once k1 is removed, what it signed is refused.
	got, err = retired.Decode(raw, cid)
	wantRefused(t, "retired key", got, err, ErrContextUnknownKey)
	// Same id, another secret: forged, not unknown.
	got, err = mustKeys(t, "k1:"+secret3).Decode(raw, cid)
	wantRefused(t, "same id, new secret", got, err, ErrContextForged)
	// Encrypted by an older key, signed anew without encryption.
	encOld := mustKeys(t, "k1:"+secret1+":enc")
	raw, _ = encOld.Encode(s, cid)
	if got, err := rotating.Decode(raw, cid); err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("encrypted by an older key: %+v %v", got, err)
	}
}

// TestSealedSurvivesReserialization: the platform may store the object and
// write it back differently (key order, escapes, spacing); the MAC covers
// the content, not the bytes.
func TestSealedSurvivesReserialization(t *testing.T) {
	for _, rg := range rings {
		ring, k := rg.name, mustKeys(t, rg.spec)
		s := sampleSession()
		raw, _ := k.Encode(s, cid)
		var m map[string]any
		json.Unmarshal(raw, &m)
		again, _ := json.MarshalIndent(m, "", "   ") // sorted keys, HTML escapes, indented
		if bytes.Equal(again, raw) {
			t.Fatal("the test does not change the bytes")
		}
		if got, err := k.Decode(again, cid); err != nil || !reflect.DeepEqual(got, s) {
			t.Fatalf("%s: %+v %v\n%s", ring, got, err, again)
		}
	}
}

// TestSealedInvalidUTF8: invalid UTF-8 in a variable comes back as U+FFFD
// (as encoding/json writes it), and the signature still verifies.
func TestSealedInvalidUTF8(t *testing.T) {
	for _, rg := range rings {
		ring, k := rg.name, mustKeys(t, rg.spec)
		s := Session{Flow: "f", Version: "v", State: "s\xff", Vars: map[string]string{"a\xc3": "x\xe2\x82y", "b": "ok"},
			Pending: &Pending{Options: []PendingOption{{"i\xff", "l\xfe"}}}}
		raw, err := k.Encode(s, cid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Decode(raw, cid)
		want := Session{Flow: "f", Version: "v", State: "s\uFFFD", Vars: map[string]string{"a\uFFFD": "x\uFFFD\uFFFDy", "b": "ok"},
			Pending: &Pending{Options: []PendingOption{{"i\uFFFD", "l\uFFFD"}}}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %#v %v", ring, got, err)
		}
		if s.Vars["a\xc3"] != "x\xe2\x82y" {
			t.Fatal("Encode changed the caller's variables")
		}
	}
}

// TestEncryptedContextHidesPlaintext: no variable's value, name or the
// pending choice's labels appear in the bytes; two encodings differ
// (random nonce).
func TestEncryptedContextHidesPlaintext(t *testing.T) {
	k := mustKeys(t, "k1:"+secret1+":enc")
	s := sampleSession()
	s.Vars["phone"] = "+4915112345678"
	raw, err := k.Encode(s, cid)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"ada@example.com", "Ada", "+4915112345678", "4915112345678", "email_verified", "Yes, ada", `"x"`, `"p"`} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%q readable in %s", secret, raw)
		}
	}
	for _, visible := range []string{`"fb":2`, `"s":"ask_email"`, `"f":"name-email-forward"`, `"k":"k1"`} {
		if !bytes.Contains(raw, []byte(visible)) {
			t.Errorf("%s missing in %s", visible, raw)
		}
	}
	again, _ := k.Encode(s, cid)
	if bytes.Equal(raw, again) {
		t.Error("two encryptions of the same session are equal: is the nonce random?")
	}
}

// TestSealedOverhead measures the bytes sealing adds, and checks the
// numbers the documentation gives.
func TestSealedOverhead(t *testing.T) {
	cases := []struct {
		name string
		s    Session
	}{
		{"new", Session{Flow: "name-email-forward", Version: "180027d77598", State: "ask_name"}},
		{"sample", sampleSession()},
		{"1 KB of variables", Session{Flow: "f", Version: "v", State: "s", Vars: map[string]string{"note": strings.Repeat("n", 1000)}}},
	}
	signed := mustKeys(t, "k1:"+secret1)
	longID := mustKeys(t, "key_2025:"+secret1)
	enc := mustKeys(t, "k1:"+secret1+":enc")
	for _, c := range cases {
		plain, _ := EncodeContext(c.s)
		sig, _ := signed.Encode(c.s, cid)
		sig8, _ := longID.Encode(c.s, cid)
		e, _ := enc.Encode(c.s, cid)
		t.Logf("%-18s unsigned %5d B, signed +%d B (+%d with an 8-char id), encrypted +%d B", c.name, len(plain), len(sig)-len(plain), len(sig8)-len(plain), len(e)-len(plain))
		if len(sig)-len(plain) != 38 || len(sig8)-len(plain) != 44 {
			t.Errorf("%s: signing adds %d/%d bytes; the docs say 36 + the id's length", c.name, len(sig)-len(plain), len(sig8)-len(plain))
		}
		if n, err := enc.size(c.s); err != nil || n != len(e) {
			t.Errorf("%s: measured %d, encoded %d", c.name, n, len(e))
		}
	}
}

// size is the length of s sealed with k, measured without cryptography.
func (k *ContextKeys) size(s Session) (int, error) {
	p, err := k.prepare(s)
	return p.size, err
}

func TestSealedTooBig(t *testing.T) {
	for _, rg := range rings {
		ring, k := rg.name, mustKeys(t, rg.spec)
		base := Session{Flow: "f", Version: "v", State: "s", Vars: map[string]string{"a": ""}}
		empty, _ := EncodeContext(base)
		// The biggest variable an unsigned context holds ...
		s := base
		s.Vars = map[string]string{"a": strings.Repeat("z", MaxContextBytes-len(empty))}
		if raw, err := EncodeContext(s); err != nil || len(raw) != MaxContextBytes {
			t.Fatalf("setup: %d %v", len(raw), err)
		}
		// ... is too big once sealed.
		if raw, err := k.Encode(s, cid); err != ErrContextTooBig || raw != nil {
			t.Errorf("%s: %d bytes, %v; want ErrContextTooBig", ring, len(raw), err)
		}
		if err := k.fits(s); err != ErrContextTooBig {
			t.Errorf("%s: fits says %v", ring, err)
		}
	}
}

// TestVariableThatWouldOverflowSealedContextTakesErrorPath: given the keys,
// Step refuses a variable that fits an unsigned context but not a sealed
// one, and accepts the biggest one that fits sealed.
func TestVariableThatWouldOverflowSealedContextTakesErrorPath(t *testing.T) {
	bot := load(t, growFlow)
	first := bot.Step(Session{}, start()).Session
	// grow answers "z" in a conversation that has collected n bytes.
	grow := func(k *ContextKeys, n int) Result {
		s := first.clone()
		s.Vars = map[string]string{"all": strings.Repeat("z", n)}
		return bot.StepSealed(context.Background(), s, msg("z"), k)
	}
	kept := func(r Result) bool { return r.Session.State == "a" && len(r.Errors) == 0 }
	// The most an unsigned context holds.
	raw, _ := EncodeContext(grow(nil, 0).Session)
	limit := MaxContextBytes - len(raw)
	if r := grow(nil, limit); !kept(r) || len(r.Session.Vars["all"]) != limit+1 {
		t.Fatalf("unsigned: %q %v", r.Session.State, r.Errors)
	}
	if r := grow(nil, limit+1); kept(r) {
		t.Fatal("unsigned: over the limit but kept")
	}
	for _, rg := range rings {
		ring, k := rg.name, mustKeys(t, rg.spec)
		r := grow(k, limit)
		if kept(r) || len(r.Errors) == 0 || !errors.Is(r.Errors[0], ErrContextTooBig) {
			t.Fatalf("%s: %q %v; want the error path", ring, r.Session.State, r.Errors)
		}
		expect(t, r.Actions, "That was too much for me to remember.", "end {}")
		// The most that fits sealed is kept, and encodes.
		lo, hi := 0, limit // grow(k, lo) is kept, grow(k, hi) is refused
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; kept(grow(k, mid)) {
				lo = mid
			} else {
				hi = mid
			}
		}
		r = grow(k, lo)
		raw, err := k.Encode(r.Session, cid)
		if err != nil || len(raw) > MaxContextBytes || len(r.Session.Vars["all"]) != lo+1 {
			t.Fatalf("%s: %d bytes, %v", ring, len(raw), err)
		}
		t.Logf("%s: the most kept is %d bytes (unsigned: %d); its context is %d bytes", ring, lo+1, limit+1, len(raw))
	}
}
