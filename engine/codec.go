package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/flowbot/flowbot/flows"
)

// MaxContextBytes is the largest serialized context: the chat platform
// refuses anything bigger.
const MaxContextBytes = flows.MaxContextBytes

// Context formats: the value of "fb", which marks a context written by
// flowbot and its layout.
const (
	// contextFormat is the plain layout: the variables and the pending
	// choice in "x" and "p". A signed context (see ContextKeys) has the
	// same layout plus "k" and "m".
	contextFormat = 1
	// contextFormatEncrypted moves "x" and "p" into the ciphertext "e".
	// It has its own number so that a flowbot without the keys (or an
	// older one) restarts such a conversation instead of continuing it
	// without its variables.
	contextFormatEncrypted = 2
)

// wireContext is the compact JSON form of a Session.
type wireContext struct {
	Format  int               `json:"fb"`
	Flow    string            `json:"f"`
	Version string            `json:"v"`
	State   string            `json:"s,omitempty"`
	Vars    map[string]string `json:"x,omitempty"`
	Pending *wirePending      `json:"p,omitempty"`
	Retries int               `json:"r,omitempty"`
	Done    bool              `json:"d,omitempty"`
	Jobs    int               `json:"jn,omitempty"`
	Await   int               `json:"jw,omitempty"`
	Recent  string            `json:"rc,omitempty"`
	Locale  string            `json:"l,omitempty"`
	// Sealed contexts only (ContextKeys); the encoder appends them itself,
	// in this order, after the fields above.
	Enc string `json:"e,omitempty"` // base64url(nonce ‖ AES-256-GCM(x, p))
	Key string `json:"k,omitempty"` // the id of the key that signed
	MAC string `json:"m,omitempty"` // base64url(HMAC-SHA256(…)[:16])
}

type wirePending struct {
	Numbered bool        `json:"n,omitempty"`
	Options  [][2]string `json:"o"`
}

// ErrContextTooBig is returned when a session does not fit in a context.
var ErrContextTooBig = errors.New("context over 10,240 bytes")

// ErrForeignContext is returned for a context flowbot did not write, or
// cannot read. The sealing errors (ErrContextForged and its kinds) wrap
// it, so that errors.Is(err, ErrForeignContext) holds for every context
// that restarts the conversation.
var ErrForeignContext = errors.New("context not written by flowbot")

// EncodeContext serializes a session compactly, unsigned. It fails with
// ErrContextTooBig rather than ever return more than MaxContextBytes.
// ContextKeys.Encode signs (and encrypts) instead.
func EncodeContext(s Session) ([]byte, error) {
	w := newWire(s)
	out, err := marshalCompact(w)
	if err != nil {
		return nil, err
	}
	if len(out) > MaxContextBytes {
		return nil, ErrContextTooBig
	}
	return out, nil
}

// newWire is the wire form of s, before sealing.
func newWire(s Session) wireContext {
	w := wireContext{Format: contextFormat, Flow: s.Flow, Version: s.Version, State: s.State,
		Vars: s.Vars, Retries: s.Retries, Done: s.Done, Jobs: s.JobSeq, Await: s.AwaitSeq, Recent: s.Recent, Locale: s.Locale}
	if len(w.Vars) == 0 {
		w.Vars = nil
	}
	if s.Pending != nil {
		w.Pending = &wirePending{Numbered: s.Pending.Numbered, Options: make([][2]string, len(s.Pending.Options))}
		for i, o := range s.Pending.Options {
			w.Pending.Options[i] = [2]string{o.ID, o.Label}
		}
	}
	return w
}

// marshalCompact is JSON without HTML escaping or a final newline.
func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode context: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// emptyContext reports a context that starts a new conversation: absent,
// null or {} (raw is trimmed).
func emptyContext(raw []byte) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte("{}"))
}

// DecodeContext reads an unsigned context. An absent, null or empty context
// gives an empty Session and no error; anything flowbot did not write, or
// cannot read, gives ErrForeignContext and a Session marked Foreign, which
// Step restarts politely. The signature of a signed context is ignored
// (so that turning signing off does not restart every conversation); an
// encrypted one cannot be read. ContextKeys.Decode verifies signatures.
func DecodeContext(raw []byte) (Session, error) {
	raw = bytes.TrimSpace(raw)
	if emptyContext(raw) {
		return Session{}, nil
	}
	if len(raw) > MaxContextBytes*2 {
		return Session{Foreign: true}, ErrForeignContext
	}
	var w wireContext
	if err := json.Unmarshal(raw, &w); err != nil || w.Format != contextFormat || w.Flow == "" || w.Enc != "" {
		return Session{Foreign: true}, ErrForeignContext
	}
	return w.session()
}

// session checks the wire form's numbers and returns its Session.
func (w *wireContext) session() (Session, error) {
	s := Session{Flow: w.Flow, Version: w.Version, State: w.State, Vars: w.Vars, Retries: w.Retries, Done: w.Done, JobSeq: w.Jobs, AwaitSeq: w.Await, Recent: w.Recent, Locale: w.Locale}
	if s.Retries < 0 || s.Retries > 1000 || s.JobSeq < 0 || s.AwaitSeq < 0 || s.AwaitSeq > s.JobSeq || strings.Count(s.Recent, " ") >= LateTapDepth || len(s.Locale) > 16 {
		return Session{Foreign: true}, ErrForeignContext
	}
	if w.Pending != nil {
		s.Pending = &Pending{Numbered: w.Pending.Numbered, Options: make([]PendingOption, len(w.Pending.Options))}
		for i, o := range w.Pending.Options {
			s.Pending.Options[i] = PendingOption{ID: o[0], Label: o[1]}
		}
	}
	return s, nil
}
