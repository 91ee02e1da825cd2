package turnlog

import (
	"fmt"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/flowtest"
)

// AsTest plays one conversation's logged turns again, the way `flowbot
// test` plays a test (flowtest.Exchange, on the version the first turn
// ran on, compiled with env), into a recording that writes it as a test
// file which passes on that version: each contact event a turn, what the
// bot answered its expectations, each job's logged result a mock. A job's
// result turn (an async request answered later) is folded into the turn
// that asked for it, as the test runner makes async requests at once.
func AsTest(l *Log, turns []Record, name string, env flows.EnvFunc) (*flowtest.Recording, error) {
	if len(turns) == 0 {
		return nil, fmt.Errorf("no turns to write as a test")
	}
	first := turns[0]
	for _, t := range turns {
		if t.Conversation != first.Conversation || t.Flow != first.Flow {
			return nil, fmt.Errorf("the turns are of more than one conversation (%s, %s): choose one with --conversation", first.Conversation, t.Conversation)
		}
		if t.InputsRedacted {
			return nil, fmt.Errorf("turn %s was logged redacted: a test needs the texts the contact sent (serve --turn-log-personal-data keeps them)", t.ID)
		}
	}
	v, ok := l.Versions[VersionKey(first.Flow, first.Version)]
	if !ok {
		return nil, fmt.Errorf("the log holds no source for version %s of flow %q", first.Version, first.Flow)
	}
	rec := flowtest.NewRecording(name, first.Event.Channel, first.From.State, first.From.Vars)
	bot, lints := compile.Source(v.File, []byte(v.Source), compile.Options{Flows: flows.Options{Env: rec.Env(env)}})
	if bot == nil {
		return nil, fmt.Errorf("version %s of flow %q does not compile:\n%s", first.Version, first.Flow, lints.Errors())
	}
	results := map[int]engine.HTTPResult{} // by job number
	for _, t := range turns {
		for _, j := range t.Jobs {
			results[j.Job.Seq] = j.Result
		}
		if t.Event.HTTP != nil {
			results[t.Event.HTTP.Seq] = *t.Event.HTTP
		}
	}
	answer := rec.Answerer(func(job *engine.Job) (engine.HTTPResult, error) {
		res, ok := results[job.Seq]
		if !ok {
			return engine.HTTPResult{}, fmt.Errorf("the log holds no result for request %d (%s)", job.Seq, describeJob(job))
		}
		res.Seq = job.Seq
		return res, nil
	})
	ctx, err := engine.EncodeContext(first.From.Engine())
	if err != nil {
		return nil, err
	}
	if first.From.State == "" {
		ctx = nil
	}
	for _, t := range turns {
		if t.Event.Name == engine.EvHTTPResult || t.Outcome == OutcomeDropped {
			continue
		}
		ex, err := flowtest.Exchange(bot, ctx, t.Event, answer)
		if err != nil {
			return nil, fmt.Errorf("turn %s: %w", t.ID, err)
		}
		if err := rec.Turn(t.Event, ex); err != nil {
			return nil, fmt.Errorf("turn %s: %w", t.ID, err)
		}
		ctx = ex.Context
	}
	return rec, nil
}
