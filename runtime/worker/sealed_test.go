package worker

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
)

// TestJobSealedContexts: with encrypting context keys, the context queued
// with the job, the one the worker pushes with the result (re-encoded by
// Resume) and the webhook's all verify for the conversation's cid and
// hide the order id; the conversation continues from the pushed context.
func TestJobSealedContexts(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("worker-secret-"), 3)[:32])
	keys, err := engine.ParseContextKeys("w1:" + secret + ":enc")
	if err != nil {
		t.Fatal(err)
	}
	e := newJobEnvKeys(t, true, keys)
	const cid = "c-sealed"
	c, r := e.askOrder(t, cid)
	if ctx := r.Packets[0].Context; bytes.Contains(ctx, []byte("12345")) || !bytes.Contains(ctx, []byte(`"k":"w1"`)) {
		t.Fatalf("webhook context %s", ctx)
	}
	e.orders.waitArrived(t)
	close(e.orders.release)
	reqs := e.api.Wait(1, wait)
	if len(reqs) != 1 || !reqs[0].Accepted || !slices.Contains(bodies(reqs[0].Packets), "Order A-12345: shipped.") {
		t.Fatalf("push %+v", reqs)
	}
	for _, pk := range reqs[0].Packets {
		s, err := keys.Decode(pk.Context, cid)
		if err != nil || s.State != "menu" || s.Vars["order_id"] != "A-12345" {
			t.Fatalf("pushed context %s: %+v %v", pk.Context, s, err)
		}
		if bytes.Contains(pk.Context, []byte("12345")) {
			t.Fatalf("the pushed context shows the order id: %s", pk.Context)
		}
		if _, err := keys.Decode(pk.Context, "c-other"); err == nil {
			t.Fatal("the pushed context verifies for another cid")
		}
	}
	// The platform stored the pushed context; the next webhook call
	// continues from it (the menu), not from a restart.
	r2, err := c.Click("hours")
	if err != nil || !strings.Contains(strings.Join(r2.Texts(), " "), "Monday to Friday") {
		t.Fatalf("hours: %v %q", err, r2.Texts())
	}
}
