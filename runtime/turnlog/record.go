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
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/flowbot/flowbot/channels"
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
		Timer: res.Timer, Trace: res.Trace, Errors: o.Kinds(), Digest: Digest(o)}
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
	h := sha256.New()
	for _, s := range []string{rec.Conversation, rec.Flow, strconv.FormatInt(rec.Now.UnixNano(), 10), rec.Event.Name,
		rec.From.State, strconv.Itoa(rec.From.JobSeq), strconv.Itoa(rec.Chain)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
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

// digestOf is what a turn's digest covers.
type digestOf struct {
	To      Session           `json:"to"`
	Actions []engine.Action   `json:"actions"`
	Packets []channels.Packet `json:"packets"`
	Queued  *engine.Job       `json:"queued"`
	Timer   *engine.Timer     `json:"timer"`
	Jobs    []engine.Job      `json:"jobs"`
	Outcome [3]bool           `json:"outcome"`
	Errors  []string          `json:"errors"`
}

// Digest is a hash of what the turn produced: the session after (but its
// version), the actions and their rendering, the jobs it made and left, the follow-up,
// its outcome and problems.
func Digest(o *turn.Outcome) string {
	d := digestOf{To: SessionOf(o.Result.Session), Actions: o.Result.Actions, Packets: o.Rendered.Packets, Queued: o.Result.Job,
		Timer: o.Result.Timer, Outcome: [3]bool{o.Dropped, o.TooBig, o.Result.Ignored}, Errors: o.Kinds()}
	d.To.Version = "" // the version that ran is the record's: a replay on another compares the rest
	for _, j := range o.Jobs {
		d.Jobs = append(d.Jobs, *j.Job)
	}
	b, _ := json.Marshal(d) // plain data: cannot fail
	return hashBytes(b)
}

// hashBytes is the hash a log shows for b.
func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return "h:" + hex.EncodeToString(sum[:8])
}

// IsHash reports whether s is a value redaction replaced.
func IsHash(s string) bool { return strings.HasPrefix(s, "h:") && len(s) == 18 }

// Marshal is the record's line, without its newline.
func (rec *Record) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}
