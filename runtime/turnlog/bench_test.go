package turnlog_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

// BenchmarkWriter is the turn log's work for one turn: Observe on the
// turn's goroutine, then the line made (record, digest, redaction, JSON)
// and written by the writing goroutine, for a webshop turn that answers a
// menu with a choice (flushed every 256 turns: without the turn's own
// work between them the queue would fill); "turn" is the turn itself,
// the floor to compare with. cpu-ns/op is the process's CPU time per turn (the writing
// goroutine and the garbage collector included).
func BenchmarkWriter(b *testing.B) {
	var bot *engine.Bot
	for _, x := range exampleBots(b) {
		if x.Flow().Name == "webshop" {
			bot = x
		}
	}
	dep := engine.NewDeployment(bot)
	o, _ := turn.Run(context.Background(), turn.Request{Deployment: dep, Event: engine.Event{Name: engine.EvStart, Channel: "web"}})
	req := turn.Request{Deployment: dep, Context: o.Context, Binding: "c1", Event: engine.Event{Name: engine.EvClick, ClickID: "hours", Channel: "web", Now: time.Now()}}
	o, _ = turn.Run(context.Background(), req)
	for _, personal := range []bool{false, true} {
		name := "redacted"
		if personal {
			name = "personal"
		}
		b.Run(name, func(b *testing.B) {
			w, err := turnlog.Open(b.TempDir()+"/", turnlog.Options{PersonalData: personal})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := processCPU()
			for i := 0; b.Loop(); i++ {
				w.Observe(&req, &o)
				if i%256 == 255 { // alone, turns would come faster than lines are made
					w.Flush()
				}
			}
			if err := w.Close(); err != nil { // the lines still queued are part of the cost
				b.Fatal(err)
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(w.Dropped())/float64(b.N), "dropped/op")
		})
	}
	b.Run("turn", func(b *testing.B) {
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			turn.Run(context.Background(), req)
		}
		b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	})
}

// processCPU is the CPU time the process used so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
