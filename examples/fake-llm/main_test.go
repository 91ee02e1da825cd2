package main

import (
	"bytes"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/runtime/llm/llmtest"
)

// TestLogged: one line per request, and the fake still reads the body.
func TestLogged(t *testing.T) {
	var buf bytes.Buffer
	fake := llmtest.NewFake(nil)
	fake.Key = "sk-test"
	h := logged(fake, log.New(&buf, "", 0))
	body := `{"model":"fake","messages":[{"role":"user","content":"Hello\nthere"}]}`
	for _, auth := range []string{"Bearer sk-test", ""} {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	want := "POST /v1/chat/completions → 200 model=\"fake\" last user message: \"Hello there\"\n" +
		"POST /v1/chat/completions → 401 model=\"fake\" last user message: \"Hello there\"\n"
	if buf.String() != want {
		t.Errorf("log %q;\nwant %q", buf.String(), want)
	}
	if reqs := fake.Requests(); len(reqs) != 2 || reqs[0].LastUserMessage() != "Hello\nthere" {
		t.Errorf("the fake got %+v", reqs)
	}
}
