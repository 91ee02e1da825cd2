package engine

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"
)

// ContextKeysEnv is the environment variable that holds the key ring
// ParseContextKeys reads; its errors name it.
const ContextKeysEnv = "FLOWBOT_CONTEXT_KEYS"

// Limits and sizes of sealed contexts.
const (
	// MinContextSecretBytes is the shortest secret accepted.
	MinContextSecretBytes = 32
	// MaxContextKeyID is the longest key id.
	MaxContextKeyID = 8

	macBytes   = 16 // the truncated HMAC-SHA256
	nonceBytes = 12 // AES-GCM's standard nonce
	tagBytes   = 16 // AES-GCM's tag
)

var macChars = base64.RawURLEncoding.EncodedLen(macBytes)

// contextError is a sealing error: a kind of its parent.
type contextError struct {
	msg    string
	parent error
}

func (e *contextError) Error() string { return e.msg }
func (e *contextError) Unwrap() error { return e.parent }

// Errors of ContextKeys.Decode. Each comes with a Session marked Foreign
// (the conversation restarts politely), and each wraps ErrContextForged,
// which wraps ErrForeignContext: test the most specific first to count
// them by kind.
var (
	// ErrContextForged: the signature does not verify (an edited context,
	// one replayed from another conversation, a malformed signature).
	ErrContextForged error = &contextError{"context signature does not verify (edited, or from another conversation)", ErrForeignContext}
	// ErrContextUnsigned: a flowbot context without a signature, while
	// keys are configured (written before signing was turned on, or
	// stripped).
	ErrContextUnsigned error = &contextError{"context not signed, and context keys are configured", ErrContextForged}
	// ErrContextUnknownKey: signed with a key id the ring does not list
	// (a retired key, or a made-up id).
	ErrContextUnknownKey error = &contextError{"context signed with a key that is not configured (retired?)", ErrContextForged}
)

// ContextKeys is a key ring that signs, and optionally encrypts, contexts
// (see the package's "Sealed contexts"); ParseContextKeys makes one. The
// first key seals; every key verifies. A nil *ContextKeys (and the zero
// value) means unsigned contexts: Encode and Decode then behave as
// EncodeContext and DecodeContext. It is safe for concurrent use.
type ContextKeys struct {
	keys []*contextKey
}

type contextKey struct {
	id   string
	enc  bool // seal new contexts encrypted (used for the first key)
	aead cipher.AEAD
	macs sync.Pool // *macState
}

// macState is the reusable memory of one MAC computation.
type macState struct {
	h   hash.Hash
	buf []byte
}

// ParseContextKeys reads a key ring written as a comma-separated list of
// id:secret or id:secret:enc, the first key first (the format of
// FLOWBOT_CONTEXT_KEYS):
//
//	FLOWBOT_CONTEXT_KEYS=k2:BASE64SECRET:enc,k1:OLDBASE64SECRET
//
// An id is 1–8 letters, digits, _ or -. A secret is base64, standard or
// URL alphabet, padded or not, of at least 32 random bytes (head -c32
// /dev/urandom | base64). :enc on the first key encrypts the variables and
// the pending choice of new contexts; every key decrypts. Spaces around
// entries are ignored. An empty s gives nil keys and no error: contexts
// stay unsigned. Errors never contain a secret.
func ParseContextKeys(s string) (*ContextKeys, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	const example = "head -c32 /dev/urandom | base64"
	k := &ContextKeys{}
	seen := map[string]string{} // secret → id
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("%s: entry %d is empty; write id:secret[:enc] entries separated by commas", ContextKeysEnv, i+1)
		}
		parts := strings.Split(entry, ":")
		id := parts[0]
		if !validKeyID(id) {
			shown := fmt.Sprintf("%q", id)
			if len(parts) == 1 || len(id) > 2*MaxContextKeyID {
				// It may be a secret (a bare one, or written first): never show it.
				shown = fmt.Sprintf("(%d characters, not shown: is it the secret?)", len(id))
			}
			return nil, fmt.Errorf("%s: entry %d: key id %s must be 1–%d letters, digits, _ or -; write id:secret, e.g. k1:$(%s)",
				ContextKeysEnv, i+1, shown, MaxContextKeyID, example)
		}
		if len(parts) < 2 || parts[1] == "" {
			return nil, fmt.Errorf("%s: key %q has no secret; write %s:SECRET with SECRET from %s", ContextKeysEnv, id, id, example)
		}
		if len(parts) > 3 {
			return nil, fmt.Errorf("%s: key %q: too many colons; write %s:secret or %s:secret:enc", ContextKeysEnv, id, id, id)
		}
		enc := false
		if len(parts) == 3 {
			if parts[2] != "enc" {
				return nil, fmt.Errorf("%s: key %q: unknown option %q; the only option is enc (%s:secret:enc encrypts the variables)", ContextKeysEnv, id, parts[2], id)
			}
			enc = true
		}
		secret, err := decodeSecret(parts[1])
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: the secret is not base64 (standard or URL alphabet): %v; make one with %s", ContextKeysEnv, id, err, example)
		}
		if len(secret) < MinContextSecretBytes {
			return nil, fmt.Errorf("%s: key %q is %d bytes; use at least %d random bytes, e.g. %s", ContextKeysEnv, id, len(secret), MinContextSecretBytes, example)
		}
		if k.find(id) != nil {
			return nil, fmt.Errorf("%s: key id %q is listed twice; each key needs its own id", ContextKeysEnv, id)
		}
		if other, dup := seen[string(secret)]; dup {
			return nil, fmt.Errorf("%s: keys %q and %q have the same secret; give each key its own (%s)", ContextKeysEnv, other, id, example)
		}
		seen[string(secret)] = id
		key, err := newContextKey(id, secret, enc)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", ContextKeysEnv, id, err)
		}
		k.keys = append(k.keys, key)
	}
	return k, nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > MaxContextKeyID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// decodeSecret reads base64 in either alphabet, with or without padding.
