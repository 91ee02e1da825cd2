package userlike_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

// Key secrets for the tests (32 fixed bytes each).
var (
	testSecret1 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("secret-one-"), 3)[:32])
	testSecret2 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("secret-two-"), 3)[:32])
)

func contextKeys(t testing.TB, spec string) *engine.ContextKeys {
	t.Helper()
	k, err := engine.ParseContextKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	ringK1    = "k1:" + testSecret1
	ringK1Enc = "k1:" + testSecret1 + ":enc"
	ringK2    = "k2:" + testSecret2
	ringK2K1  = "k2:" + testSecret2 + "," + "k1:" + testSecret1
)

// sealedServer serves the example flows with the key ring spec ("":
// unsigned contexts).
func sealedServer(t *testing.T, spec string, obs *recordingObserver) string {
	t.Helper()
	var keys *engine.ContextKeys
	if spec != "" {
		keys = contextKeys(t, spec)
	}
	return serveHTTP(t, newHandler(t, userlike.Options{Logger: testLogger(t), Observer: obs, ContextKeys: keys})).URL
}

const nameEmailHook = "/bots/name-email-forward/webhook"

// toAskEmail starts conversation cid and answers the name: the context
// then holds the variable name and waits in ask_email.
func toAskEmail(t *testing.T, p *platformtest.Platform, cid string) *platformtest.Conversation {
	t.Helper()
	c := p.Conversation(cid, "web")
	must(t)(c.Start(""))
	r := must(t)(c.Say("Ada Lovelace"))
	if got := r.Texts(); len(got) != 1 || !strings.HasPrefix(got[0], "Hello Ada Lovelace!") {
		t.Fatalf("not at ask_email: %q", got)
	}
	return c
}

// wantRestart checks a polite restart: the apology and the first question,
// nothing else.
func wantRestart(t *testing.T, r platformtest.Reply) {
	t.Helper()
	texts := r.Texts()
	if len(r.Packets) != 2 || len(texts) != 2 || !strings.Contains(texts[0], "start again") || texts[1] != "Welcome! I am a bot. What is your name?" {
		t.Fatalf("want an apology and the first question, got %v %q", r.Names(), texts)
	}
}

