package engine

import (
	"fmt"

	"github.com/flowbot/flowbot/flows"
)

// Phases of a step kind: when the engine runs it.
const (
	phaseWait     = "wait"     // a waiting kind: run on entering, answered when the contact writes
	phaseEnter    = "enter"    // run when the state is entered, before it waits
	phaseComplete = "complete" // run when the state completes (after its wait, if any)
)

// phases says, for each step kind of flows.StepKinds, when the engine runs
// it; the step functions below run each kind by name (a kind registered in
// flows but not here panics in its golden conversation, and
// TestEveryStepKindRuns fails).
var phases = map[string]string{
	"say":    phaseEnter,
	"choice": phaseWait,
	"ask":    phaseWait,
	"wait":   phaseWait,
	"http":   phaseWait,
	"llm":    phaseWait,
	"script": phaseComplete,
	"set":    phaseComplete,
	"do":     phaseComplete,
}

// entering and completing are the kinds run on entering and on completing
// a state, in the order of flows.StepKinds.
var entering, completing = kindsOf(phaseEnter), kindsOf(phaseComplete)

func kindsOf(phase string) []flows.StepKind {
	var out []flows.StepKind
	for _, k := range flows.StepKinds {
		if phases[k.Name] == phase {
			out = append(out, k)
		}
	}
	return out
}

func unhandled(k *flows.StepKind, what string) string {
	return fmt.Sprintf("engine: step kind %q is registered in flows.StepKinds but the engine does not %s it (engine/kinds.go)", k.Name, what)
}

// enterStep runs, when a state is entered, the step the state waits on:
// ask the question, offer the choice, make the request.
func (r *run) enterStep(k *flows.StepKind, st *flows.State) {
	switch k.Name {
	case "ask":
		r.ask(st.Ask)
	case "choice":
		r.offer(st)
	case "wait":
	case "http":
		r.request(st)
	case "llm":
		r.llmRequest(st)
	default:
		panic(unhandled(k, "enter"))
	}
}

// answerStep handles the contact's message, click, media or location in a
// state that waits on k.
func (r *run) answerStep(k *flows.StepKind, st *flows.State) {
	switch k.Name {
	case "ask":
		r.answerQuestion(st)
	case "choice":
		r.answerChoice(st)
	case "wait":
		if r.complete(st) && !r.next(st) {
			r.s.Done = true
		}
	case "http":
		if r.s.AwaitSeq == 0 {
			r.begin(true)
			return
		}
		r.say(r.flow.Texts.Busy)
	case "llm":
		if r.s.AwaitSeq == 0 {
			r.begin(true)
			return
		}
		// A message while the model is thinking: ask again with it; the
		// earlier reply, when it comes, is no longer awaited.
		r.llmRequest(st)
	default:
		panic(unhandled(k, "answer"))
	}
}

// resultStep takes a job's result (EvHTTPResult) in a state that waits on
// k; false when k makes no job.
func (r *run) resultStep(k *flows.StepKind) bool {
	switch k.Name {
	case "http":
		r.httpResult()
	case "llm":
		r.llmResult()
	default:
		return false
	}
	return true
}

// runStep runs a non-waiting step of st (on entering or completing);
// false means it failed (the error path was taken).
func (r *run) runStep(k *flows.StepKind, st *flows.State) bool {
	switch k.Name {
	case "say":
		return r.sayAll(st)
	case "script":
		return r.script(st)
	case "set":
		return r.setVars(st)
	case "do":
		return r.act(st)
	}
	panic(unhandled(k, "run"))
}