func decodeSecret(s string) ([]byte, error) {
	t := strings.TrimRight(s, "=")
	if len(s)-len(t) > 2 {
		return nil, fmt.Errorf("too much padding")
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(t, "-_") {
		enc = base64.RawURLEncoding
	}
	return enc.DecodeString(t)
}

func newContextKey(id string, secret []byte, enc bool) (*contextKey, error) {
	macKey, err := hkdf.Key(sha256.New, secret, nil, "flowbot context v1 hmac-sha256", 32)
	if err != nil {
		return nil, err
	}
	encKey, err := hkdf.Key(sha256.New, secret, nil, "flowbot context v1 aes-256-gcm", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	key := &contextKey{id: id, enc: enc, aead: aead}
	key.macs.New = func() any { return &macState{h: hmac.New(sha256.New, macKey)} }
	return key, nil
}

// IDs lists the key ids, the signing key first.
func (k *ContextKeys) IDs() []string {
	if k.none() {
		return nil
	}
	ids := make([]string, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.id
	}
	return ids
}

// Encrypts reports whether new contexts are encrypted (the first key is
// written id:secret:enc).
func (k *ContextKeys) Encrypts() bool { return !k.none() && k.keys[0].enc }

// none reports a ring without keys: unsigned contexts.
func (k *ContextKeys) none() bool { return k == nil || len(k.keys) == 0 }

// String describes the ring without its secrets, for logs: "k2 (signs,
// encrypts), k1 (verifies)".
func (k *ContextKeys) String() string {
	if k.none() {
		return "none (contexts are not signed)"
	}
	var b strings.Builder
	for i, key := range k.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(key.id)
		switch {
		case i == 0 && key.enc:
			b.WriteString(" (signs, encrypts)")
		case i == 0:
			b.WriteString(" (signs)")
		default:
			b.WriteString(" (verifies)")
		}
	}
	return b.String()
}

// GoString is String, so that %#v shows no secret either.
func (k *ContextKeys) GoString() string { return "engine.ContextKeys{" + k.String() + "}" }

// LogValue is String, for slog.
func (k *ContextKeys) LogValue() slog.Value { return slog.StringValue(k.String()) }

func (k *ContextKeys) find(id string) *contextKey {
	for _, key := range k.keys {
		if key.id == id {
			return key
		}
	}
	return nil
}

// secretPart is what an encrypted context encrypts.
type secretPart struct {
	Vars    map[string]string `json:"x,omitempty"`
	Pending *wirePending      `json:"p,omitempty"`
}

// sealing is a session prepared for sealing: everything but the
// cryptography, and the exact size of the result.
type sealing struct {
	w    wireContext
	head []byte // the JSON of w without e, k and m
	pt   []byte // the plaintext to encrypt; nil when nothing is secret
	size int
}

func (k *ContextKeys) prepare(s Session) (sealing, error) {
	key := k.keys[0]
	p := sealing{w: newWire(s)}
	validUTF8(&p.w)
	if key.enc {
		p.w.Format = contextFormatEncrypted
		if p.w.Vars != nil || p.w.Pending != nil {
			pt, err := marshalCompact(secretPart{Vars: p.w.Vars, Pending: p.w.Pending})
			if err != nil {
				return p, err
			}
			p.pt, p.w.Vars, p.w.Pending = pt, nil, nil
		}
	}
	head, err := marshalCompact(&p.w)
	if err != nil {
		return p, err
	}
	p.head = head
	// head without its "}", then ,"e":"…", then ,"k":"…","m":"…"}
	p.size = len(head) - 1 + len(`,"k":"`) + len(key.id) + len(`","m":"`) + macChars + len(`"}`)
	if p.pt != nil {
		p.size += len(`,"e":""`) + base64.RawURLEncoding.EncodedLen(nonceBytes+len(p.pt)+tagBytes)
	}
	if p.size > MaxContextBytes {
		return p, ErrContextTooBig
	}
	return p, nil
}

// fits reports whether s fits in a context sealed with k (nil: unsigned),
// without any cryptography: ErrContextTooBig if not.
func (k *ContextKeys) fits(s Session) error {
	if k.none() {
		_, err := EncodeContext(s)
		return err
	}
	_, err := k.prepare(s)
	return err
}

// Encode serializes a session signed with the first key, for the
// conversation named by binding (Userlike's cid), and encrypted when that
// key is an encrypting one. Like EncodeContext it fails with
// ErrContextTooBig rather than return more than MaxContextBytes; the limit
// includes the signature and the encryption. A nil k encodes unsigned
// (EncodeContext).
func (k *ContextKeys) Encode(s Session, binding string) ([]byte, error) {
	if k.none() {
		return EncodeContext(s)
	}
	key := k.keys[0]
	p, err := k.prepare(s)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(p.head)-1, p.size)
	copy(out, p.head)
	if p.pt != nil {
		sealed := make([]byte, nonceBytes, nonceBytes+len(p.pt)+tagBytes)
		rand.Read(sealed[:nonceBytes]) // never fails (Go 1.24+)
		sealed = key.aead.Seal(sealed, sealed[:nonceBytes], p.pt, []byte(binding))
		out = append(out, `,"e":"`...)
		start := len(out)
		out = base64.RawURLEncoding.AppendEncode(out, sealed)
		p.w.Enc = string(out[start:])
		out = append(out, '"')
	}
	p.w.Key = key.id
	mac := key.sum(&p.w, binding)
	out = append(out, `,"k":"`...)
	out = append(out, key.id...)
	out = append(out, `","m":"`...)
	out = base64.RawURLEncoding.AppendEncode(out, mac[:macBytes])
	out = append(out, `"}`...)
	if len(out) != p.size { // cannot happen: prepare measures what is written here
		return nil, fmt.Errorf("encode context: sealed %d bytes, expected %d", len(out), p.size)
	}
	return out, nil
}

