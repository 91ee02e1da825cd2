// Package turnlog keeps a log of the turns flowbot serves, one JSON line
// per turn, with everything needed to run the turn again exactly: the
// flow's name and version (its source is written into the log the first
// time a turn runs on it), the session before, the event with its clock,
// the results of the jobs the turn made, and what came out — actions,
// session after, the job left to queue, the follow-up, timings.
//
// Writer is a turn.Observer: both server modes pass it to turn.Run, so
// every turn of either mode is logged from the one place turns pass. It
// never blocks a turn for long: lines wait in a bounded queue for one
// writing goroutine, and a full queue drops the line and counts it
// (Writer.Dropped). Files are rotated by size.
//
// Personal data is redacted by default (Redact): texts, variables'
// values, contact data and request and response bodies are replaced by
// hashes. A redacted log still gives funnels (cmd `flowbot stats`) and
// still checks, by hashes, that a turn whose inputs held no personal data
// replays identically; Options.PersonalData keeps everything, so that
// every turn can be replayed and its differences shown (Replay).
package turnlog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/turn"
)

// Line kinds.
const (
	// KindTurn is a turn's line (Record).
	KindTurn = "turn"
	// KindVersion is a flow version's source (Version), written before the
	// first turn that ran on it in each file.
	KindVersion = "version"
)

// Turn outcomes (Record.Outcome).
const (
	OutcomeAnswered = "answered" // the flow answered the event
	OutcomeIgnored  = "ignored"  // the event meant nothing to the flow
	OutcomeDropped  = "dropped"  // a follow-up whose conversation could not continue
	OutcomeTooBig   = "too_big"  // the context would not fit: restarted politely
)

// Record is one turn's line.
type Record struct {
	Kind string `json:"kind"` // KindTurn
	// ID names the turn: a hash of its conversation, flow, clock, event
	// and place in its chain of jobs. A turn logged twice (an async job
	// the queue refused, made during the turn after all) has one ID; the
	// later line is the one that counts.
	ID           string    `json:"id"`
	At           time.Time `json:"at"`           // when the line was made
	Conversation string    `json:"conversation"` // the conversation's id (Userlike cid, Chat API conversation)
	Flow         string    `json:"flow"`
	Version      string    `json:"version"` // the short hash of the version that ran the turn
	Now          time.Time `json:"now"`     // the event's clock
	TookNS       int64     `json:"took_ns"` // from the event's clock to the line, in nanoseconds
	// Redacted: personal data was replaced by hashes; InputsRedacted: some
	// of it was in the turn's inputs, which then cannot be run again.
	Redacted       bool `json:"redacted,omitempty"`
	InputsRedacted bool `json:"inputs_redacted,omitempty"`

	// The request's settings that change the turn.
	Text       bool   `json:"text,omitempty"`
	Carry      bool   `json:"carry,omitempty"`
	QueueAsync bool   `json:"queue_async,omitempty"`
	LeaveJobs  bool   `json:"leave_jobs,omitempty"` // no job runner: the first job is left to queue (platform mode)
	Chain      int    `json:"chain,omitempty"`
	Keys       string `json:"keys,omitempty"` // the sealing key's id, ":enc" when it encrypts; "" unsigned

	From         Session             `json:"from"`
	ContextError string              `json:"context_error,omitempty"`
	Event        engine.Event        `json:"event"`
	Jobs         []JobRun            `json:"jobs,omitempty"`
	To           Session             `json:"to"`
	Trace        []engine.Transition `json:"trace,omitempty"`
	Actions      []engine.Action     `json:"actions,omitempty"`
	Queued       *engine.Job         `json:"queued,omitempty"` // the job left for the caller to queue
	Timer        *engine.Timer       `json:"timer,omitempty"`
	Outcome      string              `json:"outcome"`
	Errors       []string            `json:"errors,omitempty"` // the turn's problems by kind (turn.Outcome.Kinds)
	// Digest is a hash of what the turn produced (Result.Digest), taken
	// before redaction: a replay compares its own with it.
	Digest string `json:"digest"`
}

// Session is a session as the log keeps it (engine.Session, with Foreign).
type Session struct {
	Flow     string            `json:"flow,omitempty"`
	Version  string            `json:"version,omitempty"`
	State    string            `json:"state,omitempty"`
	Vars     map[string]string `json:"vars,omitempty"`
	Pending  *engine.Pending   `json:"pending,omitempty"`
	Retries  int               `json:"retries,omitempty"`
	Done     bool              `json:"done,omitempty"`
	JobSeq   int               `json:"job_seq,omitempty"`
	AwaitSeq int               `json:"await_seq,omitempty"`
	Foreign  bool              `json:"foreign,omitempty"`
}

// SessionOf is s as the log keeps it.
func SessionOf(s engine.Session) Session {
	return Session{Flow: s.Flow, Version: s.Version, State: s.State, Vars: s.Vars, Pending: s.Pending, Retries: s.Retries,
		Done: s.Done, JobSeq: s.JobSeq, AwaitSeq: s.AwaitSeq, Foreign: s.Foreign}
}

