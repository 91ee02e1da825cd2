package main

import (
	"bytes"
	"regexp"
	"testing"
	"time"
)

// TestLoadSmoke runs the harness briefly, so that it keeps working: both
// targets answer every call without error.
func TestLoadSmoke(t *testing.T) {
	var out bytes.Buffer
	err := run(config{duration: 300 * time.Millisecond, warmup: 50 * time.Millisecond, concurrency: 4,
		flowsDir: "../../examples", scenario: "mixed", target: "both", rounds: 1}, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, target := range []string{"floor", "flowbot"} {
		m := regexp.MustCompile(`(?m)^` + target + `\s+4\s+(\d+)\s+\d+\s+\S+\s+\S+\s+(\d+)$`).FindStringSubmatch(out.String())
		if m == nil || m[1] == "0" || m[2] != "0" {
			t.Errorf("%s: no successful requests, or errors:\n%s", target, out.String())
		}
	}
	if !regexp.MustCompile(`ratio flowbot/floor: \d`).MatchString(out.String()) {
		t.Errorf("no ratio:\n%s", out.String())
	}
}
