package flows

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Load reads and compiles one flow file. On errors it returns a *LoadError
// that lists every problem; warnings are kept in Flow.Lints.
func Load(path string, opts Options) (*Flow, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read flow: %w", err)
	}
	f, lints := Parse(path, src, opts)
	if f == nil {
		return nil, &LoadError{Lints: lints}
	}
	return f, nil
}

// IsFlowFile reports whether a file name looks like a flow (.yaml or .yml,
// and not a conversation test ending in _test.yaml, nor a translation file
// such as webshop.de.yaml).
func IsFlowFile(name string) bool {
	ext := filepath.Ext(name)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	base := strings.TrimSuffix(filepath.Base(name), ext)
	return !strings.HasSuffix(base, "_test") && !strings.HasSuffix(base, ".test") && !IsTranslationFile(name)
}

// LoadDir loads every flow file in dir (not its subfolders). Flows with
// errors are left out; all lints are returned. Two flows with the same
// name are an error.
func LoadDir(dir string, opts Options) ([]*Flow, Lints, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read flows folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && IsFlowFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var flows []*Flow
	var lints Lints
	byName := map[string]string{}
	for _, n := range names {
		path := filepath.Join(dir, n)
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, lints, fmt.Errorf("cannot read flow: %w", err)
		}
		f, ls := Parse(path, src, opts)
		lints = append(lints, ls...)
		if f == nil {
			continue
		}
		if other, dup := byName[f.Name]; dup {
			lints = append(lints, Lint{File: path, Line: 1, Column: 1, Level: Error,
				What: fmt.Sprintf("flow name %q is already used by %s; each flow needs its own name", f.Name, other)})
			continue
		}
		byName[f.Name] = path
		flows = append(flows, f)
	}
	return flows, lints, nil
}
