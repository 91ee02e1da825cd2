// Package storetest opens throwaway stores for tests: a SQLite file in the
// test's temporary folder, or a fresh schema in the PostgreSQL database
// named by FLOWBOT_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test), dropped when the test ends.
// When PostgreSQL is unreachable, tests that need it are skipped — or fail,
// when CI=true, so that CI cannot pass without running them.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/flowbot/flowbot/runtime/store"
)

// DefaultPostgresURL is used when FLOWBOT_TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Kinds are the store kinds every contract test runs on.
var Kinds = []string{"sqlite", "postgres"}

// Address returns a database address of the kind ("sqlite" or "postgres")
// for one test: a new SQLite file path, or a PostgreSQL URL whose
// search_path is a new schema, dropped at the end of the test.
func Address(t testing.TB, kind string) string {
	t.Helper()
	if kind == "sqlite" {
		return filepath.Join(t.TempDir(), "flowbot.db")
	}
	base := os.Getenv("FLOWBOT_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("FLOWBOT_TEST_DATABASE_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable and CI=true: %v", base, err)
		}
		t.Skipf("PostgreSQL at %s is unreachable (set FLOWBOT_TEST_DATABASE_URL): %v", base, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "flowbot_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		db.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("FLOWBOT_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a store of the kind for one test and closes it at the end.
func Open(t testing.TB, kind string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), Address(t, kind), store.Options{})
	if err != nil {
		t.Fatalf("open %s store: %v", kind, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
