package flowtest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

// TestCoverageCounts: the coverage of testdata/coverage/partial.yaml by
// its test, counted by hand from the flow: 7 states (menu, ask and done
// reached by the first test, help by the second, which starts there); 10
// transitions (2 options, ask's next and give-up, fetch's next and 404,
// missing's and help's next, the command and the flow-wide on: error), of
// which option a, ask's next, the command and help's next are taken.
func TestCoverageCounts(t *testing.T) {
	cov := &Coverage{}
	rep, err := RunFileCoverage("testdata/coverage/partial_test.yaml", flows.Options{}, cov)
	if err != nil || rep.Passed != 2 {
		t.Fatalf("%v %+v", err, rep)
	}
	got := cov.Flows()
	want := []FlowCoverage{{
		Flow: "partial", File: "testdata/coverage/partial.yaml",
		States: Count{4, 7}, Options: Count{1, 2}, Transitions: Count{4, 10}, ErrorPaths: Count{0, 2}, GiveUps: Count{0, 1},
		Missed: []string{
			"state fetch", "state missing", "state oops",
			"transition menu --option:b--> fetch",
			"transition ask --give_up--> help",
			"transition fetch --next--> done",
			"transition fetch --status:404--> missing",
			"transition missing --next--> done",
			"flow-wide on: error --> oops",
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("coverage:\n got %+v\nwant %+v", got, want)
	}
	var b strings.Builder
	WriteTable(&b, got)
	if !strings.Contains(b.String(), "partial                  4/7      1/2      4/10         0/2          0/1") {
		t.Errorf("table:\n%s", b.String())
	}

	// Running the file again adds nothing new; without a coverage, runs
	// record nothing.
	if _, err := RunFileCoverage("testdata/coverage/partial_test.yaml", flows.Options{}, cov); err != nil {
		t.Fatal(err)
	}
	if again := cov.Flows(); !reflect.DeepEqual(again, want) {
		t.Errorf("a second run changed the coverage: %+v", again)
	}
}

// TestCoverageCommandTakesAnOptionsClicks: a command with clicks: fires
// before the option of that id, so the option counts as reached when the
// command fires in its state.
func TestCoverageCommandTakesAnOptionsClicks(t *testing.T) {
	cov := &Coverage{}
	if _, err := RunFileCoverage("../../examples/campaign-signup_test.yaml", flows.Options{}, cov); err != nil {
		t.Fatal(err)
	}
	fc := cov.Flows()[0]
	if fc.Options != (Count{2, 2}) || len(fc.Missed) != 0 { // start, on both welcomes
		t.Errorf("campaign-signup: %+v", fc)
	}
}