// Engine is the logged session as the engine takes it.
func (s Session) Engine() engine.Session {
	return engine.Session{Flow: s.Flow, Version: s.Version, State: s.State, Vars: s.Vars, Pending: s.Pending, Retries: s.Retries,
		Done: s.Done, JobSeq: s.JobSeq, AwaitSeq: s.AwaitSeq, Foreign: s.Foreign}
}

// JobRun is a job the turn made and the result it got.
type JobRun struct {
	Job    engine.Job        `json:"job"`
	Result engine.HTTPResult `json:"result"`
	TookNS int64             `json:"took_ns,omitempty"`
}

// Version is the source of a flow version the log's turns ran on.
type Version struct {
	Kind    string `json:"kind"` // KindVersion
	Flow    string `json:"flow"`
	Version string `json:"version"`
	File    string `json:"file,omitempty"`
	Source  string `json:"source"`
}

// New is the record of a completed turn (see turn.Observer); at is now.
func New(r *turn.Request, o *turn.Outcome, at time.Time) Record {
	f := o.Bot.Flow()
	res := &o.Result
	rec := Record{Kind: KindTurn, At: at, Conversation: r.Binding, Flow: f.Name, Version: f.ShortHash(), Now: r.Event.Now,
		Text: r.Text, Carry: r.Carry, QueueAsync: r.QueueAsync, LeaveJobs: r.Jobs == nil, Chain: r.Chain, Keys: keysOf(r.Keys),
		From: SessionOf(o.From), Event: r.Event, To: SessionOf(res.Session), Actions: res.Actions, Queued: res.Job,
		Timer: res.Timer, Trace: res.Trace, Errors: o.Kinds()}
	rec.Digest = digest(o, rec.Errors)
	if !r.Event.Now.IsZero() {
		rec.TookNS = int64(at.Sub(r.Event.Now))
	}
	if o.ContextErr != nil {
		rec.ContextError = o.ContextErr.Error()
	}
	for _, j := range o.Jobs {
		rec.Jobs = append(rec.Jobs, JobRun{Job: *j.Job, Result: j.Result, TookNS: int64(j.Took)})
	}
	switch {
	case o.Dropped:
		rec.Outcome = OutcomeDropped
	case o.TooBig:
		rec.Outcome = OutcomeTooBig
	case res.Ignored:
		rec.Outcome = OutcomeIgnored
	default:
		rec.Outcome = OutcomeAnswered
	}
	rec.ID = turnID(&rec)
	return rec
}

// turnID is the turn's ID: the same for the same conversation, flow,
// clock, event and place in the chain.
func turnID(rec *Record) string {
	h := uint64(fnvOffset)
	for _, s := range [...]string{rec.Conversation, rec.Flow, rec.Event.Name, rec.From.State} {
		h = fnvAdd(fnvAdd(h, s), "\x00")
	}
	var b [48]byte
	n := strconv.AppendInt(b[:0], rec.Now.UnixNano(), 36)
	n = strconv.AppendInt(append(n, 0), int64(rec.From.JobSeq), 36)
	n = strconv.AppendInt(append(n, 0), int64(rec.Chain), 36)
	h = fnvAdd(h, n)
	return string(strconv.AppendUint(n[:0], h|1<<63, 16)) // always 16 digits
}

// FNV-1a, 64 bits (hash/fnv's New64a), without its allocations.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvAdd hashes s into h.
func fnvAdd[S string | []byte](h uint64, s S) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// keysOf describes the key ring's sealing key as the log keeps it: its
// id, with ":enc" when it encrypts (its secret never).
func keysOf(k *engine.ContextKeys) string {
	if k == nil {
		return ""
	}
	s := k.String() // "k2 (signs, encrypts), k1 (verifies)" or "none (…)"
	first, rest, _ := strings.Cut(s, " (")
	if strings.HasPrefix(s, "none") {
		return ""
	}
	role, _, _ := strings.Cut(rest, ")")
	if strings.Contains(role, "encrypts") {
		return first + ":enc"
	}
	return first
}

// Digest is a hash of what the turn produced: the session after (but its
// version: the version that ran is the record's), the actions, the jobs
// it made and left to queue, the follow-up, its outcome and problems. The
// rendering is not hashed: it follows from the actions and the channel.
// It is taken without reflection, as it runs for every turn logged.
func Digest(o *turn.Outcome) string { return digest(o, o.Kinds()) }

