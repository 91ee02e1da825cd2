package schema_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/schema"
	"github.com/flowbot/flowbot/runtime/store"
	"github.com/flowbot/flowbot/runtime/store/storetest"
)

var ctx = context.Background()

// all is every version, in order.
func all() []int {
	out := make([]int, schema.Version)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// openRaw opens a database of the kind without migrating it.
func openRaw(t *testing.T, kind string) (db *sql.DB, addr string) {
	t.Helper()
	addr = storetest.Address(t, kind)
	driver := "pgx"
	if kind == "sqlite" {
		driver = "sqlite"
	}
	db, err := sql.Open(driver, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, addr
}

func applied(t *testing.T, db *sql.DB) []int {
	t.Helper()
	vs, err := schema.Applied(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func hasTable(t *testing.T, db *sql.DB, kind, name string) bool {
	t.Helper()
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if kind == "postgres" {
		q = `SELECT COUNT(*) FROM (SELECT to_regclass($1) AS t) r WHERE t IS NOT NULL`
	}
	var n int
	if err := db.QueryRow(q, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestFresh: a new database gets every table of both modes from the one
// list, recorded in the one version table; migrating again does nothing;
// a database of a newer flowbot is refused.
func TestFresh(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			db, _ := openRaw(t, kind)
			pg := kind == "postgres"
			if err := schema.Migrate(ctx, db, pg); err != nil {
				t.Fatal(err)
			}
			if err := schema.Migrate(ctx, db, pg); err != nil {
				t.Fatal(err)
			}
			if got := applied(t, db); !reflect.DeepEqual(got, all()) {
				t.Fatalf("applied %v, want %v", got, all())
			}
			for _, table := range []string{"bots", "deliveries", "jobs", "outbox_jobs", "outbox_pushes", "outbox_timers", "flow_versions"} {
				if !hasTable(t, db, kind, table) {
					t.Errorf("no table %s", table)
				}
			}
			for _, table := range []string{"flowbot_schema", "schema_version"} {
				if hasTable(t, db, kind, table) {
					t.Errorf("a second version table %s", table)
				}
			}
			if _, err := db.Exec(`INSERT INTO flowbot_migrations (version, name, applied_at) VALUES (999, 'newer', 0)`); err != nil {
				t.Fatal(err)
			}
			if err := schema.Migrate(ctx, db, pg); err == nil || !strings.Contains(err.Error(), "newer flowbot") {
				t.Fatalf("a newer schema: %v", err)
			}
		})
	}
}

// TestConcurrent: instances opening one new PostgreSQL database at once
// apply each migration once.
func TestConcurrent(t *testing.T) {
	db, _ := openRaw(t, "postgres")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = schema.Migrate(ctx, db, true)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := applied(t, db); !reflect.DeepEqual(got, all()) {
		t.Fatalf("applied %v", got)
	}
}

// legacy writes a database as flowbot wrote it before the one list
// (testdata/legacy, verbatim): the store's migrations up to storeV and the
// outbox's up to outboxV, each with its version table (none at 0), the
// flow versions beside an outbox, then rows of work.
func legacy(t *testing.T, db *sql.DB, kind string, storeV, outboxV int, rows ...string) {
	t.Helper()
	var qs []string
	for _, track := range []struct {
		name, table string
		version     int
	}{{"store", "flowbot_schema", storeV}, {"outbox", "schema_version", outboxV}} {
		for v := 1; v <= track.version; v++ {
			qs = append(qs, readLegacy(t, fmt.Sprintf("%s-%s-%d.sql", track.name, kind, v)))
		}
		if track.version > 0 {
			qs = append(qs, fmt.Sprintf(`CREATE TABLE %s (version INTEGER NOT NULL); INSERT INTO %[1]s VALUES (%d)`, track.table, track.version))
		}
	}
	if outboxV > 0 {
		qs = append(qs, readLegacy(t, "flow_versions-"+kind+".sql"))
	}
	for _, q := range append(qs, rows...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func readLegacy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "legacy", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const (
	oldPush = `INSERT INTO %spushes (push_id, bot, cid, events, n_events, state, next_at, created_at, updated_at) VALUES ('p-old', 'b', 'c1', '[]', 0, 'pending', 0, 0, 0)`
	oldBot  = `INSERT INTO bots (id, name, flow, freeform, attributes, created_at) VALUES ('bot-old', 'Old', 'f', '', '[]', 0)`
)

// TestUpgradeInPlace: databases written by flowbot before the one list —
// Userlike mode's outbox file at each of its versions, platform mode's
// data file, PostgreSQL databases of either mode or both — migrate in place:
// their work is kept, both stores open them, and one version table is
// left.
func TestUpgradeInPlace(t *testing.T) {
	for _, c := range []struct {
		kind            string
		storeV, outboxV int
		rows            []string
		push, bot       bool
	}{
		{"sqlite", 0, 1, []string{fmt.Sprintf(oldPush, "")}, true, false},
		{"sqlite", 0, 2, []string{fmt.Sprintf(oldPush, "")}, true, false},
		{"sqlite", 0, 3, []string{fmt.Sprintf(oldPush, "")}, true, false},
		{"sqlite", 0, 4, []string{fmt.Sprintf(oldPush, "outbox_")}, true, false},
		{"sqlite", 0, 5, []string{fmt.Sprintf(oldPush, "outbox_")}, true, false}, // Userlike mode's file on main
		{"sqlite", 1, 0, []string{oldBot}, false, true},
		{"sqlite", 4, 0, []string{oldBot}, false, true}, // platform mode's file on main
		{"postgres", 4, 0, []string{oldBot}, false, true},
		{"postgres", 0, 5, []string{fmt.Sprintf(oldPush, "outbox_")}, true, false},
		{"postgres", 4, 5, []string{fmt.Sprintf(oldPush, "outbox_"), oldBot}, true, true}, // both modes on one database on main
	} {
		t.Run(fmt.Sprintf("%s/store%d/outbox%d", c.kind, c.storeV, c.outboxV), func(t *testing.T) {
			db, addr := openRaw(t, c.kind)
			legacy(t, db, c.kind, c.storeV, c.outboxV, c.rows...)
			db.Close()

			ob, err := outbox.Open(ctx, addr, outbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close()
			st, err := store.Open(ctx, addr, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if got := applied(t, ob.DB()); !reflect.DeepEqual(got, all()) {
				t.Fatalf("applied %v, want %v", got, all())
			}
			for _, table := range []string{"flowbot_schema", "schema_version"} {
				if hasTable(t, ob.DB(), c.kind, table) {
					t.Errorf("table %s left", table)
				}
			}
			ps, err := ob.Pushes(ctx, "c1")
			if err != nil || c.push && (len(ps) != 1 || ps[0].State != outbox.PushPending) || !c.push && len(ps) != 0 {
				t.Errorf("the old push: %+v %v", ps, err)
			}
			if b, err := st.Bot(ctx, "bot-old"); c.bot && (err != nil || b.Name != "Old") {
				t.Errorf("the old bot: %+v %v", b, err)
			}
			// Both modes' queues work on the upgraded database.
			if _, _, err := ob.Depth(ctx); err != nil {
				t.Error(err)
			}
			if _, _, err := st.Depth(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSpell: a query written once takes PostgreSQL's numbered placeholders
// and is SQLite's as written.
func TestSpell(t *testing.T) {
	q := `UPDATE t SET a = ?, b = ? WHERE c = ?`
	if got, want := schema.Spell(q, true), `UPDATE t SET a = $1, b = $2 WHERE c = $3`; got != want {
		t.Errorf("postgres: %s, want %s", got, want)
	}
	if got := schema.Spell(q, false); got != q {
		t.Errorf("sqlite: %s", got)
	}
}
