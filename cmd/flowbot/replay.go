package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/flowtest"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

func newReplayCmd(stdout io.Writer) *cobra.Command {
	var turnID, conv, flowsDir, asTest string
	cmd := &cobra.Command{
		Use:   "replay LOG [--turn ID | --conversation CID] [--flows DIR] [--as-test FILE]",
		Short: "Run logged turns again, on the version they ran on and on the flows as they are now",
		Long: `replay reads a turn log (serve --turn-log FILE|DIR) and runs each turn again
through the same turn code, from the logged session, event, clock and job
results: first on the flow version it ran on (its source is in the log),
where it must come out identical, then on the flow of the same name in
--flows as it is now, showing what would differ — texts, states, actions,
requests — as "- logged" and "+ now" lines, like a failing test.

A log written without --turn-log-personal-data holds hashes instead of
texts and variables: its turns whose inputs held none (a start, most
follow-ups) are still checked, by hash; the others are listed as not
replayed.

--as-test FILE writes one conversation as a conversation test file that
flowbot test runs (its texts as expectations, the logged job results as
mocks). The exit code is 1 when any turn differs.`,
		Example: `  flowbot replay flowbot-data/turns/
  flowbot replay turns.jsonl --conversation chatbot::42 --flows ./flows
  flowbot replay turns.jsonl --conversation chatbot::42 --as-test flows/order_lookup_test.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("replay takes the turn log (a file or a folder), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if turnID != "" && conv != "" {
				return usagef("give --turn or --conversation, not both")
			}
			l, err := turnlog.Read(args[0])
			if err != nil {
				return err
			}
			for _, w := range l.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "flowbot: warning:", w)
			}
			turns := l.Turns
			switch {
			case turnID != "":
				t, ok := l.Turn(turnID)
				if !ok {
					return fmt.Errorf("no turn %q in %s (turn ids are in the report of flowbot replay %s)", turnID, args[0], args[0])
				}
				turns = []turnlog.Record{t}
			case conv != "":
				if turns = l.Conversation(conv); len(turns) == 0 {
					return fmt.Errorf("no turns of conversation %q in %s", conv, args[0])
				}
			}
			opts := compile.Options{Flows: flows.Options{Env: os.LookupEnv}}
			if asTest != "" {
				return writeTest(stdout, l, turns, asTest, flowsDir)
			}
			var current map[string]*engine.Bot
			if flowsDir != "" {
				bots, lints, err := compile.Dir(flowsDir, opts)
				if err != nil {
					return fmt.Errorf("%v (give the folder of your flows with --flows, or --flows '' to compare with none)", err)
				}
				if lints.HasErrors() {
					fmt.Fprint(stdout, lints.Errors().String())
					return fmt.Errorf("the flows of %s have errors: fix them (flowbot validate %s)", flowsDir, flowsDir)
				}
				current = map[string]*engine.Bot{}
				for _, b := range bots {
					current[b.Flow().Name] = b
				}
			}
			checked := turnlog.Check(cmd.Context(), l, turns, current, opts)
			s := turnlog.WriteReport(stdout, checked)
			if s.OwnDiffer+s.CurrentDiffer > 0 {
				return errFailed
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&turnID, "turn", "", "replay only this turn (its id, or a unique prefix)")
	fl.StringVar(&conv, "conversation", "", "replay only this conversation's turns (its cid or Chat API id)")
	fl.StringVar(&flowsDir, "flows", "examples", "the folder of the flows as they are now ('' compares with none)")
	fl.StringVar(&asTest, "as-test", "", "write the conversation as a conversation test file (NAME_test.yaml) instead")
	return cmd
}

// writeTest writes one conversation's turns as a test file beside (and
// naming) its flow in flowsDir.
func writeTest(stdout io.Writer, l *turnlog.Log, turns []turnlog.Record, path, flowsDir string) error {
	if !flowtest.IsTestFile(path) {
		return usagef("--as-test %s: a test file's name ends in _test.yaml", path)
	}
	name := "replay of " + turns[0].Conversation
	rec, err := turnlog.AsTest(l, turns, name, os.LookupEnv)
	if err != nil {
		return err
	}
	flowPath := turns[0].Flow + ".yaml"
	if bots, _, err := compile.Dir(flowsDir, compile.Options{Flows: flows.Options{Env: os.LookupEnv}}); err == nil {
		for _, b := range bots {
			if b.Flow().Name == turns[0].Flow {
				flowPath = b.Flow().File
			}
		}
	}
	absFlow, _ := filepath.Abs(flowPath)
	absTest, _ := filepath.Abs(path)
	if rel, err := filepath.Rel(filepath.Dir(absTest), absFlow); err == nil {
		flowPath = filepath.ToSlash(rel)
	}
	var b bytes.Buffer
	if err := flowtest.Write(&b, rec.File(flowPath)); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("cannot write the test: %w", err)
	}
	for _, w := range rec.Warnings() {
		fmt.Fprintln(stdout, "warning:", w)
	}
	fmt.Fprintf(stdout, "wrote %s: %d turn(s) of conversation %s on %s (run it: flowbot test %s)\n", path, rec.Turns(), turns[0].Conversation,
		strings.TrimSpace(flowPath), path)
	return nil
}
