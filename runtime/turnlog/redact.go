package turnlog

import "encoding/json"

// Redact replaces the record's personal data by hashes (see SECURITY.md):
//
//   - the values of variables (session before and after), the labels of a
//     pending choice, and of contact data;
//   - the event's text, media URL and location, and a job result's body;
//   - the jobs' URLs, headers, bodies and prompts, and their results' bodies;
//   - the actions' texts, media, button labels and URLs, choice texts and
//     option labels, navigation URLs and platform packets' payloads.
//
// Names stay: flow, states, transitions, event and action kinds, variable
// and contact field names, option ids, statuses, errors' kinds. A value is
// replaced by "h:" and 16 hex digits of its SHA-256, so equal values have
// equal hashes: they can be compared, and a short one guessed by trying
// values, so a redacted log is pseudonymous, not anonymous. Bytes are
// dropped and their hash kept in their place's string form.
//
// The record becomes what a redacted line reads back as: a Writer
// redacts while it writes the line (the encoder knows which values are
// personal, encode.go), and Redact reads that line back.
func Redact(rec *Record) {
	line, _ := rec.appendJSON(nil, &redactor{}) // an error (a NaN) leaves a 0 in its place
	var out Record
	if err := json.Unmarshal(line, &out); err != nil { // TestMarshalReadsBack keeps this from happening
		out = Record{Kind: rec.Kind, ID: rec.ID, At: rec.At, Conversation: rec.Conversation, Flow: rec.Flow, Version: rec.Version,
			Now: rec.Now, Redacted: true, InputsRedacted: true, Outcome: rec.Outcome, Digest: rec.Digest} // nothing personal
	}
	*rec = out
}

// redactor hashes personal values for the encoder; changed says whether
// it hashed any. A Writer keeps one with a cache of recent hashes, as a
// flow's own texts recur in every conversation.
type redactor struct {
	changed bool
	cache   map[string]string // nil: none
}

// maxCached bounds a Writer's cache of hashes (it is emptied when full).
const maxCached = 4096

// str is the hash of s (not empty, not a hash).
func (r *redactor) str(s string) string {
	r.changed = true
	if h, ok := r.cache[s]; ok {
		return h
	}
	var b [hashLen]byte
	h := string(appendHash(b[:0], []byte(s)))
	if r.cache != nil {
		if len(r.cache) >= maxCached {
			clear(r.cache)
		}
		r.cache[s] = h
	}
	return h
}

// hashed says whether r hashed a value so far (false for no redactor).
func (r *redactor) hashed() bool { return r != nil && r.changed }

// restore sets back what hashed said before an output was written.
func (r *redactor) restore(hashed bool) {
	if r != nil {
		r.changed = hashed
	}
}
