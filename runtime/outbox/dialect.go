package outbox

import (
	"context"
	"database/sql"
	"strings"
	"sync"

	"github.com/flowbot/flowbot/runtime/schema"
)

// dialect is what differs between SQLite and PostgreSQL in the outbox's
// SQL. Queries are written once, for SQLite, with two markers: {{lock}}
// locks the rows a SELECT reads until the transaction ends and
// {{skip}} also skips the rows other transactions hold (both empty on
// SQLite, whose write transactions hold the whole file). On PostgreSQL
// the placeholders ? become $1, $2…
type dialect struct {
	postgres bool

	mu    sync.Mutex
	cache map[string]string
}

// rebind spells query in the dialect.
func (d *dialect) rebind(query string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.cache[query]; ok {
		return r
	}
	lock, skip := "", ""
	if d.postgres {
		lock, skip = " FOR UPDATE", " FOR UPDATE SKIP LOCKED"
	}
	r := schema.Spell(strings.NewReplacer("{{lock}}", lock, "{{skip}}", skip).Replace(query), d.postgres)
	if d.cache == nil {
		d.cache = map[string]string{}
	}
	d.cache[query] = r
	return r
}

// querier is *sql.DB or *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs the outbox's queries on a database or a transaction, spelled
// in its dialect.
type conn struct {
	q querier
	d *dialect
}

func (c conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.d.rebind(query), args...)
}

func (c conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.rebind(query), args...)
}

func (c conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.rebind(query), args...)
}

// Exec and QueryRow are ExecContext and QueryRowContext without a context
// (for tests).
func (c conn) Exec(query string, args ...any) (sql.Result, error) {
	return c.ExecContext(context.Background(), query, args...)
}

func (c conn) QueryRow(query string, args ...any) *sql.Row {
	return c.QueryRowContext(context.Background(), query, args...)
}

// tx is an open transaction of the outbox.
type tx struct {
	conn
	t *sql.Tx
}

func (t tx) Commit() error   { return t.t.Commit() }
func (t tx) Rollback() error { return t.t.Rollback() }

// begin starts a transaction.
func (s *Store) begin(ctx context.Context) (tx, error) {
	t, err := s.raw.BeginTx(ctx, nil)
	if err != nil {
		return tx{}, err
	}
	return tx{conn: conn{q: t, d: s.d}, t: t}, nil
}

// flag is a boolean as the outbox stores it: 0 or 1.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}
