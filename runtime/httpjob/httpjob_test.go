package httpjob

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			io.WriteString(w, r.Method+" "+r.Header.Get("X-Key")+" "+r.Header.Get("User-Agent")+" "+string(b))
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/slow":
			<-r.Context().Done()
		case "/redirect":
			http.Redirect(w, r, "/redirect", http.StatusFound)
		}
	}))
	defer srv.Close()
	var r Runner
	ctx := context.Background()

	res := r.Run(ctx, &engine.Job{Seq: 3, Method: "POST", URL: srv.URL + "/echo", Headers: [][2]string{{"X-Key", "k"}}, Body: []byte(`{"a":1}`)})
	if res.Seq != 3 || res.Status != 201 || res.Err != "" || string(res.Body) != `POST k `+UserAgent+` {"a":1}` {
		t.Errorf("echo: %+v %s", res, res.Body)
	}
	if res := r.Run(ctx, &engine.Job{Seq: 1, URL: srv.URL + "/echo"}); res.Status != 201 || !strings.HasPrefix(string(res.Body), "GET ") {
		t.Errorf("default method: %+v %s", res, res.Body)
	}
	small := Runner{MaxBody: 1024}
	if res := small.Run(ctx, &engine.Job{Seq: 1, URL: srv.URL + "/big"}); res.Err == "" || res.Status != 0 || res.Body != nil {
		t.Errorf("big answer accepted: %+v", res)
	}
	if res := r.Run(ctx, &engine.Job{Seq: 1, URL: srv.URL + "/slow", Timeout: 50 * time.Millisecond}); !strings.Contains(res.Err, "no answer within 50ms") {
		t.Errorf("timeout: %+v", res)
	}
	if res := r.Run(ctx, &engine.Job{Seq: 1, URL: srv.URL + "/redirect"}); !strings.Contains(res.Err, "redirects") {
		t.Errorf("redirect loop: %+v", res)
	}
	if res := r.Run(ctx, &engine.Job{Seq: 1, URL: "::not a url"}); !strings.Contains(res.Err, "cannot make the request") {
		t.Errorf("bad URL: %+v", res)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	if res := r.Run(ctx, &engine.Job{Seq: 1, URL: url}); res.Err == "" || res.Status != 0 {
		t.Errorf("closed server: %+v", res)
	}
}
