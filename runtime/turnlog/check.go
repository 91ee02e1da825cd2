package turnlog

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/compile"
)

// Checked is one logged turn replayed on the version it ran on (Own) and
// on the flow as it is now (Current; nil when there is none to compare).
type Checked struct {
	Record  Record
	Own     Replayed
	OwnErr  error // the version could not be compiled from the log
	Current *Replayed
	// CurrentNote says why Current is nil, or on which version it ran.
	CurrentNote string
}

// Check replays turns on their own versions (compiled from the log with
// opts) and on current (the flows as they are now, by name; nil: none).
func Check(ctx context.Context, l *Log, turns []Record, current map[string]*engine.Bot, opts compile.Options) []Checked {
	bots := map[string]*engine.Bot{}
	errs := map[string]error{}
	out := make([]Checked, 0, len(turns))
	for _, rec := range turns {
		c := Checked{Record: rec}
		key := VersionKey(rec.Flow, rec.Version)
		bot, seen := bots[key]
		if !seen {
			bot, errs[key] = l.VersionBot(rec.Flow, rec.Version, opts)
			bots[key] = bot
		}
		if bot == nil {
			c.OwnErr = errs[key]
		} else {
			c.Own = Replay(ctx, rec, bot)
		}
		switch now := current[rec.Flow]; {
		case current == nil:
		case now == nil:
			c.CurrentNote = fmt.Sprintf("no flow named %q is there now", rec.Flow)
		case c.Own.Skipped != "":
		default:
			r := Replay(ctx, rec, now)
			c.Current = &r
			c.CurrentNote = "version " + now.Flow().ShortHash()
		}
		out = append(out, c)
	}
	return out
}

// Differs reports whether the turn did not replay identically on its own
// version or on the current flow.
func (c *Checked) Differs() bool {
	return c.OwnErr != nil || (c.Own.Skipped == "" && !c.Own.Same) || (c.Current != nil && !c.Current.Same)
}

// Summary counts checked turns.
type Summary struct {
	Turns, Skipped, Own, OwnDiffer, Current, CurrentDiffer int
}

// WriteReport writes the checked turns as a test-like report, by
// conversation: one line per turn, and the differences of one that
// replays differently, "- " as logged, "+ " as replayed. It returns the
// counts.
func WriteReport(w io.Writer, checked []Checked) Summary {
	var s Summary
	conv := "\x00"
	n := 0
	for i := range checked {
		c := &checked[i]
		rec := &c.Record
		s.Turns++
		if rec.Conversation != conv {
			conv, n = rec.Conversation, 0
			fmt.Fprintf(w, "conversation %s (%s)\n", rec.Conversation, rec.Flow)
		}
		n++
		from := rec.From.State
		if from == "" {
			from = "(new)"
		}
		fmt.Fprintf(w, "  turn %d %s %s: %s → %s", n, rec.ID, describeEvent(&rec.Event), from, rec.To.State)
		sep := "; " // before the current flow's verdict
		switch {
		case c.OwnErr != nil:
			s.OwnDiffer++
			fmt.Fprintf(w, ": cannot replay: %v\n", c.OwnErr)
			continue
		case c.Own.Skipped != "":
			s.Skipped++
			fmt.Fprintf(w, ": not replayed: %s\n", c.Own.Skipped)
			continue
		case c.Own.Same:
			s.Own++
			fmt.Fprintf(w, ": identical on its version %s", rec.Version)
		default:
			s.OwnDiffer++
			fmt.Fprintf(w, ": DIFFERS on its own version %s (a turn must replay identically: please report it):\n", rec.Version)
			writeDiff(w, c.Own.Diff)
			sep = "    "
		}
		switch {
		case c.Current == nil && c.CurrentNote != "":
			fmt.Fprintf(w, "%scurrent flow: %s\n", sep, c.CurrentNote)
		case c.Current == nil:
			fmt.Fprintln(w)
		case c.Current.Same:
			s.Current++
			fmt.Fprintf(w, "%sthe same on the current flow (%s)\n", sep, c.CurrentNote)
		default:
			s.CurrentDiffer++
			fmt.Fprintf(w, "%sdiffers on the current flow (%s):\n", sep, c.CurrentNote)
			writeDiff(w, c.Current.Diff)
		}
	}
	fmt.Fprintf(w, "%d turn(s): %d identical on their own version, %d differ", s.Turns, s.Own, s.OwnDiffer)
	if s.Skipped > 0 {
		fmt.Fprintf(w, ", %d not replayed (redacted inputs)", s.Skipped)
	}
	if s.Current+s.CurrentDiffer > 0 {
		fmt.Fprintf(w, "; on the current flows: %d the same, %d differ", s.Current, s.CurrentDiffer)
	}
	fmt.Fprintln(w)
	return s
}

func writeDiff(w io.Writer, diff []string) {
	for _, d := range diff {
		fmt.Fprintf(w, "      %s\n", d)
	}
}

// describeEvent is an event in a few words.
func describeEvent(ev *engine.Event) string {
	switch {
	case ev.Name == engine.EvMessage:
		return fmt.Sprintf("message %q", ev.Text)
	case ev.Name == engine.EvClick:
		return "click " + ev.ClickID
	case ev.Name == engine.EvHTTPResult && ev.HTTP != nil:
		return fmt.Sprintf("job result %d", ev.HTTP.Status)
	case ev.Name == engine.EvSilence:
		return "follow-up"
	}
	return strings.ReplaceAll(ev.Name, "\n", " ")
}
