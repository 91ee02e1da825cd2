package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

// BenchmarkAsyncWebhook is the webhook answer time of the webshop's turn
// that starts the order lookup (an async HTTP step), with an order service
// that takes 0 s or 1 s to answer:
//
//	queued: flowbot serve with a data file: the job is written to the
//	        outbox and the answer goes at once; the worker runs the lookups
//	        in the background meanwhile and pushes the results
//	inline: no data file: the lookup runs during the webhook call
//
// The queued times must not depend on the back-end.
func BenchmarkAsyncWebhook(b *testing.B) {
	for _, mode := range []string{"queued", "inline"} {
		for _, delay := range []time.Duration{0, time.Second} {
			b.Run(fmt.Sprintf("%s/backend=%s", mode, delay), func(b *testing.B) {
				benchAsync(b, mode == "queued", delay)
			})
		}
	}
}

func benchAsync(b *testing.B, queued bool, delay time.Duration) {
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay) // the back-end's latency
		w.Write([]byte(`{"id":"A-12345","status":"shipped"}`))
	}))
	defer orders.Close()
	plat := platformtest.New("")
	plat.Record(false)
	api := httptest.NewServer(plat.API("tok"))
	defer api.Close()
	env := map[string]string{"ORDER_API_URL": orders.URL, "USERLIKE_API_URL": api.URL, "USERLIKE_API_TOKEN": "tok"}
	fl, _, err := flows.LoadDir("../../examples", flows.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		b.Fatal(err)
	}
	cfg := server.Config{Flows: fl, Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: 2 * time.Second}
	if queued {
		cfg.DataPath = filepath.Join(b.TempDir(), "flowbot.db")
	}
	r := serve(b, cfg, nil) // Serve runs the worker
	h := r.srv.Handler()

	// The context at the order question, as the platform would echo it.
	turn := func(body string) []userlike.OutEvent {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/bots/webshop/webhook", bytes.NewReader([]byte(body))))
		var ev []userlike.OutEvent
		if err := json.Unmarshal(rec.Body.Bytes(), &ev); err != nil || len(ev) == 0 {
			b.Fatalf("%v: %s", err, rec.Body)
		}
		return ev
	}
	ev := turn(`{"info":{"cid":"c-bench","context":{}},"packet":{"name":"start","payload":{}}}`)
	ev = turn(`{"info":{"cid":"c-bench","context":` + string(ev[len(ev)-1].Info.Context) + `},"packet":{"name":"click","payload":{"value":{"id":"delivery"}}}}`)
	// Each iteration is another conversation (cid c-bench-000001, …), all at
	// the order question.
	body := []byte(`{"info":{"cid":"c-bench-000000","context":` + string(ev[len(ev)-1].Info.Context) + `},"packet":{"name":"message","payload":{"body":"A-12345"}}}`)
	digits := bytes.Index(body, []byte("000000"))

	req := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/bots/webshop/webhook"},
		Header: http.Header{"Content-Type": {"application/json"}}, ContentLength: int64(len(body))}
	rb := &benchBody{}
	req.Body = rb
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		n++
		copy(body[digits:], fmt.Sprintf("%06d", n%1000000))
		rb.Reset(body)
		w.body.Reset()
		h.ServeHTTP(w, req)
	}
	b.StopTimer()
	want := []byte("Let me check order A-12345")
	if w.status != 200 || !bytes.Contains(w.body.Bytes(), want) {
		b.Fatalf("status %d: %s", w.status, w.body.Bytes())
	}
	if got := bytes.Contains(w.body.Bytes(), []byte("shipped")); got == queued {
		b.Fatalf("queued %v, but the result is in the answer: %v", queued, got)
	}
}

type benchWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(p []byte) (int, error) { return w.body.Write(p) }

type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }
