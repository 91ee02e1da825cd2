package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/flowbot/flowbot/runtime/schema"
	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
	_ "modernc.org/sqlite"             // the database/sql driver "sqlite"
)

// Options configure Open.
type Options struct {
	// SQLiteSynchronous is SQLite's synchronous pragma: "full" (the
	// default: a commit survives a power cut) or "normal" (in WAL mode a
	// commit survives a crash of the process, not of the machine; faster).
	SQLiteSynchronous string
	// MaxConns bounds PostgreSQL's connection pool; 0 is 16.
	MaxConns int
}

// dialect is what differs between SQLite and PostgreSQL.
type dialect struct {
	name string
	// forUpdate locks the selected rows until the transaction ends
	// (PostgreSQL); SQLite's write transactions lock the whole file.
	forUpdate string
	// skipLocked also skips rows other transactions hold.
	skipLocked string
	// dollar: placeholders are $1, $2… instead of ?.
	dollar bool
}

var (
	sqliteDialect   = dialect{name: "sqlite"}
	postgresDialect = dialect{name: "postgres", forUpdate: " FOR UPDATE", skipLocked: " FOR UPDATE SKIP LOCKED", dollar: true}
)

// sqlStore implements Store on database/sql for both dialects.
type sqlStore struct {
	db *sql.DB
	d  dialect

	mu      sync.Mutex
	rebound map[string]string
}

// IsPostgres reports whether addr names a PostgreSQL database.
func IsPostgres(addr string) bool {
	return strings.HasPrefix(addr, "postgres://") || strings.HasPrefix(addr, "postgresql://")
}

// Open opens the store at addr — a PostgreSQL URL or a SQLite file path
// (created with its folder when missing) — and migrates its schema.
func Open(ctx context.Context, addr string, opts Options) (Store, error) {
	if IsPostgres(addr) {
		return openPostgres(ctx, addr, opts)
	}
	return openSQLite(ctx, addr, opts)
}

