package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/flowbot/flowbot/flows"
)

// MaxContextBytes is the largest serialized context: the chat platform
// refuses anything bigger.
const MaxContextBytes = flows.MaxContextBytes

// contextFormat marks a context written by flowbot and its layout version.
const contextFormat = 1

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
}

type wirePending struct {
	Numbered bool        `json:"n,omitempty"`
	Options  [][2]string `json:"o"`
}

// ErrContextTooBig is returned when a session does not fit in a context.
var ErrContextTooBig = errors.New("context over 10,240 bytes")

// ErrForeignContext is returned for a context flowbot did not write, or
// cannot read.
var ErrForeignContext = errors.New("context not written by flowbot")

// EncodeContext serializes a session compactly. It fails with
// ErrContextTooBig rather than ever return more than MaxContextBytes.
func EncodeContext(s Session) ([]byte, error) {
	w := wireContext{Format: contextFormat, Flow: s.Flow, Version: s.Version, State: s.State,
		Vars: s.Vars, Retries: s.Retries, Done: s.Done, Jobs: s.Jobs, Await: s.Await}
	if len(w.Vars) == 0 {
		w.Vars = nil
	}
	if s.Pending != nil {
		w.Pending = &wirePending{Numbered: s.Pending.Numbered, Options: make([][2]string, len(s.Pending.Options))}
		for i, o := range s.Pending.Options {
			w.Pending.Options[i] = [2]string{o.ID, o.Label}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("encode context: %w", err)
	}
	out := bytes.TrimRight(buf.Bytes(), "\n")
	if len(out) > MaxContextBytes {
		return nil, ErrContextTooBig
	}
	return out, nil
}

// DecodeContext reads a context. An absent, null or empty context gives an
// empty Session and no error; anything flowbot did not write, or cannot
// read, gives ErrForeignContext and a Session marked Foreign, which Step
// restarts politely.
func DecodeContext(raw []byte) (Session, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte("{}")) {
		return Session{}, nil
	}
	if len(raw) > MaxContextBytes*2 {
		return Session{Foreign: true}, ErrForeignContext
	}
	var w wireContext
	if err := json.Unmarshal(raw, &w); err != nil || w.Format != contextFormat || w.Flow == "" {
		return Session{Foreign: true}, ErrForeignContext
	}
	s := Session{Flow: w.Flow, Version: w.Version, State: w.State, Vars: w.Vars, Retries: w.Retries, Done: w.Done, Jobs: w.Jobs, Await: w.Await}
	if s.Retries < 0 || s.Retries > 1000 || s.Jobs < 0 || s.Await < 0 || s.Await > s.Jobs {
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
