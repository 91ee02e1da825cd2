package turnlog_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

// collect keeps the records of the turns it is told of.
type collect struct{ recs []turnlog.Record }

func (c *collect) Observe(r *turn.Request, o *turn.Outcome) {
	c.recs = append(c.recs, turnlog.New(r, o, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
}

// TestMarshalReadsBack: every record of random conversations on the
// examples, with personal data and redacted, is written by Marshal as the
// JSON encoding/json reads back into the same record (compared by
// encoding/json's own encoding of both).
func TestMarshalReadsBack(t *testing.T) {
	var c collect
	for i, bot := range exampleBots(t) {
		walk(bot, rand.New(rand.NewPCG(uint64(i), 3)), "c\"1\u2028\x01", 40, &c, nil)
	}
	tricky := turnlog.Record{Kind: turnlog.KindTurn, Event: engine.Event{Name: engine.EvMessage, Text: "<b>&\"\\\n\t\x7f\xff é \u2029",
		Contact: map[string]string{}, Location: &engine.Location{Latitude: 1.5e-7, Longitude: -180}},
		Actions: []engine.Action{{Kind: engine.ActPlatform, Name: "x", Payload: map[string]any{"n": 3.25, "b": true, "l": []any{"a", 1.0}, "s": "v"}},
			{Kind: engine.ActDelay, Seconds: 0.5}, {Kind: engine.ActButtons, Buttons: []engine.URLButton{}}}}
	c.recs = append(c.recs, tricky)
	for _, redact := range []bool{false, true} {
		for _, rec := range c.recs {
			if redact {
				turnlog.Redact(&rec)
			}
			line, err := rec.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var fromLine, fromJSON turnlog.Record
			if err := json.Unmarshal(line, &fromLine); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			want, _ := json.Marshal(rec)
			if err := json.Unmarshal(want, &fromJSON); err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(fromLine)
			b, _ := json.Marshal(fromJSON)
			if !bytes.Equal(a, b) {
				t.Fatalf("read back:\n%s\nwant:\n%s\nline:\n%s", a, b, line)
			}
		}
	}
	if len(c.recs) < 100 {
		t.Fatalf("%d records", len(c.recs))
	}
}