func openSQLite(ctx context.Context, path string, opts Options) (*sqlStore, error) {
	path = strings.TrimPrefix(path, "sqlite:")
	if path == "" {
		return nil, errors.New("store: no database file path")
	}
	sync := strings.ToLower(opts.SQLiteSynchronous)
	switch sync {
	case "":
		sync = "full"
	case "full", "normal":
	default:
		return nil, fmt.Errorf("store: SQLite synchronous mode %q: use full or normal", opts.SQLiteSynchronous)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// One connection: SQLite has one writer anyway, and a second
	// connection would only wait for the first.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	s := &sqlStore{db: db, d: sqliteDialect}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// OpenPostgres opens a pool of at most maxConns (0: 16) connections to
// the PostgreSQL database at addr and checks that it answers (within
// 10 s). Userlike mode's outbox opens its database with it too.
func OpenPostgres(ctx context.Context, addr string, maxConns int) (*sql.DB, error) {
	db, err := sql.Open("pgx", addr)
	if err != nil {
		return nil, err
	}
	if maxConns <= 0 {
		maxConns = 16
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %w", Redact(addr), err)
	}
	return db, nil
}

func openPostgres(ctx context.Context, addr string, opts Options) (*sqlStore, error) {
	db, err := OpenPostgres(ctx, addr, opts.MaxConns)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &sqlStore{db: db, d: postgresDialect}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", Redact(addr), err)
	}
	return s, nil
}

// Redact hides a password in a database URL.
func Redact(addr string) string {
	u, err := url.Parse(addr)
	if err != nil {
		return "the database URL"
	}
	return u.Redacted()
}

func (s *sqlStore) Close() error {
	if s.d.name == "sqlite" {
		_, _ = s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return s.db.Close()
}

// q returns the query with the dialect's placeholders.
func (s *sqlStore) q(query string) string {
	if !s.d.dollar {
		return query
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rebound[query]; ok {
		return r
	}
	r := schema.Spell(query, true)
	if s.rebound == nil {
		s.rebound = map[string]string{}
	}
	s.rebound[query] = r
	return r
}

// migrate brings the schema to the newest version (runtime/schema).
func (s *sqlStore) migrate(ctx context.Context) error {
	return schema.Migrate(ctx, s.db, s.d.name == "postgres")
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- bots ----

func (s *sqlStore) CreateBot(ctx context.Context, b Bot) error {
	attrs := b.Attributes
	if attrs == nil {
		attrs = []Attribute{}
	}
	a, err := json.Marshal(attrs)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO bots (id, name, flow, freeform, attributes, response_endpoint, timing, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		b.ID, b.Name, b.Flow, b.Freeform, string(a), b.ResponseEndpoint, string(b.Timing), ms(b.CreatedAt))
	return err
}

func (s *sqlStore) Bot(ctx context.Context, id string) (Bot, error) {
	var b Bot
	var attrs, timing string
	var created int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, name, flow, freeform, attributes, response_endpoint, timing, created_at FROM bots WHERE id = ?`), id).
		Scan(&b.ID, &b.Name, &b.Flow, &b.Freeform, &attrs, &b.ResponseEndpoint, &timing, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Bot{}, ErrNotFound
	}
	if err != nil {
		return Bot{}, err
	}
	b.CreatedAt = fromMS(created)
	if timing != "" {
		b.Timing = json.RawMessage(timing)
	}
	if err := json.Unmarshal([]byte(attrs), &b.Attributes); err != nil {
		return Bot{}, fmt.Errorf("bot %s: attributes: %w", id, err)
	}
	return b, nil
}

// ---- conversations ----

const conversationColumns = `id, bot_id, user_id, channel, webhook, webhook_format, webhook_auth, context, status, contact, timing, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanConversation(row scanner) (Conversation, error) {
	var c Conversation
	var contact, timing string
	var created, updated int64
	if err := row.Scan(&c.ID, &c.BotID, &c.UserID, &c.Channel, &c.Webhook, &c.WebhookFormat, &c.WebhookAuth, &c.Context, &c.Status, &contact, &timing, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Conversation{}, ErrNotFound
		}
		return Conversation{}, err
	}
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	if timing != "" {
		c.Timing = json.RawMessage(timing)
	}
	if contact != "" && contact != "{}" {
		if err := json.Unmarshal([]byte(contact), &c.Contact); err != nil {
			return Conversation{}, fmt.Errorf("conversation %s: contact: %w", c.ID, err)
		}
	}
	return c, nil
}

func (s *sqlStore) Conversation(ctx context.Context, id string) (Conversation, error) {
	return scanConversation(s.db.QueryRowContext(ctx, s.q(`SELECT `+conversationColumns+` FROM conversations WHERE id = ?`), id))
}

func (s *sqlStore) OpenConversation(ctx context.Context, req OpenRequest, start TurnFunc) (Conversation, bool, error) {
	for attempt := 0; ; attempt++ {
		c, created, err := s.openConversation(ctx, req, start)
		// Two requests creating the same (bot, user) at once on
		// PostgreSQL: the loser's insert fails on the unique key; its
		// second attempt finds the winner's conversation.
		if err != nil && attempt == 0 && isUniqueViolation(err) {
			continue
		}
		return c, created, err
	}
}

func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "23505") || strings.Contains(msg, "UNIQUE constraint failed")
}

func (s *sqlStore) openConversation(ctx context.Context, req OpenRequest, start TurnFunc) (Conversation, bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Conversation{}, false, err
	}
	defer tx.Rollback()
	now := ms(req.Now)
	c, err := scanConversation(tx.QueryRowContext(ctx, s.q(`SELECT `+conversationColumns+` FROM conversations WHERE bot_id = ? AND user_id = ?`+s.d.forUpdate), req.BotID, req.UserID))
	switch {
	case err == nil:
		changed := false
		set := func(field *string, v string) {
			if v == "-" {
				v = ""
			} else if v == "" {
				return
			}
			if *field != v {
				*field, changed = v, true
			}
		}
		set(&c.Webhook, req.Webhook)
		set(&c.Channel, req.Channel)
		set(&c.WebhookFormat, req.WebhookFormat)
		set(&c.WebhookAuth, req.WebhookAuth)
		if req.Timing != nil && string(req.Timing) != string(c.Timing) {
			c.Timing, changed = req.Timing, true
		}
		if changed {
			c.UpdatedAt = fromMS(now)
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE conversations SET webhook = ?, channel = ?, webhook_format = ?, webhook_auth = ?, timing = ?, updated_at = ? WHERE id = ?`),
				c.Webhook, c.Channel, c.WebhookFormat, c.WebhookAuth, string(c.Timing), now, c.ID); err != nil {
				return Conversation{}, false, err
			}
		}
		return c, false, tx.Commit()
	case !errors.Is(err, ErrNotFound):
		return Conversation{}, false, err
	}
	var one int
	err = tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM users WHERE id = ?`), req.UserID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if !req.CreateUser {
			return Conversation{}, false, ErrUserNotFound
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO users (id, created_at) VALUES (?, ?)`), req.UserID, now); err != nil {
			return Conversation{}, false, err
		}
	case err != nil:
		return Conversation{}, false, err
	}
	c = Conversation{ID: req.ID, BotID: req.BotID, UserID: req.UserID, Channel: req.Channel, Webhook: req.Webhook,
		WebhookFormat: req.WebhookFormat, WebhookAuth: req.WebhookAuth, Context: []byte{}, Status: "open", Timing: req.Timing, CreatedAt: fromMS(now), UpdatedAt: fromMS(now)}
	if c.Channel == "" {
		c.Channel = "custom"
	}
	if c.WebhookFormat == "" {
		c.WebhookFormat = FormatChat
	}
	if c.WebhookAuth == "-" {
		c.WebhookAuth = ""
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO conversations (id, bot_id, user_id, channel, webhook, webhook_format, webhook_auth, context, status, contact, timing, next_seq, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, 0, ?, ?)`), c.ID, c.BotID, c.UserID, c.Channel, c.Webhook, c.WebhookFormat, c.WebhookAuth, c.Context, c.Status, string(c.Timing), now, now); err != nil {
		return Conversation{}, false, err
	}
	if start != nil {
		out, err := start(c)
		switch {
		case errors.Is(err, ErrSkip):
		case err != nil:
			return Conversation{}, false, err
		default:
			st := turnState{id: c.ID, webhook: c.Webhook, contact: c.Contact}
			if _, err := s.store(ctx, tx, &st, out, now); err != nil {
				return Conversation{}, false, err
			}
			c.Context, c.Contact = out.Context, st.contact
			if out.Status != "" {
				c.Status = out.Status
			}
		}
	}
	return c, true, tx.Commit()
}

// turnState is what store needs of the conversation a turn changes.
type turnState struct {
	id      string
	webhook string
	contact map[string]string
	nextSeq int64
}

// Turn implements Store.
func (s *sqlStore) Turn(ctx context.Context, req TurnRequest, fn TurnFunc) (TurnResult, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return TurnResult{}, err
	}
	defer tx.Rollback()
	now := ms(req.Now)
	var res TurnResult
	var c Conversation
	var st turnState
	var contact, timing string
	var created, updated int64
	err = tx.QueryRowContext(ctx, s.q(`SELECT `+conversationColumns+`, next_seq FROM conversations WHERE id = ?`+s.d.forUpdate), req.ConversationID).
		Scan(&c.ID, &c.BotID, &c.UserID, &c.Channel, &c.Webhook, &c.WebhookFormat, &c.WebhookAuth, &c.Context, &c.Status, &contact, &timing, &created, &updated, &st.nextSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return TurnResult{}, ErrNotFound
	}
	if err != nil {
		return TurnResult{}, err
	}
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	if timing != "" {
		c.Timing = json.RawMessage(timing)
	}
	if contact != "" && contact != "{}" {
		if err := json.Unmarshal([]byte(contact), &c.Contact); err != nil {
			return TurnResult{}, fmt.Errorf("conversation %s: contact: %w", c.ID, err)
		}
	}
	if req.IdempotencyKey != "" {
		var first string
		err := tx.QueryRowContext(ctx, s.q(`SELECT message_id FROM idempotency_keys WHERE conversation_id = ? AND key = ?`), c.ID, req.IdempotencyKey).Scan(&first)
		if err == nil {
			return TurnResult{UserMessageID: first, Duplicate: true}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return TurnResult{}, err
		}
	}
	if req.Job != 0 {
		r, err := tx.ExecContext(ctx, s.q(`DELETE FROM jobs WHERE id = ?`), req.Job)
		if err != nil {
			return TurnResult{}, err
		}
		if n, err := r.RowsAffected(); err != nil {
			return TurnResult{}, err
		} else if n == 0 {
			// Another worker finished the job (this one's lease had expired).
			return TurnResult{Skipped: true}, nil
		}
	}
	if c.Timers, err = s.timers(ctx, tx, c.ID); err != nil {
		return TurnResult{}, err
	}
	if req.Unsent != nil {
		if c.Unsent, err = s.unsent(ctx, tx, c.ID, c.Webhook != "", ms(req.Unsent())); err != nil {
			return TurnResult{}, err
		}
	}
	out, err := fn(c)
	if errors.Is(err, ErrSkip) {
		res.Skipped = true
		return res, tx.Commit()
	}
	if err != nil {
		return TurnResult{}, err
	}
	st.id, st.webhook, st.contact = c.ID, c.Webhook, c.Contact
	res, err = s.store(ctx, tx, &st, out, now)
	if err != nil {
		return TurnResult{}, err
	}
	if req.IdempotencyKey != "" && res.UserMessageID != "" {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO idempotency_keys (conversation_id, key, message_id, created_at) VALUES (?, ?, ?, ?)`),
			c.ID, req.IdempotencyKey, res.UserMessageID, now); err != nil {
			return TurnResult{}, err
		}
	}
	return res, tx.Commit()
}

// store writes a turn's output in tx.
func (s *sqlStore) store(ctx context.Context, tx *sql.Tx, st *turnState, out TurnOutput, now int64) (TurnResult, error) {
	var res TurnResult
	insert := func(m *Message, visible bool) error {
		st.nextSeq++
		m.Seq = st.nextSeq
		m.ConversationID = st.id
		var sent int64
		created := now
		if !m.CreatedAt.IsZero() {
			created = ms(m.CreatedAt)
		}
		if visible {
			sent = max(now, created)
			m.SentAt = fromMS(sent)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO messages (id, conversation_id, seq, from_bot, text, media_url, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			m.ID, st.id, m.Seq, boolInt(m.FromBot), m.Text, m.MediaURL, created, sent)
		return err
	}
	for _, id := range out.Cancel {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM deliveries WHERE message_id = ? AND conversation_id = ?`), id, st.id); err != nil {
			return res, err
		}
		r, err := tx.ExecContext(ctx, s.q(`DELETE FROM messages WHERE id = ? AND conversation_id = ? AND from_bot = 1`), id, st.id)
		if err != nil {
			return res, err
		}
		if n, err := r.RowsAffected(); err != nil {
			return res, err
		} else {
			res.Cancelled += int(n)
		}
	}
	if m := out.UserMessage; m != nil {
		m.FromBot = false
		if err := insert(m, true); err != nil {
			return res, err
		}
		res.UserMessageID = m.ID
	}
	for i := range out.BotMessages {
		m := &out.BotMessages[i]
		m.FromBot = true
		queued := st.webhook != ""
		if err := insert(m, !queued); err != nil {
			return res, err
		}
		if queued {
			due := now
			if !m.CreatedAt.IsZero() {
				due = ms(m.CreatedAt)
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO deliveries (message_id, conversation_id, seq, state, due_at) VALUES (?, ?, ?, 'pending', ?)`),
				m.ID, st.id, m.Seq, due); err != nil {
				return res, err
			}
			res.Deliveries++
		}
	}
	for _, j := range out.Jobs {
		due := now
		if !j.DueAt.IsZero() {
			due = ms(j.DueAt)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO jobs (conversation_id, spec, due_at, created_at) VALUES (?, ?, ?, ?)`),
			st.id, string(j.Spec), due, now); err != nil {
			return res, err
		}
		res.Jobs++
	}
	for _, name := range out.CancelTimers {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM jobs WHERE conversation_id = ? AND timer = ?`), st.id, name); err != nil {
			return res, err
		}
	}
	for _, t := range out.SetTimers {
		if t.Name == "" {
			return res, errors.New("store: a timer needs a name")
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM jobs WHERE conversation_id = ? AND timer = ?`), st.id, t.Name); err != nil {
			return res, err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO jobs (conversation_id, spec, due_at, created_at, timer) VALUES (?, ?, ?, ?, ?)`),
			st.id, string(t.Spec), ms(t.DueAt), now, t.Name); err != nil {
			return res, err
		}
		res.Jobs++
	}
	if len(out.Contact) > 0 {
		if st.contact == nil {
			st.contact = map[string]string{}
		}
		for k, v := range out.Contact {
			st.contact[k] = v
		}
	}
	contact := []byte("{}")
	if len(st.contact) > 0 {
		var err error
		if contact, err = json.Marshal(st.contact); err != nil {
			return res, err
		}
	}
	ctxBytes := out.Context
	if ctxBytes == nil {
		ctxBytes = []byte{}
	}
	status := out.Status
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE conversations SET context = ?, status = CASE WHEN ? = '' THEN status ELSE ? END, contact = ?,
		next_seq = ?, updated_at = ? WHERE id = ?`),
		ctxBytes, status, status, string(contact), st.nextSeq, now, st.id); err != nil {
		return res, err
	}
	return res, nil
}

