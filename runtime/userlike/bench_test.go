package userlike_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/metrics"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
	"github.com/flowbot/flowbot/runtime/userlike"
)

// benchWriter is a reusable ResponseWriter, so that the benchmark measures
// the handler and not httptest.ResponseRecorder.
type benchWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(p []byte) (int, error) { return w.body.Write(p) }

// benchBody is a re-readable request body.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

// campaignClick returns the body of a click on "start" carrying the context
// the start turn produced, as Userlike would send it.
func campaignClick(b *testing.B, h http.Handler) []byte {
	start := `{"info":{"cid":"chatbot::258:a56785fb6fb84edd890905913b0c0821","context":{},` +
		`"conversation":{"contact_channel":{"state":"valid","type":"whatsapp_business"}},` +
		`"contact":{"name":"Ada","email":"ada@example.com","mobile_number":"+4915112345678"}},` +
		`"packet":{"name":"start","payload":{}}}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/bots/campaign-signup/webhook", bytes.NewReader([]byte(start))))
	var events []userlike.OutEvent
	if err := json.Unmarshal(rec.Body.Bytes(), &events); err != nil || len(events) == 0 {
		b.Fatalf("start: %v %s", err, rec.Body)
	}
	return []byte(`{"info":{"cid":"chatbot::258:a56785fb6fb84edd890905913b0c0821","context":` + string(events[len(events)-1].Info.Context) + `,` +
		`"conversation":{"contact_channel":{"state":"valid","type":"whatsapp_business"}},` +
		`"contact":{"name":"Ada","email":"ada@example.com","mobile_number":"+4915112345678"}},` +
		`"packet":{"name":"click","payload":{"value":{"id":"start","label":"start"}}}}`)
}

// BenchmarkWebhookTurn is one full webhook turn through the handler: the
// campaign flow, a click on "start" with the context echoed from the start
// turn (decode, context, engine step, render, encode), with Prometheus
// metrics. "two-languages" is the same turn in the multilingual example
// (the campaign signup asking for the language first), in German, the
// platform's locale in info.contact; "one-language" the same flow without
// `locales`: their ratio is the cost of a second language. "logs" adds a text log line per turn (to io.Discard); "signed"
// and "encrypted" seal the context (Options.ContextKeys), without logs.
func BenchmarkWebhookTurn(b *testing.B) {
	for _, mode := range []string{"nolog", "one-language", "two-languages", "logs", "signed", "encrypted", "funnel", "turnlog", "turnlog-personal"} {
		b.Run(mode, func(b *testing.B) {
			fl := loadExamples(b)
			if mode == "one-language" {
				fl = append(fl, monolingual(b))
			}
			m, err := metrics.New(prometheus.NewRegistry(), fl)
			if err != nil {
				b.Fatal(err)
			}
			logger := quietLogger()
			if mode == "logs" {
				logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			}
			var keys *engine.ContextKeys
			switch mode {
			case "signed":
				keys = contextKeys(b, ringK1)
			case "encrypted":
				keys = contextKeys(b, ringK1Enc)
			}
			// funnel: the funnel metrics serve always counts; turnlog: and
			// the turn log (--turn-log), redacted or with personal data.
			var turns turn.Observer
			var tl *turnlog.Writer
			if mode == "funnel" || strings.HasPrefix(mode, "turnlog") {
				f, err := metrics.NewFunnel(prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				turns = f
			}
			if strings.HasPrefix(mode, "turnlog") {
				if tl, err = turnlog.Open(b.TempDir()+"/", turnlog.Options{PersonalData: mode == "turnlog-personal"}); err != nil {
					b.Fatal(err)
				}
				turns = turn.Observers{turns, tl}
			}
			h, err := userlike.New(botsOf(fl), userlike.Options{Logger: logger, Observer: m, ContextKeys: keys, Turns: turns})
			if err != nil {
				b.Fatal(err)
			}
			body, path := campaignClick(b, h), "/bots/campaign-signup/webhook"
			switch mode {
			case "one-language":
				path = "/bots/monolingual/webhook"
				body = multilingualClick(b, h, path)
			case "two-languages":
				path = "/bots/multilingual/webhook"
				body = multilingualClick(b, h, path)
			}
			req := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: path},
				Header: http.Header{"Content-Type": {"application/json"}}, ContentLength: int64(len(body))}
			rb := &benchBody{}
			req.Body = rb
			w := &benchWriter{h: http.Header{}}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			cpu := processCPU()
			for b.Loop() {
				rb.Reset(body)
				w.body.Reset()
				h.ServeHTTP(w, req)
			}
			if tl != nil {
				// The lines still queued are part of the turns' cost.
				if err := tl.Close(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(tl.Dropped())/float64(b.N), "dropped/op")
			}
			// CPU time of the whole process (the log's writing goroutine
			// and the GC included) per turn: unlike ns/op, it does not
			// grow when other processes share the machine.
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			b.StopTimer()
			if w.status != 200 || !bytes.Contains(w.body.Bytes(), []byte(`"campaigns":true`)) {
				b.Fatalf("status %d: %s", w.status, w.body.Bytes())
			}
		})
	}
}

// processCPU is the CPU time the process used so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
