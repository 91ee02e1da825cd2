package userlike_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/userlike"
)

// The drift cases of issue 16, Userlike mode's side (platform mode's are in
// runtime/platform/drift_test.go): both modes run their turns through
// runtime/turn, so they agree.

// thinkerFlow asks a language model in the background; "stop" ends.
const thinkerFlow = `
name: thinker
api_url: http://127.0.0.1:1/api
start: hello
commands:
  - match: [stop]
    goto: bye
states:
  hello: {say: Hi!, next: listen}
  listen: {wait: true, next: think}
  think:
    say: Let me think…
    llm: {system: "Be brief.", async: true}
    next: listen
  bye: {say: Bye., do: [end]}
`

// contextOf reads the state and the awaited job of an event's context.
func contextOf(t *testing.T, raw json.RawMessage) (state string, await int) {
	t.Helper()
	var c struct {
		State string `json:"s"`
		Await int    `json:"jw"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("context %s: %v", raw, err)
	}
	return c.State, c.Await
}

// TestAsyncLLMMessageDuringWait: a message while an async llm step waits
// asks the model again; the answer is not empty (it carries the new
// context, which awaits the new request), and the earlier request is
// superseded, as an HTTP step's is.
func TestAsyncLLMMessageDuringWait(t *testing.T) {
	q := &fakeQueue{}
	h, err := userlike.New([]*engine.Bot{engine.New(parseFlow(t, thinkerFlow))}, userlike.Options{Logger: testLogger(t), Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	p := platformFor(serveHTTP(t, h), "thinker")
	c := p.Conversation("c-llm", "web")
	must(t)(c.Start(""))
	if r := must(t)(c.Say("first question")); !slices.Equal(r.Texts(), []string{"Let me think…"}) {
		t.Fatalf("first answer %q", r.Texts())
	}
	r := must(t)(c.Say("and another thing"))
	if len(r.Packets) == 0 {
		t.Fatalf("a message while the model thinks got an empty answer (%s): the platform keeps the old context", r.Body)
	}
	if state, await := contextOf(t, r.Packets[len(r.Packets)-1].Context); state != "think" || await != 2 {
		t.Fatalf("the answer's context is in %q awaiting job %d, want think awaiting 2", state, await)
	}
	n, sup := q.calls()
	if n != 2 || q.queued[1].Job.Seq != 2 || q.queued[1].Job.LLM == nil {
		t.Fatalf("%d jobs queued", n)
	}
	if !slices.Equal(sup, []string{"thinker c-llm 1"}) {
		t.Fatalf("superseded %v, want the first llm request", sup)
	}
	// The contact moves on: the second request is superseded too.
	must(t)(c.Say("stop"))
	if _, sup := q.calls(); !slices.Equal(sup, []string{"thinker c-llm 1", "thinker c-llm 2"}) {
		t.Fatalf("superseded %v after a command", sup)
	}
}

// TestAsyncLLMSupersededByCommand: a command that moves the conversation
// on while an async llm step waits supersedes its request, so that the
// model's late reply is not pushed (the engine says which job a session
// awaits, for http and llm steps alike).
func TestAsyncLLMSupersededByCommand(t *testing.T) {
	q := &fakeQueue{}
	h, err := userlike.New([]*engine.Bot{engine.New(parseFlow(t, thinkerFlow))}, userlike.Options{Logger: testLogger(t), Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	c := platformFor(serveHTTP(t, h), "thinker").Conversation("c-stop", "web")
	must(t)(c.Start(""))
	must(t)(c.Say("a question"))
	if r := must(t)(c.Say("stop")); !slices.Equal(r.Texts(), []string{"Bye."}) {
		t.Fatalf("answer %q", r.Texts())
	}
	if n, sup := q.calls(); n != 1 || !slices.Equal(sup, []string{"thinker c-stop 1"}) {
		t.Fatalf("%d jobs queued, superseded %v; want the llm request superseded", n, sup)
	}
}

// TestResumedScriptTimeoutCounted: a script that runs out of time in the
// turn of a background job's result counts as a script time-out, as in a
// webhook turn.
func TestResumedScriptTimeoutCounted(t *testing.T) {
	f := parseFlow(t, `
name: slow
api_url: http://127.0.0.1:1/api
start: lookup
states:
  lookup:
    say: Looking…
    http: {url: "http://127.0.0.1:1/x", async: true}
    next: crunch
  crunch:
    script: "while (true) {}"
    say: done
    do: [end]
`)
	q := &fakeQueue{}
	obs := newRecordingObserver()
	h, err := userlike.New([]*engine.Bot{engine.New(f)}, userlike.Options{Logger: testLogger(t), Queue: q, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	c := platformFor(serveHTTP(t, h), "slow").Conversation("c-slow", "web")
	must(t)(c.Start(""))
	if n, _ := q.calls(); n != 1 {
		t.Fatalf("%d jobs queued", n)
	}
	j := q.queued[0]
	res, err := h.Resume(context.Background(), userlike.Continuation{Bot: j.Bot, CID: j.CID, Channel: j.Channel, Context: j.Context},
		engine.HTTPResult{Seq: j.Job.Seq, Status: 200, Body: []byte(`{}`)})
	if err != nil || res.Ignored {
		t.Fatalf("resume %+v %v", res, err)
	}
	if got := obs.errorCount(userlike.ErrKindScriptTimeout); got != 1 {
		t.Fatalf("script time-outs counted: %d (flow errors: %d)", got, obs.errorCount(userlike.ErrKindFlow))
	}
	if got := obs.errorCount(userlike.ErrKindFlow); got != 0 {
		t.Fatalf("the time-out was also counted as %d flow errors", got)
	}
}

// chainFlow makes five HTTP requests in a row; the error path says so.
const chainFlow = `
name: chain
start: a
on: {error: failed}
states:
  a: {http: {url: "${env.API}/1"}, next: b}
  b: {http: {url: "${env.API}/2"}, next: c}
  c: {http: {url: "${env.API}/3"}, next: d}
  d: {http: {url: "${env.API}/4"}, next: e}
  e: {http: {url: "${env.API}/5"}, next: done}
  done: {say: all five, do: [end]}
  failed: {say: gave up, do: [end]}
`

// TestOneJobChainCap: a flow chaining HTTP steps makes four requests in a
// row; the fifth takes the error path (as in platform mode and in
// conversation tests).
func TestOneJobChainCap(t *testing.T) {
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer api.Close()
	f, lints := flows.Parse("chain.yaml", []byte(chainFlow), flows.Options{Env: func(string) (string, bool) { return api.URL, true }})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	h, err := userlike.New([]*engine.Bot{engine.New(f)}, userlike.Options{Logger: testLogger(t), Jobs: loopbackJobs()})
	if err != nil {
		t.Fatal(err)
	}
	r := must(t)(platformFor(serveHTTP(t, h), "chain").Conversation("c-chain", "web").Start(""))
	if !slices.Equal(r.Texts(), []string{"gave up"}) || calls.Load() != 4 {
		t.Fatalf("answer %q after %d requests; want the error path after %d", r.Texts(), calls.Load(), userlike.MaxJobsPerTurn)
	}
	if !strings.Contains(string(r.Body), `"end"`) {
		t.Fatalf("answer %s", r.Body)
	}
}

// TestChainCountedAcrossBackgroundJobs: the jobs a flow makes in a row are
// counted across a background job and the synchronous ones its result
// chains: an async request, then four synchronous ones, takes the error
// path at the fifth, as the same flow does without async (and in platform
// mode).
func TestChainCountedAcrossBackgroundJobs(t *testing.T) {
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer api.Close()
	src := strings.Replace(strings.Replace(chainFlow, "name: chain\n", "name: chain\napi_url: http://127.0.0.1:1/api\n", 1),
		`a: {http: {url: "${env.API}/1"}`, `a: {http: {url: "${env.API}/1", async: true}`, 1)
	f, lints := flows.Parse("chain.yaml", []byte(src), flows.Options{Env: func(string) (string, bool) { return api.URL, true }})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	q := &fakeQueue{}
	h, err := userlike.New([]*engine.Bot{engine.New(f)}, userlike.Options{Logger: testLogger(t), Queue: q, Jobs: loopbackJobs()})
	if err != nil {
		t.Fatal(err)
	}
	must(t)(platformFor(serveHTTP(t, h), "chain").Conversation("c-bg", "web").Start(""))
	if n, _ := q.calls(); n != 1 || q.queued[0].Chain != 1 {
		t.Fatalf("%d jobs queued (chain %d)", n, q.queued[0].Chain)
	}
	j := q.queued[0]
	res, err := h.Resume(context.Background(), userlike.Continuation{Bot: j.Bot, CID: j.CID, Channel: j.Channel, Context: j.Context, Chain: j.Chain},
		engine.HTTPResult{Seq: j.Job.Seq, Status: 200, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || !strings.Contains(string(res.Events), "gave up") {
		t.Fatalf("after the background job: %d more requests, pushed %s; want 3 and the error path", calls.Load(), res.Events)
	}
}

// TestFollowUpCountsFromDelayedReply: the follow-up's silence counts from
// when the contact sees the reply — after the flow's `delay` steps — as in
// platform mode, where it counts from the last paced message.
func TestFollowUpCountsFromDelayedReply(t *testing.T) {
	tm := &fakeTimers{}
	clk := &fixedClock{now: t0}
	f := parseFlow(t, `
name: paced
start: ask
api_url: http://127.0.0.1:1/api
states:
  ask:
    say: [{delay: 3}]
    ask: "Your name?"
    save: name
    next: done
    on_silence:
      - {after: 10m, say: "Still there?"}
  done: {say: Thanks, do: [end]}
`)
	h, err := userlike.New([]*engine.Bot{engine.New(f)}, userlike.Options{Logger: testLogger(t), Timers: tm, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	r := must(t)(platformFor(serveHTTP(t, h), "paced").Conversation("c-paced", "web").Start(""))
	if !slices.Equal(r.Names(), []string{"delay", "message"}) {
		t.Fatalf("answer %v", r.Names())
	}
	if fu := tm.last; !fu.Base.Equal(t0.Add(3*time.Second)) || !fu.Due.Equal(t0.Add(3*time.Second+10*time.Minute)) {
		t.Fatalf("follow-up counts from %v, due %v; want 3 s after the turn (its delay step)", fu.Base.Sub(t0), fu.Due.Sub(t0))
	}
}

// TestContactUpdateObjectPassesThrough: a contact_update whose field is an
// object goes to Userlike as a JSON object (platform mode stores the same
// object as JSON text).
func TestContactUpdateObjectPassesThrough(t *testing.T) {
	f := parseFlow(t, `
name: tiers
start: hello
states:
  hello:
    say: Welcome!
    do:
      - contact_update: {name: Ada, custom_fields: {tier: gold, visits: 3}}
    next: wait
  wait: {wait: true, next: hello}
`)
	h, err := userlike.New([]*engine.Bot{engine.New(f)}, userlike.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := must(t)(platformFor(serveHTTP(t, h), "tiers").Conversation("c-tier", "web").Start(""))
	p, ok := r.Find("contact_update")
	if !ok {
		t.Fatalf("answer %v", r.Names())
	}
	var got map[string]any
	if err := json.Unmarshal(p.Raw, &got); err != nil {
		t.Fatal(err)
	}
	cf, _ := got["custom_fields"].(map[string]any)
	if got["name"] != "Ada" || cf["tier"] != "gold" || cf["visits"] != float64(3) {
		t.Fatalf("contact_update payload %s", p.Raw)
	}
}
