// Package outbox is Userlike mode's durable queue of background work, in
// an embedded SQLite file (modernc.org/sqlite, no cgo) or a PostgreSQL
// database that any number of flowbot instances share: the asynchronous
// HTTP jobs of flows, the follow-up timers, and the pushes that deliver
// their results to a chat platform's API URL.
//
// # Tables
//
// (named outbox_jobs, outbox_pushes… so that they can share a PostgreSQL
// database with platform mode's runtime/store)
//
//	jobs           one async HTTP step waiting to run: bot, flow version, cid, channel,
//	               the conversation's context after the turn that asked for it, the request
//	pushes         events to deliver to a bot's API URL for one cid, as one JSON array
//	push_attempts  one row per request made to an API URL (the rate limit's memory)
//	timers         one follow-up (on_silence) per conversation: when it is due (and when its
//	               rule was due before quiet hours moved it), the rule, the sealed context
//	               it was set for and that context's hash
//
// Open migrates the database with flowbot's one schema (runtime/schema),
// which also holds platform mode's tables and the flow versions.
//
// # States
//
//	job:  pending → running → done        (its push, if any, is written in the same transaction)
//	                        → failed      (no API URL, unknown bot, too many attempts)
//	      pending|running   → superseded  (the conversation moved on; the result is dropped)
//	push: pending → sent | failed | superseded
//	timer: armed (SetTimer, replacing) → claimed → deleted when fired (FinishTimer, which may arm
//	       the next in its place) or dropped (DropTimer); CancelTimer deletes it at any time
//
// A worker claims a job (ClaimJob) or a batch of one conversation's pushes
// (ClaimBatch) with a lease: a random claim token and an expiry. It renews
// the lease while it works; what a crashed process held becomes claimable
// again when its lease expires, so nothing is lost and nothing is done by
// two workers at once. A job's result is committed with the claim token:
// a worker that lost its claim (lease expired, job superseded) cannot also
// finish it. A push keeps its push id for life, so a request repeated after
// a crash carries the same id.
//
// A SQLite file is opened in WAL mode with synchronous=FULL (a commit
// survives a crash of the process and of the machine) and a busy timeout;
// one connection serializes the process's writes, and processes on one
// machine may share the file. On PostgreSQL the claims select with FOR
// UPDATE SKIP LOCKED, so that instances claiming at once take different
// work, and a conversation's pushes are locked while a batch is claimed;
// every other check is the claim token in a row-locking UPDATE, as on
// SQLite. Queries are written once (dialect.go).
package outbox

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/clock"
	"github.com/flowbot/flowbot/runtime/store"
)

// Job states.
const (
	JobPending    = "pending"
	JobRunning    = "running"
	JobDone       = "done"
	JobFailed     = "failed"
	JobSuperseded = "superseded"
)

// Push states.
const (
	PushPending    = "pending"
	PushSent       = "sent"
	PushFailed     = "failed"
	PushSuperseded = "superseded"
)

// ErrLost is returned when finishing or releasing work whose claim is no
// longer held: the lease expired and another worker took it, or the job
// was superseded meanwhile. The caller drops its result.
var ErrLost = errors.New("outbox: the claim is no longer held")

// Options configure a Store.
type Options struct {
	// Clock stamps rows and decides lease expiry; nil is the system clock.
	Clock clock.Clock
	// BusyTimeout is how long a write waits for another process's (SQLite);
	// 0 is 5 s.
	BusyTimeout time.Duration
	// MaxConns bounds PostgreSQL's connection pool; 0 is DefaultMaxConns.
	MaxConns int
}

// Store is an open outbox: a SQLite file or a PostgreSQL database. It is
// safe for concurrent use, by any number of processes on one database.
type Store struct {
	raw   *sql.DB
	db    conn
	d     *dialect
	clock clock.Clock
	path  string
}

// DefaultMaxConns bounds an outbox's PostgreSQL connections unless
// Options.MaxConns says otherwise (platform mode's store, on the same
// database, opens up to 16 more).
const DefaultMaxConns = 8

// IsPostgres reports whether addr names a PostgreSQL database
// (postgres:// or postgresql://).
func IsPostgres(addr string) bool { return store.IsPostgres(addr) }