// editContext changes the JSON of a context and keeps its signature.
func editContext(t *testing.T, raw json.RawMessage, change func(m map[string]any)) json.RawMessage {
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

// TestSealedConversation plays name-email-forward with signed and with
// encrypted contexts: every context is sealed for its cid and the flow
// behaves as without keys; encrypted ones never show the contact's data.
func TestSealedConversation(t *testing.T) {
	for _, ring := range []struct{ name, spec string }{{"signed", ringK1}, {"encrypted", ringK1Enc}} {
		t.Run(ring.name, func(t *testing.T) {
			obs := newRecordingObserver()
			p := platformtest.New(sealedServer(t, ring.spec, obs) + nameEmailHook)
			const cid = "chatbot::258:sealed"
			c := toAskEmail(t, p, cid)
			r := must(t)(c.Say("ada@example.com"))
			wantNames(t, r, "contact_update", "message", "forward_any")
			r = must(t)(c.Send("forward_failed", map[string]any{}))
			wantNames(t, r, "message", "end")
			keys := contextKeys(t, ring.spec)
			for _, pk := range p.Packets(cid) {
				if _, err := keys.Decode(pk.Context, cid); err != nil {
					t.Fatalf("%s: context %s does not verify: %v", pk.Name, pk.Context, err)
				}
				if !bytes.Contains(pk.Context, []byte(`"k":"k1","m":"`)) {
					t.Fatalf("not signed: %s", pk.Context)
				}
				if ring.name == "encrypted" && (bytes.Contains(pk.Context, []byte("Ada")) || bytes.Contains(pk.Context, []byte("example.com"))) {
					t.Fatalf("personal data readable in %s", pk.Context)
				}
			}
			if n := obs.recoveryCount(userlike.RecoveryForeign) + obs.errorCount(userlike.ErrKindContextForged); n != 0 {
				t.Fatalf("%d contexts refused", n)
			}
		})
	}
}

// TestForgedContextRestarts: a context edited on the way (a variable, a
// jump to another state, a ciphertext) keeps its old signature; flowbot
// refuses it, restarts politely, counts it, and the forged value is
// never used.
func TestForgedContextRestarts(t *testing.T) {
	cases := []struct {
		name, ring string
		change     func(m map[string]any)
	}{
		{"variable", ringK1, func(m map[string]any) { m["x"].(map[string]any)["name"] = "Mallory" }},
		{"new variable", ringK1, func(m map[string]any) { m["x"].(map[string]any)["email_verified"] = "yes" }},
		{"jump to handoff", ringK1, func(m map[string]any) { m["s"] = "thanks"; m["x"].(map[string]any)["email"] = "mallory@evil.example" }},
		{"ciphertext", ringK1Enc, func(m map[string]any) {
			e := []byte(m["e"].(string))
			e[len(e)/2] ^= 1
			m["e"] = string(e)
		}},
		{"signature stripped", ringK1, func(m map[string]any) { delete(m, "k"); delete(m, "m") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obs := newRecordingObserver()
			p := platformtest.New(sealedServer(t, c.ring, obs) + nameEmailHook)
			const cid = "chatbot::258:forged"
			conv := toAskEmail(t, p, cid)
			p.SetContext(cid, editContext(t, p.Context(cid), c.change))
			r := must(t)(conv.Say("ada@example.com"))
			wantRestart(t, r)
			for _, forged := range []string{"Mallory", "mallory", "email_verified", "forward_any"} {
				if bytes.Contains(r.Body, []byte(forged)) {
					t.Fatalf("the forged %q reached the answer: %s", forged, r.Body)
				}
			}
			s, err := contextKeys(t, c.ring).Decode(p.Context(cid), cid)
			if err != nil || s.State != "ask_name" || len(s.Vars) != 0 {
				t.Fatalf("new context %+v %v; want a fresh start", s, err)
			}
			kind := userlike.ErrKindContextForged
			if c.name == "signature stripped" {
				kind = userlike.ErrKindContextUnsigned
			}
			if obs.errorCount(kind) != 1 || obs.recoveryCount(userlike.RecoveryForeign) != 1 {
				t.Fatalf("errors %v recoveries %v; want one %s", obs.errors, obs.recoveries, kind)
			}
		})
	}
}

// TestReplayedContextRestarts: a context copied from another conversation
// (another cid) does not verify there.
func TestReplayedContextRestarts(t *testing.T) {
	obs := newRecordingObserver()
	p := platformtest.New(sealedServer(t, ringK1Enc, obs) + nameEmailHook)
	a := toAskEmail(t, p, "chatbot::258:alice")
	b := p.Conversation("chatbot::258:bob", "web")
	p.SetContext(b.CID, p.Context(a.CID))
	wantRestart(t, must(t)(b.Say("bob@example.com")))
	if obs.errorCount(userlike.ErrKindContextForged) != 1 {
		t.Fatalf("errors %v", obs.errors)
	}
	// Alice's own conversation goes on.
	r := must(t)(a.Say("ada@example.com"))
	wantNames(t, r, "contact_update", "message", "forward_any")
}

// TestKeyRotationOverHTTP: contexts signed with a key still listed second
// continue and come back signed with the first; once the key is removed
// (retired), they restart.
func TestKeyRotationOverHTTP(t *testing.T) {
	obs := newRecordingObserver()
	oldURL := sealedServer(t, ringK1, obs)
	rotatedURL := sealedServer(t, ringK2K1, obs)
	retiredURL := sealedServer(t, ringK2, obs)
	p := platformtest.New(oldURL + nameEmailHook)
	cont := toAskEmail(t, p, "c-continues")
	retire := toAskEmail(t, p, "c-retired")

	p.SetURL(rotatedURL + nameEmailHook)
	r := must(t)(cont.Say("ada@example.com"))
	wantNames(t, r, "contact_update", "message", "forward_any")
	ctx := p.Context(cont.CID)
	if !bytes.Contains(ctx, []byte(`"k":"k2"`)) {
		t.Fatalf("not re-signed with the first key: %s", ctx)
	}
	if _, err := contextKeys(t, ringK2).Decode(ctx, cont.CID); err != nil {
		t.Fatalf("re-signed context: %v", err)
	}

	p.SetURL(retiredURL + nameEmailHook)
	wantRestart(t, must(t)(retire.Say("ada@example.com")))
	if obs.errorCount(userlike.ErrKindContextUnknownKey) != 1 || obs.errorCount(userlike.ErrKindContextForged) != 0 {
		t.Fatalf("errors %v", obs.errors)
	}
	// The conversation re-signed with k2 continues on the retired ring.
	r = must(t)(cont.Send("forward_failed", map[string]any{}))
	wantNames(t, r, "message", "end")
}

// TestTurningSigningOnAndOff: turning keys on restarts the conversations in
// progress once (their contexts are unsigned); turning them off again
// continues signed contexts (the signature is ignored) but restarts
// encrypted ones, which cannot be read without the key.
func TestTurningSigningOnAndOff(t *testing.T) {
	obs := newRecordingObserver()
	plainURL := sealedServer(t, "", obs)
	p := platformtest.New(plainURL + nameEmailHook)
	c := toAskEmail(t, p, "c-on")
	p.SetURL(sealedServer(t, ringK1, obs) + nameEmailHook)
	wantRestart(t, must(t)(c.Say("ada@example.com")))
	if obs.errorCount(userlike.ErrKindContextUnsigned) != 1 {
		t.Fatalf("errors %v", obs.errors)
	}

	signed := toAskEmail(t, p, "c-off-signed")
	p.SetURL(sealedServer(t, ringK1Enc, obs) + nameEmailHook)
	encrypted := toAskEmail(t, p, "c-off-encrypted")
	p.SetURL(plainURL + nameEmailHook)
	wantNames(t, must(t)(signed.Say("ada@example.com")), "contact_update", "message", "forward_any")
	wantRestart(t, must(t)(encrypted.Say("ada@example.com")))
}

// TestPlatformContextsWithKeys: contexts flowbot did not write are what
// they were without keys (new or foreign), never counted as forged.
func TestPlatformContextsWithKeys(t *testing.T) {
	obs := newRecordingObserver()
	p := platformtest.New(sealedServer(t, ringK1, obs) + nameEmailHook)
	c := p.Conversation("c-new", "web")
	r := must(t)(c.Say("hello")) // context {}: a new conversation
	if got := r.Texts(); len(got) != 1 || got[0] != "Welcome! I am a bot. What is your name?" {
		t.Fatalf("new conversation: %q", got)
	}
	p.SetContext("c-other", json.RawMessage(`{"state":"email","crm_id":42}`))
	wantRestart(t, must(t)(p.Conversation("c-other", "web").Say("hello")))
	if obs.recoveryCount(userlike.RecoveryForeign) != 1 || len(obs.errors) != 0 {
		t.Fatalf("errors %v recoveries %v", obs.errors, obs.recoveries)
	}
}

const growFlow = `
name: grow
start: a
on:
  error: too_long
states:
  a:
    ask: "Tell me"
    save: one
    set: {all: "{{ all }}{{ one }}"}
    next: a
  too_long:
    say: "That was too much for me to remember."
    do: [end]
`

// TestSealedContextOverflowTakesErrorPath: a variable that would push the
// encrypted context over 10,240 bytes takes the flow's error path; no
// context sent is ever bigger, and the safety net (a restart) is not
// needed.
func TestSealedContextOverflowTakesErrorPath(t *testing.T) {
	f, lints := flows.Parse("grow.yaml", []byte(growFlow), flows.Options{})
	if f == nil || lints.HasErrors() {
		t.Fatalf("%s", lints)
	}
	obs := newRecordingObserver()
	h, err := userlike.New([]*engine.Bot{engine.New(f)}, userlike.Options{Logger: quietLogger(), Observer: obs, ContextKeys: contextKeys(t, ringK1Enc)})
	if err != nil {
		t.Fatal(err)
	}
	p := platformtest.New(serveHTTP(t, h).URL + "/bots/grow/webhook")
	c := p.Conversation("c-grow", "web")
	must(t)(c.Start(""))
	var r platformtest.Reply
	for i := 0; i < 40; i++ {
		r = must(t)(c.Say(strings.Repeat("€", 90))) // 270 bytes, ~360 encrypted
		if len(p.Context(c.CID)) > engine.MaxContextBytes {
			t.Fatalf("context of %d bytes", len(p.Context(c.CID)))
		}
		if texts := r.Texts(); len(texts) > 0 && texts[0] == "That was too much for me to remember." {
			break
		}
	}
	wantNames(t, r, "message", "end")
	if flow, tooBig := obs.errorCount(userlike.ErrKindFlow), obs.errorCount(userlike.ErrKindContextTooBig); flow != 1 || tooBig != 0 {
		t.Fatalf("errors: flow %d, context_too_big %d", flow, tooBig)
	}
}

// TestResumeSealed: Resume reads the queued context with the keys, bound
// to the job's cid, and seals the new one; a stored context that does not
// verify restarts the conversation.
func TestResumeSealed(t *testing.T) {
	q := &fakeQueue{}
	obs := newRecordingObserver()
	keys := contextKeys(t, ringK1Enc)
	fl := loadExamplesEnv(t, map[string]string{"ORDER_API_URL": orderAPI(t).URL, "USERLIKE_API_URL": "http://127.0.0.1:1/api"})
	h, err := userlike.New(botsOf(fl), userlike.Options{Logger: testLogger(t), Queue: q, Observer: obs, ContextKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	p := platformFor(serveHTTP(t, h), "webshop")
	c := p.Conversation("c-job", "web")
	must(t)(c.Start(""))
	must(t)(c.Click("delivery"))
	must(t)(c.Say("A-12345"))
	if n, _ := q.calls(); n != 1 {
		t.Fatalf("%d jobs queued", n)
	}
	j := q.queued[0]
	if bytes.Contains(j.Context, []byte("A-12345")) {
		t.Fatalf("the queued context shows the order id: %s", j.Context)
	}
	result := engine.HTTPResult{Seq: 1, Status: 200, Body: []byte(`{"status":"shipped"}`)}
	resume := func(cid string, ctx []byte) userlike.Resumed {
		t.Helper()
		res, err := h.Resume(context.Background(), userlike.Continuation{Bot: j.Bot, CID: cid, Channel: j.Channel, Context: ctx}, result)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := resume(j.CID, j.Context)
	if res.From != "lookup" || res.To != "menu" || !bytes.Contains(res.Events, []byte("Order A-12345: shipped.")) {
		t.Fatalf("resume %+v %s", res, res.Events)
	}
	if s, err := keys.Decode(res.Context, j.CID); err != nil || s.State != "menu" || s.Vars["order_id"] != "A-12345" {
		t.Fatalf("resumed context %+v %v", s, err)
	}
	// Another cid, or an edited context: restart, counted.
	for _, ctx := range []struct {
		cid string
		raw []byte
	}{
		{"c-other", j.Context},
		{j.CID, editContext(t, j.Context, func(m map[string]any) { m["jw"] = 0 })},
	} {
		res := resume(ctx.cid, ctx.raw)
		if res.From != "" || !bytes.Contains(res.Events, []byte("start again")) || bytes.Contains(res.Events, []byte("shipped")) {
			t.Fatalf("resume of a forged context %+v %s", res, res.Events)
		}
	}
	if obs.errorCount(userlike.ErrKindContextForged) != 2 {
		t.Fatalf("errors %v", obs.errors)
	}
}
