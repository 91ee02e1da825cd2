package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLoadSmoke runs the harness briefly, so that it keeps working: both
// targets answer every call without error.
func TestLoadSmoke(t *testing.T) {
	var out bytes.Buffer
	err := run(config{duration: 300 * time.Millisecond, warmup: 50 * time.Millisecond, concurrency: []int{4},
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

// TestRSSAndSoakSmoke runs the binary modes briefly: the rss table and the
// soak lines come out, without errors, and the soak's lookups are pushed.
func TestRSSAndSoakSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds flowbot and runs it")
	}
	var out bytes.Buffer
	c := config{mode: "rss", concurrency: []int{4}, flowsDir: "../../examples", scenario: "mixed", conversations: 300,
		checkpoints: []int{100}, idle: 100 * time.Millisecond}
	if err := runRSS(context.Background(), c, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"idle after start", "after 100 conversations", "after 300 conversations", "CPU per turn over the whole load"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the rss output", want)
		}
	}
	if strings.Contains(out.String(), "ended on an error") {
		t.Error("conversations failed")
	}

	out.Reset()
	c = config{mode: "soak", concurrency: []int{4}, flowsDir: "../../examples", scenario: "mixed", duration: 2500 * time.Millisecond,
		interval: time.Second, rate: 100, webshop: 0.5}
	if err := runSoak(context.Background(), c, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	if !regexp.MustCompile(`(?m)^\s+1s\s+\d+`).MatchString(out.String()) || !strings.Contains(out.String(), "webshop lookups answered") {
		t.Errorf("no soak lines:\n%s", out.String())
	}
}
