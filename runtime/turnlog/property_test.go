package turnlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

// exampleEnv is the environment the examples are compiled with.
var exampleEnv = map[string]string{"ORDER_API_URL": "http://orders.test", "USERLIKE_API_URL": "http://api.test", "USERLIKE_API_TOKEN": "t"}

func compileOpts() compile.Options {
	return compile.Options{Flows: flows.Options{Env: func(k string) (string, bool) { v, ok := exampleEnv[k]; return v, ok }}}
}

func exampleBots(t testing.TB) []*engine.Bot {
	t.Helper()
	bots, lints, err := compile.Dir("../../examples", compileOpts())
	if err != nil || lints.HasErrors() || len(bots) == 0 {
		t.Fatalf("examples: %v %s", err, lints)
	}
	return bots
}

// diceBot is a flow whose answers depend on its script's Math.random and
// Date.now.
func diceBot(t testing.TB) *engine.Bot {
	t.Helper()
	bot, _, err := compile.File("testdata/dice.yaml", compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

// words are what a random contact types: the examples' commands and
// answers, numbers, and noise.
var words = []string{"1", "2", "3", "4", "9", "menu", "human", "A-12345", "a 12345", "B-99", "yes", "no", "hello",
	"ann@example.com", "Ann", "not an email", "", "ünïcödé 😀", "start over", "hours", "help", "42", "0"}

// walk plays a random conversation of n events on bot, each through
// turn.Run with obs told of it, answering jobs at random.
func walk(bot *engine.Bot, rnd *rand.Rand, cid string, n int, obs turn.Observer, keys *engine.ContextKeys) {
	dep := engine.NewDeployment(bot)
	jobs := turn.RunnerFunc(func(_ context.Context, job *engine.Job) engine.HTTPResult {
		switch rnd.IntN(4) {
		case 0:
			return engine.HTTPResult{Seq: job.Seq, Err: "connection refused"}
		case 1:
			return engine.HTTPResult{Seq: job.Seq, Status: 404, Body: []byte(`{"error":"not found"}`)}
		default:
			if job.LLM != nil {
				return engine.HTTPResult{Seq: job.Seq, Status: 200, Body: []byte(words[rnd.IntN(len(words))])}
			}
			return engine.HTTPResult{Seq: job.Seq, Status: 200, Body: []byte(`{"id":"A-12345","status":"shipped","items":[1,2]}`)}
		}
	})
	now := time.Date(2026, 3, 1, 9, 0, rnd.IntN(60), rnd.IntN(1e9), time.UTC)
	channels := []string{"web", "whatsapp_business", "sms", "telegram"}
	ch := channels[rnd.IntN(len(channels))]
	var contact map[string]string
	if rnd.IntN(3) == 0 {
		contact = map[string]string{"name": "Ann", "email": "ann@example.com"}
	}
	var ctx []byte
	var last turn.Outcome
	for i := 0; i < n; i++ {
		ev := engine.Event{Channel: ch, Now: now, Contact: contact}
		switch k := rnd.IntN(10); {
		case i == 0 || k == 0:
			ev.Name = engine.EvStart
		case k <= 3 && last.Result.Session.Pending != nil && len(last.Result.Session.Pending.Options) > 0:
			opts := last.Result.Session.Pending.Options
			ev.Name, ev.ClickID = engine.EvClick, opts[rnd.IntN(len(opts))].ID
		case k == 4 && last.Result.Timer != nil:
			ev.Name, ev.Silence = engine.EvSilence, &engine.SilenceEvent{State: last.Result.Timer.State, Rule: last.Result.Timer.Rule}
		case k == 5:
			ev.Name, ev.MediaURL = engine.EvMedia, "https://files.test/photo.jpg"
		case k == 6:
			ev.Name, ev.Location = engine.EvLocation, &engine.Location{Latitude: 52.5, Longitude: 13.4, Address: "Berlin"}
		default:
			ev.Name, ev.Text = engine.EvMessage, words[rnd.IntN(len(words))]
		}
		req := turn.Request{Deployment: dep, Context: ctx, Keys: keys, Binding: cid, Event: ev, Jobs: jobs,
			QueueAsync: rnd.IntN(2) == 0, Carry: rnd.IntN(2) == 0, Text: ch == "sms", Observe: obs}
		o, _ := turn.Run(context.Background(), req)
		if o.Result.Job != nil && rnd.IntN(2) == 0 {
			o = turn.Inline(context.Background(), req, o)
		}
		if !o.Dropped {
			ctx, last = o.Context, o
		}
		now = now.Add(time.Duration(rnd.IntN(600)) * time.Second)
	}
}

// FuzzReplayIdentical: every turn of random conversations on the
// examples (and a flow whose script rolls a die and reads the clock), logged with personal data and read back from the file,
// replays identically on its own version; logged redacted, every turn
// whose inputs held no personal data still replays identically by hash.
func FuzzReplayIdentical(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	bots := append(exampleBots(f), diceBot(f))
	keys, err := engine.ParseContextKeys("k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=:enc")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		for _, personal := range []bool{true, false} {
			dir := t.TempDir()
			w, err := turnlog.Open(dir, turnlog.Options{PersonalData: personal, Queue: 1 << 16})
			if err != nil {
				t.Fatal(err)
			}
			rnd := rand.New(rand.NewPCG(seed, 7))
			for i, bot := range bots {
				k := keys
				if i%2 == 0 {
					k = nil
				}
				walk(bot, rnd, fmt.Sprintf("c%d-%d", seed, i), 12, w, k)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Dropped() != 0 {
				t.Fatalf("%d lines dropped", w.Dropped())
			}
			l, err := turnlog.Read(filepath.Join(dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Turns) < len(bots)*10 {
				t.Fatalf("%d turns logged", len(l.Turns))
			}
			replayed := 0
			for _, rec := range l.Turns {
				bot, err := l.VersionBot(rec.Flow, rec.Version, compileOpts())
				if err != nil {
					t.Fatal(err)
				}
				r := turnlog.Replay(context.Background(), rec, bot)
				if r.Skipped != "" {
					if personal {
						t.Fatalf("turn %s skipped with personal data: %s", rec.ID, r.Skipped)
					}
					continue
				}
				replayed++
				if !r.Same || len(r.Diff) > 0 {
					t.Fatalf("personal data %v: turn %s (%s %s on %s, event %s) replays differently:\n%s", personal, rec.ID, rec.Flow, rec.Conversation,
						rec.From.State, rec.Event.Name, r.Diff)
				}
			}
			if replayed == 0 {
				t.Fatalf("personal data %v: no turn replayed", personal)
			}
			t.Logf("personal data %v: %d of %d turns replayed identically", personal, replayed, len(l.Turns))
		}
	})
}
