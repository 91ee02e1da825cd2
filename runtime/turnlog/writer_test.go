package turnlog_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

// TestRotation: a small MaxBytes rotates the log into several files, each
// with the sources of its versions; the oldest beyond Keep are removed;
// the folder reads back as every turn of the files kept, each replayable.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	var ticks atomic.Int64 // the clock is read by the turns and by the writer (rotated files' names)
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	w, err := turnlog.Open(dir, turnlog.Options{MaxBytes: 16 << 10, Keep: 3, PersonalData: true, Queue: 1 << 14,
		Now: func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }})
	if err != nil {
		t.Fatal(err)
	}
	var all collect
	for i, bot := range exampleBots(t) {
		walk(bot, rand.New(rand.NewPCG(uint64(i), 9)), "r", 60, turn.Observers{w, &all}, nil)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := turnlog.Files(dir)
	if err != nil || len(files) != 4 || filepath.Base(files[3]) != turnlog.CurrentName {
		t.Fatalf("files %v, %v", files, err)
	}
	l, err := turnlog.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Turns) == 0 || len(l.Turns) >= len(all.recs) {
		t.Fatalf("%d of %d turns kept after rotation", len(l.Turns), len(all.recs))
	}
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Size() > 16<<10 {
			t.Errorf("%s is %d bytes", f, st.Size())
		}
		one, err := turnlog.Read(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range one.Turns { // each file is self-contained
			if _, ok := one.Versions[turnlog.VersionKey(rec.Flow, rec.Version)]; !ok {
				t.Fatalf("%s: turn %s without its version's source", f, rec.ID)
			}
		}
	}
	// The last turns logged are the last kept.
	if got, want := l.Turns[len(l.Turns)-1].ID, all.recs[len(all.recs)-1].ID; got != want {
		t.Errorf("last turn %s, want %s", got, want)
	}
}

// TestDroppedLinesAreCounted: turns that find the queue full are dropped,
// counted, and the log says how many.
func TestDroppedLinesAreCounted(t *testing.T) {
	dir := t.TempDir()
	w, err := turnlog.Open(dir, turnlog.Options{Queue: 1}) // only Flush, or the ticker, drains it
	if err != nil {
		t.Fatal(err)
	}
	bot := exampleBots(t)[0]
	const n = 50
	for i := range n {
		turn.Run(context.Background(), turn.Request{Deployment: engine.NewDeployment(bot), Binding: "d", Observe: w,
			Event: engine.Event{Name: engine.EvStart, Now: time.Unix(int64(i), 0)}})
	}
	w.Flush()
	// One more turn makes the writer report the drops in the log.
	turn.Run(context.Background(), turn.Request{Deployment: engine.NewDeployment(bot), Binding: "d", Observe: w,
		Event: engine.Event{Name: engine.EvStart, Now: time.Unix(n, 0)}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := turnlog.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if w.Dropped() == 0 || l.Dropped != w.Dropped() || int64(len(l.Turns))+w.Dropped() != n+1 {
		t.Fatalf("%d dropped, the log says %d, %d turns logged of %d", w.Dropped(), l.Dropped, len(l.Turns), n+1)
	}
}

// TestRedactedLogHoldsNoPersonalData: what contacts typed, their contact
// data, their variables, the requests' bodies and what the bot said with
// them are not in a redacted log — but states and event kinds are.
func TestRedactedLogHoldsNoPersonalData(t *testing.T) {
	for _, personal := range []bool{false, true} {
		dir := t.TempDir()
		w, err := turnlog.Open(dir, turnlog.Options{PersonalData: personal})
		if err != nil {
			t.Fatal(err)
		}
		var shop *engine.Bot
		for _, b := range exampleBots(t) {
			if b.Flow().Name == "webshop" {
				shop = b
			}
		}
		jobs := turn.RunnerFunc(func(_ context.Context, job *engine.Job) engine.HTTPResult {
			return engine.HTTPResult{Seq: job.Seq, Status: 200, Body: []byte(`{"status":"parcel-left-with-Mrs-Miller"}`)}
		})
		var ctx []byte
		for _, ev := range []engine.Event{{Name: engine.EvStart, Contact: map[string]string{"email": "ann.secret@example.com"}},
			{Name: engine.EvClick, ClickID: "delivery"}, {Name: engine.EvMessage, Text: "Z 98765"}} {
			ev.Channel = "web"
			o, _ := turn.Run(context.Background(), turn.Request{Deployment: engine.NewDeployment(shop), Context: ctx, Binding: "p", Event: ev, Jobs: jobs, Observe: w})
			ctx = o.Context
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, turnlog.CurrentName))
		if err != nil {
			t.Fatal(err)
		}
		var turns strings.Builder
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, `{"kind":"turn"`) {
				turns.WriteString(line)
			}
		}
		// An option's label, in the bot's choice and in the pending choice
		// of the sessions before and after, is redacted like any text.
		for _, secret := range []string{"ann.secret@example.com", "Z 98765", "Z-98765", "parcel-left-with-Mrs-Miller", "orders.test/orders/Z", "Opening hours"} {
			if got := strings.Contains(turns.String(), secret); got != personal {
				t.Errorf("personal data %v: %q in the log: %v", personal, secret, got)
			}
		}
		for _, kept := range []string{`"state":"ask_order"`, `"Name":"click"`, `"ClickID":"delivery"`, `"Kind":"text"`} {
			if !strings.Contains(turns.String(), kept) {
				t.Errorf("personal data %v: %s not in the log", personal, kept)
			}
		}
	}
}
