package main

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/delivery"
)

// TestVerifiedAcceptsFlowbotSignatures: the example's hand-written check
// accepts what flowbot signs, and nothing else.
func TestVerifiedAcceptsFlowbotSignatures(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	signer, err := delivery.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	body := []byte(`{"conversation_id":"c1","message":{"id":"m1","text":"hi","from_bot":true,"sent_at":1,"attached_media":null}}`)
	now := time.Unix(1_795_326_596, 0)
	h := http.Header{}
	h.Set("webhook-id", "m1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", signer.Sign("m1", now, body))
	if !verified(key, h, body) {
		t.Fatal("a flowbot signature does not verify")
	}
	if verified(key, h, append(body, ' ')) {
		t.Fatal("a changed body verifies")
	}
	h.Set("webhook-id", "m2")
	if verified(key, h, body) {
		t.Fatal("another message id verifies")
	}
}
