package httpjob

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/netguard"
)

// loopback lets the tests' runners reach their httptest servers.
var loopback = netguard.MustParsePolicy("loopback")

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
	r := Runner{Network: loopback}
	ctx := context.Background()

	res := r.Run(ctx, &engine.Job{Seq: 3, Method: "POST", URL: srv.URL + "/echo", Headers: [][2]string{{"X-Key", "k"}}, Body: []byte(`{"a":1}`)})
	if res.Seq != 3 || res.Status != 201 || res.Err != "" || string(res.Body) != `POST k `+UserAgent+` {"a":1}` {
		t.Errorf("echo: %+v %s", res, res.Body)
	}
	if res := r.Run(ctx, &engine.Job{Seq: 1, URL: srv.URL + "/echo"}); res.Status != 201 || !strings.HasPrefix(string(res.Body), "GET ") {
		t.Errorf("default method: %+v %s", res, res.Body)
	}
	small := Runner{MaxBody: 1024, Network: loopback}
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

// TestRunRefusesNonPublic: by default a step cannot reach the loopback
// interface (nor any non-public address); the error says how to allow it
// and takes the flow's error path like any network error.
func TestRunRefusesNonPublic(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	ctx := context.Background()
	host := strings.TrimPrefix(srv.URL, "http://")
	var r Runner
	res := r.Run(ctx, &engine.Job{Seq: 1, URL: srv.URL + "/orders/1"})
	// The URL's path (which may carry what a contact typed) is left out.
	want := `Get "` + srv.URL + `/…": refusing to connect to ` + host + ` (loopback): allow it with --allow-network loopback (or FLOWBOT_ALLOW_NETWORK=loopback)`
	if res.Err != want || res.Status != 0 {
		t.Errorf("default runner: %+v\nwant error %s", res, want)
	}
	// A host name is resolved first, then checked.
	_, port, _ := net.SplitHostPort(host)
	if res := r.Run(ctx, &engine.Job{Seq: 1, URL: "http://localhost:" + port + "/"}); !strings.Contains(res.Err, "(loopback): allow it with --allow-network loopback") {
		t.Errorf("localhost: %+v", res)
	}
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:" + port + "/", "http://0.0.0.0:" + port + "/"} {
		if res := r.Run(ctx, &engine.Job{Seq: 1, URL: u, Timeout: time.Second}); !strings.Contains(res.Err, "refusing to connect to") {
			t.Errorf("%s: %+v", u, res)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests", n)
	}

	// Refusals are counted under the client's name.
	var refused []string
	var mu sync.Mutex
	counted := Runner{Network: netguard.MustParsePolicy("").WithObserver(netguard.ObserverFunc(func(client string, err *netguard.RefusedError) {
		mu.Lock()
		defer mu.Unlock()
		refused = append(refused, client+" "+err.Class.String())
	}))}
	counted.Run(ctx, &engine.Job{Seq: 1, URL: srv.URL})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(refused, []string{"http_step loopback"}) {
		t.Errorf("observed %q", refused)
	}
}

// TestRedirectToForbiddenAddress: a redirect from an allowed host to a
// forbidden address is refused when the redirect's connection is made.
func TestRedirectToForbiddenAddress(t *testing.T) {
	var hits atomic.Int32
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer inner.Close()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 to listen on: %v", err)
	}
	outer := httptest.NewUnstartedServer(http.RedirectHandler(inner.URL+"/admin", http.StatusFound))
	outer.Listener.Close()
	outer.Listener = ln
	outer.Start()
	defer outer.Close()

	r := Runner{Network: netguard.MustParsePolicy("127.0.0.2")} // the outer host only
	res := r.Run(context.Background(), &engine.Job{Seq: 1, URL: outer.URL + "/start"})
	host := strings.TrimPrefix(inner.URL, "http://")
	if !strings.Contains(res.Err, `Get "`+inner.URL+`/…": refusing to connect to `+host+" (loopback)") || res.Status != 0 {
		t.Errorf("redirect to loopback: %+v", res)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the inner server got %d requests", n)
	}
	// Allowed, the same redirect is followed.
	r = Runner{Network: netguard.MustParsePolicy("127.0.0.2, loopback")}
	if res := r.Run(context.Background(), &engine.Job{Seq: 1, URL: outer.URL + "/start"}); res.Status != 200 || hits.Load() != 1 {
		t.Errorf("allowed redirect: %+v", res)
	}
}
