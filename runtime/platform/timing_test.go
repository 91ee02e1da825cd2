package platform_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/llm"
	"github.com/flowbot/flowbot/runtime/llm/llmtest"
	"github.com/flowbot/flowbot/runtime/platform"
	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

// pacingFlow echoes each message in three replies and follows up after
// silence: a reminder after 10 minutes, goodbye after 30.
const pacingFlow = `
name: pacing
start: hello
states:
  hello:
    say: Hi!
    next: chat
  chat:
    wait: true
    next: echo
    on_silence:
      - after: 10m
        say: Still there?
      - after: 30m
        say: Closing this chat now. Bye!
        goto: closed
  echo:
    say:
      - "You said: {{event.text}}"
      - Second message
      - Third message
    next: chat
  closed:
    do: [end]
`

// pacingTiming answers 2 s after the last message, aggregating, with
// interruption, and types 1–3 s per further message.
var pacingTiming = map[string]any{"response_delay": 2, "typing_min": 1, "typing_max": 3, "typing_speed": 20, "aggregate": true, "interrupt": true}

func pacingBots(t testing.TB) fixedBots {
	t.Helper()
	f, lints := flows.Parse("pacing.yaml", []byte(pacingFlow), flows.Options{})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	return fixedBots{"pacing": engine.NewDeployment(engine.New(f))}
}

// pacingConversation creates a bot running the pacing flow with timing
// and a conversation with a webhook (never called: the test delivers by
// hand with deliverDue).
func pacingConversation(e *env, timing map[string]any) string {
	e.t.Helper()
	out := e.mustCall(201, "POST", "/api/bots", map[string]any{"name": "Pace", "flow": "pacing", "timing": timing})
	bot := out["bot"].(map[string]any)["id"].(string)
	out = e.mustCall(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "u1",
		"create_user_if_not_exists": true, "webhook": "http://127.0.0.1:9/hook"})
	return out["conversation"].(map[string]any)["id"].(string)
}

// deliverDue plays the delivery worker at the fake clock's time: it
// delivers every bot message due now, oldest first, and returns their
// texts.
func (e *env) deliverDue() []string {
	e.t.Helper()
	ctx := context.Background()
	var texts []string
	for {
		ds, err := e.store.ClaimDeliveries(ctx, "test", e.clock.Now(), time.Minute, 100)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(ds) == 0 {
			return texts
		}
		var outs []store.Outcome
		for _, d := range ds {
			texts = append(texts, d.Text)
			outs = append(outs, store.Outcome{MessageID: d.MessageID, Owner: "test", At: e.clock.Now(), Status: 200, Delivered: true})
		}
		if err := e.store.FinishDeliveries(ctx, outs); err != nil {
			e.t.Fatal(err)
		}
	}
}