// ---- history ----

const messageColumns = `id, conversation_id, seq, from_bot, text, media_url, created_at, sent_at`

func scanMessage(row scanner) (Message, error) {
	var m Message
	var fromBot int
	var created, sent int64
	if err := row.Scan(&m.ID, &m.ConversationID, &m.Seq, &fromBot, &m.Text, &m.MediaURL, &created, &sent); err != nil {
		return Message{}, err
	}
	m.FromBot = fromBot == 1
	m.CreatedAt, m.SentAt = fromMS(created), fromMS(sent)
	return m, nil
}

func (s *sqlStore) History(ctx context.Context, conversationID string, after int64, limit int, now time.Time) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages
		WHERE conversation_id = ? AND seq > ?
		  AND seq < (SELECT COALESCE(MIN(seq), 9223372036854775807) FROM deliveries WHERE conversation_id = ? AND state = 'pending')
		  AND seq < (SELECT COALESCE(MIN(seq), 9223372036854775807) FROM messages WHERE conversation_id = ? AND from_bot = 1 AND sent_at > ?)
		ORDER BY seq LIMIT ?`), conversationID, after, conversationID, conversationID, ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

const deliveryColumns = `d.message_id, d.conversation_id, d.seq, c.webhook, c.webhook_format, c.webhook_auth, c.user_id, m.text, m.media_url, m.created_at, d.state, d.attempts, d.due_at, d.last_status, d.last_error`

func scanDelivery(row scanner) (Delivery, error) {
	var d Delivery
	var created, due int64
	if err := row.Scan(&d.MessageID, &d.ConversationID, &d.Seq, &d.URL, &d.Format, &d.Auth, &d.UserID, &d.Text, &d.MediaURL, &created, &d.State, &d.Attempts, &due, &d.LastStatus, &d.LastError); err != nil {
		return Delivery{}, err
	}
	d.CreatedAt, d.DueAt = fromMS(created), fromMS(due)
	return d, nil
}

func (s *sqlStore) Message(ctx context.Context, conversationID, messageID string) (Message, *Delivery, []Attempt, error) {
	m, err := scanMessage(s.db.QueryRowContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages WHERE conversation_id = ? AND id = ?`), conversationID, messageID))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, nil, nil, ErrNotFound
	}
	if err != nil {
		return Message{}, nil, nil, err
	}
	d, err := scanDelivery(s.db.QueryRowContext(ctx, s.q(`SELECT `+deliveryColumns+` FROM deliveries d
		JOIN messages m ON m.id = d.message_id JOIN conversations c ON c.id = d.conversation_id WHERE d.message_id = ?`), messageID))
	if errors.Is(err, sql.ErrNoRows) {
		return m, nil, nil, nil
	}
	if err != nil {
		return Message{}, nil, nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, status, error, duration_ms, delivered FROM attempts WHERE message_id = ? ORDER BY id`), messageID)
	if err != nil {
		return Message{}, nil, nil, err
	}
	defer rows.Close()
	var attempts []Attempt
	for rows.Next() {
		var a Attempt
		var at int64
		var delivered int
		if err := rows.Scan(&at, &a.Status, &a.Error, &a.DurationMS, &delivered); err != nil {
			return Message{}, nil, nil, err
		}
		a.N, a.At, a.Delivered = len(attempts)+1, fromMS(at), delivered == 1
		a.Duration = time.Duration(a.DurationMS) * time.Millisecond
		attempts = append(attempts, a)
	}
	return m, &d, attempts, rows.Err()
}

func (s *sqlStore) Pending(ctx context.Context, conversationID string) (int, *Delivery, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM deliveries WHERE conversation_id = ? AND state = 'pending'`), conversationID).Scan(&n); err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 0, nil, nil
	}
	d, err := scanDelivery(s.db.QueryRowContext(ctx, s.q(`SELECT `+deliveryColumns+` FROM deliveries d
		JOIN messages m ON m.id = d.message_id JOIN conversations c ON c.id = d.conversation_id
		WHERE d.conversation_id = ? AND d.state = 'pending' ORDER BY d.seq LIMIT 1`), conversationID))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil // delivered between the two reads
	}
	if err != nil {
		return 0, nil, err
	}
	return n, &d, nil
}

