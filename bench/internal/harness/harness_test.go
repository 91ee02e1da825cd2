package harness

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestScrapeSums(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "# HELP x\n# TYPE flowbot_outbox_pending gauge\nflowbot_outbox_pending{kind=\"jobs\"} 3\nflowbot_outbox_pending{kind=\"pushes\"} 4\ngo_goroutines 12\nprocess_resident_memory_bytes 2.5e+07\n")
	}))
	defer srv.Close()
	m, err := Scrape(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sum("flowbot_outbox_pending"); got != 7 {
		t.Errorf("outbox pending %v, want 7", got)
	}
	if got := m.Sum("flowbot_outbox_pending", `kind="pushes"`); got != 4 {
		t.Errorf("pushes %v, want 4", got)
	}
	if m.Sum("go_goroutines") != 12 || m.Sum("process_resident_memory_bytes") != 25e6 {
		t.Errorf("got %v", m)
	}
}

func TestReadProcOfItself(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	st, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS <= 0 || st.HWM < st.RSS || st.Threads < 1 {
		t.Errorf("implausible %+v", st)
	}
}

func TestEndpointDownUpFailing(t *testing.T) {
	e, err := NewEndpoint("test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Down()
	get := func() (int, error) {
		resp, err := http.Get(e.URL())
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if st, err := get(); err != nil || st != 200 {
		t.Fatalf("up: %d %v", st, err)
	}
	e.Down()
	if _, err := get(); err == nil {
		t.Fatal("down, yet it answered")
	}
	if err := e.Up(); err != nil {
		t.Fatal(err)
	}
	e.SetFailing(true)
	if st, err := get(); err != nil || st != 503 || e.Refused() != 1 {
		t.Fatalf("failing: %d %v, refused %d", st, err, e.Refused())
	}
	e.SetFailing(false)
	if st, err := get(); err != nil || st != 200 {
		t.Fatalf("back: %d %v", st, err)
	}
}

func TestWebhookBodyIsJSON(t *testing.T) {
	b := WebhookBody(nil, `chatbot::"q"`, "web", nil, "message", `{"body":"hi"}`)
	var v struct {
		Info struct {
			CID     string          `json:"cid"`
			Context json.RawMessage `json:"context"`
		} `json:"info"`
		Packet struct {
			Name string `json:"name"`
		} `json:"packet"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if v.Info.CID != `chatbot::"q"` || string(v.Info.Context) != "{}" || v.Packet.Name != "message" {
		t.Errorf("got %+v", v)
	}
}

func TestPushAPIRecordsByCIDAndPushID(t *testing.T) {
	a := NewPushAPI("tok")
	srv := httptest.NewServer(a)
	defer srv.Close()
	push := func(token, ids, body string) int {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
		req.Header.Set("SECURITY-TOKEN", token)
		req.Header.Set("X-Flowbot-Push-Id", ids)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ev := `[{"info":{"cid":"c1","context":{"s":"menu"}},"packet":{"name":"message","payload":{"body":"Order A-1: shipped."}}}]`
	if st := push("tok", "p-1", ev); st != 200 {
		t.Fatalf("status %d", st)
	}
	push("tok", "p-1", ev) // a redelivery
	if st := push("nope", "p-2", ev); st != 401 {
		t.Fatalf("a wrong token answered %d", st)
	}
	p := a.Of("c1")
	if p == nil || len(p.IDs) != 1 || p.Requests != 2 || len(p.Texts) != 1 || string(p.Context) != `{"s":"menu"}` {
		t.Fatalf("got %+v", p)
	}
	req, distinct, redelivered, bad := a.Totals()
	if req != 3 || distinct != 1 || redelivered != 1 || len(bad) != 1 {
		t.Errorf("totals %d %d %d %v", req, distinct, redelivered, bad)
	}
}