// Open opens the outbox at addr — a PostgreSQL URL, which any number of
// flowbot processes may share, or the path of a SQLite file (created with
// its folder when missing) — and migrates its schema.
func Open(ctx context.Context, addr string, opts Options) (*Store, error) {
	if addr == "" {
		return nil, errors.New("outbox: no file path or database URL")
	}
	var db *sql.DB
	var err error
	d := &dialect{postgres: IsPostgres(addr)}
	if d.postgres {
		n := opts.MaxConns
		if n <= 0 {
			n = DefaultMaxConns
		}
		if db, err = store.OpenPostgres(ctx, addr, n); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
	} else {
		db, err = openSQLite(ctx, addr, opts)
	}
	if err != nil {
		return nil, err
	}
	s := &Store{raw: db, db: conn{q: db, d: d}, d: d, clock: opts.Clock, path: addr}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: %s: %w", redact(addr), err)
	}
	return s, nil
}

func openSQLite(ctx context.Context, path string, opts Options) (*sql.DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("outbox: %s: journal mode %q, want wal", path, mode)
	}
	return db, nil
}

// redact hides a password in a database URL.
func redact(addr string) string {
	if !IsPostgres(addr) {
		return addr
	}
	return store.Redact(addr)
}

// DB returns the open database, for packages that keep their own tables in
// the same database (runtime/flowset's flow versions). On SQLite its one
// connection is shared: keep transactions short and never hold one
// across I/O.
func (s *Store) DB() *sql.DB { return s.raw }

// Postgres reports whether the outbox is a PostgreSQL database (queries on
// DB then take $1, $2… placeholders).
func (s *Store) Postgres() bool { return s.d.postgres }

// Path is the file or database URL the store was opened on.
func (s *Store) Path() string { return s.path }

// Where is Path for logs: a database URL's password hidden.
func (s *Store) Where() string { return redact(s.path) }

