package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// NewPush is events to deliver to a bot's API URL for one conversation.
type NewPush struct {
	Bot     string // the flow's name: its API URL and token are used
	CID     string // the conversation
	Events  []byte // a JSON array of triggerable events, each with cid and context
	NEvents int    // how many events Events holds
	JobID   int64  // the job whose result it carries (0: none); set by FinishJob
	// FollowUp marks a follow-up's events (set by FinishTimer): the
	// conversation's next activity (SetTimer, CancelTimer) supersedes them
	// while they are pending.
	FollowUp bool
}

func insertPush(ctx context.Context, x conn, p NewPush, now int64) (string, error) {
	id := NewPushID()
	var job any
	if p.JobID != 0 {
		job = p.JobID
	}
	_, err := x.ExecContext(ctx, `INSERT INTO outbox_pushes (push_id, job_id, bot, cid, events, n_events, state, next_at, created_at, updated_at, follow_up)
VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`, id, job, p.Bot, p.CID, p.Events, p.NEvents, now, now, now, flag(p.FollowUp))
	return id, err
}

// AddPush stores a push not tied to a job (a self-initiated event of
// another kind); it returns the push id.
func (s *Store) AddPush(ctx context.Context, p NewPush) (string, error) {
	id, err := insertPush(ctx, s.db, p, s.nowMS())
	if err != nil {
		return "", fmt.Errorf("outbox: add push: %w", err)
	}
	return id, nil
}

// Ready is a conversation with pending pushes and the time its oldest one
// may be sent: its retry time, or the expiry of the lease a sender holds on
// its pushes, whichever is later.
type Ready struct {
	CID string
	At  time.Time
}