// ---- the delivery queue ----

func (s *sqlStore) ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	n := ms(now)
	rows, err := tx.QueryContext(ctx, s.q(`SELECT d.message_id FROM deliveries d
		WHERE d.state = 'pending' AND d.due_at <= ? AND d.lease_until <= ?
		  AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.conversation_id = d.conversation_id AND p.state = 'pending' AND p.seq < d.seq)
		ORDER BY d.due_at LIMIT ?`+s.d.skipLocked), n, n, limit)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	until := ms(now.Add(lease))
	out := make([]Delivery, 0, len(ids))
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE message_id = ?`), owner, until, id); err != nil {
			return nil, err
		}
		d, err := scanDelivery(tx.QueryRowContext(ctx, s.q(`SELECT `+deliveryColumns+` FROM deliveries d
			JOIN messages m ON m.id = d.message_id JOIN conversations c ON c.id = d.conversation_id WHERE d.message_id = ?`), id))
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, tx.Commit()
}

func (s *sqlStore) FinishDeliveries(ctx context.Context, outcomes []Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, o := range outcomes {
		at := ms(o.At)
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO attempts (message_id, at, status, error, duration_ms, delivered, owner) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			o.MessageID, at, o.Status, o.Error, o.Duration.Milliseconds(), boolInt(o.Delivered), o.Owner); err != nil {
			return err
		}
		if !o.Delivered {
			// Only the lease's holder reschedules: a late failure from a
			// worker whose lease expired must not free a delivery that
			// another worker is sending now.
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE deliveries SET attempts = attempts + 1, due_at = ?, lease_owner = '', lease_until = 0,
				last_status = ?, last_error = ? WHERE message_id = ? AND state = 'pending' AND lease_owner = ?`),
				ms(o.Retry), o.Status, o.Error, o.MessageID, o.Owner); err != nil {
				return err
			}
			continue
		}
		r, err := tx.ExecContext(ctx, s.q(`UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, lease_owner = '', lease_until = 0,
			last_status = ?, last_error = '', delivered_at = ? WHERE message_id = ? AND state = 'pending'`),
			o.Status, at, o.MessageID)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			continue // delivered before, by a worker whose lease had expired
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE messages SET sent_at = ? WHERE id = ?`), at, o.MessageID); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *sqlStore) NextDelivery(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MIN(CASE WHEN d.lease_until > d.due_at THEN d.lease_until ELSE d.due_at END) FROM deliveries d
		WHERE d.state = 'pending'
		  AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.conversation_id = d.conversation_id AND p.state = 'pending' AND p.seq < d.seq)`).Scan(&at)
	if err != nil || !at.Valid {
		return time.Time{}, false, err
	}
	return fromMS(at.Int64), true, nil
}