// Decode reads a context sealed by Encode for the conversation named by
// binding. An absent, null or {} context gives an empty Session (a new
// conversation); one flowbot did not write, or cannot read, gives
// ErrForeignContext, as DecodeContext does. A flowbot context that is not
// signed gives ErrContextUnsigned, one signed with a key not in the ring
// ErrContextUnknownKey, and one whose signature does not verify (edited,
// or sealed for another binding) ErrContextForged. Every error comes with
// a Session marked Foreign, which Step restarts politely. A nil k decodes
// unsigned contexts (DecodeContext).
func (k *ContextKeys) Decode(raw []byte, binding string) (Session, error) {
	if k.none() {
		return DecodeContext(raw)
	}
	raw = bytes.TrimSpace(raw)
	if emptyContext(raw) {
		return Session{}, nil
	}
	foreign := Session{Foreign: true}
	if len(raw) > MaxContextBytes*2 {
		return foreign, ErrForeignContext
	}
	var w wireContext
	if err := json.Unmarshal(raw, &w); err != nil || w.Flow == "" || w.Format != contextFormat && w.Format != contextFormatEncrypted {
		return foreign, ErrForeignContext
	}
	if w.Key == "" {
		if w.MAC == "" {
			return foreign, ErrContextUnsigned
		}
		return foreign, ErrContextForged
	}
	key := k.find(w.Key)
	if key == nil {
		return foreign, ErrContextUnknownKey
	}
	var mac [macBytes]byte
	if len(w.MAC) != macChars {
		return foreign, ErrContextForged
	}
	if n, err := base64.RawURLEncoding.Decode(mac[:], []byte(w.MAC)); err != nil || n != macBytes {
		return foreign, ErrContextForged
	}
	if want := key.sum(&w, binding); !hmac.Equal(mac[:], want[:macBytes]) {
		return foreign, ErrContextForged
	}
	// Authentic from here on: what follows cannot fail for a context
	// flowbot wrote.
	switch {
	case w.Format == contextFormat && w.Enc != "",
		w.Format == contextFormatEncrypted && (w.Vars != nil || w.Pending != nil):
		return foreign, ErrForeignContext
	case w.Enc != "":
		sealed, err := base64.RawURLEncoding.DecodeString(w.Enc)
		if err != nil || len(sealed) < nonceBytes+tagBytes {
			return foreign, ErrContextForged
		}
		pt, err := key.aead.Open(nil, sealed[:nonceBytes], sealed[nonceBytes:], []byte(binding))
		if err != nil {
			return foreign, ErrContextForged
		}
		var sp secretPart
		if err := json.Unmarshal(pt, &sp); err != nil {
			return foreign, ErrForeignContext
		}
		w.Vars, w.Pending = sp.Vars, sp.Pending
	}
	return w.session()
}