// digest is Digest, with the turn's problems by kind.
func digest(o *turn.Outcome, kinds []string) string {
	d := digesters.Get().(*digester)
	defer digesters.Put(d)
	d.b = d.b[:0]
	d.session(o.Result.Session)
	d.int(len(o.Result.Actions))
	for i := range o.Result.Actions {
		d.action(&o.Result.Actions[i])
	}
	d.int(len(o.Jobs))
	for _, j := range o.Jobs {
		d.job(j.Job)
	}
	d.job(o.Result.Job)
	if t := o.Result.Timer; t != nil {
		d.str(t.State)
		d.int(t.Rule)
		d.int(int(t.After))
		d.bool(t.Continue)
	} else {
		d.str("-")
	}
	d.bool(o.Dropped)
	d.bool(o.TooBig)
	d.bool(o.Result.Ignored)
	for _, k := range kinds {
		d.str(k)
	}
	return hashBytes(d.b)
}

// digesters reuse digesters' buffers.
var digesters = sync.Pool{New: func() any { return &digester{b: make([]byte, 0, 1024)} }}

// digester writes values unambiguously (each with its length) for Digest.
type digester struct {
	b    []byte
	keys []string // a map's keys, reused
}

func (d *digester) int(n int) { d.b = appendInt(append(d.b, 'i'), int64(n)) }

func (d *digester) str(s string) {
	d.int(len(s))
	d.b = append(d.b, s...)
}

func (d *digester) bool(v bool) {
	if v {
		d.b = append(d.b, 't')
	} else {
		d.b = append(d.b, 'f')
	}
}

func (d *digester) strMap(m map[string]string) {
	d.int(len(m))
	d.keys = appendSortedKeys(d.keys[:0], m)
	for _, k := range d.keys {
		d.str(k)
		d.str(m[k])
	}
}

func (d *digester) session(s engine.Session) {
	d.str(s.Flow)
	d.str(s.State)
	d.strMap(s.Vars)
	if p := s.Pending; p != nil {
		d.bool(p.Numbered)
		d.int(len(p.Options))
		for _, o := range p.Options {
			d.str(o.ID)
			d.str(o.Label)
		}
	} else {
		d.str("-")
	}
	d.int(s.Retries)
	d.bool(s.Done)
	d.int(s.JobSeq)
	d.int(s.AwaitSeq)
	d.bool(s.Foreign)
}

func (d *digester) action(a *engine.Action) {
	d.str(string(a.Kind))
	d.str(a.Text)
	d.bool(a.Markdown)
	if m := a.Media; m != nil {
		d.str(m.Type)
		d.str(m.URL)
		d.str(m.Caption)
	} else {
		d.str("-")
	}
	d.int(len(a.Buttons))
	for _, b := range a.Buttons {
		d.str(b.Label)
		d.str(b.URL)
	}
	d.str(a.URL)
	d.b = strconv.AppendFloat(d.b, a.Seconds, 'g', -1, 64)
	if c := a.Choice; c != nil {
		for _, s := range []string{c.Form, c.Body, c.Fallback, c.Header, c.Footer, c.Button} {
			d.str(s)
		}
		d.int(len(c.Options))
		for _, o := range c.Options {
			for _, s := range []string{o.ID, o.Label, o.Description, o.Image} {
				d.str(s)
			}
		}
	} else {
		d.str("-")
	}
	d.str(a.Name)
	d.int(len(a.Payload))
	d.keys = appendSortedKeys(d.keys[:0], a.Payload)
	for _, k := range d.keys {
		d.str(k)
		switch v := a.Payload[k].(type) {
		case string:
			d.str(v)
		case bool: // as JSON writes it, without reflection
			d.str(strconv.FormatBool(v))
		default:
			b, _ := json.Marshal(v) // rare: numbers, booleans, lists
			d.str(string(b))
		}
	}
}

func (d *digester) job(j *engine.Job) {
	if j == nil {
		d.str("-")
		return
	}
	d.int(j.Seq)
	d.str(j.State)
	d.str(j.Method)
	d.str(j.URL)
	d.int(len(j.Headers))
	for _, h := range j.Headers {
		d.str(h[0])
		d.str(h[1])
	}
	d.str(string(j.Body))
	d.bool(j.Async)
	if l := j.LLM; l != nil {
		d.str(l.System)
		for _, m := range l.Messages {
			d.str(m.Role)
			d.str(m.Content)
		}
		d.int(l.MaxTokens)
		if l.Temperature != nil {
			d.b = strconv.AppendFloat(d.b, *l.Temperature, 'g', -1, 64)
		}
	} else {
		d.str("-")
	}
}

// hashLen is the length of a hash a log shows ("h:" and 16 hex digits).
const hashLen = 18

// hashBytes is the hash a log shows for b.
func hashBytes(b []byte) string {
	var h [hashLen]byte
	return string(appendHash(h[:0], b))
}

// appendHash appends the hash a log shows for b to dst.
func appendHash(dst, b []byte) []byte {
	sum := sha256.Sum256(b)
	return hex.AppendEncode(append(dst, "h:"...), sum[:8])
}

// IsHash reports whether s is a value redaction replaced.
func IsHash(s string) bool { return len(s) == hashLen && strings.HasPrefix(s, "h:") }
