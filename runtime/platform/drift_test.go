package platform_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/platform"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

// The drift cases of issue 16, platform mode's side (Userlike mode's are in
// runtime/userlike/drift_test.go and runtime/worker/giveup_test.go): both
// modes run their turns through runtime/turn, so they agree.

// botsOf compiles flow sources, with env for ${env.…}.
func botsOf(t *testing.T, env map[string]string, srcs ...string) fixedBots {
	t.Helper()
	bots := fixedBots{}
	for _, src := range srcs {
		f, lints := flows.Parse("f.yaml", []byte(src), flows.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
		if f == nil || lints.HasErrors() {
			t.Fatal(lints)
		}
		bots[f.Name] = engine.NewDeployment(engine.New(f))
	}
	return bots
}

// newConversation makes a bot of flow (with timing, if any) and a
// conversation with a webhook the test delivers to by hand (deliverDue).
func newConversation(e *env, flow string, timing map[string]any) string {
	e.t.Helper()
	req := map[string]any{"name": "Drift", "flow": flow}
	if timing != nil {
		req["timing"] = timing
	}
	bot := e.mustCall(201, "POST", "/api/bots", req)["bot"].(map[string]any)["id"].(string)
	return e.mustCall(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "u1",
		"create_user_if_not_exists": true, "webhook": "http://127.0.0.1:9/hook"})["conversation"].(map[string]any)["id"].(string)
}

// TestDelayStepsPaceReplies: a flow's own `delay` steps hold the messages
// after them, as Userlike shows them (a typing indicator, then the
// message).
func TestDelayStepsPaceReplies(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{Bots: botsOf(t, nil, `
name: pauses
start: hello
states:
  hello:
    say:
      - First.
      - {delay: 3}
      - Second.
    next: wait
  wait: {wait: true, next: hello}
`)})
	t0 := e.clock.Now()
	newConversation(e, "pauses", nil)
	if got := e.at(t0, 0); !slices.Equal(got, []string{"First."}) {
		t.Fatalf("at once: %q (the delay step must hold the second message)", got)
	}
	if got := e.at(t0, 2999*time.Millisecond); len(got) != 0 {
		t.Fatalf("before the delay passed: %q", got)
	}
	if got := e.at(t0, 3*time.Second); !slices.Equal(got, []string{"Second."}) {
		t.Fatalf("after the delay: %q", got)
	}
}

// TestContactUpdateObjectsAsJSON: a contact_update whose field is an object
// (custom_fields) stores it as JSON, not as Go's text of a map.
func TestContactUpdateObjectsAsJSON(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, platform.Options{Bots: botsOf(t, nil, `
name: tiers
start: hello
states:
  hello:
    say: Welcome!
    do:
      - contact_update: {name: Ada, custom_fields: {tier: gold, visits: 3}}
    next: wait
  wait: {wait: true, next: hello}
`)})
			conv := newConversation(e, "tiers", nil)
			c := e.mustCall(200, "GET", "/api/conversations/"+conv, nil)["conversation"].(map[string]any)
			contact := c["contact"].(map[string]any)
			if contact["name"] != "Ada" || contact["custom_fields"] != `{"tier":"gold","visits":3}` {
				t.Fatalf("contact %v", contact)
			}
		})
	}
}

// TestFollowUpCountsFromPacedReply: the follow-up's silence is counted
// from when the last message of a paced reply is sent, not from the
// user's message.
func TestFollowUpCountsFromPacedReply(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{Bots: pacingBots(t)})
	// The reply waits 2 s; each further message types 1 s.
	conv := pacingConversation(e, map[string]any{"response_delay": 2, "typing_min": 1, "typing_max": 1, "typing_speed": 20})
	t0 := e.clock.Now()
	e.at(t0, 0)
	e.send(conv, "hi")
	if got := e.at(t0, 3999*time.Millisecond); len(got) != 2 {
		t.Fatalf("before 4 s: %q", got)
	}
	if got := e.at(t0, 4*time.Second); !slices.Equal(got, []string{"Third message"}) {
		t.Fatalf("at 4 s: %q", got)
	}
	want := t0.Add(4*time.Second + 10*time.Minute).Unix()
	if at := e.timers(conv)["follow_up_at"]; at != float64(want) {
		t.Fatalf("follow_up_at %v, want %d: 10 minutes after the last reply was sent (t0+4s), not after the user's message", at, want)
	}
}

// modelRunner answers llm jobs with the last user message.
type modelRunner struct {
	mu   sync.Mutex
	seen []string
}

