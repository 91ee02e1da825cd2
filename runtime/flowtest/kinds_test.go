package flowtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

// TestEveryStepKindHasAGoldenConversation: every registered step kind
// (flows.StepKinds) has a flow in testdata/kinds that uses it and a
// conversation test that passes, so that a new kind cannot be added without
// one (docs/step-kinds.md). Its schema entry is checked by flows'
// TestStepKindsOwnTheirKeys.
func TestEveryStepKindHasAGoldenConversation(t *testing.T) {
	for _, k := range flows.StepKinds {
		t.Run(k.Name, func(t *testing.T) {
			flowFile := filepath.Join("testdata", "kinds", k.Name+".yaml")
			testFile := filepath.Join("testdata", "kinds", k.Name+"_test.yaml")
			for _, f := range []string{flowFile, testFile} {
				if _, err := os.Stat(f); err != nil {
					t.Fatalf("step kind %q has no golden conversation: %v (docs/step-kinds.md)", k.Name, err)
				}
			}
			f, err := flows.Load(flowFile, flows.Options{})
			if err != nil {
				t.Fatal(err)
			}
			used := false
			for _, st := range f.States {
				used = used || k.In(st)
			}
			if !used {
				t.Fatalf("%s has no state with a %q step", flowFile, k.Name)
			}
			rep, err := RunFile(testFile, flows.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, fail := range rep.Failures {
				t.Errorf("%s", fail)
			}
			if rep.Passed == 0 {
				t.Errorf("%s: no test ran", testFile)
			}
		})
	}
}
