package turnlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/turn"
)

// Replayed is a logged turn run again.
type Replayed struct {
	// Skipped says why the turn could not be run again (its inputs were
	// redacted); the other fields are then empty.
	Skipped string
	// Record is the replay as the log would have kept it (redacted like
	// the logged one); Outcome is turn.Run's.
	Record  Record
	Outcome turn.Outcome
	// Same: the replay produced exactly what the turn did (equal digests).
	Same bool
	// Diff lists what differs, like a test's failure: "- " the logged
	// line, "+ " the replay's (empty when Same).
	Diff []string
}

// Replay runs the logged turn rec again on bot through turn.Run: from
// the logged session before, with the logged event and clock, the
// request's logged settings, and each job answered with the result it
// got (a job the log does not hold gets an error result). On the version
// the turn ran on, a turn replays identically: Same. A turn whose inputs
// were redacted cannot be run again (Skipped).
func Replay(ctx context.Context, rec Record, bot *engine.Bot) Replayed {
	if rec.InputsRedacted {
		return Replayed{Skipped: "its inputs hold personal data the log redacted (serve --turn-log-personal-data keeps them)"}
	}
	from := rec.From.Engine()
	req := turn.Request{Deployment: engine.NewDeployment(bot), Session: &from, ContextErr: contextErr(rec.ContextError),
		Keys: replayKeys(rec.Keys), Binding: rec.Conversation, Event: rec.Event, Text: rec.Text, Carry: rec.Carry,
		QueueAsync: rec.QueueAsync, Chain: rec.Chain, Now: func() time.Time { return rec.Now }}
	if !rec.LeaveJobs {
		req.Jobs = &answers{rec: &rec}
	}
	if rec.Event.Location != nil && rec.Redacted {
		return Replayed{Skipped: "its location was redacted"}
	}
	o, _ := turn.Run(ctx, req) // the deployment is not nil
	got := New(&req, &o, rec.At)
	if rec.Redacted {
		Redact(&got)
	}
	out := Replayed{Record: got, Outcome: o, Same: got.Digest == rec.Digest}
	if !out.Same {
		out.Diff = diffLines(Lines(&rec), Lines(&got))
		if len(out.Diff) == 0 {
			out.Diff = []string{"what differs is not shown (an option's label, a job's headers or body): the digests differ"}
		}
	}
	return out
}

// answers answers a replayed turn's jobs with the logged results, in order.
type answers struct {
	rec  *Record
	next int
}

// Run answers the next job with the logged result, if the logged job is
// the same request.
func (a *answers) Run(_ context.Context, job *engine.Job) engine.HTTPResult {
	if a.next >= len(a.rec.Jobs) {
		return engine.HTTPResult{Seq: job.Seq, Err: "replay: the log holds no result for this request (the turn made fewer)"}
	}
	logged := a.rec.Jobs[a.next]
	a.next++
	if !sameJob(job, &logged.Job, a.rec.Redacted) {
		return engine.HTTPResult{Seq: job.Seq, Err: "replay: the turn made another request here: " + describeJob(&logged.Job)}
	}
	res := logged.Result
	res.Seq = job.Seq
	return res
}

// sameJob: the job made is the logged one (redacted like it), its
// timeout aside.
func sameJob(made, logged *engine.Job, redacted bool) bool {
	m, l := *made, *logged
	m.Timeout, l.Timeout = 0, 0
	a, b := enc{}, enc{}
	if redacted {
		a.red = &redactor{}
	}
	a.job(&m)
	b.job(&l)
	return bytes.Equal(a.b, b.b)
}

// contextErr is the logged context error as turn.Run takes it: the
// engine's sentinel errors keep their identity (turn.ContextKindOf).
func contextErr(msg string) error {
	if msg == "" {
		return nil
	}
	for _, e := range []error{engine.ErrContextUnknownKey, engine.ErrContextUnsigned, engine.ErrContextForged, engine.ErrForeignContext} {
		if strings.Contains(msg, e.Error()) {
			return e
		}
	}
	return errors.New(msg)
}

// replayKeys is a key ring that seals like the logged one (same key id,
// encrypting or not) with a secret of its own: the turn measures its
// variables against a sealed context of the same size.
func replayKeys(desc string) *engine.ContextKeys {
	if desc == "" {
		return nil
	}
	secret := make([]byte, 32)
	rand.Read(secret) // never fails (Go 1.24+)
	id, enc, _ := strings.Cut(desc, ":")
	spec := id + ":" + base64.StdEncoding.EncodeToString(secret)
	if enc == "enc" {
		spec += ":enc"
	}
	k, err := engine.ParseContextKeys(spec)
	if err != nil {
		return nil
	}
	return k
}