// ---- jobs ----

func (s *sqlStore) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Job, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	n := ms(now)
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, conversation_id, spec, attempts, timer FROM jobs
		WHERE due_at <= ? AND lease_until <= ? ORDER BY due_at, id LIMIT ?`+s.d.skipLocked), n, n, limit)
	if err != nil {
		return nil, err
	}
	var jobs []Job
	for rows.Next() {
		var j Job
		var spec string
		if err := rows.Scan(&j.ID, &j.ConversationID, &spec, &j.Attempts, &j.Timer); err != nil {
			rows.Close()
			return nil, err
		}
		j.Spec = json.RawMessage(spec)
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	until := ms(now.Add(lease))
	for _, j := range jobs {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 WHERE id = ?`), owner, until, j.ID); err != nil {
			return nil, err
		}
	}
	return jobs, tx.Commit()
}

func (s *sqlStore) NextJob(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MIN(CASE WHEN lease_until > due_at THEN lease_until ELSE due_at END) FROM jobs`).Scan(&at)
	if err != nil || !at.Valid {
		return time.Time{}, false, err
	}
	return fromMS(at.Int64), true, nil
}

func (s *sqlStore) Depth(ctx context.Context) (int, int, error) {
	var d, j int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE state = 'pending'`).Scan(&d); err != nil {
		return 0, 0, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&j); err != nil {
		return 0, 0, err
	}
	return d, j, nil
}

