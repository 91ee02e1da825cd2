package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFaultSmoke runs the fault harness briefly (kills, receiver
// outages), so that it keeps working: it must pass against flowbot.
func TestFaultSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds flowbot and runs it for several seconds")
	}
	var out bytes.Buffer
	c := config{duration: 6 * time.Second, killEvery: 2500 * time.Millisecond, receiverEvery: 2 * time.Second, jitter: 0.3,
		downMin: 300 * time.Millisecond, downMax: time.Second, restartDelay: 200 * time.Millisecond, userlike: 3, chat: 3, bad: 1,
		rounds: 1, think: 20 * time.Millisecond, flowsDir: "../../examples", lease: time.Second, schedule: "0s,500ms",
		drain: time.Minute, orderDelay: 50 * time.Millisecond, resultWait: 30 * time.Second}
	ok, err := runFault(context.Background(), c, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !ok || !strings.Contains(out.String(), "RESULT: PASS") {
		t.Fatal("the fault run did not pass")
	}
	if m := regexp.MustCompile(`SIGKILLed (\d+) times`).FindStringSubmatch(out.String()); m == nil || m[1] == "0" {
		t.Error("flowbot was not killed")
	}
}
