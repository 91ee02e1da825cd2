package flowtest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
)

var update = flag.Bool("update", false, "rewrite golden files")

func orderEnv(name string) (string, bool) {
	if name == "ORDER_API_URL" {
		return "http://orders.test", true
	}
	return "", false
}

// TestExamples runs every example's conversation tests.
func TestExamples(t *testing.T) {
	files, err := Find([]string{"../../examples"})
	if err != nil || len(files) < 3 {
		t.Fatalf("want the example test files: %v %v", files, err)
	}
	for _, f := range files {
		rep, err := RunFile(f, flows.Options{Env: orderEnv})
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

// TestFailuresAreReported runs a test file whose expectations are wrong and
// compares the report with a golden file.
func TestFailuresAreReported(t *testing.T) {
	checkReport(t, "testdata/failing_test.yaml", "testdata/failing.golden", 1, 4)
}

func examplePath(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("../../examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAnswerKeepsKindsApart checks that an HTTP job never takes an llm mock
// and an llm job never an HTTP mock.
func TestAnswerKeepsKindsApart(t *testing.T) {
	anyText, reply := "", "hello"
	llmMock := Mock{LLM: &anyText, Reply: &reply}
	httpMock := Mock{URL: "/./", Body: "{}"}
	httpJob := &engine.Job{Seq: 1, Method: "GET", URL: "http://x.test/"}
	llmJob := &engine.Job{Seq: 2, LLM: &engine.LLMRequest{Messages: []engine.LLMMessage{{Role: "user", Content: "hi"}}}}

	if _, err := Answer([]Mock{llmMock}, httpJob); err == nil || !strings.Contains(err.Error(), "no http mock for GET http://x.test/") {
		t.Errorf("HTTP job against an llm mock: %v", err)
	}
	_, err := Answer([]Mock{httpMock}, llmJob)
	if want := `no llm mock for the message "hi" (add one under the test's http: with llm: and reply:)`; err == nil || err.Error() != want {
		t.Errorf("llm job against an HTTP mock: %v", err)
	}
	res, err := Answer([]Mock{httpMock, llmMock}, llmJob)
	if err != nil || res.Seq != 2 || res.Status != 200 || string(res.Body) != "hello" || res.Err != "" {
		t.Errorf("llm job: %+v %v", res, err)
	}
	res, err = Answer([]Mock{llmMock, httpMock}, httpJob)
	if err != nil || res.Seq != 1 || string(res.Body) != "{}" {
		t.Errorf("HTTP job: %+v %v", res, err)
	}
	down := "down"
	res, err = Answer([]Mock{{LLM: &anyText, Error: down}}, llmJob)
	if err != nil || res.Err != "down" || res.Status != 0 {
		t.Errorf("llm error mock: %+v %v", res, err)
	}
}

// TestLLMAndSilenceFailures checks the messages of failing llm and
// silence turns.
func TestLLMAndSilenceFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "coach_test.yaml")
	src := `flow: ` + examplePath(t, "coach.yaml") + `
tests:
  - name: no llm mock
    state: ask_goal
    http: [{url: /./, body: "{}"}]
    turns:
      - send: run
  - name: wrong system prompt
    state: ask_goal
    http: [{llm: run, system_contains: swim, reply: ok}]
    turns:
      - send: run
  - name: missing history
    state: listen
    http: [{llm: "", history_contains: earlier, reply: ok}]
    turns:
      - send: run
  - name: silence before the start
    turns:
      - silence: true
  - name: silence without a rule
    state: offline
    turns:
      - silence: true
  - name: silence after the end
    state: listen
    turns:
      - silence: true
        expect: [{match: get on}, {event: end}]
      - silence: true
  - name: silence after the rules fired
    state: ask_goal
    turns:
      - silence: 10m
        expect: [{match: Still there}]
      - silence: true
  - name: silence due later
    state: listen
    turns:
      - silence: 30m
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := RunFile(path, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`:7: no llm mock [web] turn 1:` + "\n" + `    no llm mock for the message "run" (add one under the test's http: with llm: and reply:)`,
		`:12: wrong system prompt [web] turn 1:` + "\n" + `    llm mock (line 10): the system prompt does not contain "swim"; it is:`,
		`:17: missing history [web] turn 1:` + "\n" + `    llm mock (line 15): no earlier message of the transcript contains "earlier"; they are:` + "\n        (none)",
		`:20: silence before the start [web] turn 1:` + "\n" + "    silence: the conversation has not started, so no `on_silence` rule is armed",
		`:24: silence without a rule [web] turn 1:` + "\n" + "    silence: the state \"offline\" has no `on_silence` rule armed (give it one, or let the contact write instead)",
		`:30: silence after the end [web] turn 2:` + "\n" + "    silence: the conversation ended in state \"done\", so no `on_silence` rule is armed",
		`:36: silence after the rules fired [web] turn 2:` + "\n" + "    silence: the state \"ask_goal\" has no `on_silence` rule armed: its rules have already fired (a message from the contact arms the first again)",
		`:40: silence due later [web] turn 1:` + "\n" + `    silence: the armed follow-up (rule 1 of "listen") is due after 1h, not 30m`,
	}
	if rep.Passed != 0 || len(rep.Failures) != len(want) {
		t.Errorf("want %d failures and no pass, got %d and %d", len(want), len(rep.Failures), rep.Passed)
	}
	for i, f := range rep.Failures {
		if i < len(want) && !strings.Contains(f.String(), want[i]) {
			t.Errorf("failure %d:\n%s\nwant it to contain:\n%s", i+1, f, want[i])
		}
	}
}
