// Package flowset holds the flows a server serves and swaps them safely
// while it runs.
//
// A Set loads every flow of a folder. Reload (on SIGHUP, or when Watch sees
// a file change) loads the folder again and swaps the new versions in
// atomically: a flow that fails validation keeps its old version serving,
// and the reason is logged. Each flow is served as an engine.Deployment, so
// conversations that wait in a state the new version no longer has continue
// on the version they started on. Every version served is written to a
// Store, so those conversations survive a restart too.
package flowset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
)

// MaxOlderVersions is how many earlier versions of a flow stay available.
const MaxOlderVersions = 20

// Version is one served version of a flow, as stored.
type Version struct {
	Name   string
	Hash   string // full SHA-256 of the source
	File   string
	Source []byte
}

// Store keeps every version of every flow that was served.
type Store interface {
	SaveVersion(ctx context.Context, v Version) error
	// Versions returns the stored versions of a flow, oldest first.
	Versions(ctx context.Context, name string) ([]Version, error)
}

// Options configure a Set.
type Options struct {
	Flows  flows.Options
	Engine engine.Options
	Store  Store // nil keeps versions in memory only
	Logger *slog.Logger
}

// Set is the flows being served. It is safe for concurrent use.
type Set struct {
	dir  string
	opts Options
	log  *slog.Logger
	mu   sync.Mutex // one reload at a time
	cur  atomic.Pointer[map[string]*engine.Deployment]
	seen atomic.Value // string: the folder's fingerprint when last loaded
}

// Load reads every flow of dir. Unlike Reload, it fails when any flow has
// an error: a server should not start half-configured. Warnings are
// returned for logging.
func Load(ctx context.Context, dir string, opts Options) (*Set, flows.Lints, error) {
	if opts.Store == nil {
		opts.Store = NewMemoryStore()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Set{dir: dir, opts: opts, log: opts.Logger}
	s.seen.Store(s.fingerprint())
	loaded, lints, err := s.load()
	if err != nil {
		return nil, lints, err
	}
	if lints.HasErrors() {
		return nil, lints, &flows.LoadError{Lints: lints}
	}
	if len(loaded) == 0 {
		return nil, lints, fmt.Errorf("no flows (*.yaml, *.yml) in %s", dir)
	}
	deps := map[string]*engine.Deployment{}
	for _, b := range loaded {
		older, err := s.older(ctx, b.Flow())
		if err != nil {
			return nil, lints, err
		}
		deps[b.Flow().Name] = engine.NewDeployment(b, older...)
		if err := s.save(ctx, b.Flow()); err != nil {
			return nil, lints, err
		}
	}
	s.cur.Store(&deps)
	return s, lints, nil
}

// load parses the folder and compiles each flow that has no error, through
// the pipeline validate uses (runtime/compile): lints are every problem,
// warnings included.
func (s *Set) load() ([]*engine.Bot, flows.Lints, error) {
	return compile.Dir(s.dir, compile.Options{Flows: s.opts.Flows, Engine: s.opts.Engine})
}

// older rebuilds the stored earlier versions of a flow, newest first.
func (s *Set) older(ctx context.Context, cur *flows.Flow) ([]*engine.Bot, error) {
	versions, err := s.opts.Store.Versions(ctx, cur.Name)
	if err != nil {
		return nil, fmt.Errorf("flow versions of %s: %w", cur.Name, err)
	}
	if len(versions) > MaxOlderVersions {
		versions = versions[len(versions)-MaxOlderVersions:]
	}
	var out []*engine.Bot // newest first
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		if v.Hash == cur.Hash {
			continue
		}
		f, lints := flows.Parse(v.File, v.Source, s.opts.Flows)
		if f == nil {
			s.log.Warn("an earlier flow version no longer loads; conversations on it will restart", "flow", v.Name, "version", short(v.Hash), "problem", lints.Errors().String())
			continue
		}
		out = append(out, engine.NewWithOptions(f, s.opts.Engine))
	}
	return out, nil
}

func (s *Set) save(ctx context.Context, f *flows.Flow) error {
	if err := s.opts.Store.SaveVersion(ctx, Version{Name: f.Name, Hash: f.Hash, File: f.File, Source: f.Source}); err != nil {
		return fmt.Errorf("save flow version of %s: %w", f.Name, err)
	}
	return nil
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// UseStore makes the set keep its versions in store from now on: the
// versions served are saved there, and the earlier versions stored there
// (by previous runs) become available to the conversations still on them.
func (s *Set) UseStore(ctx context.Context, store Store) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Store = store
	next := map[string]*engine.Deployment{}
	for name, d := range *s.cur.Load() {
		if err := s.save(ctx, d.Current().Flow()); err != nil {
			return err
		}
		older, err := s.older(ctx, d.Current().Flow())
		if err != nil {
			return err
		}
		next[name] = engine.NewDeployment(d.Current(), append(d.Older(), older...)...)
	}
	s.cur.Store(&next)
	return nil
}

