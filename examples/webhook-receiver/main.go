// Command webhook-receiver is the smallest app webhook for flowbot's Chat
// API: it prints every bot message it receives and answers 200. With
// FLOWBOT_WEBHOOK_SECRET set (the same whsec_… value as the server's), it
// checks each delivery's Standard Webhooks signature and answers 401 to a
// delivery that does not verify.
//
//	go run ./examples/webhook-receiver -addr 127.0.0.1:5000
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "where to listen")
	flag.Parse()
	var key []byte
	if secret := os.Getenv("FLOWBOT_WEBHOOK_SECRET"); secret != "" {
		var err error
		if key, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_")); err != nil {
			log.Fatalf("FLOWBOT_WEBHOOK_SECRET: %v", err)
		}
	}
	http.HandleFunc("POST /webhook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if key != nil && !verified(key, r.Header, body) {
			log.Printf("signature does not verify; refused")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var d struct {
			ConversationID string `json:"conversation_id"`
			Message        struct {
				ID   string `json:"id"`
				Text string `json:"text"`
			} `json:"message"`
		}
		if err := json.Unmarshal(body, &d); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Printf("🤖 [%s] %s\n", d.ConversationID[:min(8, len(d.ConversationID))], d.Message.Text)
		w.WriteHeader(http.StatusOK) // anything else and flowbot delivers it again later
	})
	log.Printf("webhook receiver on http://%s/webhook", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// verified checks the webhook-signature header: v1,<base64 HMAC-SHA256 of
// "id.timestamp.body">, possibly one of several space-separated ones.
func verified(key []byte, h http.Header, body []byte) bool {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", h.Get("webhook-id"), h.Get("webhook-timestamp"), body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}
