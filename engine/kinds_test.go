package engine

import (
	"testing"

	"github.com/flowbot/flowbot/flows"
)

// TestEveryStepKindRuns: every step kind of flows.StepKinds has a phase
// in engine/kinds.go that matches whether it waits, and every phase names
// a registered kind, so that a kind cannot be registered in flows but
// forgotten here (or the other way round). That the step functions run it
// is shown by its golden conversation (runtime/flowtest's
// TestEveryStepKindHasAGoldenConversation): a kind they do not know
// panics there.
func TestEveryStepKindRuns(t *testing.T) {
	registered := map[string]bool{}
	for _, k := range flows.StepKinds {
		registered[k.Name] = true
		switch phase := phases[k.Name]; {
		case phase == "":
			t.Errorf("step kind %q has no phase in engine/kinds.go: the engine never runs it", k.Name)
		case k.Waits != (phase == phaseWait):
			t.Errorf("step kind %q: waits %v, but its phase is %q", k.Name, k.Waits, phase)
		}
	}
	for name := range phases {
		if !registered[name] {
			t.Errorf("engine/kinds.go has a phase for %q, which is not a kind of flows.StepKinds", name)
		}
	}
	if len(entering)+len(completing) == 0 {
		t.Fatal("no kinds run on entering or completing")
	}
}
