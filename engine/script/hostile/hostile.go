// Package hostile reads the script sandbox's hostile corpus
// (engine/script/testdata/hostile): scripts that try to escape a run's
// bounds, each with the answer the sandbox must give. The script host's
// tests run them directly, the server's tests and bench/sandbox serve each
// as a flow (FlowYAML). Only tests and benchmarks use it.
package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Oops is what a corpus flow says on its error path.
const Oops = "Sorry, that did not work."

// Case is one script of the corpus. Its header comments say
//
//	// want: KIND[|KIND…] [text the error must contain]
//	// text: the event text the script is given
//
// where KIND is ok, syntax, exception, timeout, memory, stack or limit.
type Case struct {
	Name   string   // the file's name without .js
	Source string   // the script
	Kinds  []string // the answers allowed, the designed one first
	Msg    string   // what the designed error's message contains
	Text   string   // the event text ("hello" when the file names none)
}

// Runs reports whether the script must run without an error.
func (c Case) Runs() bool { return len(c.Kinds) == 1 && c.Kinds[0] == "ok" }

// MayRun reports whether running without an error is one of its answers.
func (c Case) MayRun() bool { return len(c.Kinds) > 0 && c.Kinds[0] == "ok" }

// Loads reports whether the script compiles (syntax cases are refused at load).
func (c Case) Loads() bool { return len(c.Kinds) > 0 && c.Kinds[0] != "syntax" }

// Flow is the name FlowYAML gives the case's flow.
func (c Case) Flow() string { return "hostile-" + c.Name }

// Load reads every case of dir.
func Load(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.js"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no hostile corpus in %s", dir)
	}
	sort.Strings(files)
	var cases []Case
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c := Case{Name: strings.TrimSuffix(filepath.Base(f), ".js"), Source: string(b), Text: "hello"}
		for _, line := range strings.Split(c.Source, "\n") {
			if rest, ok := strings.CutPrefix(line, "// want: "); ok {
				kinds, msg, _ := strings.Cut(rest, " ")
				c.Kinds, c.Msg = strings.Split(kinds, "|"), msg
			}
			if rest, ok := strings.CutPrefix(line, "// text: "); ok {
				c.Text = rest
			}
		}
		if len(c.Kinds) == 0 {
			return nil, fmt.Errorf("%s: no `// want:` line", f)
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// FlowYAML is a flow that asks, runs script, then says "done" — or Oops on
// its error path; timeout, if not empty, is its scripts.timeout.
func FlowYAML(name, script, timeout string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nstart: ask\n", name)
	if timeout != "" {
		fmt.Fprintf(&b, "scripts: {timeout: %s}\n", timeout)
	}
	b.WriteString("on: {error: oops}\nstates:\n  ask:\n    ask: \"Say something\"\n    save: input\n    next: run\n  run:\n    script: |\n")
	for _, line := range strings.Split(script, "\n") {
		b.WriteString("      " + line + "\n")
	}
	b.WriteString("    next: done\n  done:\n    say: \"done\"\n    next: ask\n  oops:\n    say: \"" + Oops + "\"\n    next: ask\n")
	return b.String()
}
