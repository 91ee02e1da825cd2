package flowset

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

func TestSQLStore(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	st, err := NewSQLStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []Version{{"a", "h1", "a.yaml", []byte("one")}, {"b", "x", "b.yaml", []byte("b")}, {"a", "h2", "a.yaml", []byte("two")}, {"a", "h1", "a.yaml", []byte("one")}} {
		if err := st.SaveVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Versions(ctx, "a")
	if err != nil || len(got) != 2 || got[0].Hash != "h1" || got[1].Hash != "h2" || string(got[1].Source) != "two" {
		t.Fatalf("versions: %+v %v", got, err)
	}
	// A second store on the same file (a restart) sees them.
	st2, _ := NewSQLStore(ctx, db)
	if got, _ := st2.Versions(ctx, "a"); len(got) != 2 {
		t.Fatalf("after reopen: %+v", got)
	}
}
