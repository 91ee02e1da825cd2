package worker

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/userlike"
)

// BenchmarkWebhookFollowUp measures a webhook turn (a new conversation's
// start) with the outbox as Timers: a flow with on_silence writes its
// timer (one transaction, synchronous=FULL) before answering; the same
// flow without on_silence writes nothing.
func BenchmarkWebhookFollowUp(b *testing.B) {
	// The same flow without its on_silence rules.
	var plain []string
	skip := false
	for _, line := range strings.Split(remindFlow, "\n") {
		switch {
		case strings.HasPrefix(line, "    on_silence:"):
			skip = true
			continue
		case skip && strings.HasPrefix(line, "      -"):
			continue
		}
		skip = false
		plain = append(plain, line)
	}
	for _, bc := range []struct{ name, src string }{{"on_silence", remindFlow}, {"none", strings.Join(plain, "\n")}} {
		b.Run(bc.name, func(b *testing.B) {
			f, lints := flows.Parse("f.yaml", []byte(bc.src), flows.Options{Env: func(string) (string, bool) { return "http://127.0.0.1:1/api", true }})
			if f == nil || lints.HasErrors() {
				b.Fatal(lints)
			}
			st, err := outbox.Open(context.Background(), filepath.Join(b.TempDir(), "flowbot.db"), outbox.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			w := New(Config{Store: st})
			h, err := userlike.New([]*engine.Bot{engine.New(f)}, userlike.Options{Queue: w, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				body := `{"info":{"cid":"c-` + strconv.Itoa(i) + `"},"packet":{"name":"start","payload":{}}}`
				req := httptest.NewRequest("POST", "/bots/remind/webhook", strings.NewReader(body))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Body.String())
				}
			}
			b.StopTimer()
			n, _ := st.ArmedTimers(context.Background())
			b.ReportMetric(float64(n)/float64(b.N), "timers/op")
		})
	}
}
