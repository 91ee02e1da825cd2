package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

var t0 = time.UnixMilli(1_700_000_000_000)

// each runs the test on every store kind.
func each(t *testing.T, test func(t *testing.T, s store.Store)) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) { test(t, storetest.Open(t, kind)) })
	}
}

func mustBot(t *testing.T, s store.Store, id string) {
	t.Helper()
	err := s.CreateBot(context.Background(), store.Bot{ID: id, Name: "Shop", Flow: "webshop", CreatedAt: t0,
		Attributes: []store.Attribute{{Name: "bio", Value: "friendly"}}})
	if err != nil {
		t.Fatal(err)
	}
}

// reply is a TurnFunc: the user's text and n bot answers.
func reply(userID, userText string, botIDs ...string) store.TurnFunc {
	return func(c store.Conversation) (store.TurnOutput, error) {
		out := store.TurnOutput{Context: []byte(fmt.Sprintf(`{"n":%d}`, len(c.Context)))}
		if userID != "" {
			out.UserMessage = &store.Message{ID: userID, Text: userText}
		}
		for _, id := range botIDs {
			out.BotMessages = append(out.BotMessages, store.Message{ID: id, Text: "re: " + userText})
		}
		return out, nil
	}
}

func open(t *testing.T, s store.Store, id, webhook string, start store.TurnFunc) store.Conversation {
	t.Helper()
	c, created, err := s.OpenConversation(context.Background(), store.OpenRequest{ID: id, BotID: "b1", UserID: "u-" + id,
		CreateUser: true, Webhook: webhook, Now: t0}, start)
	if err != nil || !created {
		t.Fatalf("open: %v (created %v)", err, created)
	}
	return c
}

func texts(ms []store.Message) []string {
	var out []string
	for _, m := range ms {
		who := "user"
		if m.FromBot {
			who = "bot"
		}
		out = append(out, fmt.Sprintf("%d:%s:%s", m.Seq, who, m.ID))
	}
	return out
}

func TestBots(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		mustBot(t, s, "b1")
		b, err := s.Bot(context.Background(), "b1")
		if err != nil || b.Name != "Shop" || b.Flow != "webshop" || len(b.Attributes) != 1 || b.Attributes[0].Value != "friendly" || !b.CreatedAt.Equal(t0) {
			t.Fatalf("bot = %+v, %v", b, err)
		}
		if _, err := s.Bot(context.Background(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown bot: %v", err)
		}
	})
}

func TestOpenConversationOncePerBotAndUser(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		mustBot(t, s, "b1")
		req := store.OpenRequest{ID: "c1", BotID: "b1", UserID: "anna", Now: t0}
		if _, _, err := s.OpenConversation(ctx, req, nil); !errors.Is(err, store.ErrUserNotFound) {
			t.Fatalf("unknown user without CreateUser: %v", err)
		}
		req.CreateUser = true
		c, created, err := s.OpenConversation(ctx, req, reply("", "", "hello"))
		if err != nil || !created || c.ID != "c1" || c.Channel != "custom" || c.Status != "open" {
			t.Fatalf("first open: %+v %v %v", c, created, err)
		}
		req.ID, req.Webhook, req.Channel = "c2", "http://example.test/hook", "whatsapp"
		c, created, err = s.OpenConversation(ctx, req, reply("", "", "never"))
		if err != nil || created || c.ID != "c1" || c.Webhook != "http://example.test/hook" || c.Channel != "whatsapp" {
			t.Fatalf("second open: %+v %v %v", c, created, err)
		}
		got, err := s.Conversation(ctx, "c1")
		if err != nil || got.Webhook != c.Webhook || got.Channel != "whatsapp" || string(got.Context) != `{"n":0}` {
			t.Fatalf("stored: %+v %v", got, err)
		}
		h, _ := s.History(ctx, "c1", 0, 10, farFuture)
		if fmt.Sprint(texts(h)) != "[1:bot:hello]" {
			t.Fatalf("history %v", texts(h))
		}
		if _, err := s.Conversation(ctx, "c2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("c2: %v", err)
		}
	})
}

