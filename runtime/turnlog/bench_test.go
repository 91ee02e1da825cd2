package turnlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

// BenchmarkLine is the work of making one turn's line (on the writing
// goroutine): the record, its digest, redaction and JSON, for a webshop
// turn that answers a menu with a choice.
func BenchmarkLine(b *testing.B) {
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
			b.ReportAllocs()
			for b.Loop() {
				rec := turnlog.New(&req, &o, time.Now())
				if !personal {
					turnlog.Redact(&rec)
				}
				if _, err := rec.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("turn", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			turn.Run(context.Background(), req)
		}
	})
}