// Close checkpoints a SQLite file's WAL and closes the database.
func (s *Store) Close() error {
	if !s.d.postgres {
		_, _ = s.raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return s.raw.Close()
}

func ms(t time.Time) int64                          { return t.UnixMilli() }
func fromMS(v int64) time.Time                      { return time.UnixMilli(v) }
func (s *Store) now() time.Time                     { return s.clock.Now() }
func (s *Store) nowMS() int64                       { return ms(s.now()) }
func leaseEnd(now time.Time, d time.Duration) int64 { return ms(now.Add(d)) }

// newToken returns a random claim token.
func newToken() int64 {
	var b [8]byte
	crand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

// NewPushID returns a new random push id.
func NewPushID() string {
	var b [12]byte
	crand.Read(b[:])
	return "p-" + hex.EncodeToString(b[:])
}

// NewJob is an async HTTP job to keep until it has run: the conversation it
// belongs to and everything needed to continue it later.
type NewJob struct {
	Bot         string            // the flow's name
	FlowVersion string            // the flow's short hash when the job was made (for logs)
	CID         string            // the conversation
	Channel     string            // the contact's channel, for rendering the result
	Context     []byte            // the encoded context after the turn that made the job (it awaits Job.Seq)
	Contact     map[string]string // the contact fields the turn saw (nil when the flow reads none)
	Job         engine.Job        // the request
	// Chain is the job's place in its chain of jobs made without the
	// contact speaking (runtime/turn.MaxChainedJobs); kept with the
	// request.
	Chain int
}

// Job is a claimed job.
type Job struct {
	ID int64
	NewJob
	Attempts  int // claims so far, this one included
	CreatedAt time.Time
	claim     int64
}

// storedJob is engine.Job as stored: explicit names, so that a change of
// the engine's struct does not silently change old rows.
type storedJob struct {
	Seq       int         `json:"seq"`
	State     string      `json:"state"`
	Method    string      `json:"method,omitempty"`
	URL       string      `json:"url"`
	Headers   [][2]string `json:"headers,omitempty"`
	Body      []byte      `json:"body,omitempty"`
	TimeoutMS int64       `json:"timeout_ms,omitempty"`
	Async     bool        `json:"async,omitempty"`
	// LLM is the prompt of an llm step's job (then Method and URL are empty).
	LLM *engine.LLMRequest `json:"llm,omitempty"`
	// Chain is NewJob.Chain (0 in rows written before it was kept).
	Chain int `json:"chain,omitempty"`
}

func encodeJob(j engine.Job, chain int) ([]byte, error) {
	return json.Marshal(storedJob{Seq: j.Seq, State: j.State, Method: j.Method, URL: j.URL, Headers: j.Headers,
		Body: j.Body, TimeoutMS: j.Timeout.Milliseconds(), Async: j.Async, LLM: j.LLM, Chain: chain})
}

func decodeJob(b []byte) (engine.Job, int, error) {
	var w storedJob
	if err := json.Unmarshal(b, &w); err != nil {
		return engine.Job{}, 0, err
	}
	return engine.Job{Seq: w.Seq, State: w.State, Method: w.Method, URL: w.URL, Headers: w.Headers,
		Body: w.Body, Timeout: time.Duration(w.TimeoutMS) * time.Millisecond, Async: w.Async, LLM: w.LLM}, w.Chain, nil
}

func insertJob(ctx context.Context, x conn, j NewJob, parent int64, now int64) (int64, error) {
	body, err := encodeJob(j.Job, j.Chain)
	if err != nil {
		return 0, err
	}
	var contact []byte
	if len(j.Contact) > 0 {
		if contact, err = json.Marshal(j.Contact); err != nil {
			return 0, err
		}
	}
	var par any
	if parent != 0 {
		par = parent
	}
	var id int64
	err = x.QueryRowContext(ctx, `INSERT INTO outbox_jobs (bot, flow_version, cid, channel, seq, parent_id, context, contact, job, state, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING id`,
		j.Bot, j.FlowVersion, j.CID, j.Channel, j.Job.Seq, par, j.Context, contact, body, now, now).Scan(&id)
	return id, err
}

// Enqueue stores a job; when it returns nil the job is durable.
func (s *Store) Enqueue(ctx context.Context, j NewJob) (int64, error) {
	id, err := insertJob(ctx, s.db, j, 0, s.nowMS())
	if err != nil {
		return 0, fmt.Errorf("outbox: enqueue: %w", err)
	}
	return id, nil
}

// ClaimJob claims the oldest job that is pending, or running under an
// expired lease (its worker died), for lease. It returns nil when there is
// none.
func (s *Store) ClaimJob(ctx context.Context, lease time.Duration) (*Job, error) {
	now := s.now()
	token := newToken()
	row := s.db.QueryRowContext(ctx, `UPDATE outbox_jobs SET state = 'running', attempts = attempts + 1, claim = ?, lease_until = ?, updated_at = ?
WHERE id = (SELECT id FROM outbox_jobs WHERE state IN ('pending', 'running') AND (state = 'pending' OR lease_until <= ?) ORDER BY id LIMIT 1{{skip}})
 AND (state = 'pending' OR (state = 'running' AND lease_until <= ?))
RETURNING id, bot, flow_version, cid, channel, context, contact, job, attempts, created_at`,
		token, leaseEnd(now, lease), ms(now), ms(now), ms(now))
	j := &Job{claim: token}
	var contact, body []byte
	var created int64
	err := row.Scan(&j.ID, &j.Bot, &j.FlowVersion, &j.CID, &j.Channel, &j.Context, &contact, &body, &j.Attempts, &created)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: claim job: %w", err)
	}
	j.CreatedAt = fromMS(created)
	if len(contact) > 0 {
		if err := json.Unmarshal(contact, &j.Contact); err != nil {
			return j, fmt.Errorf("outbox: job %d: contact: %w", j.ID, err)
		}
	}
	if j.Job, j.Chain, err = decodeJob(body); err != nil {
		return j, fmt.Errorf("outbox: job %d: %w", j.ID, err)
	}
	return j, nil
}

// NextJobAt returns when a job may next be claimed: now if one is pending,
// else the earliest lease expiry of a running one. ok is false when there
// are no open jobs.
func (s *Store) NextJobAt(ctx context.Context) (at time.Time, ok bool, err error) {
	var v sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT MIN(CASE state WHEN 'pending' THEN 0 ELSE lease_until END) FROM outbox_jobs WHERE state IN ('pending', 'running')`).Scan(&v)
	if err != nil || !v.Valid {
		return time.Time{}, false, err
	}
	return fromMS(v.Int64), true, nil
}

// RenewJob extends the lease of a claimed job.
func (s *Store) RenewJob(ctx context.Context, j *Job, lease time.Duration) error {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox_jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND claim = ?`,
		leaseEnd(s.now(), lease), j.ID, j.claim)
	return affected(res, err)
}