func TestPollingHistoryAndCursor(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		mustBot(t, s, "b1")
		open(t, s, "c1", "", reply("", "", "m1"))
		for i := 2; i <= 4; i++ {
			res, err := s.Turn(ctx, store.TurnRequest{ConversationID: "c1", Now: t0}, reply(fmt.Sprintf("u%d", i), "hi", fmt.Sprintf("m%d", i)))
			if err != nil || res.UserMessageID != fmt.Sprintf("u%d", i) || res.Deliveries != 0 {
				t.Fatalf("turn: %+v %v", res, err)
			}
		}
		h, _ := s.History(ctx, "c1", 0, 100, farFuture)
		if fmt.Sprint(texts(h)) != "[1:bot:m1 2:user:u2 3:bot:m2 4:user:u3 5:bot:m3 6:user:u4 7:bot:m4]" {
			t.Fatalf("history %v", texts(h))
		}
		h, _ = s.History(ctx, "c1", 3, 2, farFuture)
		if fmt.Sprint(texts(h)) != "[4:user:u3 5:bot:m3]" {
			t.Fatalf("page after 3: %v", texts(h))
		}
		if _, err := s.Turn(ctx, store.TurnRequest{ConversationID: "nope", Now: t0}, reply("x", "x")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown conversation: %v", err)
		}
	})
}

func TestIdempotencyKey(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		mustBot(t, s, "b1")
		open(t, s, "c1", "", nil)
		req := store.TurnRequest{ConversationID: "c1", IdempotencyKey: "k1", Now: t0}
		first, err := s.Turn(ctx, req, reply("u1", "hi", "m1"))
		if err != nil || first.Duplicate {
			t.Fatal(first, err)
		}
		called := false
		second, err := s.Turn(ctx, req, func(store.Conversation) (store.TurnOutput, error) { called = true; return store.TurnOutput{}, nil })
		if err != nil || !second.Duplicate || second.UserMessageID != "u1" || called {
			t.Fatalf("second: %+v %v called=%v", second, err, called)
		}
		h, _ := s.History(ctx, "c1", 0, 100, farFuture)
		if len(h) != 2 {
			t.Fatalf("history %v", texts(h))
		}
	})
}

func TestDeliveryQueueInOrderWithRetries(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		mustBot(t, s, "b1")
		open(t, s, "c1", "http://hook.test/a", reply("", "", "a1", "a2"))
		open(t, s, "c2", "http://hook.test/b", reply("", "", "b1"))
		if d, j, _ := s.Depth(ctx); d != 3 || j != 0 {
			t.Fatalf("depth %d %d", d, j)
		}
		h, _ := s.History(ctx, "c1", 0, 10, farFuture)
		if len(h) != 0 {
			t.Fatalf("undelivered bot messages are in the history: %v", texts(h))
		}
		got, err := s.ClaimDeliveries(ctx, "w1", t0, time.Minute, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("claim: %v %v", got, err)
		}
		byConv := map[string]store.Delivery{}
		for _, d := range got {
			byConv[d.ConversationID] = d
		}
		if byConv["c1"].MessageID != "a1" || byConv["c1"].URL != "http://hook.test/a" || byConv["c1"].Text != "re: " || byConv["c2"].MessageID != "b1" {
			t.Fatalf("claimed %+v", got)
		}
		if more, _ := s.ClaimDeliveries(ctx, "w2", t0, time.Minute, 10); len(more) != 0 {
			t.Fatalf("claimed while leased or behind the head: %+v", more)
		}
		// a1 fails and is due again in 5 s; b1 is delivered.
		err = s.FinishDeliveries(ctx, []store.Outcome{
			{MessageID: "a1", Owner: "w1", At: t0, Status: 500, Error: "webhook answered 500", Retry: t0.Add(5 * time.Second)},
			{MessageID: "b1", Owner: "w1", At: t0, Status: 200, Delivered: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		if more, _ := s.ClaimDeliveries(ctx, "w1", t0.Add(4*time.Second), time.Minute, 10); len(more) != 0 {
			t.Fatalf("claimed before due: %+v", more)
		}
		at, ok, _ := s.NextDelivery(ctx)
		if !ok || !at.Equal(t0.Add(5*time.Second)) {
			t.Fatalf("next delivery %v %v", at, ok)
		}
		got, _ = s.ClaimDeliveries(ctx, "w1", t0.Add(5*time.Second), time.Minute, 10)
		if len(got) != 1 || got[0].MessageID != "a1" || got[0].Attempts != 1 || got[0].LastStatus != 500 {
			t.Fatalf("retry claim %+v", got)
		}
		if err := s.FinishDeliveries(ctx, []store.Outcome{{MessageID: "a1", Owner: "w1", At: t0.Add(6 * time.Second), Status: 204, Delivered: true}}); err != nil {
			t.Fatal(err)
		}
		got, _ = s.ClaimDeliveries(ctx, "w1", t0.Add(6*time.Second), time.Minute, 10)
		if len(got) != 1 || got[0].MessageID != "a2" {
			t.Fatalf("next in order %+v", got)
		}
		h, _ = s.History(ctx, "c1", 0, 10, farFuture)
		if fmt.Sprint(texts(h)) != "[1:bot:a1]" {
			t.Fatalf("history after delivery %v", texts(h))
		}
		m, d, attempts, err := s.Message(ctx, "c1", "a1")
		if err != nil || m.SentAt.IsZero() || d == nil || d.State != store.DeliveryDelivered || len(attempts) != 2 ||
			attempts[0].Status != 500 || attempts[0].Delivered || attempts[1].Status != 204 || !attempts[1].Delivered {
			t.Fatalf("message %+v %+v %+v %v", m, d, attempts, err)
		}
		n, head, _ := s.Pending(ctx, "c1")
		if n != 1 || head.MessageID != "a2" {
			t.Fatalf("pending %d %+v", n, head)
		}
	})
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		mustBot(t, s, "b1")
		open(t, s, "c1", "http://hook.test/a", reply("", "", "a1"))
		if got, _ := s.ClaimDeliveries(ctx, "dead", t0, 10*time.Second, 10); len(got) != 1 {
			t.Fatal("first claim")
		}
		if got, _ := s.ClaimDeliveries(ctx, "alive", t0.Add(9*time.Second), 10*time.Second, 10); len(got) != 0 {
			t.Fatal("claimed a live lease")
		}
		got, _ := s.ClaimDeliveries(ctx, "alive", t0.Add(10*time.Second), 10*time.Second, 10)
		if len(got) != 1 || got[0].MessageID != "a1" {
			t.Fatalf("take-over %+v", got)
		}
		// Both report success: the message becomes visible once.
		for _, owner := range []string{"alive", "dead"} {
			if err := s.FinishDeliveries(ctx, []store.Outcome{{MessageID: "a1", Owner: owner, At: t0.Add(11 * time.Second), Status: 200, Delivered: true}}); err != nil {
				t.Fatal(err)
			}
		}
		h, _ := s.History(ctx, "c1", 0, 10, farFuture)
		if fmt.Sprint(texts(h)) != "[1:bot:a1]" {
			t.Fatalf("history %v", texts(h))
		}
	})
}

