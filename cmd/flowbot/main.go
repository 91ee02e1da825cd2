// Command flowbot runs chat bots written as YAML flows.
//
//	flowbot serve --flows examples --addr 127.0.0.1:8080   serve every flow of a folder as a Userlike webhook
//	flowbot validate examples/                             check flows and report every problem as file:line:col
//	flowbot test examples/                                 run the conversation tests (*_test.yaml)
//	flowbot chat examples/webshop.yaml --channel sms       talk to a flow in the terminal
//	flowbot graph examples/webshop.yaml                    draw a flow (Mermaid or DOT)
//	flowbot playground --flows examples                    try flows in the browser, every channel side by side
//	flowbot schema                                         print the flow language's JSON Schema
//	flowbot replay turns.jsonl --flows examples            run logged turns again; show what the flows now change
//	flowbot stats turns.jsonl --format table               the funnel per flow and state of a turn log
//	flowbot version                                        print the version
//
// Exit codes: 0 success, 1 failure (a flow with errors, a server that could
// not start), 2 usage error (unknown command or flag, missing argument).
//
// The command only wires packages together: flows loads and checks,
// runtime/server serves.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// version is flowbot's version; release builds set it with
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errFailed is an error already reported to the user: exit 1 without a
// further message.
var errFailed = errors.New("failed")

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errFailed) {
		return exitFailure
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintf(stderr, "flowbot: %v\n", err)
		path := "flowbot"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", path)
		return exitUsage
	}
	fmt.Fprintf(stderr, "flowbot: %v\n", err)
	return exitFailure
}

// isCobraUsage recognizes the usage errors cobra makes itself.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "flowbot",
		Short: "Chat bots written as YAML flows",
		Long: `flowbot runs chat bots written as YAML flows.

A flow is a readable YAML file: states that say things, ask questions, offer
choices and hand the conversation to a human. flowbot checks flows like a
compiler (every mistake as file:line:col) and serves them to chat platforms.
The conversation's state travels with each webhook call, so the server keeps
no memory per conversation.`,
		Example: `  # Check the example flows
  flowbot validate examples/

  # Serve them as Userlike chatbot webhooks on http://127.0.0.1:8080/bots/{name}/webhook
  flowbot serve --flows examples`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			return usagef("unknown command %q%s", args[0], hint)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return usagef("no command given")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newServeCmd(stderr), newValidateCmd(stdout), newTestCmd(stdout), newChatCmd(os.Stdin, stdout),
		newGraphCmd(stdout), newSchemaCmd(stdout), newVersionCmd(stdout), newReplayCmd(stdout), newStatsCmd(stdout), newPlaygroundCmd(stderr))
	return root
}