// runDue fires the jobs and timers due now and returns how many ran.
func (e *env) runDue() int {
	e.t.Helper()
	n, err := e.api.RunDueJobs(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// at advances the fake clock to start+d, fires what is due, and delivers
// what is due; it returns the delivered texts.
func (e *env) at(start time.Time, d time.Duration) []string {
	e.t.Helper()
	e.clock.Set(start.Add(d))
	for e.runDue() > 0 {
	}
	return e.deliverDue()
}

func TestTimingBurstAnsweredOnce(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, platform.Options{Bots: pacingBots(t)})
			conv := pacingConversation(e, pacingTiming)
			t0 := e.clock.Now()
			if got := e.at(t0, 0); !slices.Equal(got, []string{"Hi!"}) {
				t.Fatalf("start: delivered %q", got)
			}
			// Three messages within the 2 s delay: nothing is said yet.
			e.send(conv, "my order")
			e.at(t0, 500*time.Millisecond)
			e.send(conv, "is late")
			e.at(t0, time.Second)
			e.send(conv, "help")
			if got := e.at(t0, 2900*time.Millisecond); len(got) != 0 {
				t.Fatalf("answered inside the delay: %q", got)
			}
			if at := e.timers(conv)["reply_at"]; at != float64(t0.Add(3*time.Second).Unix()) {
				t.Fatalf("reply_at %v, want %d", at, t0.Add(3*time.Second).Unix())
			}
			// 2 s after the last one: one answer to all three.
			got := e.at(t0, 3*time.Second)
			if !slices.Equal(got, []string{"You said: my order\nis late\nhelp"}) {
				t.Fatalf("at the end of the delay: delivered %q", got)
			}
			// The further messages wait their typing time: 14 characters
			// at 20/s is 0.7 s, raised to typing_min 1 s.
			if got := e.at(t0, 3900*time.Millisecond); len(got) != 0 {
				t.Fatalf("typing time not waited: %q", got)
			}
			if got := e.at(t0, 4*time.Second); !slices.Equal(got, []string{"Second message"}) {
				t.Fatalf("after 1 s of typing: %q", got)
			}
			if got := e.at(t0, 5*time.Second); !slices.Equal(got, []string{"Third message"}) {
				t.Fatalf("after 2 s of typing: %q", got)
			}
			want := []string{"bot: Hi!", "user: my order", "user: is late", "user: help",
				"bot: You said: my order\nis late\nhelp", "bot: Second message", "bot: Third message"}
			if h := e.history(conv); !slices.Equal(h, want) {
				t.Fatalf("history:\n%q\nwant\n%q", h, want)
			}
		})
	}
}

func TestTimingInterruptionCancelsUnsentMessages(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			obs := &recorder{}
			e := newEnv(t, kind, platform.Options{Bots: pacingBots(t), Observer: obs})
			conv := pacingConversation(e, pacingTiming)
			t0 := e.clock.Now()
			e.at(t0, 0)
			e.send(conv, "hello")
			if got := e.at(t0, 2*time.Second); !slices.Equal(got, []string{"You said: hello"}) {
				t.Fatalf("first reply: %q", got)
			}
			// The user writes while the bot is still "typing" the other
			// two: they are cancelled, and the flow answers the new message.
			e.send(conv, "wait, another thing")
			if got := e.at(t0, 4*time.Second); !slices.Equal(got, []string{"You said: wait, another thing"}) {
				t.Fatalf("2 s after the interruption: %q", got)
			}
			if got := e.at(t0, 20*time.Second); !slices.Equal(got, []string{"Second message", "Third message"}) {
				t.Fatalf("after the interruption: %q", got)
			}
			if obs.cancelled.Load() != 2 {
				t.Errorf("%d cancellations counted, want 2", obs.cancelled.Load())
			}
			want := []string{"bot: Hi!", "user: hello", "bot: You said: hello", "user: wait, another thing",
				"bot: You said: wait, another thing", "bot: Second message", "bot: Third message"}
			if h := e.history(conv); !slices.Equal(h, want) {
				t.Fatalf("history:\n%q\nwant\n%q", h, want)
			}
			// Without interruption the unsent messages go out first.
			e2 := newEnv(t, kind, platform.Options{Bots: pacingBots(t)})
			calm := map[string]any{}
			for k, v := range pacingTiming {
				calm[k] = v
			}
			calm["interrupt"] = false
			conv2 := pacingConversation(e2, calm)
			t1 := e2.clock.Now()
			e2.at(t1, 0)
			e2.send(conv2, "hello")
			e2.at(t1, 2*time.Second)
			e2.send(conv2, "again")
			got := append(e2.at(t1, 4*time.Second), e2.at(t1, 20*time.Second)...)
			if !slices.Equal(got, []string{"Second message", "Third message", "You said: again", "Second message", "Third message"}) {
				t.Fatalf("without interruption: %q", got)
			}
		})
	}
}

