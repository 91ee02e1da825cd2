package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/flowbot/flowbot/runtime/turn"
)

// NewTimer is a conversation's follow-up (a state's `on_silence` rule) to
// arm: when it is due, what it fires, and what is needed to continue the
// conversation then. A conversation of a bot has at most one.
type NewTimer struct {
	Bot         string            // the flow's name
	FlowVersion string            // the flow's short hash when it was armed (for logs)
	CID         string            // the conversation
	Channel     string            // the contact's channel, for rendering the follow-up
	Contact     map[string]string // the contact fields of the turn that armed it (nil when the flow reads none)
	State       string            // the state it was set for
	Rule        int               // the index of the rule it fires in the state's `on_silence`
	DueAt       time.Time         // when it fires
	Planned     time.Time         // when the rule was due before quiet hours moved it (zero: DueAt)
	Base        time.Time         // the activity the rule counts from
	Context     []byte            // the sealed context the turn that armed it answered with
}

// Timer is a claimed follow-up.
type Timer struct {
	NewTimer
	// Hash identifies the context it was armed for (ContextHash of Context).
	Hash     string
	Attempts int // claims so far, this one included
	claim    int64
}

// upsertTimer arms t, replacing the conversation's timer (and any claim
// on it: a worker firing the old one cannot finish it).
func upsertTimer(ctx context.Context, x conn, t NewTimer, now int64) error {
	var contact []byte
	if len(t.Contact) > 0 {
		var err error
		if contact, err = json.Marshal(t.Contact); err != nil {
			return err
		}
	}
	planned := t.Planned
	if planned.IsZero() {
		planned = t.DueAt
	}
	_, err := x.ExecContext(ctx, `INSERT INTO outbox_timers (bot, cid, flow_version, channel, contact, state, rule, due_at, planned, base, context, context_hash, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (bot, cid) DO UPDATE SET flow_version = excluded.flow_version, channel = excluded.channel, contact = excluded.contact,
 state = excluded.state, rule = excluded.rule, due_at = excluded.due_at, planned = excluded.planned, base = excluded.base, context = excluded.context,
 context_hash = excluded.context_hash, attempts = 0, claim = 0, lease_until = 0, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		t.Bot, t.CID, t.FlowVersion, t.Channel, contact, t.State, t.Rule, ms(t.DueAt), ms(planned), ms(t.Base), t.Context, turn.ContextHash(t.Context), now, now)
	return err
}

// plannedAt reads a timer's planned column: 0 (a timer armed before the
// column existed) is its due time.
func plannedAt(planned, due int64) time.Time {
	if planned == 0 {
		return fromMS(due)
	}
	return fromMS(planned)
}

// supersedeFollowUps marks the pending pushes of the conversation's
// follow-ups superseded: the contact was active after they were made.
func supersedeFollowUps(ctx context.Context, x conn, bot, cid string, now int64) error {
	_, err := x.ExecContext(ctx, `UPDATE outbox_pushes SET state = 'superseded', updated_at = ?
WHERE cid = ? AND state = 'pending' AND bot = ? AND follow_up = 1`, now, cid, bot)
	return err
}

// activity runs a webhook turn's timer change and supersedes the
// conversation's pending follow-up pushes, in one transaction.
func (s *Store) activity(ctx context.Context, what, bot, cid string, change func(conn, int64) error) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("outbox: %s: %w", what, err)
	}
	defer tx.Rollback()
	now := s.nowMS()
	if err := change(tx.conn, now); err != nil {
		return fmt.Errorf("outbox: %s: %w", what, err)
	}
	if err := supersedeFollowUps(ctx, tx.conn, bot, cid, now); err != nil {
		return fmt.Errorf("outbox: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: %s: %w", what, err)
	}
	return nil
}

// SetTimer arms the conversation's follow-up after a webhook turn,
// replacing the one armed (a worker firing that one then cannot finish
// it), and supersedes the pending pushes of its earlier follow-ups: the
// contact was active since. One transaction; when it returns nil the timer
// is durable.
func (s *Store) SetTimer(ctx context.Context, t NewTimer) error {
	return s.activity(ctx, "set timer", t.Bot, t.CID, func(tx conn, now int64) error {
		return upsertTimer(ctx, tx, t, now)
	})
}

// CancelTimer cancels the follow-up of conversation cid of bot, if one is
// armed, and supersedes the pending pushes of its earlier follow-ups, as
// SetTimer does.
func (s *Store) CancelTimer(ctx context.Context, bot, cid string) error {
	return s.activity(ctx, "cancel timer", bot, cid, func(tx conn, _ int64) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM outbox_timers WHERE bot = ? AND cid = ?`, bot, cid)
		return err
	})
}

