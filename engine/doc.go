// Package engine runs one chat event through a compiled flow.
//
// Each flow becomes a looplab/fsm machine whose states are the flow's states
// and whose events are the triggers that move between them (next, an option
// id, give_up, a command, a platform event). Step restores the machine from
// the Session, fires the event, runs the states it enters and returns the
// actions to send and the new Session.
//
// The engine is pure and deterministic: it does no I/O and never reads the
// clock (the event carries the time). The same flow, session and event always
// give the same result.
//
// # The context
//
// A Session travels in the chat platform's context object, at most
// MaxContextBytes (10,240) of compact JSON: EncodeContext and DecodeContext
// for an unsigned context, ContextKeys.Encode and ContextKeys.Decode for a
// sealed one.
//
// # Sealed contexts
//
// Whoever can call the webhook, and the chat platform itself, can edit the
// context it echoes: set a variable (email_verified: yes), jump to another
// state, or replay one conversation's context into another. With a key
// ring (ContextKeys, read by ParseContextKeys from FLOWBOT_CONTEXT_KEYS)
// flowbot signs every context it writes and refuses every context whose
// signature does not verify; the conversation then restarts politely, as
// for any context it cannot read.
//
// A signed context is the plain one plus two fields:
//
//	{"fb":1,"f":"name-email-forward","v":"180027d77598","s":"ask_email","x":{"name":"Ada"},"k":"k1","m":"…22 chars…"}
//
// k is the id of the key that signed and m is base64url (unpadded) of the
// first 16 bytes of HMAC-SHA256 over a length-prefixed binary form of what
// the context says (format, flow, version, state, variables sorted by name,
// pending choice, counters, ciphertext), the key id and a binding: the
// conversation's id (Userlike's cid), so that a context replayed into
// another conversation does not verify. The MAC covers the decoded content,
// not the JSON bytes: a platform that re-serializes the object (key order,
// spacing, escapes) does not break it, and what is verified is exactly what
// the decoder goes on to use. Verification takes constant time
// (hmac.Equal).
//
// An encrypting key (id:secret:enc) moves the variables and the pending
// choice into a ciphertext, so that the platform does not see personal
// data:
//
//	{"fb":2,"f":"name-email-forward","v":"180027d77598","s":"ask_email","e":"…","k":"k1","m":"…"}
//
// e is base64url of a random 96-bit nonce followed by AES-256-GCM of the
// JSON {"x":{…},"p":{…}} (additional data: the binding). Flow, version,
// state and counters stay readable. fb is 2 so that a flowbot without the
// key restarts the conversation rather than continue it without its
// variables. The MAC covers the ciphertext and is checked before anything
// is decrypted.
//
// Each secret yields two sub-keys with HKDF-SHA256 (info "flowbot context
// v1 hmac-sha256" and "flowbot context v1 aes-256-gcm"), so that no key
// serves both purposes.
//
// Overhead: a signature adds 36 bytes plus the key id's length (38 with a
// two-letter id); encryption adds a third of the JSON of the variables and
// choice (base64) plus about 46 bytes (nonce, tag, field name). The limit
// of MaxContextBytes includes it: Encode refuses a session whose sealed
// form would be bigger, and Bot.StepSealed, given the keys,
// refuses a variable that would make it so (the flow's error path, as for
// an unsigned context).
//
// Rotation: the first key signs (and decides whether to encrypt), every
// listed key verifies and decrypts. To rotate, put a new key first and
// keep the old one listed until the contexts it signed are gone
// (conversations end, or stay idle longer than you care about); then remove
// it: contexts it signed are refused as ErrContextUnknownKey and restart. A
// context signed by a listed older key is accepted and written back signed
// by the first. Random nonces allow about 2³² encryptions per key: rotate
// an encrypting key well before that (yearly, or every few hundred million
// turns).
package engine