func (s *sqlStore) Timers(ctx context.Context, conversationID string) ([]Timer, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.d.name == "postgres"})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return s.timers(ctx, tx, conversationID)
}

// timers reads a conversation's armed timers.
func (s *sqlStore) timers(ctx context.Context, tx *sql.Tx, conversationID string) ([]Timer, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT timer, due_at, spec FROM jobs WHERE conversation_id = ? AND timer <> '' ORDER BY timer`), conversationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Timer
	for rows.Next() {
		var t Timer
		var due int64
		var spec string
		if err := rows.Scan(&t.Name, &due, &spec); err != nil {
			return nil, err
		}
		t.DueAt, t.Spec = fromMS(due), json.RawMessage(spec)
		out = append(out, t)
	}
	return out, rows.Err()
}

// unsent reads the conversation's bot messages that were not sent at now:
// with a webhook, those whose delivery was never attempted and is not
// claimed, locked (FOR UPDATE: a delivery another process is claiming right
// now is waited for, and then no longer matches: its lease is set);
// without, those not yet due.
func (s *sqlStore) unsent(ctx context.Context, tx *sql.Tx, conversationID string, webhook bool, now int64) ([]Message, error) {
	var rows *sql.Rows
	var err error
	if webhook {
		rows, err = tx.QueryContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages WHERE id IN (
			SELECT message_id FROM deliveries WHERE conversation_id = ? AND state = 'pending' AND attempts = 0 AND lease_until <= ?`+s.d.forUpdate+`)
			ORDER BY seq`), conversationID, now)
	} else {
		rows, err = tx.QueryContext(ctx, s.q(`SELECT `+messageColumns+` FROM messages WHERE conversation_id = ? AND from_bot = 1 AND sent_at > ? ORDER BY seq`), conversationID, now)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
