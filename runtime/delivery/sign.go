package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts a Standard Webhooks signing secret: whsec_ followed
// by the key in standard base64.
const SecretPrefix = "whsec_"

// Signer signs webhook requests the Standard Webhooks way
// (https://www.standardwebhooks.com): an HMAC-SHA256 of the message id, the
// timestamp and the body, with a secret key shared with the receiver. It is
// safe for concurrent use.
type Signer struct {
	key []byte
}

// NewSigner reads a secret of the form whsec_<base64 key> (the value of
// FLOWBOT_WEBHOOK_SECRET).
func NewSigner(secret string) (*Signer, error) {
	const want = "FLOWBOT_WEBHOOK_SECRET must look like whsec_<base64>"
	rest, ok := strings.CutPrefix(strings.TrimSpace(secret), SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%s: it does not start with %q", want, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%s: the part after %s is not standard base64: %w", want, SecretPrefix, err)
	}
	if len(key) == 0 {
		return nil, errors.New(want + ": the key after " + SecretPrefix + " is empty")
	}
	return &Signer{key: key}, nil
}

// Sign returns the webhook-signature header of a request: "v1," followed by
// the standard base64 of HMAC-SHA256(key, id + "." + ts in Unix seconds +
// "." + body).
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
}
