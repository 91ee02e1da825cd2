package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDeliverySmoke runs the harness briefly on each store, so that it
// keeps working: messages are accepted, every reply arrives and is matched
// with its message, and nothing counts as an error. PostgreSQL is the
// database of FLOWBOT_TEST_DATABASE_URL (default: -database's), as for the
// store's tests; it is skipped when unreachable, unless CI=true.
func TestDeliverySmoke(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store string
		await bool
	}{
		{"sqlite", "sqlite", true},
		{"sqlite-pipelined", "sqlite", false}, // several turns outstanding per conversation
		{"postgres", "postgres", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := os.Getenv("FLOWBOT_TEST_DATABASE_URL")
			if db == "" {
				db = defaultPostgres
			}
			c := config{stores: []string{tc.store}, database: db, syncs: []string{"normal"},
				duration: 400 * time.Millisecond, warmup: 100 * time.Millisecond, timeout: 20 * time.Second,
				conversations: 6, concurrency: []int{3}, deliveryConc: 4, await: tc.await, inprocess: true,
				rounds: 1, flowsDir: "../../examples"}
			var out bytes.Buffer
			rs, err := run(context.Background(), c, &out)
			t.Log("\n" + out.String())
			if err != nil {
				if tc.store == "postgres" && strings.Contains(err.Error(), "PostgreSQL at") && os.Getenv("CI") != "true" {
					t.Skip(err)
				}
				t.Fatal(err)
			}
			if len(rs) != 1 {
				t.Fatalf("%d results, want 1", len(rs))
			}
			r := rs[0]
			if r.accepted == 0 || r.delivered == 0 || r.floorRPS == 0 {
				t.Errorf("accepted %d, delivered %d, floor %.0f/s: want all above 0", r.accepted, r.delivered, r.floorRPS)
			}
			if n := r.errs.total(); n != 0 {
				t.Errorf("%d errors: %+v", n, r.errs)
			}
			if len(r.hook) != turnReplies*r.accepted || len(r.turn) != r.accepted {
				t.Errorf("%d replies and %d complete turns measured for %d messages: want %d and %d",
					len(r.hook), len(r.turn), r.accepted, turnReplies*r.accepted, r.accepted)
			}
		})
	}
}
