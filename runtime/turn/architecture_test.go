package turn_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// packageFiles parses the non-test Go files of a folder of the module.
func packageFiles(t *testing.T, dir string) map[string]*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*ast.File{}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.ToSlash(filepath.Join(dir, name))] = f
	}
	return out
}

// TestOneTurnOnePlace: the adapters (Userlike mode, platform mode, the
// workers, conversation tests, the command line) never step the engine,
// render, seal or decide whether a job is awaited themselves: runtime/turn
// does, for all of them. The one exception is listed with its reason.
func TestOneTurnOnePlace(t *testing.T) {
	// Calls that belong to runtime/turn only, by selector name, and the
	// package they must be called through ("": any receiver).
	forbidden := map[string]struct {
		what, pkg string
		args      int // when not 0: only calls with this many arguments (Keys.Encode(session, binding))
	}{
		"Step": {what: "engine step", pkg: ""}, "StepContext": {what: "engine step", pkg: ""}, "StepSealed": {what: "engine step", pkg: ""},
		"Render": {what: "rendering", pkg: "channels"}, "RenderText": {what: "rendering", pkg: "channels"},
		"EncodeContext": {what: "sealing", pkg: "engine"}, "Encode": {what: "sealing", args: 2}, "Awaits": {what: "awaiting", pkg: ""},
		"Defer": {what: "follow-up planning", pkg: ""}, "NextRuleBase": {what: "follow-up planning", pkg: ""},
	}
	allowed := map[string]string{
		// Interruption rewrites the stored context (engine.Unsay) before
		// the turn that runs through runtime/turn.
		"../platform/turn.go EncodeContext": "interruption",
		// A conversation test that starts in a given state builds its
		// first context by hand.
		"../flowtest/flowtest.go EncodeContext": "test set-up",
		// The worker defers a push (outbox.Store.Defer), not a follow-up.
		"../worker/pushes.go Defer": "push pacing",
		// The playground starts a column in a given state, as a test does.
		"../playground/conversation.go EncodeContext": "start from a state",
		// A logged conversation written as a test starts from the session
		// the log holds before its first turn.
		"../turnlog/astest.go EncodeContext": "test set-up",
	}
	// Every package of runtime/ but this one, and the command line: an
	// adapter added later is held to the rule without being listed.
	dirs := []string{"../../cmd/flowbot"}
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != "turn" {
			dirs = append(dirs, "../"+e.Name())
		}
	}
	var found []string
	for _, dir := range dirs {
		for path, f := range packageFiles(t, dir) {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				rule, bad := forbidden[sel.Sel.Name]
				if !bad {
					return true
				}
				x, _ := sel.X.(*ast.Ident)
				if rule.pkg != "" && (x == nil || x.Name != rule.pkg) {
					return true // another package's function of that name
				}
				if rule.args != 0 && len(call.Args) != rule.args {
					return true // url.Values.Encode(), json.Encoder.Encode(v)…
				}
				if x != nil && (x.Name == "json" || x.Name == "enc" || x.Name == "base64") {
					return true // not a context's encoding
				}
				what := rule.what
				if _, ok := allowed[path+" "+sel.Sel.Name]; ok {
					return true
				}
				found = append(found, path+": "+sel.Sel.Name+" ("+what+") belongs in runtime/turn")
				return true
			})
		}
	}
	sort.Strings(found)
	for _, f := range found {
		t.Error(f)
	}
}

// TestLayering: flows imports none of flowbot's packages; engine imports
// only flows (and its script host); channels imports no runtime package.
func TestLayering(t *testing.T) {
	const mod = "github.com/flowbot/flowbot/"
	rules := []struct {
		dir   string
		allow []string
	}{
		{"../../flows", nil},
		{"../../engine", []string{"flows", "engine/script"}},
		{"../../channels", []string{"flows", "engine"}},
	}
	for _, r := range rules {
		for path, f := range packageFiles(t, r.dir) {
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				rest, ours := strings.CutPrefix(p, mod)
				if !ours {
					continue
				}
				ok := false
				for _, a := range r.allow {
					ok = ok || rest == a
				}
				if !ok {
					t.Errorf("%s imports %s: the layering forbids it", path, p)
				}
			}
		}
	}
}