// ReadyCIDs lists up to limit conversations with pending pushes, the
// soonest ready first.
func (s *Store) ReadyCIDs(ctx context.Context, limit int) ([]Ready, error) {
	rows, err := s.db.QueryContext(ctx, `WITH heads AS (
	SELECT cid, MIN(id) AS id, MAX(lease_until) AS lease FROM outbox_pushes WHERE state = 'pending' GROUP BY cid)
SELECT heads.cid, CASE WHEN outbox_pushes.next_at > heads.lease THEN outbox_pushes.next_at ELSE heads.lease END AS ready FROM heads JOIN outbox_pushes ON outbox_pushes.id = heads.id
ORDER BY ready, heads.id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: ready: %w", err)
	}
	defer rows.Close()
	var out []Ready
	for rows.Next() {
		var r Ready
		var at int64
		if err := rows.Scan(&r.CID, &at); err != nil {
			return nil, fmt.Errorf("outbox: ready: %w", err)
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Push is one push of a claimed batch.
type Push struct {
	ID        int64
	PushID    string
	JobID     int64
	Events    []byte
	NEvents   int
	Attempts  int // requests that carried it, this one included
	CreatedAt time.Time
}

// Batch is a conversation's pending pushes claimed for one request: the
// oldest and those after it for the same bot, in order.
type Batch struct {
	Bot     string
	CID     string
	Pushes  []Push
	At      time.Time // when it was claimed (the request's time)
	claim   int64
	attempt int64 // its row in push_attempts
	solo    bool  // its one push goes alone
}

// PushIDs lists the batch's push ids in order.
func (b *Batch) PushIDs() []string {
	out := make([]string, len(b.Pushes))
	for i, p := range b.Pushes {
		out[i] = p.PushID
	}
	return out
}

// Events joins the batch's event arrays into one JSON array, in order.
func (b *Batch) Events() []byte {
	n := 2
	for _, p := range b.Pushes {
		n += len(p.Events)
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for _, p := range b.Pushes {
		inner := strings.TrimSpace(string(p.Events))
		inner = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(inner, "["), "]"))
		if inner == "" {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, inner...)
	}
	return append(out, ']')
}

// NEvents counts the batch's events.
func (b *Batch) NEvents() int {
	n := 0
	for _, p := range b.Pushes {
		n += p.NEvents
	}
	return n
}

// Attempts is the number of requests that carried the batch's oldest push,
// this one included: the retry count that backoff is based on.
func (b *Batch) Attempts() int { return b.Pushes[0].Attempts }

// ClaimBatch claims conversation cid's pending pushes for one request, if
// the oldest is ready: at most maxPushes, at most maxBytes of events (the
// oldest always), all for the same bot, in order. It records the request
// in the attempt log in the same transaction. It returns nil when nothing
// is ready (another sender holds them, or their retry time is to come).
func (s *Store) ClaimBatch(ctx context.Context, cid string, lease time.Duration, maxPushes, maxBytes int) (*Batch, error) {
	b, _, err := s.ClaimBatchWithin(ctx, cid, lease, maxPushes, maxBytes, 0, 0)
	return b, err
}

// ClaimBatchWithin is ClaimBatch under a rate limit shared by every
// process on the database: when the attempt log already holds limit
// requests for cid in the last window, it claims nothing and returns when
// the next request is allowed. limit 0 is no limit.
func (s *Store) ClaimBatchWithin(ctx context.Context, cid string, lease time.Duration, maxPushes, maxBytes, limit int, window time.Duration) (*Batch, time.Time, error) {
	b, wait, err := s.claimBatch(ctx, cid, lease, maxPushes, maxBytes, limit, window)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("outbox: claim pushes: %w", err)
	}
	return b, wait, nil
}

func (s *Store) claimBatch(ctx context.Context, cid string, lease time.Duration, maxPushes, maxBytes, limit int, window time.Duration) (*Batch, time.Time, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer tx.Rollback()
	now := s.now()
	rows, err := tx.QueryContext(ctx, `SELECT id, push_id, COALESCE(job_id, 0), bot, events, n_events, attempts, next_at, lease_until, created_at, solo
FROM outbox_pushes WHERE cid = ? AND state = 'pending' ORDER BY id LIMIT ?{{lock}}`, cid, max(maxPushes, 1))
	if err != nil {
		return nil, time.Time{}, err
	}
	b := &Batch{CID: cid, At: now, claim: newToken()}
	size, busy := 0, false
	for rows.Next() {
		var p Push
		var bot string
		var next, lease, created, solo int64
		if err := rows.Scan(&p.ID, &p.PushID, &p.JobID, &bot, &p.Events, &p.NEvents, &p.Attempts, &next, &lease, &created, &solo); err != nil {
			rows.Close()
			return nil, time.Time{}, err
		}
		if lease > ms(now) {
			busy = true // another sender holds part of the conversation
			break
		}
		if len(b.Pushes) == 0 {
			if next > ms(now) {
				break
			}
			b.Bot = bot
		} else if bot != b.Bot || size+len(p.Events) > maxBytes || solo != 0 || b.solo {
			break // a push that goes alone (Split) goes alone
		}
		b.solo = solo != 0
		p.CreatedAt = fromMS(created)
		p.Attempts++
		size += len(p.Events)
		b.Pushes = append(b.Pushes, p)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, time.Time{}, err
	}
	rows.Close()
	if busy || len(b.Pushes) == 0 {
		return nil, time.Time{}, nil
	}
	if limit > 0 {
		// The conversation's pushes are locked (on PostgreSQL; SQLite
		// holds the file): no other process counts or sends meanwhile.
		if next, err := nextAllowed(ctx, tx.conn, cid, now, limit, window); err != nil || !next.IsZero() {
			return nil, next, err
		}
	}
	ids := make([]any, 0, len(b.Pushes)+3)
	ids = append(ids, b.claim, leaseEnd(now, lease), ms(now))
	for _, p := range b.Pushes {
		ids = append(ids, p.ID)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbox_pushes SET attempts = attempts + 1, claim = ?, lease_until = ?, updated_at = ? WHERE id IN (`+placeholders(len(b.Pushes))+`)`, ids...); err != nil {
		return nil, time.Time{}, err
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO outbox_push_attempts (cid, at, push_ids) VALUES (?, ?, ?) RETURNING id`,
		cid, ms(now), strings.Join(b.PushIDs(), ",")).Scan(&b.attempt); err != nil {
		return nil, time.Time{}, err
	}
	return b, time.Time{}, tx.Commit()
}

// nextAllowed returns when the next request for cid is allowed under
// limit requests per window, counted from the attempt log; zero: now.
func nextAllowed(ctx context.Context, x conn, cid string, now time.Time, limit int, window time.Duration) (time.Time, error) {
	rows, err := x.QueryContext(ctx, `SELECT at FROM outbox_push_attempts WHERE cid = ? AND at > ? ORDER BY at DESC LIMIT ?`,
		cid, ms(now.Add(-window)), limit)
	if err != nil {
		return time.Time{}, err
	}
	defer rows.Close()
	var at []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return time.Time{}, err
		}
		at = append(at, v)
	}
	if err := rows.Err(); err != nil || len(at) < limit {
		return time.Time{}, err
	}
	// The oldest of the last limit requests leaves the window then.
	return fromMS(at[limit-1]).Add(window), nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// batchArgs returns args followed by the batch's row ids and claim token,
// for a statement ending in `WHERE id IN (…) AND claim = ?`.
func batchArgs(b *Batch, args ...any) []any {
	for _, p := range b.Pushes {
		args = append(args, p.ID)
	}
	return append(args, b.claim)
}

// updateBatch sets columns of the batch's rows still claimed by it and, in
// the same transaction, the outcome of its row in the attempt log. It
// returns how many pushes it changed.
func (s *Store) updateBatch(ctx context.Context, b *Batch, status int, outcome, set string, args ...any) (int, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE outbox_pushes SET `+set+` WHERE id IN (`+placeholders(len(b.Pushes))+`) AND claim = ?`, batchArgs(b, args...)...)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	if outcome != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox_push_attempts SET status = ?, outcome = ? WHERE id = ?`, status, outcome, b.attempt); err != nil {
			return 0, fmt.Errorf("outbox: %w", err)
		}
	}
	return int(n), tx.Commit()
}

// RenewBatch extends the lease on a claimed batch.
func (s *Store) RenewBatch(ctx context.Context, b *Batch, lease time.Duration) error {
	_, err := s.updateBatch(ctx, b, 0, "", `lease_until = ?`, leaseEnd(s.now(), lease))
	return err
}

// MarkSent records that the batch was delivered (status is the answer's).
// Pushes superseded while the request was on its way stay superseded. It
// returns how many pushes it marked.
func (s *Store) MarkSent(ctx context.Context, b *Batch, status int) (int, error) {
	now := s.nowMS()
	return s.updateBatch(ctx, b, status, "sent", `state = CASE state WHEN 'pending' THEN 'sent' ELSE state END, lease_until = 0, last_status = ?, error = '', sent_at = ?, updated_at = ?`, status, now, now)
}

// Retry schedules the batch's pushes for another request at at; outcome
// and reason say why (for the attempt log and the error column).
func (s *Store) Retry(ctx context.Context, b *Batch, at time.Time, status int, outcome, reason string) error {
	_, err := s.updateBatch(ctx, b, status, outcome, `lease_until = 0, next_at = ?, last_status = ?, error = ?, updated_at = ?`, ms(at), status, reason, s.nowMS())
	return err
}

// StaleInFlight reports whether a request carrying superseded pushes of
// conversation cid of bot may be on its way to the API URL now: a sender
// claimed them before the conversation moved on and still holds their
// lease. until is when the last such lease expires.
func (s *Store) StaleInFlight(ctx context.Context, bot, cid string) (until time.Time, ok bool, err error) {
	var v sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT MAX(lease_until) FROM outbox_pushes WHERE cid = ? AND lease_until > ? AND bot = ? AND state = 'superseded'`,
		cid, s.nowMS(), bot).Scan(&v)
	if err != nil || !v.Valid {
		return time.Time{}, false, err
	}
	return fromMS(v.Int64), true, nil
}