func TestFollowUpAfterSilence(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			obs := &recorder{}
			e := newEnv(t, kind, platform.Options{Bots: pacingBots(t), Observer: obs})
			conv := pacingConversation(e, map[string]any{}) // no delays: the clock is about follow-ups
			t0 := e.clock.Now()
			e.at(t0, 0)
			// Activity at 9 minutes cancels the follow-up due at 10.
			e.send(conv, "one")
			e.at(t0, 9*time.Minute)
			e.send(conv, "two")
			if got := e.at(t0, 10*time.Minute); !slices.Equal(got, []string{"You said: two", "Second message", "Third message"}) {
				t.Fatalf("at 10 min: %q (the follow-up must have been cancelled)", got)
			}
			if got := e.at(t0, 18*time.Minute+59*time.Second); len(got) != 0 {
				t.Fatalf("before 10 min of silence: %q", got)
			}
			// 10 minutes after the last answer: the reminder.
			if got := e.at(t0, 19*time.Minute); !slices.Equal(got, []string{"Still there?"}) {
				t.Fatalf("after 10 min of silence: %q", got)
			}
			if at := e.timers(conv)["follow_up_at"]; at != float64(t0.Add(39*time.Minute).Unix()) {
				t.Fatalf("follow_up_at %v, want %d", at, t0.Add(39*time.Minute).Unix())
			}
			// 30 minutes after it: goodbye, and the conversation ends.
			if got := e.at(t0, 38*time.Minute); len(got) != 0 {
				t.Fatalf("before 30 min: %q", got)
			}
			if got := e.at(t0, 39*time.Minute); !slices.Equal(got, []string{"Closing this chat now. Bye!"}) {
				t.Fatalf("after 30 min of silence: %q", got)
			}
			c := e.mustCall(200, "GET", "/api/conversations/"+conv, nil)["conversation"].(map[string]any)
			if c["status"] != "ended" || c["state"] != "closed" {
				t.Fatalf("conversation after goodbye: %v", c)
			}
			if got := e.at(t0, 48*time.Hour); len(got) != 0 {
				t.Fatalf("after the end: %q", got)
			}
			if timers := e.timers(conv); timers != nil {
				t.Fatalf("timers after the end: %v", timers)
			}
			if obs.timers["silence fired"] != 2 || len(obs.timers) != 1 {
				t.Errorf("timers counted: %v", obs.timers)
			}
		})
	}
}

func TestFollowUpSurvivesRestart(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			addr := storetest.Address(t, kind)
			ctx := context.Background()
			open := func() store.Store {
				s, err := store.Open(ctx, addr, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			first := open()
			e := newEnvOn(t, first, platform.Options{Bots: pacingBots(t)})
			conv := pacingConversation(e, map[string]any{})
			t0 := e.clock.Now()
			e.at(t0, 0)
			e.send(conv, "hello")
			e.at(t0, time.Second)
			// The process stops; another starts on the same database.
			first.Close()
			second := open()
			defer second.Close()
			e2 := newEnvOn(t, second, platform.Options{Bots: pacingBots(t)})
			e2.nextID = 1000
			if got := e2.at(t0, 10*time.Minute+time.Second); !slices.Equal(got, []string{"Still there?"}) {
				t.Fatalf("after the restart: %q", got)
			}
			if h := e2.history(conv); h[len(h)-1] != "bot: Still there?" {
				t.Fatalf("history: %q", h)
			}
		})
	}
}

