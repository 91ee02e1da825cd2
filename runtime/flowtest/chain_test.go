package flowtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flowbot/flowbot/flows"
)

// TestJobChainCapAsServers: a conversation test chains at most as many
// HTTP requests as both server modes (runtime/turn.MaxChainedJobs, 4): the
// fifth in a row takes the flow's error path.
func TestJobChainCapAsServers(t *testing.T) {
	dir := t.TempDir()
	flow := `name: chain
start: a
on: {error: failed}
states:
  a: {http: {url: "http://api.test/1"}, next: b}
  b: {http: {url: "http://api.test/2"}, next: c}
  c: {http: {url: "http://api.test/3"}, next: d}
  d: {http: {url: "http://api.test/4"}, next: e}
  e: {http: {url: "http://api.test/5"}, next: done}
  done: {say: all five, do: [end]}
  failed: {say: gave up, do: [end]}
`
	test := `tests:
  - name: the fifth request in a row is refused
    http:
      - {url: "/^http://api\\.test/[0-9]$/", json: {}}
    turns:
      - send: start
        expect: ["gave up", {event: end}]
`
	if err := os.WriteFile(filepath.Join(dir, "chain.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chain_test.yaml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := RunFile(filepath.Join(dir, "chain_test.yaml"), flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Failures {
		t.Errorf("%s", f)
	}
	if rep.Passed != 1 {
		t.Fatalf("%d passed", rep.Passed)
	}
}
