// Command fake-llm is an OpenAI-compatible chat-completions endpoint for
// local demos and tests of flows with `llm` steps: no model, no key, no
// network. It serves llmtest.Fake, which answers every request with a short
// deterministic reply quoting the last user message (see
// llmtest.DefaultReply), and logs one line per request to stderr.
//
//	go run ./examples/fake-llm -addr 127.0.0.1:8088
//	FLOWBOT_LLM_BASE_URL=http://127.0.0.1:8088/v1 FLOWBOT_LLM_MODEL=fake \
//	  go run ./cmd/flowbot serve --flows examples
//
// With -key sk-test it requires "Authorization: Bearer sk-test" (set
// FLOWBOT_LLM_API_KEY=sk-test) and answers 401 otherwise, as OpenAI does.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/flowbot/flowbot/runtime/llm/llmtest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8088", "where to listen")
	key := flag.String("key", "", "the API key requests must send as a bearer token (default: none)")
	flag.Parse()
	fake := llmtest.NewFake(nil)
	fake.Key = *key
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("fake LLM listening on http://%s/v1\n", ln.Addr())
	log.Fatal(http.Serve(ln, logged(fake, log.New(os.Stderr, "", log.LstdFlags))))
}

// logged logs one line per request: method, path, status, model and the
// last user message.
func logged(h http.Handler, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req llmtest.Request
		json.Unmarshal(body, &req) // a bad body is the fake's to refuse
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		last := strings.Join(strings.Fields(req.LastUserMessage()), " ")
		if len(last) > 80 {
			last = strings.ToValidUTF8(last[:80], "") + "…"
		}
		logger.Printf("%s %s → %d model=%q last user message: %q", r.Method, r.URL.Path, sw.status, req.Model, last)
	})
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}