// Split records that the API URL refused the batch, a request of several
// pushes: each of them is sent again now, alone, so that only the push
// it refuses fails (FailBatch then).
func (s *Store) Split(ctx context.Context, b *Batch, status int, reason string) error {
	_, err := s.updateBatch(ctx, b, status, "split", `solo = 1, lease_until = 0, next_at = ?, last_status = ?, error = ?, updated_at = ?`,
		s.nowMS(), status, reason, s.nowMS())
	return err
}

// FailBatch records that the batch cannot be delivered: its pending pushes
// become failed, with status and reason kept for inspection.
func (s *Store) FailBatch(ctx context.Context, b *Batch, status int, reason string) error {
	_, err := s.updateBatch(ctx, b, status, "failed", `state = CASE state WHEN 'pending' THEN 'failed' ELSE state END, lease_until = 0, last_status = ?, error = ?, updated_at = ?`, status, reason, s.nowMS())
	return err
}

// Attempt is one request made to an API URL.
type Attempt struct {
	CID string
	At  time.Time
}

// AttemptsSince lists the requests made since since, oldest first (to
// restore the rate limit's memory after a restart).
func (s *Store) AttemptsSince(ctx context.Context, since time.Time) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT cid, at FROM outbox_push_attempts WHERE at > ? ORDER BY at, id`, ms(since))
	if err != nil {
		return nil, fmt.Errorf("outbox: attempts: %w", err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var at int64
		if err := rows.Scan(&a.CID, &at); err != nil {
			return nil, err
		}
		a.At = fromMS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// PushRow is a push as stored, for inspection and tests.
type PushRow struct {
	ID         int64
	PushID     string
	JobID      int64
	Bot        string
	CID        string
	Events     []byte
	State      string
	Attempts   int
	NextAt     time.Time
	LastStatus int
	Error      string
	FollowUp   bool // a follow-up's events (NewPush.FollowUp)
}

// Pushes lists the pushes of conversation cid (all of them when cid is
// empty), oldest first.
func (s *Store) Pushes(ctx context.Context, cid string) ([]PushRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, push_id, COALESCE(job_id, 0), bot, cid, events, state, attempts, next_at, last_status, error, follow_up
FROM outbox_pushes WHERE ? = '' OR cid = ? ORDER BY id`, cid, cid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PushRow
	for rows.Next() {
		var p PushRow
		var next int64
		if err := rows.Scan(&p.ID, &p.PushID, &p.JobID, &p.Bot, &p.CID, &p.Events, &p.State, &p.Attempts, &next, &p.LastStatus, &p.Error, &p.FollowUp); err != nil {
			return nil, err
		}
		p.NextAt = fromMS(next)
		out = append(out, p)
	}
	return out, rows.Err()
}

