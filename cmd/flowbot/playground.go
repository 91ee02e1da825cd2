package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowbot/flowbot/runtime/flowtest"
	"github.com/flowbot/flowbot/runtime/playground"
)

func newPlaygroundCmd(stderr io.Writer) *cobra.Command {
	var dir, addr string
	var live bool
	cmd := &cobra.Command{
		Use:   "playground [--flows DIR] [--addr HOST:PORT]",
		Short: "Try flows in the browser: every channel side by side, the graph live",
		Long: `playground serves a web page (from files inside the binary; nothing is
fetched from the network) on which you talk to a flow of DIR. Each bot turn
is shown as web, WhatsApp, Facebook and SMS show it, side by side (change a
column's channel in its header); beside them the flow graph with the current
state and the path taken, the variables, the context size, each transition,
each HTTP or llm call with its request and answer, script errors with their
positions and validate's problems. The page follows edits of the flow file.

Each column is the same conversation on its own channel, with its own
context, played through the same turn code as flowbot serve. A tap in any
column is the same tap on every channel (on SMS the number the contact would
type); the box under a column types on that channel only.

Requests of HTTP and llm steps are answered by the mocks written on the page
(the http: format of conversation tests); with --live the ones without a mock
go to the real service, to any address, as flowbot chat does. "Save as test
file" writes DIR/NAME_playground_test.yaml, which flowbot test runs.`,
		Example: `  flowbot playground --flows examples
  # then open http://127.0.0.1:8090/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if info, err := os.Stat(dir); err != nil || !info.IsDir() {
				return usagef("--flows %q is not a folder of flow files", dir)
			}
			opts := playground.Options{Dir: dir, Env: os.LookupEnv, WriteTests: true}
			if live {
				a, err := answerer(cmd.Context(), "")
				if err != nil {
					return err
				}
				opts.Live = flowtest.Answerer(a)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "flowbot playground: the flows of %s on http://%s/ (Ctrl-C stops)\n", dir, ln.Addr())
			return servePlayground(cmd.Context(), ln, playground.New(opts))
		},
	}
	cmd.Flags().StringVar(&dir, "flows", "examples", "the folder of flow files")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8090", "the HOST:PORT to listen on")
	cmd.Flags().BoolVar(&live, "live", false, "send the requests no mock answers to the real services")
	return cmd
}

// servePlayground serves h on ln until ctx is cancelled.
func servePlayground(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if e := <-done; !errors.Is(e, http.ErrServerClosed) {
			return e
		}
		return err
	}
}