func TestFollowUpWaitsForQuietHours(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{Bots: pacingBots(t)})
	// 21:55 in Berlin (UTC+1 in winter): the reminder would fall at 22:05.
	e.clock.Set(time.Date(2026, 12, 3, 20, 55, 0, 0, time.UTC))
	conv := pacingConversation(e, map[string]any{"quiet_hours": "22:00-08:00", "time_zone": "Europe/Berlin"})
	t0 := e.clock.Now()
	e.at(t0, 0)
	e.send(conv, "good night")
	e.at(t0, time.Second)
	if got := e.at(t0, 10*time.Hour); len(got) != 0 { // 07:55 Berlin
		t.Fatalf("during quiet hours: %q", got)
	}
	if got := e.at(t0, 10*time.Hour+5*time.Minute); !slices.Equal(got, []string{"Still there?"}) { // 08:00 Berlin
		t.Fatalf("when the quiet hours end: %q", got)
	}
	// The next rule keeps its distance (20 minutes) from the deferred one.
	if got := e.at(t0, 10*time.Hour+24*time.Minute); len(got) != 0 {
		t.Fatalf("before the next rule: %q", got)
	}
	if got := e.at(t0, 10*time.Hour+25*time.Minute); !slices.Equal(got, []string{"Closing this chat now. Bye!"}) {
		t.Fatalf("20 minutes after the deferred reminder: %q", got)
	}
}

func TestSegmentation(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{Bots: pacingBots(t)})
	conv := pacingConversation(e, map[string]any{"segment": 25})
	t0 := e.clock.Now()
	e.at(t0, 0)
	e.send(conv, "a long one.\n\nWith two paragraphs, the second of them long")
	got := e.at(t0, time.Minute)
	want := []string{"You said: a long one.", "With two paragraphs, the", "second of them long", "Second message", "Third message"}
	if !slices.Equal(got, want) {
		t.Fatalf("segmented:\n%q\nwant\n%q", got, want)
	}
}

// recorder counts what the API reports to its Observer.
type recorder struct {
	cancelled atomic.Int64
	mu        sync.Mutex
	timers    map[string]int
}

func (r *recorder) Turn(string, string, time.Duration) {}
func (r *recorder) Error(string, string)               {}
func (r *recorder) Cancelled(n int)                    { r.cancelled.Add(int64(n)) }
func (r *recorder) Timer(name, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timers == nil {
		r.timers = map[string]int{}
	}
	r.timers[name+" "+outcome]++
}