// JobRow is a job as stored, for inspection and tests.
type JobRow struct {
	ID       int64
	Bot      string
	CID      string
	Seq      int
	ParentID int64
	State    string
	Attempts int
	Error    string
}

// Jobs lists the jobs of conversation cid (all when cid is empty), oldest
// first.
func (s *Store) Jobs(ctx context.Context, cid string) ([]JobRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, bot, cid, seq, COALESCE(parent_id, 0), state, attempts, error
FROM outbox_jobs WHERE ? = '' OR cid = ? ORDER BY id`, cid, cid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobRow
	for rows.Next() {
		var j JobRow
		if err := rows.Scan(&j.ID, &j.Bot, &j.CID, &j.Seq, &j.ParentID, &j.State, &j.Attempts, &j.Error); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// Defer moves the retry time of conversation cid's oldest pending push to
// at (if later): its next request must wait, for the rate limit, without
// counting as an attempt.
func (s *Store) Defer(ctx context.Context, cid string, at time.Time) error {
	up := (at.UnixNano() + int64(time.Millisecond) - 1) / int64(time.Millisecond) // never earlier than at
	_, err := s.db.ExecContext(ctx, `UPDATE outbox_pushes SET next_at = ? WHERE next_at < ? AND id = (SELECT MIN(id) FROM outbox_pushes WHERE cid = ? AND state = 'pending')`,
		up, up, cid)
	if err != nil {
		return fmt.Errorf("outbox: defer: %w", err)
	}
	return nil
}