// ClaimTimer claims the earliest timer that is due and not held by
// another worker (or held under an expired lease: its worker died), for
// lease. It returns nil when there is none. With an error and a timer, the
// timer's row cannot be used (its contact cannot be read, or its context
// does not match the hash it was armed with): the caller drops it.
func (s *Store) ClaimTimer(ctx context.Context, lease time.Duration) (*Timer, error) {
	now := s.now()
	token := newToken()
	row := s.db.QueryRowContext(ctx, `UPDATE outbox_timers SET attempts = attempts + 1, claim = ?, lease_until = ?, updated_at = ?
WHERE (bot, cid) = (SELECT bot, cid FROM outbox_timers WHERE due_at <= ? AND lease_until <= ? ORDER BY due_at LIMIT 1{{skip}})
 AND due_at <= ? AND lease_until <= ?
RETURNING bot, cid, flow_version, channel, contact, state, rule, due_at, planned, base, context, context_hash, attempts`,
		token, leaseEnd(now, lease), ms(now), ms(now), ms(now), ms(now), ms(now))
	t := &Timer{claim: token}
	var contact []byte
	var due, planned, base int64
	err := row.Scan(&t.Bot, &t.CID, &t.FlowVersion, &t.Channel, &contact, &t.State, &t.Rule, &due, &planned, &base, &t.Context, &t.Hash, &t.Attempts)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: claim timer: %w", err)
	}
	t.DueAt, t.Planned, t.Base = fromMS(due), plannedAt(planned, due), fromMS(base)
	if turn.ContextHash(t.Context) != t.Hash {
		return t, fmt.Errorf("outbox: timer of %s: its context does not match the hash it was armed for", t.CID)
	}
	if len(contact) > 0 {
		if err := json.Unmarshal(contact, &t.Contact); err != nil {
			return t, fmt.Errorf("outbox: timer of %s: contact: %w", t.CID, err)
		}
	}
	return t, nil
}

// NextTimerAt returns when a timer may next be claimed after after (the
// time the caller last claimed at): the earliest due time, or lease expiry
// of a claimed timer, later than after. ok is false when there is none.
func (s *Store) NextTimerAt(ctx context.Context, after time.Time) (at time.Time, ok bool, err error) {
	now := ms(after)
	var due, lease sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT MIN(due_at) FROM outbox_timers WHERE due_at > ?), (SELECT MIN(lease_until) FROM outbox_timers WHERE lease_until > ?)`,
		now, now).Scan(&due, &lease)
	if err != nil {
		return time.Time{}, false, err
	}
	switch {
	case due.Valid && lease.Valid:
		return fromMS(min(due.Int64, lease.Int64)), true, nil
	case due.Valid:
		return fromMS(due.Int64), true, nil
	case lease.Valid:
		return fromMS(lease.Int64), true, nil
	}
	return time.Time{}, false, nil
}

// timerWhere selects a claimed timer that still is what was claimed: the
// same claim (no activity re-armed or cancelled it since) and the same
// context.
const timerWhere = ` WHERE bot = ? AND cid = ? AND claim = ? AND context_hash = ?`

func timerArgs(t *Timer, args ...any) []any {
	return append(args, t.Bot, t.CID, t.claim, t.Hash)
}

// RenewTimer extends the lease of a claimed timer.
func (s *Store) RenewTimer(ctx context.Context, t *Timer, lease time.Duration) error {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox_timers SET lease_until = ?`+timerWhere, timerArgs(t, leaseEnd(s.now(), lease))...)
	return affected(res, err)
}

// ReleaseTimer gives a claimed timer back, unfired (shutdown): it fires
// at the next claim, its attempt not counted.
func (s *Store) ReleaseTimer(ctx context.Context, t *Timer) error {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox_timers SET lease_until = 0, claim = 0, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = ?`+timerWhere,
		timerArgs(t, s.nowMS())...)
	return affected(res, err)
}

// DropTimer deletes a claimed timer without firing it (the conversation
// moved on, or it cannot fire). It returns ErrLost when the claim is no
// longer held (activity replaced or cancelled it meanwhile).
func (s *Store) DropTimer(ctx context.Context, t *Timer) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM outbox_timers`+timerWhere, timerArgs(t)...)
	return affected(res, err)
}

