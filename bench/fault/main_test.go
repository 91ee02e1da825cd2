package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/store/storetest"
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

// TestFaultThreeInstancesOnPostgres runs the harness briefly with three
// instances on one PostgreSQL database behind the round-robin client,
// random instances killed, and a third of the Userlike conversations
// moving on before their result: nothing lost, nothing stale.
func TestFaultThreeInstancesOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds flowbot and runs three of it for several seconds")
	}
	storetest.Address(t, "postgres") // skips, or fails with CI=true, when unreachable
	base := os.Getenv("FLOWBOT_TEST_DATABASE_URL")
	if base == "" {
		base = storetest.DefaultPostgresURL
	}
	var out bytes.Buffer
	c := config{duration: 8 * time.Second, killEvery: 2 * time.Second, receiverEvery: 3 * time.Second, jitter: 0.3,
		downMin: 300 * time.Millisecond, downMax: time.Second, restartDelay: 200 * time.Millisecond, userlike: 6, chat: 2, bad: 1,
		rounds: 1, think: 20 * time.Millisecond, flowsDir: "../../examples", lease: time.Second, schedule: "0s,500ms",
		drain: time.Minute, orderDelay: 100 * time.Millisecond, resultWait: 30 * time.Second,
		database: base, instances: 3, moveOn: 0.3}
	ok, err := runFault(context.Background(), c, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !ok || !strings.Contains(out.String(), "RESULT: PASS") {
		t.Fatal("the fault run did not pass")
	}
	if m := regexp.MustCompile(`moved on \(menu\) before the result: (\d+) conversations`).FindStringSubmatch(out.String()); m == nil || m[1] == "0" {
		t.Error("no conversation moved on before its result")
	}
}
