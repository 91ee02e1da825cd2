package worker

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
	"github.com/flowbot/flowbot/runtime/userlikeapi"
)

// captureQueue keeps the job a webhook turn queues, and queues nothing.
type captureQueue struct {
	mu   sync.Mutex
	jobs []userlike.QueuedJob
}

func (q *captureQueue) Enqueue(ctx context.Context, j userlike.QueuedJob) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, j)
	return int64(len(q.jobs)), nil
}

func (q *captureQueue) Supersede(ctx context.Context, bot, cid string, seq int) error { return nil }

// TestJobGivenUpTakesErrorPath: a job whose worker died MaxJobAttempts
// times is not made again; its flow takes the error path and the result
// is pushed — the same give-up rule as platform mode's, never a silent
// drop.
func TestJobGivenUpTakesErrorPath(t *testing.T) {
	clk := clock.NewFake(t0)
	plat := platformtest.New("")
	api := plat.API("tok")
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	orders, orderSrv := newOrderService(t)
	env := map[string]string{"ORDER_API_URL": orderSrv.URL, "USERLIKE_API_URL": apiSrv.URL + "/api/v1", "USERLIKE_API_TOKEN": "tok"}
	fl, lints, err := flows.LoadDir("../../examples", flows.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil || lints.HasErrors() {
		t.Fatal(err, lints)
	}
	bots := make([]*engine.Bot, len(fl))
	for i, f := range fl {
		bots[i] = engine.New(f)
	}
	// The webhook turn that asks for the lookup.
	q := &captureQueue{}
	h1, err := userlike.New(bots, userlike.Options{Queue: q, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(h1)
	t.Cleanup(web.Close)
	plat.SetURL(web.URL + "/bots/webshop/webhook")
	c := plat.Conversation("c-dead", "web")
	for _, step := range []func() (platformtest.Reply, error){
		func() (platformtest.Reply, error) { return c.Start("") },
		func() (platformtest.Reply, error) { return c.Click("delivery") },
		func() (platformtest.Reply, error) { return c.Say("a 12345") },
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if len(q.jobs) != 1 {
		t.Fatalf("%d jobs queued", len(q.jobs))
	}
	// The job is stored, and claimed by workers that die, MaxJobAttempts times.
	ctx := context.Background()
	store, err := outbox.Open(ctx, filepath.Join(t.TempDir(), "flowbot.db"), outbox.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Enqueue(ctx, newJob(q.jobs[0])); err != nil {
		t.Fatal(err)
	}
	const lease = 30 * time.Second
	for i := 0; i < DefaultMaxJobAttempts; i++ {
		if j, err := store.ClaimJob(ctx, lease); err != nil || j == nil {
			t.Fatalf("claim %d: %v %v", i+1, j, err)
		}
		clk.Advance(lease + time.Second)
	}
	// The next worker gives up on it: the flow takes its error path.
	w := New(Config{Store: store, Clock: clk, Logger: testLogger(t), Poll: time.Hour, Lease: lease,
		API: &userlikeapi.Client{HTTP: apiSrv.Client()}, Jobs: &httpjob.Runner{Network: netguard.MustParsePolicy("loopback")}})
	h2, err := userlike.New(bots, userlike.Options{Queue: w, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(h2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Stop(context.Background()) })
	reqs := api.Wait(1, wait)
	if len(reqs) != 1 {
		t.Fatalf("%d pushes: the given-up job's flow pushed nothing", len(reqs))
	}
	var texts []string
	for _, p := range reqs[0].Packets {
		if p.Name == "message" {
			texts = append(texts, p.Payload["body"].(string))
		}
	}
	if len(texts) == 0 || !strings.HasPrefix(texts[0], "Sorry, I can't reach the order system right now.") {
		t.Fatalf("pushed %q, want the lookup's error path", texts)
	}
	select {
	case p := <-orders.arrived:
		t.Fatalf("the given-up request was made: %s", p)
	default:
	}
}