// TimerFinish is what a fired timer leaves behind.
type TimerFinish struct {
	// Push, if not nil, is the follow-up's events (stored as a follow-up
	// push: NewPush.FollowUp).
	Push *NewPush
	// Next, if not nil, is an async job the follow-up's turn asked for.
	Next *NewJob
	// Timer, if not nil, is the conversation's next follow-up, armed in
	// place of the fired one.
	Timer *NewTimer
	// Supersede, if not 0, is the number of the async job the conversation
	// waited for and no longer does (the follow-up moved it on): the job
	// is superseded as by Supersede.
	Supersede int
}

// TimerFired tells what FinishTimer wrote.
type TimerFired struct {
	PushID string // the push's id, when one was written
	NextID int64  // the next job's id, when one was written
}

// FinishTimer deletes a claimed timer that fired and, in the same
// transaction, writes its push, the job its turn asked for and the next
// follow-up. It writes nothing and returns ErrLost when the timer is no
// longer what was claimed: a webhook call (activity) re-armed or cancelled
// it meanwhile, so the conversation moved on.
func (s *Store) FinishTimer(ctx context.Context, t *Timer, f TimerFinish) (TimerFired, error) {
	var out TimerFired
	tx, err := s.begin(ctx)
	if err != nil {
		return out, fmt.Errorf("outbox: finish timer: %w", err)
	}
	defer tx.Rollback()
	now := s.nowMS()
	res, err := tx.ExecContext(ctx, `DELETE FROM outbox_timers`+timerWhere, timerArgs(t)...)
	if err := affected(res, err); err != nil {
		return out, err
	}
	if f.Supersede != 0 {
		if _, err := supersede(ctx, tx.conn, t.Bot, t.CID, f.Supersede, now); err != nil {
			return TimerFired{}, fmt.Errorf("outbox: finish timer: supersede: %w", err)
		}
	}
	if f.Push != nil {
		p := *f.Push
		p.JobID, p.FollowUp = 0, true
		if out.PushID, err = insertPush(ctx, tx.conn, p, now); err != nil {
			return TimerFired{}, fmt.Errorf("outbox: finish timer: push: %w", err)
		}
	}
	if f.Next != nil {
		if out.NextID, err = insertJob(ctx, tx.conn, *f.Next, 0, now); err != nil {
			return TimerFired{}, fmt.Errorf("outbox: finish timer: next job: %w", err)
		}
	}
	if f.Timer != nil {
		if err := upsertTimer(ctx, tx.conn, *f.Timer, now); err != nil {
			return TimerFired{}, fmt.Errorf("outbox: finish timer: next timer: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return TimerFired{}, fmt.Errorf("outbox: finish timer: %w", err)
	}
	return out, nil
}

// TimerRow is a timer as stored, for inspection and tests.
type TimerRow struct {
	Bot       string
	CID       string
	State     string
	Rule      int
	DueAt     time.Time
	Planned   time.Time // when the rule was due before quiet hours moved it
	Base      time.Time
	Hash      string
	Context   []byte
	Attempts  int
	Claimed   bool // a worker holds it (or held it and died)
	LeaseEnds time.Time
}

// Timers lists the timers of conversation cid (all of them when cid is
// empty), the soonest due first.
func (s *Store) Timers(ctx context.Context, cid string) ([]TimerRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bot, cid, state, rule, due_at, planned, base, context_hash, context, attempts, claim, lease_until
FROM outbox_timers WHERE ? = '' OR cid = ? ORDER BY due_at, bot, cid`, cid, cid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TimerRow
	for rows.Next() {
		var r TimerRow
		var due, planned, base, claim, lease int64
		if err := rows.Scan(&r.Bot, &r.CID, &r.State, &r.Rule, &due, &planned, &base, &r.Hash, &r.Context, &r.Attempts, &claim, &lease); err != nil {
			return nil, err
		}
		r.DueAt, r.Planned, r.Base, r.Claimed, r.LeaseEnds = fromMS(due), plannedAt(planned, due), fromMS(base), claim != 0, fromMS(lease)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ArmedTimers counts the armed timers.
func (s *Store) ArmedTimers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_timers`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("outbox: timers: %w", err)
	}
	return n, nil
}
