package userlike_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/userlike"
)

// fakeQueue records what the Handler asks of its Queue.
type fakeQueue struct {
	mu         sync.Mutex
	fail       bool
	queued     []userlike.QueuedJob
	superseded []string // "bot cid seq"
}

func (q *fakeQueue) Enqueue(ctx context.Context, j userlike.QueuedJob) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail {
		return 0, errors.New("disk full")
	}
	j.Context = append([]byte(nil), j.Context...)
	q.queued = append(q.queued, j)
	return int64(len(q.queued)), nil
}

func (q *fakeQueue) Supersede(ctx context.Context, bot, cid string, seq int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.superseded = append(q.superseded, bot+" "+cid+" "+strconv.Itoa(seq))
	return nil
}

func (q *fakeQueue) calls() (int, []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queued), slices.Clone(q.superseded)
}

func orderAPI(t *testing.T) *httptest.Server {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id":"A-12345","status":"shipped"}`))
	}))
	t.Cleanup(api.Close)
	return api
}

// TestQueueOnlyForJobs: with a Queue, the async lookup is queued with the
// turn's context and the answer carries only the interim message; ordinary
// turns never call the Queue; a command while waiting supersedes the job;
// Resume continues from the queued context exactly like a webhook turn.
func TestQueueOnlyForJobs(t *testing.T) {
	q := &fakeQueue{}
	fl := loadExamplesEnv(t, map[string]string{"ORDER_API_URL": orderAPI(t).URL, "USERLIKE_API_URL": "http://127.0.0.1:1/api", "USERLIKE_API_TOKEN": "t0k"})
	h, err := userlike.New(botsOf(fl), userlike.Options{Logger: testLogger(t), Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	p := platformFor(serveHTTP(t, h), "webshop")
	c := p.Conversation("c-q", "whatsapp_business")
	must(t)(c.Start(""))
	must(t)(c.Click("delivery"))
	if n, sup := q.calls(); n != 0 || len(sup) != 0 {
		t.Fatalf("ordinary turns used the queue: %d %v", n, sup)
	}
	r := must(t)(c.Say("A-12345"))
	if !slices.Equal(r.Texts(), []string{"Thanks! Let me check order A-12345…"}) {
		t.Fatalf("answer %q", r.Texts())
	}
	if n, _ := q.calls(); n != 1 {
		t.Fatalf("%d jobs queued", n)
	}
	j := q.queued[0]
	if j.Bot != "webshop" || j.CID != "c-q" || j.Channel != "whatsapp_business" || j.Job == nil || !j.Job.Async || j.Job.Seq != 1 ||
		!strings.HasSuffix(j.Job.URL, "/orders/A-12345") || j.FlowVersion == "" || string(j.Context) != string(p.Context("c-q")) {
		t.Fatalf("queued %+v (context %s, platform has %s)", j, j.Context, p.Context("c-q"))
	}
	// Still waiting: the busy answer, no supersede.
	must(t)(c.Say("are you there?"))
	if _, sup := q.calls(); len(sup) != 0 {
		t.Fatalf("superseded on a busy turn: %v", sup)
	}

	// The worker's side: the result continues from the queued context,
	// rendered for WhatsApp (the menu's four options: a list).
	res, err := h.Resume(context.Background(), userlike.Continuation{Bot: j.Bot, CID: j.CID, Channel: j.Channel, Context: j.Context},
		engine.HTTPResult{Seq: 1, Status: 200, Body: []byte(`{"status":"shipped"}`)})
	if err != nil || res.Ignored || res.Packets != 2 || res.From != "lookup" || res.To != "menu" || res.Next != nil {
		t.Fatalf("resume %+v %v", res, err)
	}
	if !strings.Contains(string(res.Events), `"cid":"c-q"`) || !strings.Contains(string(res.Events), "Order A-12345: shipped.") ||
		!strings.Contains(string(res.Events), `"name":"list_template"`) || strings.Count(string(res.Events), `"context":`) != 2 {
		t.Fatalf("events %s", res.Events)
	}
	// A stale result (another number) is ignored.
	if res, _ := h.Resume(context.Background(), userlike.Continuation{Bot: j.Bot, CID: j.CID, Channel: j.Channel, Context: j.Context},
		engine.HTTPResult{Seq: 7, Status: 200}); !res.Ignored || res.Packets != 0 || string(res.Events) != "[]" {
		t.Fatalf("stale result %+v", res)
	}
	if _, err := h.Resume(context.Background(), userlike.Continuation{Bot: "nope"}, engine.HTTPResult{}); err == nil {
		t.Fatal("unknown bot resumed")
	}

	// The contact moves on: the job is superseded, once.
	must(t)(c.Say("menu"))
	if _, sup := q.calls(); !slices.Equal(sup, []string{"webshop c-q 1"}) {
		t.Fatalf("superseded %v", sup)
	}
	must(t)(c.Click("hours"))
	if n, sup := q.calls(); n != 1 || len(sup) != 1 {
		t.Fatalf("after: %d %v", n, sup)
	}
	url, token, err := h.APITarget("webshop")
	if err != nil || url != "http://127.0.0.1:1/api" || token != "t0k" {
		t.Fatalf("target %q %q %v", url, token, err)
	}
	if _, _, err := h.APITarget("name-email-forward"); err == nil || !strings.Contains(err.Error(), "no api_url") {
		t.Fatalf("a flow without api_url: %v", err)
	}
}

// TestQueueFailureRunsInline: when the job cannot be queued, it runs during
// the webhook call, as without a Queue.
func TestQueueFailureRunsInline(t *testing.T) {
	q := &fakeQueue{fail: true}
	fl := loadExamplesEnv(t, map[string]string{"ORDER_API_URL": orderAPI(t).URL, "USERLIKE_API_URL": "http://127.0.0.1:1/api"})
	h, err := userlike.New(botsOf(fl), userlike.Options{Logger: testLogger(t), Queue: q, Jobs: loopbackJobs()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.APITarget("webshop"); err == nil || !strings.Contains(err.Error(), "USERLIKE_API_TOKEN is not set") {
		t.Fatalf("missing token: %v", err)
	}
	c := platformFor(serveHTTP(t, h), "webshop").Conversation("c-fail", "web")
	must(t)(c.Start(""))
	must(t)(c.Click("delivery"))
	r := must(t)(c.Say("A-12345"))
	if !slices.Equal(r.Texts(), []string{"Thanks! Let me check order A-12345…", "Order A-12345: shipped."}) {
		t.Fatalf("answer %q", r.Texts())
	}
}
