// Package newcomer holds three flows written the way a new author would
// write them from docs/flows.md alone — a salon booking bot, an NPS
// survey and a lead qualification bot — with their conversation tests.
// The test below keeps them free of any problem `flowbot validate` reports
// (errors and warnings alike) and runs their tests on every channel named.
package newcomer

import (
	"path/filepath"
	"testing"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/flowtest"
)

// maxStates bounds each flow's states: the same bots took more states
// before choices could save their answer, validate inputs and branch by
// `next` (lead: 12 + 6 states; salon: 11; survey: 9).
var maxStates = map[string]int{"lead.yaml": 7, "salon.yaml": 7, "survey.yaml": 6}

func TestNewcomerFlowsValidateClean(t *testing.T) {
	for file, most := range maxStates {
		b, lints, err := compile.File(file, compile.Options{})
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if len(lints) > 0 {
			t.Errorf("%s: want no problem at all, got:\n%s", file, lints)
		}
		if n := len(b.Flow().States); n > most {
			t.Errorf("%s has %d states, want at most %d", file, n, most)
		}
	}
}

func TestNewcomerConversations(t *testing.T) {
	files, err := flowtest.Find([]string{"."})
	if err != nil || len(files) != len(maxStates) {
		t.Fatalf("want a test file per flow: %v %v", files, err)
	}
	for _, f := range files {
		rep, err := flowtest.RunFile(filepath.Clean(f), flows.Options{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, fail := range rep.Failures {
			t.Errorf("%s", fail)
		}
		if rep.Passed == 0 {
			t.Errorf("%s: no test ran", f)
		}
	}
}
