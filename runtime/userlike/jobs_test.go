package userlike_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flowbot/flowbot/runtime/userlike"
)

// TestWebshopOrderLookup runs the webshop's HTTP step against a fake order
// API: the request is made during the webhook call and the answer carries
// the interim message and the result.
func TestWebshopOrderLookup(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/orders/A-12345":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"A-12345","status":"shipped"}`))
		case "/orders/B-99999":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	fl := loadExamplesEnv(t, map[string]string{"ORDER_API_URL": api.URL})
	h, err := userlike.New(botsOf(fl), userlike.Options{Logger: testLogger(t), Jobs: loopbackJobs()})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveHTTP(t, h)
	p := platformFor(srv, "webshop")

	ask := func(t *testing.T, cid, order string) []string {
		c := p.Conversation(cid, "web")
		must(t)(c.Start(""))
		r := must(t)(c.Click("delivery"))
		if !strings.Contains(strings.Join(r.Texts(), " "), "order id") {
			t.Fatalf("no order question: %q", r.Texts())
		}
		r = must(t)(c.Say(order))
		return append(r.Texts(), r.Names()...)
	}
	t.Run("found", func(t *testing.T) {
		got := ask(t, "c-found", "a 12345")
		if !slices.Contains(got, "Thanks! Let me check order A-12345…") || !slices.Contains(got, "Order A-12345: shipped.") {
			t.Fatalf("answer %q", got)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		got := ask(t, "c-unknown", "C-55555")
		if !strings.Contains(strings.Join(got, " "), "couldn't find an order with the id C-55555") {
			t.Fatalf("answer %q", got)
		}
	})
	t.Run("api down", func(t *testing.T) {
		got := ask(t, "c-down", "B-99999")
		if !strings.Contains(strings.Join(got, " "), "can't reach the order system") || !slices.Contains(got, "forward_any") {
			t.Fatalf("answer %q", got)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"/orders/A-12345", "/orders/C-55555", "/orders/B-99999"}; !slices.Equal(paths, want) {
		t.Errorf("API calls %q, want %q", paths, want)
	}
}

// TestWebshopWithoutOrderAPI: on a fresh machine (no ORDER_API_URL) the
// lookup takes the flow's error path; nothing breaks.
func TestWebshopWithoutOrderAPI(t *testing.T) {
	srv := serveHTTP(t, newHandler(t, userlike.Options{Logger: testLogger(t)}))
	c := platformFor(srv, "webshop").Conversation("c-noenv", "web")
	must(t)(c.Start(""))
	must(t)(c.Click("delivery"))
	r := must(t)(c.Say("A-12345"))
	if !strings.Contains(strings.Join(r.Texts(), " "), "can't reach the order system") {
		t.Fatalf("answer %q %v", r.Texts(), r.Names())
	}
}