// TestTimersFireOnAnyInstance: two Chat API instances share one
// PostgreSQL database; the conversation is served by the first, and its
// aggregated reply and its follow-up are fired by the second.
func TestTimersFireOnAnyInstance(t *testing.T) {
	addr := storetest.Address(t, "postgres")
	ctx := context.Background()
	open := func() store.Store {
		s, err := store.Open(ctx, addr, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := newEnvOn(t, open(), platform.Options{Bots: pacingBots(t)})
	b := newEnvOn(t, open(), platform.Options{Bots: pacingBots(t)})
	b.nextID = 1000
	conv := pacingConversation(a, map[string]any{"response_delay": 2, "aggregate": true})
	t0 := a.clock.Now()
	b.clock.Set(t0)
	a.at(t0, 0)
	a.send(conv, "one")
	a.send(conv, "two")
	if got := b.at(t0, 2*time.Second); !slices.Equal(got, []string{"You said: one\ntwo", "Second message", "Third message"}) {
		t.Fatalf("the other instance's reply: %q", got)
	}
	if n := a.runDue(); n != 0 {
		t.Fatalf("the first instance ran %d timers that the second had fired", n)
	}
	if got := b.at(t0, 10*time.Minute+2*time.Second); !slices.Equal(got, []string{"Still there?"}) {
		t.Fatalf("the other instance's follow-up: %q", got)
	}
}

// TestAggregationStepsAside: a media message, or an answer to a pending
// choice, is not held for aggregation: it is answered at once, with the
// texts that were waiting.
func TestAggregationStepsAside(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{Bots: pacingBots(t)})
	conv := pacingConversation(e, map[string]any{"response_delay": 2, "aggregate": true})
	t0 := e.clock.Now()
	e.at(t0, 0)
	e.send(conv, "look at this")
	e.mustCall(202, "POST", "/api/conversations/"+conv+"/messages", map[string]any{"message": map[string]any{
		"text": "", "from_bot": false, "attached_media": map[string]any{"url": "https://example.com/a.jpg"}}})
	if got := e.at(t0, 2*time.Second); !slices.Equal(got, []string{"You said: look at this", "Second message", "Third message"}) {
		t.Fatalf("after the media message: %q", got)
	}
	if got := e.at(t0, time.Minute); len(got) != 0 {
		t.Fatalf("the reply timer fired as well: %q", got)
	}

	// The webshop's menu is a choice: "3" is answered at once, as a click.
	shop := newEnv(t, "sqlite", platform.Options{})
	out := shop.mustCall(201, "POST", "/api/bots", map[string]any{"name": "Shop", "flow": "webshop",
		"timing": map[string]any{"response_delay": 2, "aggregate": true}})
	c := shop.mustCall(201, "POST", "/api/conversations", map[string]any{"bot_id": out["bot"].(map[string]any)["id"], "user_id": "u",
		"create_user_if_not_exists": true, "webhook": "http://127.0.0.1:9/hook"})["conversation"].(map[string]any)["id"].(string)
	s0 := shop.clock.Now()
	shop.at(s0, 0)
	shop.send(c, "3")
	shop.send(c, "thanks") // held together with "3", it would make "3\nthanks": no click
	if got := shop.at(s0, 2*time.Second); len(got) == 0 || !strings.HasPrefix(got[0], "We're open") {
		t.Fatalf("the menu answer: %q", got)
	}
}

// timers returns the conversation's "timers" object (GET /api/conversations/{id}).
func (e *env) timers(conv string) map[string]any {
	e.t.Helper()
	c := e.mustCall(200, "GET", "/api/conversations/"+conv, nil)["conversation"].(map[string]any)
	timers, _ := c["timers"].(map[string]any)
	return timers
}

// TestInterruptionUnsaysTheModel: when an interruption cancels the tail of
// a model's reply, the next request's transcript holds only what the user
// saw.
func TestInterruptionUnsaysTheModel(t *testing.T) {
	fake := llmtest.NewFake(func(req llmtest.Request) string { return "First part.\n\nSecond part.\n\nThird part." })
	model := httptest.NewServer(fake)
	defer model.Close()
	f, lints := flows.Parse("chatty.yaml", []byte(`
name: chatty
start: listen
states:
  listen: {wait: true, next: reply}
  reply:
    llm: {system: "Be chatty."}
    next: listen
`), flows.Options{})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	runner := &llm.Runner{Client: llm.New(llm.Config{BaseURL: model.URL + "/v1", Model: "fake"}, nil)}
	e := newEnv(t, "sqlite", platform.Options{Bots: fixedBots{"chatty": engine.NewDeployment(engine.New(f))}, Jobs: runner, LLM: true})
	out := e.mustCall(201, "POST", "/api/bots", map[string]any{"name": "C", "flow": "chatty", "timing": map[string]any{"typing_min": 1, "segment": 100, "interrupt": true}})
	conv := e.mustCall(201, "POST", "/api/conversations", map[string]any{"bot_id": out["bot"].(map[string]any)["id"], "user_id": "u",
		"create_user_if_not_exists": true, "webhook": "http://127.0.0.1:9/hook"})["conversation"].(map[string]any)["id"].(string)
	t0 := e.clock.Now()
	e.send(conv, "hi")
	if got := e.at(t0, 0); !slices.Equal(got, []string{"First part."}) {
		t.Fatalf("first reply: %q", got)
	}
	e.send(conv, "wait")
	e.at(t0, 500*time.Millisecond)
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests to the model", len(reqs))
	}
	var got []string
	for _, m := range reqs[1].Messages {
		got = append(got, m.Role+": "+m.Content)
	}
	want := []string{"system: Be chatty.", "user: hi", "assistant: First part.", "user: wait"}
	if !slices.Equal(got, want) {
		t.Fatalf("second request:\n%q\nwant\n%q", got, want)
	}
}
