// Package compile is flowbot's one compile-and-validate pipeline: a flow
// file is parsed and checked (flows.Parse: file:line:col problems), then
// compiled (engine: scripts that do not compile are errors) and checked
// against every channel (channels.LintFlow: choices that fall back are
// warnings). `flowbot validate`, `serve` and its reloads (runtime/flowset),
// `test` (runtime/flowtest) and `chat` all go through it, so that they
// report the same problems in the same words.
package compile

import (
	"fmt"
	"os"
	"slices"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
)

// Options configure the pipeline.
type Options struct {
	Flows  flows.Options  // parsing: ${env.NAME} lookups
	Engine engine.Options // compiling
}

// Flow compiles a parsed flow and lists the problems only a compiled flow
// shows: scripts that do not compile (errors; their states take the error
// path) and choices that fall back on some channel (warnings).
func Flow(f *flows.Flow, opts Options) (*engine.Bot, flows.Lints) {
	b := engine.NewWithOptions(f, opts.Engine)
	lints := append(slices.Clone(b.Lints()), channels.LintFlow(f)...)
	return b, lints
}

// Source parses, checks and compiles one flow file's source. The bot is
// nil when the flow has errors; lints lists every problem, sorted.
func Source(path string, src []byte, opts Options) (*engine.Bot, flows.Lints) {
	f, lints := flows.Parse(path, src, opts.Flows)
	if f == nil {
		lints.Sort()
		return nil, lints
	}
	b, more := Flow(f, opts)
	lints = append(lints, more...)
	lints.Sort()
	if lints.HasErrors() {
		return nil, lints
	}
	return b, lints
}

// File is Source of a file: it fails when the file cannot be read, or
// with a *flows.LoadError when the flow has errors. Warnings are returned
// with the bot.
func File(path string, opts Options) (*engine.Bot, flows.Lints, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read flow: %w", err)
	}
	b, lints := Source(path, src, opts)
	if b == nil {
		return nil, lints, &flows.LoadError{Lints: lints}
	}
	return b, lints, nil
}

// Dir loads a folder as serve does (flows.LoadDir: its *.yaml and *.yml
// files, no two flows of one name) and compiles each flow. It returns the
// bots of the flows without errors and every problem of every flow; err
// is for a folder that cannot be read.
func Dir(dir string, opts Options) ([]*engine.Bot, flows.Lints, error) {
	fs, lints, err := flows.LoadDir(dir, opts.Flows)
	if err != nil {
		return nil, nil, err
	}
	var bots []*engine.Bot
	for _, f := range fs {
		b, more := Flow(f, opts)
		lints = append(lints, more...)
		if more.HasErrors() {
			continue
		}
		bots = append(bots, b)
	}
	lints.Sort()
	return bots, lints, nil
}