func (m *modelRunner) Run(ctx context.Context, job *engine.Job) engine.HTTPResult {
	if job.LLM == nil || len(job.LLM.Messages) == 0 {
		return engine.HTTPResult{Seq: job.Seq, Status: 200, Body: []byte(`{}`)}
	}
	last := job.LLM.Messages[len(job.LLM.Messages)-1].Content
	m.mu.Lock()
	m.seen = append(m.seen, last)
	m.mu.Unlock()
	return engine.HTTPResult{Seq: job.Seq, Status: 200, Body: []byte("reply to " + last)}
}

// TestLLMMessageDuringWait: a message while an llm step waits asks again
// with it; the earlier reply is dropped, the later one delivered (as in
// Userlike mode).
func TestLLMMessageDuringWait(t *testing.T) {
	model := &modelRunner{}
	e := newEnv(t, "sqlite", platform.Options{Jobs: model, LLM: true, Bots: botsOf(t, nil, `
name: thinker
start: listen
states:
  listen: {wait: true, next: think}
  think:
    llm: {system: "Be brief."}
    next: listen
`)})
	conv := newConversation(e, "thinker", nil)
	t0 := e.clock.Now()
	e.send(conv, "one")
	e.send(conv, "two")
	e.at(t0, 0)
	if got := e.history(conv); !slices.Equal(got, []string{"user: one", "user: two", "bot: reply to two"}) {
		t.Fatalf("history %q (asked %q)", got, model.seen)
	}
}

// errKinds records the error kinds counted.
type errKinds struct {
	recorder
	mu    sync.Mutex
	kinds map[string]int
}

func (r *errKinds) Error(flow, kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds == nil {
		r.kinds = map[string]int{}
	}
	r.kinds[kind]++
}

// TestJobResultScriptTimeoutCounted: a script that runs out of time in a
// job result's turn counts as a script time-out.
func TestJobResultScriptTimeoutCounted(t *testing.T) {
	obs := &errKinds{}
	e := newEnv(t, "sqlite", platform.Options{Observer: obs, Jobs: &modelRunner{}, Bots: botsOf(t, nil, `
name: slow
start: lookup
states:
  lookup:
    http: {url: "http://127.0.0.1:1/x"}
    next: crunch
  crunch:
    script: "while (true) {}"
    say: done
    do: [end]
`)})
	newConversation(e, "slow", nil)
	e.at(e.clock.Now(), 0)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.kinds["script_timeout"] != 1 || obs.kinds["flow"] != 0 {
		t.Fatalf("errors counted %v, want one script_timeout", obs.kinds)
	}
}

// TestJobChainCap: a flow chaining HTTP steps makes four requests in a
// row; the fifth takes the error path (as in Userlike mode and in
// conversation tests).
func TestJobChainCap(t *testing.T) {
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer api.Close()
	e := newEnv(t, "sqlite", platform.Options{Bots: botsOf(t, map[string]string{"API": api.URL}, `
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
`)})
	conv := newConversation(e, "chain", nil)
	e.at(e.clock.Now(), 0)
	if got := e.history(conv); !slices.Equal(got, []string{"bot: gave up"}) || calls.Load() != platform.MaxChainedJobs {
		t.Fatalf("history %q after %d requests", got, calls.Load())
	}
}

// TestJobGivenUp: a job whose worker died MaxJobAttempts times is not made
// again; the flow takes its error path (as in Userlike mode).
func TestJobGivenUp(t *testing.T) {
	var calls atomic.Int32
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Write([]byte(`{"status":"shipped"}`))
	}))
	defer orders.Close()
	e := newEnv(t, "sqlite", platform.Options{Bots: exampleBots(t, map[string]string{"ORDER_API_URL": orders.URL})})
	conv := e.conversation(e.bot("webshop"), "u1", "")
	e.send(conv, "1")
	e.send(conv, "A-12345")
	ctx := context.Background()
	for i := 0; i < platform.MaxJobAttempts; i++ {
		jobs, err := e.store.ClaimJobs(ctx, "dead", e.clock.Now(), time.Minute, 10)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim %d: %v %v", i+1, jobs, err)
		}
		e.clock.Advance(time.Minute + time.Second) // its worker died: the lease runs out
	}
	for e.runDue() > 0 {
	}
	h := e.history(conv)
	if calls.Load() != 0 || !strings.HasPrefix(h[len(h)-2], "bot: Sorry, I can't reach the order system right now.") {
		t.Fatalf("after %d requests: %q", calls.Load(), h)
	}
}
