package floor

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestFloor(t *testing.T) {
	var events []map[string]any
	if err := json.Unmarshal(Answer, &events); err != nil || len(events) != 2 {
		t.Fatalf("Answer is not two events: %v", err)
	}
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"info":{"cid":"c","context":{}},"packet":{"name":"message","payload":{"body":"x"}}}`, 200},
		{`{"info":{"cid":""},"packet":{"name":"message"}}`, 400},
		{`{`, 400},
	} {
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte(c.body))))
		if rec.Code != c.status {
			t.Errorf("%s: %d, want %d", c.body, rec.Code, c.status)
		}
	}
}

// BenchmarkFloor is the floor's handler alone (with httptest's recorder), for comparison with
// runtime/userlike's BenchmarkWebhookTurn (same body shape).
func BenchmarkFloor(b *testing.B) {
	body := []byte(`{"info":{"cid":"chatbot::258:a56785fb6fb84edd890905913b0c0821","context":{"fb":1,"f":"campaign-signup","v":"91672d95d358","s":"welcome","p":{"o":[["start","start"]]}},` +
		`"conversation":{"contact_channel":{"state":"valid","type":"whatsapp_business"}},` +
		`"contact":{"name":"Ada","email":"ada@example.com","mobile_number":"+4915112345678"}},` +
		`"packet":{"name":"click","payload":{"value":{"id":"start","label":"start"}}}}`)
	h := Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/bots/campaign-signup/webhook", bytes.NewReader(body)))
	}
}