func TestJobs(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		mustBot(t, s, "b1")
		open(t, s, "c1", "", func(c store.Conversation) (store.TurnOutput, error) {
			return store.TurnOutput{Context: []byte("{}"), Jobs: []store.NewJob{{Spec: json.RawMessage(`{"url":"x"}`)}}}, nil
		})
		jobs, err := s.ClaimJobs(ctx, "w1", t0, time.Minute, 10)
		if err != nil || len(jobs) != 1 || string(jobs[0].Spec) != `{"url":"x"}` || jobs[0].ConversationID != "c1" {
			t.Fatalf("claim %+v %v", jobs, err)
		}
		if again, _ := s.ClaimJobs(ctx, "w2", t0.Add(time.Second), time.Minute, 10); len(again) != 0 {
			t.Fatal("claimed a leased job")
		}
		res, err := s.Turn(ctx, store.TurnRequest{ConversationID: "c1", Job: jobs[0].ID, Now: t0}, reply("", "", "result"))
		if err != nil || res.Skipped {
			t.Fatalf("job turn %+v %v", res, err)
		}
		res, err = s.Turn(ctx, store.TurnRequest{ConversationID: "c1", Job: jobs[0].ID, Now: t0}, reply("", "", "twice"))
		if err != nil || !res.Skipped {
			t.Fatalf("second result of one job: %+v %v", res, err)
		}
		if _, ok, _ := s.NextJob(ctx); ok {
			t.Fatal("job still queued")
		}
	})
}

func TestConcurrentTurnsKeepOrder(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		mustBot(t, s, "b1")
		open(t, s, "c1", "", nil)
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					id := fmt.Sprintf("g%d-%d", g, i)
					if _, err := s.Turn(ctx, store.TurnRequest{ConversationID: "c1", Now: t0}, reply(id, "x", id+"-bot")); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		h, _ := s.History(ctx, "c1", 0, 1000, farFuture)
		if len(h) != 80 {
			t.Fatalf("%d messages", len(h))
		}
		for i, m := range h {
			if m.Seq != int64(i+1) {
				t.Fatalf("message %d: seq %d", i, m.Seq)
			}
			if i%2 == 1 && m.ID != h[i-1].ID+"-bot" {
				t.Fatalf("a turn was interleaved: %s after %s", m.ID, h[i-1].ID)
			}
		}
	})
}

// farFuture reads the history as of a time after every message.
var farFuture = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
