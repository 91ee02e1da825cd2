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
	out := smoke(t, func(c *config) {})
	if m := regexp.MustCompile(`SIGKILLed (\d+) times`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Error("flowbot was not killed")
	}
}

// TestFaultThreeInstancesOnPostgres runs the harness briefly with three
// instances on one PostgreSQL database behind the round-robin client,
// random instances killed, a third of the Userlike conversations moving
// on before their result, and conversations with follow-ups, half of them
// answered before the reminder: nothing lost, nothing stale.
func TestFaultThreeInstancesOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds flowbot and runs three of it for several seconds")
	}
	storetest.Address(t, "postgres") // skips, or fails with CI=true, when unreachable
	base := os.Getenv("FLOWBOT_TEST_DATABASE_URL")
	if base == "" {
		base = storetest.DefaultPostgresURL
	}
	out := smoke(t, func(c *config) {
		c.duration, c.killEvery, c.receiverEvery, c.userlike, c.chat, c.orderDelay = 8*time.Second, 2*time.Second, 3*time.Second, 6, 2, 100*time.Millisecond
		c.database, c.instances, c.moveOn, c.followUps = base, 3, 0.3, 3
	})
	if m := regexp.MustCompile(`moved on \(menu\) before the result: (\d+) conversations`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Error("no conversation moved on before its result")
	}
	if m := regexp.MustCompile(`follow-ups: \d+ conversations \(0 did not complete\); reminder pushed (\d+), LOST 0, STALE \(a state already left\) 0`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Error("no follow-up pushed, or one lost or stale")
	}
}

// smoke runs a short fault run, its settings changed by set, and fails
// the test unless it passes; it returns the summary.
func smoke(t *testing.T, set func(*config)) string {
	t.Helper()
	var out bytes.Buffer
	c := config{duration: 6 * time.Second, killEvery: 2500 * time.Millisecond, receiverEvery: 2 * time.Second, jitter: 0.3,
		downMin: 300 * time.Millisecond, downMax: time.Second, restartDelay: 200 * time.Millisecond, userlike: 3, chat: 3, bad: 1,
		rounds: 1, think: 20 * time.Millisecond, flowsDir: "../../examples", lease: time.Second, schedule: "0s,500ms",
		drain: time.Minute, orderDelay: 50 * time.Millisecond, resultWait: 30 * time.Second}
	set(&c)
	ok, err := runFault(context.Background(), c, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !ok || !strings.Contains(out.String(), "RESULT: PASS") {
		t.Fatal("the fault run did not pass")
	}
	return out.String()
}