// macDomain starts every MAC input: the purpose and the layout version.
const macDomain = "flowbot context mac v1\x00"

// sum is the full HMAC-SHA256 of w's content, its key id and binding.
func (key *contextKey) sum(w *wireContext, binding string) [sha256.Size]byte {
	m := key.macs.Get().(*macState)
	m.buf = appendMACInput(m.buf[:0], w, binding)
	m.h.Reset()
	m.h.Write(m.buf)
	var out [sha256.Size]byte
	m.h.Sum(out[:0])
	if cap(m.buf) <= 2*MaxContextBytes {
		key.macs.Put(m)
	}
	return out
}

// appendMACInput writes what a context says in an unambiguous binary form:
// every string length-prefixed, every number a varint, the variables
// sorted by name. Two contexts that decode to different content never
// give the same bytes.
func appendMACInput(b []byte, w *wireContext, binding string) []byte {
	b = append(b, macDomain...)
	b = appendLP(b, binding)
	b = appendLP(b, w.Key)
	b = binary.AppendVarint(b, int64(w.Format))
	b = appendLP(b, w.Flow)
	b = appendLP(b, w.Version)
	b = appendLP(b, w.State)
	b = binary.AppendVarint(b, int64(w.Retries))
	b = appendBool(b, w.Done)
	b = binary.AppendVarint(b, int64(w.Jobs))
	b = binary.AppendVarint(b, int64(w.Await))
	b = binary.AppendUvarint(b, uint64(len(w.Vars)))
	for _, name := range sortedKeys(w.Vars) {
		b = appendLP(b, name)
		b = appendLP(b, w.Vars[name])
	}
	if w.Pending == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendBool(b, w.Pending.Numbered)
		b = binary.AppendUvarint(b, uint64(len(w.Pending.Options)))
		for _, o := range w.Pending.Options {
			b = appendLP(b, o[0])
			b = appendLP(b, o[1])
		}
	}
	if w.Recent != "" {
		// 1 cannot start appendLP(w.Enc): Enc is empty or tens of bytes
		// long, so contexts without Recent keep their earlier MAC input.
		b = append(b, 1)
		b = appendLP(b, w.Recent)
	}
	return appendLP(b, w.Enc)
}

func appendLP(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// validUTF8 replaces each byte of invalid UTF-8 in w's strings with U+FFFD,
// as encoding/json does when it writes them, so that the MAC computed
// while encoding covers exactly what the decoder will read back. Valid
// strings (all of them, nearly always) are left alone, and the caller's
// map is never changed.
func validUTF8(w *wireContext) {
	w.Flow, w.Version, w.State = fixUTF8(w.Flow), fixUTF8(w.Version), fixUTF8(w.State)
	w.Recent = fixUTF8(w.Recent)
	for name, v := range w.Vars {
		if !utf8.ValidString(name) || !utf8.ValidString(v) {
			fixed := make(map[string]string, len(w.Vars))
			for _, n := range sortedKeys(w.Vars) { // sorted: a collision resolves the same way every time
				fixed[fixUTF8(n)] = fixUTF8(w.Vars[n])
			}
			w.Vars = fixed
			break
		}
	}
	if w.Pending != nil { // newWire's own copy
		for i, o := range w.Pending.Options {
			w.Pending.Options[i] = [2]string{fixUTF8(o[0]), fixUTF8(o[1])}
		}
	}
}

func fixUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
