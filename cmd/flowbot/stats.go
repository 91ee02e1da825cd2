package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowbot/flowbot/runtime/turnlog"
)

func newStatsCmd(stdout io.Writer) *cobra.Command {
	var flow, from, until, format string
	var silent time.Duration
	cmd := &cobra.Command{
		Use:   "stats LOG [--from TIME] [--until TIME] [--flow NAME] [--format table|csv|json]",
		Short: "Print the funnel of a turn log: per flow and state, where conversations went",
		Long: `stats reads a turn log (serve --turn-log FILE|DIR) and prints, per flow and
state, how many conversations entered it, left it for each next state, ended
there (done), hit an error path there, gave up a question there, and went
silent there: a follow-up fired there, or their last turn left them there,
not done, at least --silent-after before the end of the log (or --until).

Each conversation counts once per figure. --from and --until (RFC 3339,
e.g. 2026-03-01T00:00:00Z, or a date) choose the turns by their clock.
--format csv writes one line per figure (flow,state,outcome,to,conversations)
for charts; json the rows. Redacted logs give the same funnels.`,
		Example: `  flowbot stats flowbot-data/turns/
  flowbot stats turns.jsonl --flow webshop --from 2026-03-01 --until 2026-03-08 --format csv`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("stats takes the turn log (a file or a folder), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := turnlog.FunnelOptions{Flow: flow, SilentAfter: silent}
			var err error
			if opts.From, err = parseTime("--from", from); err != nil {
				return err
			}
			if opts.Until, err = parseTime("--until", until); err != nil {
				return err
			}
			switch format {
			case turnlog.FormatTable, turnlog.FormatCSV, turnlog.FormatJSON:
			default:
				return usagef("--format must be table, csv or json, not %q", format)
			}
			l, err := turnlog.Read(args[0])
			if err != nil {
				return err
			}
			for _, w := range l.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "flowbot: warning:", w)
			}
			if l.Dropped > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "flowbot: warning: the log misses %d turn(s) its writer had to drop (its queue was full)\n", l.Dropped)
			}
			return turnlog.WriteFunnel(stdout, turnlog.Funnel(l.Turns, opts), format)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&flow, "flow", "", "count only this flow's conversations")
	fl.StringVar(&from, "from", "", "count turns from this time on (RFC 3339 or YYYY-MM-DD)")
	fl.StringVar(&until, "until", "", "count turns before this time (RFC 3339 or YYYY-MM-DD)")
	fl.StringVar(&format, "format", turnlog.FormatTable, "output: table, csv or json")
	fl.DurationVar(&silent, "silent-after", turnlog.DefaultSilentAfter, "how long without a further turn counts as gone silent")
	return cmd
}

// parseTime reads a flag's time: RFC 3339 or a date; "" is zero.
func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("%s %q: write a time as 2026-03-01T09:30:00Z or a date as 2026-03-01", flag, s)
}
