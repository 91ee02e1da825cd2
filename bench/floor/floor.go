// Package floor is the baseline of flowbot's load test: a bare net/http
// handler that reads a Userlike webhook call (decoding the same JSON
// envelope flowbot reads) and writes a fixed two-event answer. It does no
// flow work, so its throughput is the floor's ceiling: what net/http and
// encoding/json alone cost on the machine. bench/load compares flowbot
// with it.
package floor

import (
	"encoding/json"
	"io"
	"net/http"
)

// Answer is the fixed answer: a contact_update and a message, each with a
// small context, as a flowbot turn would give.
var Answer = []byte(`[{"info":{"cid":"chatbot::floor","context":{"fb":1,"f":"floor","v":"000000000000","s":"done"}},"packet":{"name":"contact_update","payload":{"campaigns":true}}},` +
	`{"info":{"cid":"chatbot::floor","context":{"fb":1,"f":"floor","v":"000000000000","s":"done"}},"packet":{"name":"message","payload":{"body":"You've been subscribed to the campaign!"}}}]`)

// webhook is the envelope a bare handler would decode.
type webhook struct {
	Info struct {
		CID          string          `json:"cid"`
		Context      json.RawMessage `json:"context"`
		Conversation struct {
			ContactChannel struct {
				Type string `json:"type"`
			} `json:"contact_channel"`
		} `json:"conversation"`
	} `json:"info"`
	Packet struct {
		Name    string          `json:"name"`
		Payload json.RawMessage `json:"payload"`
	} `json:"packet"`
}

// Handler returns the baseline handler: POST only, body up to 1 MiB,
// 400 on malformed JSON or a missing cid, else 200 and Answer.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, `{"error":"POST only"}`, http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, `{"error":"body too large"}`, http.StatusRequestEntityTooLarge)
			return
		}
		var in webhook
		if err := json.Unmarshal(body, &in); err != nil || in.Info.CID == "" || in.Packet.Name == "" {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(Answer)
	})
}
