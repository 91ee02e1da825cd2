package playground

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/flowtest"
)

// flowFile is one flow file of the folder.
type flowFile struct {
	File string `json:"file"` // the file's name in the folder
	Name string `json:"name"` // its name: field ("" when it does not parse)
}

// listFlows answers the flow files of the folder (test files left out).
func (p *server) listFlows(w http.ResponseWriter, r *http.Request) {
	entries, err := os.ReadDir(p.opts.Dir)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("cannot read the flow folder: %v", err))
		return
	}
	out := []flowFile{}
	for _, e := range entries {
		if e.IsDir() || !flows.IsFlowFile(e.Name()) || flowtest.IsTestFile(e.Name()) {
			continue
		}
		ff := flowFile{File: e.Name()}
		if src, err := os.ReadFile(filepath.Join(p.opts.Dir, e.Name())); err == nil {
			if f, _ := flows.Parse(e.Name(), src, flows.Options{}); f != nil {
				ff.Name = f.Name
			}
		}
		out = append(out, ff)
	}
	writeJSON(w, http.StatusOK, map[string]any{"dir": p.opts.Dir, "flows": out})
}

// path is the path of a flow file the page names, refused when it is not a
// flow file directly in the folder.
func (p *server) path(file string) (string, error) {
	if file == "" || file != filepath.Base(file) || !flows.IsFlowFile(file) || flowtest.IsTestFile(file) {
		return "", fmt.Errorf("%q is not a flow file of the folder (pick one from /api/flows)", file)
	}
	return filepath.Join(p.opts.Dir, file), nil
}

// compiled is a flow file compiled with the page's env.
type compiled struct {
	path  string
	src   []byte
	bot   *engine.Bot // nil when the flow has errors
	lints flows.Lints
	env   []envName // the ${env.NAME} the flow reads, in order
}

// envName is one ${env.NAME} a flow reads and where its value came from.
type envName struct {
	Name  string `json:"name"`
	Set   bool   `json:"set"`
	From  string `json:"from,omitempty"` // "page" or "environment"
	Value string `json:"value,omitempty"`
}

// envFunc looks a name up in the page's env, then in Options.Env, and
// remembers each name read.
func (p *server) envFunc(page map[string]string) (flows.EnvFunc, func() []envName) {
	var mu sync.Mutex
	seen := map[string]envName{}
	var order []string
	look := func(name string) (string, bool) {
		e := envName{Name: name}
		v, ok := page[name]
		switch {
		case ok:
			e.Set, e.From, e.Value = true, "page", v
		case p.opts.Env != nil:
			if v, ok = p.opts.Env(name); ok {
				e.Set, e.From = true, "environment" // its value stays on the server
			}
		}
		mu.Lock()
		if _, dup := seen[name]; !dup {
			order = append(order, name)
		}
		seen[name] = e
		mu.Unlock()
		return v, ok
	}
	names := func() []envName {
		mu.Lock()
		defer mu.Unlock()
		out := make([]envName, 0, len(order))
		for _, n := range order {
			out = append(out, seen[n])
		}
		return out
	}
	return look, names
}

// compile reads and compiles a flow file of the folder with the page's
// env wrapped by wrap (a recording's, or nil).
func (p *server) compile(file string, page map[string]string, wrap func(flows.EnvFunc) flows.EnvFunc) (*compiled, error) {
	path, err := p.path(file)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the flow file %s is gone", file)
		}
		return nil, err
	}
	env, names := p.envFunc(page)
	if wrap != nil {
		env = wrap(env)
	}
	bot, lints := compile.Source(path, src, compile.Options{Flows: flows.Options{Env: env}})
	return &compiled{path: path, src: src, bot: bot, lints: lints, env: names()}, nil
}

// etagOf is a flow file's version as the page sees it.
func etagOf(src []byte) string {
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:8])
}

// problem is one of validate's problems, for the page.
type problem struct {
	Text   string `json:"text"` // file:line:col: message, as validate prints it
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Level  string `json:"level"` // error or warning
}

// problemsOf lists lints for the page, naming files by their name in
// the folder.
func problemsOf(lints flows.Lints) []problem {
	out := []problem{}
	for _, l := range lints {
		l.File = filepath.Base(l.File)
		lv := "error"
		if l.Level == flows.Warning {
			lv = "warning"
		}
		out = append(out, problem{Text: l.String(), Line: l.Line, Column: l.Column, Level: lv})
	}
	return out
}

// flowInfo answers what the page shows of a flow besides the
// conversation: its graph (the DOT of `flowbot graph --format dot`), its
// states, validate's problems, the env it reads and its etag.
func (p *server) flowInfo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := map[string]string{}
	for _, kv := range q["env"] {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			page[k] = v
		}
	}
	c, err := p.compile(q.Get("file"), page, nil)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	out := map[string]any{"file": q.Get("file"), "etag": etagOf(c.src), "problems": problemsOf(c.lints), "env": c.env, "ok": c.bot != nil}
	if c.bot != nil {
		f := c.bot.Flow()
		out["name"], out["start"], out["states"] = f.Name, f.Start, append([]string(nil), f.Order...)
		out["dot"] = flows.DOT(f)
		out["description"] = f.Description
	}
	writeJSON(w, http.StatusOK, out)
}

// etag answers the flow file's etag, so that the page reloads on a change.
func (p *server) etag(w http.ResponseWriter, r *http.Request) {
	path, err := p.path(r.URL.Query().Get("file"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	src, err := os.ReadFile(path)
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("the flow file is gone: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"etag": etagOf(src)})
}
