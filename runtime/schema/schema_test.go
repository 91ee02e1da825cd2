package schema_test

import (
	"context"
	"database/sql"
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

// load writes a database as an older flowbot left it (testdata) and some
// work in it.
func load(t *testing.T, db *sql.DB, file string, rows ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append([]string{string(b)}, rows...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
}

const (
	oldPush = `INSERT INTO %spushes (push_id, bot, cid, events, n_events, state, next_at, created_at, updated_at) VALUES ('p-old', 'b', 'c1', '[]', 0, 'pending', 0, 0, 0)`
	oldBot  = `INSERT INTO bots (id, name, flow, freeform, attributes, created_at) VALUES ('bot-old', 'Old', 'f', '', '[]', 0)`
)

// TestUpgradeInPlace: databases written by flowbot before the one list —
// Userlike mode's outbox file at each of its versions, platform mode's
// data file, a PostgreSQL database both modes shared — migrate in place:
// their work is kept, both stores open them, and one version table is
// left.
func TestUpgradeInPlace(t *testing.T) {
	for _, c := range []struct {
		kind, file string
		rows       []string
		push, bot  bool
	}{
		{"sqlite", "outbox-v1.sqlite.sql", []string{strings.ReplaceAll(oldPush, "%s", "")}, true, false},
		{"sqlite", "outbox-v2.sqlite.sql", []string{strings.ReplaceAll(oldPush, "%s", "")}, true, false},
		{"sqlite", "outbox-v5.sqlite.sql", []string{strings.ReplaceAll(oldPush, "%s", "outbox_")}, true, false},
		{"sqlite", "store-v4.sqlite.sql", []string{oldBot}, false, true},
		{"postgres", "main.postgres.sql", []string{strings.ReplaceAll(oldPush, "%s", "outbox_"), oldBot}, true, true},
	} {
		t.Run(c.file, func(t *testing.T) {
			db, addr := openRaw(t, c.kind)
			load(t, db, c.file, c.rows...)
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