// ReleaseJob gives a claimed job back (pending), for another try: the
// worker stops before finishing it (shutdown).
func (s *Store) ReleaseJob(ctx context.Context, j *Job) error {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox_jobs SET state = 'pending', lease_until = 0, claim = 0, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = ?
WHERE id = ? AND state = 'running' AND claim = ?`, s.nowMS(), j.ID, j.claim)
	return affected(res, err)
}

// FailJob records that a claimed job cannot be finished; reason is kept in
// its error column.
func (s *Store) FailJob(ctx context.Context, j *Job, reason string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox_jobs SET state = 'failed', error = ?, lease_until = 0, updated_at = ?
WHERE id = ? AND state = 'running' AND claim = ?`, reason, s.nowMS(), j.ID, j.claim)
	return affected(res, err)
}

// Finish is what a finished job leaves behind.
type Finish struct {
	// Push, if not nil, is the events to deliver (the result turn's answer).
	Push *NewPush
	// Next, if not nil, is a further async job the result turn asked for.
	Next *NewJob
	// Note is kept in the job's error column (why no push, for example).
	Note string
	// Timer, if not nil, is the conversation's follow-up after the result
	// turn: it replaces the one armed, if any.
	Timer *NewTimer
	// CancelTimer, with Timer nil, cancels the conversation's follow-up.
	CancelTimer bool
}

// Finished tells what FinishJob wrote.
type Finished struct {
	PushID string // the push's id, when one was written
	NextID int64  // the next job's id, when one was written
}

// FinishJob marks a claimed job done and, in the same transaction, writes
// its push, the job its result asked for and the conversation's follow-up
// timer. It returns ErrLost (and writes nothing)
// when the claim is no longer held — most often because the conversation
// moved on and the job was superseded.
func (s *Store) FinishJob(ctx context.Context, j *Job, f Finish) (Finished, error) {
	var out Finished
	tx, err := s.begin(ctx)
	if err != nil {
		return out, fmt.Errorf("outbox: finish job %d: %w", j.ID, err)
	}
	defer tx.Rollback()
	now := s.nowMS()
	res, err := tx.ExecContext(ctx, `UPDATE outbox_jobs SET state = 'done', error = ?, lease_until = 0, updated_at = ? WHERE id = ? AND state = 'running' AND claim = ?`,
		f.Note, now, j.ID, j.claim)
	if err := affected(res, err); err != nil {
		return out, err
	}
	if f.Push != nil {
		p := *f.Push
		p.JobID = j.ID
		if out.PushID, err = insertPush(ctx, tx.conn, p, now); err != nil {
			return Finished{}, fmt.Errorf("outbox: finish job %d: push: %w", j.ID, err)
		}
	}
	if f.Next != nil {
		if out.NextID, err = insertJob(ctx, tx.conn, *f.Next, j.ID, now); err != nil {
			return Finished{}, fmt.Errorf("outbox: finish job %d: next job: %w", j.ID, err)
		}
	}
	switch {
	case f.Timer != nil:
		err = upsertTimer(ctx, tx.conn, *f.Timer, now)
	case f.CancelTimer:
		_, err = tx.ExecContext(ctx, `DELETE FROM outbox_timers WHERE bot = ? AND cid = ?`, j.Bot, j.CID)
	}
	if err != nil {
		return Finished{}, fmt.Errorf("outbox: finish job %d: timer: %w", j.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return Finished{}, fmt.Errorf("outbox: finish job %d: %w", j.ID, err)
	}
	return out, nil
}

// JobState returns a job's state (for tests and diagnostics).
func (s *Store) JobState(ctx context.Context, id int64) (state, reason string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT state, error FROM outbox_jobs WHERE id = ?`, id).Scan(&state, &reason)
	return state, reason, err
}

// Superseded tells what Supersede changed.
type Superseded struct {
	Jobs   int // open jobs marked superseded
	Pushes int // their pending pushes marked superseded
	// Unknown: the outbox has no job of that number for the conversation,
	// open or finished (finished ones are kept for days): it was queued
	// in another outbox — an instance with a data file of its own.
	Unknown bool
}

// Supersede marks the open jobs of conversation cid of bot with number seq
// superseded — the conversation no longer waits for their result — with
// the jobs their results asked for, and the pending pushes of all of them,
// so that an old result does not overwrite the conversation's newer
// context. One transaction; rows already finished or sent are left alone.
func (s *Store) Supersede(ctx context.Context, bot, cid string, seq int) (Superseded, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return Superseded{}, fmt.Errorf("outbox: supersede: %w", err)
	}
	defer tx.Rollback()
	out, err := supersede(ctx, tx.conn, bot, cid, seq, s.nowMS())
	if err != nil {
		return out, fmt.Errorf("outbox: supersede: %w", err)
	}
	if out.Jobs == 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_jobs WHERE cid = ? AND seq = ? AND bot = ?`, cid, seq, bot).Scan(&n); err != nil {
			return out, fmt.Errorf("outbox: supersede: %w", err)
		}
		out.Unknown = n == 0
	}
	return out, tx.Commit()
}