// Get returns the deployment of a flow, or nil.
func (s *Set) Get(name string) *engine.Deployment { return (*s.cur.Load())[name] }

// Names lists the flows served, sorted.
func (s *Set) Names() []string {
	m := *s.cur.Load()
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Bots returns the current version of every flow, sorted by name.
func (s *Set) Bots() []*engine.Bot {
	m := *s.cur.Load()
	var out []*engine.Bot
	for _, n := range s.Names() {
		out = append(out, m[n].Current())
	}
	return out
}

// Change is what one Reload did to one flow.
type Change struct {
	Flow    string
	Action  string // added, updated, kept (failed validation), removed
	Version string
	Problem string // why a flow was kept at its old version
}

// Reload loads the folder again and swaps in the flows that changed and
// compile without errors. A flow with errors keeps serving its old version.
func (s *Set) Reload(ctx context.Context) ([]Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen.Store(s.fingerprint())
	bots, lints, err := s.load()
	if err != nil {
		return nil, err
	}
	old := *s.cur.Load()
	next := make(map[string]*engine.Deployment, len(old))
	var changes []Change
	seen := map[string]bool{}
	for _, b := range bots {
		f := b.Flow()
		seen[f.Name] = true
		prev := old[f.Name]
		switch {
		case prev == nil:
			older, err := s.older(ctx, f)
			if err != nil {
				return nil, err
			}
			next[f.Name] = engine.NewDeployment(b, older...)
			changes = append(changes, Change{Flow: f.Name, Action: "added", Version: f.ShortHash()})
		case prev.Current().Flow().Hash == f.Hash:
			next[f.Name] = prev
			continue
		default:
			older := append([]*engine.Bot{prev.Current()}, prev.Older()...)
			if len(older) > MaxOlderVersions {
				older = older[:MaxOlderVersions]
			}
			next[f.Name] = engine.NewDeployment(b, older...)
			changes = append(changes, Change{Flow: f.Name, Action: "updated", Version: f.ShortHash()})
		}
		if err := s.save(ctx, f); err != nil {
			return nil, err
		}
	}
	// Flows whose file now has errors keep their old version.
	byFile := map[string]flows.Lints{}
	for _, l := range lints.Errors() {
		byFile[l.File] = append(byFile[l.File], l)
	}
	for name, d := range old {
		if seen[name] {
			continue
		}
		if errs, broken := byFile[d.Current().Flow().File]; broken {
			next[name] = d
			changes = append(changes, Change{Flow: name, Action: "kept", Version: d.Current().Flow().ShortHash(), Problem: errs.String()})
			continue
		}
		changes = append(changes, Change{Flow: name, Action: "removed"})
	}
	s.cur.Store(&next)
	// The warnings of the flows that changed, in the words validate and
	// serve's start use (runtime/compile).
	changed := map[string]bool{}
	for _, b := range bots {
		for _, c := range changes {
			if c.Flow == b.Flow().Name && (c.Action == "added" || c.Action == "updated") {
				changed[b.Flow().File] = true
			}
		}
	}
	for _, l := range lints {
		if l.Level == flows.Warning && changed[l.File] {
			s.log.Warn("flow warning", "lint", l.String())
		}
	}
	for _, c := range changes {
		if c.Action == "kept" {
			s.log.Error("flow not reloaded: it has errors; the previous version keeps serving", "flow", c.Flow, "version", c.Version, "errors", c.Problem)
		} else {
			s.log.Info("flow "+c.Action, "flow", c.Flow, "version", c.Version)
		}
	}
	return changes, nil
}

// Watch reloads the set whenever a file of its folder changes, checking
// every interval, until ctx is done.
func (s *Set) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.fingerprint() == s.seen.Load().(string) {
			continue
		}
		if _, err := s.Reload(ctx); err != nil {
			s.log.Error("reload failed; the flows in service are unchanged", "error", err)
		}
	}
}

// fingerprint summarises the folder's files (names, sizes, times, contents
// of flow and script files) so that Watch notices any change.
func (s *Set) fingerprint() string {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	h := sha256.New()
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ext := filepath.Ext(e.Name())
		if ext != ".yaml" && ext != ".yml" && ext != ".js" {
			continue
		}
		src, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00", e.Name(), len(src))
		h.Write(src)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MemoryStore keeps versions in memory: they do not survive a restart.
type MemoryStore struct {
	mu       sync.Mutex
	versions map[string][]Version
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{versions: map[string][]Version{}} }

// SaveVersion records a version once.
func (m *MemoryStore) SaveVersion(_ context.Context, v Version) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, have := range m.versions[v.Name] {
		if have.Hash == v.Hash {
			return nil
		}
	}
	m.versions[v.Name] = append(m.versions[v.Name], v)
	return nil
}

// Versions returns a flow's versions, oldest first.
func (m *MemoryStore) Versions(_ context.Context, name string) ([]Version, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Version(nil), m.versions[name]...), nil
}
