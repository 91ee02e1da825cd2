package platformtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPlatformKeepsContextsLikeUserlike: the context of a session is the
// last non-empty one answered; an empty one is ignored; each call sends it.
func TestPlatformKeepsContextsLikeUserlike(t *testing.T) {
	answers := []string{
		`[{"info":{"cid":"a","context":{"n":1}},"packet":{"name":"message","payload":{"body":"one"}}}]`,
		`[{"info":{"cid":"a","context":{"n":2}},"packet":{"name":"message","payload":{"body":"two"}}},{"info":{"cid":"a","context":{}},"packet":{"name":"end","payload":{}}}]`,
		`[]`,
		`[{"info":{"cid":"a"},"packet":{"name":"message","payload":{"body":"no context"}}}]`,
		`[{"info":{"cid":"b","context":{"n":9}},"packet":{"name":"message","payload":{"body":"wrong cid"}}}]`,
	}
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Info struct {
				Context json.RawMessage `json:"context"`
			} `json:"info"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &in); err != nil {
			t.Error(err)
		}
		if r.Header.Get("API-SECURITY-TOKEN") != "tok" {
			t.Errorf("token header %q", r.Header.Get("API-SECURITY-TOKEN"))
		}
		got = append(got, string(in.Info.Context))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answers[len(got)-1])
	}))
	defer srv.Close()
	p := New(srv.URL)
	p.Token = "tok"
	p.AllowEmptyContext = true
	c := p.Conversation("a", "web")
	for i := range 3 {
		if _, err := c.Say("x"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	p.AllowEmptyContext = false
	if _, err := c.Say("x"); err == nil || !strings.Contains(err.Error(), "no context") {
		t.Errorf("an event without context was accepted: %v", err)
	}
	if _, err := c.Say("x"); err == nil || !strings.Contains(err.Error(), "info.cid") {
		t.Errorf("an event for another cid was accepted: %v", err)
	}
	want := []string{`{}`, `{"n":1}`, `{"n":2}`, `{"n":2}`, `{"n":2}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("contexts sent %q, want %q", got, want)
	}
	if n := len(p.Packets("a")); n != 3 {
		t.Errorf("%d packets recorded, want 3", n)
	}
}
