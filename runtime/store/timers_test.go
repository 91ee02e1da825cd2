package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/store"
)

// TestTimers: a timer is one per name and conversation, replaced by
// setting it again, visible to the next turn, claimed like a job when due,
// and gone once a turn handled it or cancelled it.
func TestTimers(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		mustBot(t, s, "b1")
		open(t, s, "c1", "", nil)
		set := func(at time.Time, name string, due time.Duration, spec string) {
			t.Helper()
			_, err := s.Turn(ctx, store.TurnRequest{ConversationID: "c1", Now: at}, func(c store.Conversation) (store.TurnOutput, error) {
				return store.TurnOutput{Context: c.Context, SetTimers: []store.Timer{{Name: name, DueAt: at.Add(due), Spec: json.RawMessage(spec)}}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		set(t0, "silence", 10*time.Minute, `{"v":1}`)
		set(t0.Add(time.Minute), "silence", 10*time.Minute, `{"v":2}`) // replaces
		set(t0.Add(time.Minute), "reply", 2*time.Second, `{"v":3}`)
		var seen []store.Timer
		if _, err := s.Turn(ctx, store.TurnRequest{ConversationID: "c1", Now: t0.Add(time.Minute)}, func(c store.Conversation) (store.TurnOutput, error) {
			seen = c.Timers
			return store.TurnOutput{}, store.ErrSkip
		}); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 2 || seen[0].Name != "reply" || seen[1].Name != "silence" || string(seen[1].Spec) != `{"v":2}` || !seen[1].DueAt.Equal(t0.Add(11*time.Minute)) {
			t.Fatalf("timers seen by a turn: %+v", seen)
		}
		// Not due yet, then due: claimed with their names.
		if js, _ := s.ClaimJobs(ctx, "w", t0.Add(time.Minute), time.Minute, 10); len(js) != 0 {
			t.Fatalf("claimed early: %+v", js)
		}
		js, err := s.ClaimJobs(ctx, "w", t0.Add(20*time.Minute), time.Minute, 10)
		if err != nil || len(js) != 2 || js[0].Timer != "reply" || js[1].Timer != "silence" {
			t.Fatalf("claimed %+v, %v", js, err)
		}
		// Cancelling the silence timer before its turn runs: the turn for
		// the claimed job is skipped, nothing else happens.
		if _, err := s.Turn(ctx, store.TurnRequest{ConversationID: "c1", Now: t0.Add(20 * time.Minute)}, func(c store.Conversation) (store.TurnOutput, error) {
			return store.TurnOutput{Context: c.Context, CancelTimers: []string{"silence"}}, nil
		}); err != nil {
			t.Fatal(err)
		}
		called := false
		res, err := s.Turn(ctx, store.TurnRequest{ConversationID: "c1", Job: js[1].ID, Now: t0.Add(20 * time.Minute)}, func(c store.Conversation) (store.TurnOutput, error) {
			called = true
			return store.TurnOutput{}, nil
		})
		if err != nil || !res.Skipped || called {
			t.Fatalf("turn of a cancelled timer: %+v, %v, called %v", res, err, called)
		}
		// The reply timer's turn removes it.
		if _, err := s.Turn(ctx, store.TurnRequest{ConversationID: "c1", Job: js[0].ID, Now: t0.Add(20 * time.Minute)}, func(c store.Conversation) (store.TurnOutput, error) {
			return store.TurnOutput{Context: c.Context}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, jobs, _ := s.Depth(ctx); jobs != 0 {
			t.Fatalf("%d jobs left", jobs)
		}
	})
}

// TestCancelUnsent: an interruption removes the bot messages not yet sent
// — never attempted, not claimed; without a webhook, not yet due — and
// keeps the others.
func TestCancelUnsent(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		mustBot(t, s, "b1")
		scheduled := func(conv string, ids ...string) store.TurnFunc {
			return func(c store.Conversation) (store.TurnOutput, error) {
				out := store.TurnOutput{Context: []byte("x"), UserMessage: &store.Message{ID: conv + "-u", Text: "hi", CreatedAt: t0}}
				for i, id := range ids {
					out.BotMessages = append(out.BotMessages, store.Message{ID: id, Text: id, CreatedAt: t0.Add(time.Duration(i) * time.Second)})
				}
				return out, nil
			}
		}
		// interrupt cancels every unsent message, as of the time given to
		// the lock (later than the request's now).
		interrupt := func(conv string, now, locked time.Time) (store.TurnResult, []string) {
			t.Helper()
			var unsent []string
			res, err := s.Turn(ctx, store.TurnRequest{ConversationID: conv, Now: now, Unsent: func() time.Time { return locked }}, func(c store.Conversation) (store.TurnOutput, error) {
				out := store.TurnOutput{Context: c.Context, UserMessage: &store.Message{ID: conv + "-stop", Text: "stop", CreatedAt: now},
					BotMessages: []store.Message{{ID: conv + "-new", Text: "new", CreatedAt: now}}}
				for _, m := range c.Unsent {
					unsent = append(unsent, m.Text)
					out.Cancel = append(out.Cancel, m.ID)
				}
				return out, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return res, unsent
		}
		// With a webhook: a is delivered, b is claimed (in flight), c and d
		// wait: c and d are cancelled.
		open(t, s, "w", "http://app.test/hook", nil)
		if _, err := s.Turn(ctx, store.TurnRequest{ConversationID: "w", Now: t0}, scheduled("w", "a", "b", "c", "d")); err != nil {
			t.Fatal(err)
		}
		ds, _ := s.ClaimDeliveries(ctx, "x", t0, time.Minute, 10)
		s.FinishDeliveries(ctx, []store.Outcome{{MessageID: ds[0].MessageID, Owner: "x", At: t0, Status: 200, Delivered: true}})
		if ds, _ = s.ClaimDeliveries(ctx, "x", t0.Add(time.Second), time.Minute, 10); len(ds) != 1 || ds[0].MessageID != "b" {
			t.Fatalf("claimed %+v", ds)
		}
		if res, unsent := interrupt("w", t0.Add(1500*time.Millisecond), t0.Add(1500*time.Millisecond)); res.Cancelled != 2 || !slices.Equal(unsent, []string{"c", "d"}) {
			t.Fatalf("cancelled %d (%q), want 2 (c, d)", res.Cancelled, unsent)
		}
		s.FinishDeliveries(ctx, []store.Outcome{{MessageID: "b", Owner: "x", At: t0.Add(2 * time.Second), Status: 200, Delivered: true}})
		var got []string
		for {
			ds, _ := s.ClaimDeliveries(ctx, "x", t0.Add(time.Hour), time.Minute, 10)
			if len(ds) == 0 {
				break
			}
			got = append(got, ds[0].MessageID)
			s.FinishDeliveries(ctx, []store.Outcome{{MessageID: ds[0].MessageID, Owner: "x", At: t0.Add(time.Hour), Status: 200, Delivered: true}})
		}
		if !slices.Equal(got, []string{"w-new"}) {
			t.Fatalf("delivered after the interruption: %q", got)
		}
		h, _ := s.History(ctx, "w", 0, 100, t0.Add(time.Hour))
		if want := []string{"1:user:w-u", "2:bot:a", "3:bot:b", "6:user:w-stop", "7:bot:w-new"}; !slices.Equal(texts(h), want) {
			t.Fatalf("history %q, want %q", texts(h), want)
		}
		// Without a webhook: what is not due yet is cancelled, and the
		// history never showed it.
		open(t, s, "p", "", nil)
		if _, err := s.Turn(ctx, store.TurnRequest{ConversationID: "p", Now: t0}, scheduled("p", "pa", "pb", "pc")); err != nil {
			t.Fatal(err)
		}
		if h, _ := s.History(ctx, "p", 0, 100, t0.Add(1500*time.Millisecond)); !slices.Equal(texts(h), []string{"1:user:p-u", "2:bot:pa", "3:bot:pb"}) {
			t.Fatalf("history before c is due: %q", texts(h))
		}
		// The request was made at 0.5 s, but by the time it held the lock
		// (1.5 s) a reader may have seen pb: only pc is unsent.
		if res, unsent := interrupt("p", t0.Add(500*time.Millisecond), t0.Add(1500*time.Millisecond)); res.Cancelled != 1 || !slices.Equal(unsent, []string{"pc"}) {
			t.Fatalf("cancelled %d (%q), want 1 (pc)", res.Cancelled, unsent)
		}
		if h, _ := s.History(ctx, "p", 0, 100, t0.Add(time.Hour)); !slices.Equal(texts(h), []string{"1:user:p-u", "2:bot:pa", "3:bot:pb", "5:user:p-stop", "6:bot:p-new"}) {
			t.Fatalf("history: %q", texts(h))
		}
	})
}