// VersionBot compiles the source of a version the log holds, with the
// engine options and ${env.NAME} lookups given; it fails when the log
// lacks it or it compiles to another version (the environment differs).
func (l *Log) VersionBot(flow, version string, opts compile.Options) (*engine.Bot, error) {
	v, ok := l.Versions[VersionKey(flow, version)]
	if !ok {
		return nil, fmt.Errorf("the log holds no source for version %s of flow %q (was its file cut or rotated away?)", version, flow)
	}
	name := v.File
	if name == "" {
		name = flow + ".yaml"
	}
	bot, lints := compile.Source(name, []byte(v.Source), opts)
	if bot == nil {
		return nil, fmt.Errorf("version %s of flow %q no longer compiles:\n%s", version, flow, lints.Errors().String())
	}
	if got := bot.Flow().ShortHash(); got != version {
		return nil, fmt.Errorf("version %s of flow %q compiles here to version %s: does it read ${env.…} variables set differently than where it ran?", version, flow, got)
	}
	return bot, nil
}

// Lines describes what a turn produced, one line per fact, for diffs:
// the actions, the requests made and left to queue, the follow-up, the
// state after, its variables, the outcome and problems.
func Lines(rec *Record) []string {
	var out []string
	for _, a := range rec.Actions {
		out = append(out, describeAction(a))
	}
	for _, j := range rec.Jobs {
		out = append(out, "request: "+describeJob(&j.Job))
	}
	if rec.Queued != nil {
		out = append(out, "queued: "+describeJob(rec.Queued))
	}
	if t := rec.Timer; t != nil {
		out = append(out, fmt.Sprintf("follow-up: %s rule %d after %s", t.State, t.Rule, flows.ShortDuration(t.After)))
	}
	state := "state: " + rec.To.State
	if rec.To.Done {
		state += " (done)"
	}
	out = append(out, state)
	if rec.To.Retries > 0 {
		out = append(out, fmt.Sprintf("retries: %d", rec.To.Retries))
	}
	for _, k := range sortedKeys(rec.To.Vars) {
		out = append(out, fmt.Sprintf("var %s: %q", k, rec.To.Vars[k]))
	}
	if rec.Outcome != OutcomeAnswered {
		out = append(out, "outcome: "+rec.Outcome)
	}
	for _, e := range rec.Errors {
		out = append(out, "error: "+e)
	}
	return out
}

func describeAction(a engine.Action) string {
	switch a.Kind {
	case engine.ActText:
		return fmt.Sprintf("text: %q", a.Text)
	case engine.ActChoice:
		if a.Choice == nil {
			break
		}
		var opts []string
		for _, o := range a.Choice.Options {
			opts = append(opts, fmt.Sprintf("%s %q", o.ID, o.Label))
		}
		return fmt.Sprintf("choice: %q [%s]", a.Choice.Body, strings.Join(opts, " | "))
	case engine.ActMedia:
		if a.Media != nil {
			return fmt.Sprintf("media: %s %s %q", a.Media.Type, a.Media.URL, a.Media.Caption)
		}
	case engine.ActNavigate:
		return "navigate: " + a.URL
	case engine.ActDelay:
		return fmt.Sprintf("delay: %gs", a.Seconds)
	case engine.ActPlatform:
		p, _ := json.Marshal(a.Payload)
		return fmt.Sprintf("platform: %s %s", a.Name, p)
	}
	b, _ := json.Marshal(a)
	return fmt.Sprintf("%s: %s", a.Kind, b)
}

func describeJob(j *engine.Job) string {
	if j.LLM != nil {
		return fmt.Sprintf("llm (%d messages)", len(j.LLM.Messages))
	}
	s := j.Method + " " + j.URL
	if len(j.Body) > 0 {
		s += " " + string(j.Body)
	}
	if j.Async {
		s += " (async)"
	}
	return s
}

// diffLines is a line diff of want and got: common lines are left out,
// "- " lines only in want, "+ " lines only in got, in order.
func diffLines(want, got []string) []string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+want[i])
			i++
		default:
			out = append(out, "+ "+got[j])
			j++
		}
	}
	return out
}

// sortedKeys are m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	return appendSortedKeys(make([]string, 0, len(m)), m)
}

// appendSortedKeys appends m's keys, sorted, to keys.
func appendSortedKeys[V any](keys []string, m map[string]V) []string {
	start := len(keys)
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys[start:])
	return keys
}