// supersede is Supersede within a transaction.
func supersede(ctx context.Context, x conn, bot, cid string, seq int, now int64) (Superseded, error) {
	var out Superseded
	const family = `WITH RECURSIVE family(id) AS (
	SELECT id FROM outbox_jobs WHERE cid = ? AND seq = ? AND bot = ?
	UNION SELECT outbox_jobs.id FROM outbox_jobs JOIN family ON outbox_jobs.parent_id = family.id)
`
	res, err := x.ExecContext(ctx, family+`UPDATE outbox_jobs SET state = 'superseded', lease_until = 0, updated_at = ?
WHERE id IN (SELECT id FROM family) AND state IN ('pending', 'running')`, cid, seq, bot, now)
	if err != nil {
		return out, err
	}
	n, _ := res.RowsAffected()
	out.Jobs = int(n)
	// A push's lease stays: while it is held, the push is on its way
	// (StaleInFlight).
	res, err = x.ExecContext(ctx, family+`UPDATE outbox_pushes SET state = 'superseded', updated_at = ?
WHERE state = 'pending' AND job_id IN (SELECT id FROM family)`, cid, seq, bot, now)
	if err != nil {
		return out, err
	}
	n, _ = res.RowsAffected()
	out.Pushes = int(n)
	return out, nil
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if n == 0 {
		return ErrLost
	}
	return nil
}

// Depth counts the open work: jobs pending or running, pushes pending.
func (s *Store) Depth(ctx context.Context) (jobs, pushes int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT
 (SELECT COUNT(*) FROM outbox_jobs WHERE state IN ('pending', 'running')),
 (SELECT COUNT(*) FROM outbox_pushes WHERE state = 'pending')`).Scan(&jobs, &pushes)
	return jobs, pushes, err
}

// Prune deletes finished jobs, pushes and attempts last changed before
// before (failed ones included: they stay visible until then).
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	b := ms(before)
	total := 0
	for _, q := range []string{
		`DELETE FROM outbox_pushes WHERE state IN ('sent', 'failed', 'superseded') AND updated_at < ?`,
		`DELETE FROM outbox_jobs WHERE state IN ('done', 'failed', 'superseded') AND updated_at < ? AND NOT EXISTS (SELECT 1 FROM outbox_pushes WHERE outbox_pushes.job_id = outbox_jobs.id)`,
		`DELETE FROM outbox_push_attempts WHERE at < ?`,
	} {
		res, err := s.db.ExecContext(ctx, q, b)
		if err != nil {
			return total, fmt.Errorf("outbox: prune: %w", err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
	}
	return total, nil
}
