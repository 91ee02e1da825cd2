package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

const orderAPI = "ORDER_API_URL=http://orders.test"

// webshopLog logs one webshop conversation (with personal data) as serve
// would, with the flow in a folder of its own, and returns the log's and
// the folder's paths.
func webshopLog(t *testing.T) (logPath, flowsDir string) {
	t.Helper()
	dir := t.TempDir()
	flowsDir = filepath.Join(dir, "flows")
	src, err := os.ReadFile(filepath.Join(examples(t), "webshop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	flowFile := filepath.Join(flowsDir, "webshop.yaml")
	if err := os.WriteFile(flowFile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	bot, _, err := compile.File(flowFile, compile.Options{Flows: flows.Options{Env: func(string) (string, bool) { return "http://orders.test", true }}})
	if err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(dir, "turns.jsonl")
	w, err := turnlog.Open(logPath, turnlog.Options{PersonalData: true})
	if err != nil {
		t.Fatal(err)
	}
	jobs := turn.RunnerFunc(func(_ context.Context, job *engine.Job) engine.HTTPResult {
		return engine.HTTPResult{Seq: job.Seq, Status: 200, Body: []byte(`{"status":"shipped"}`)}
	})
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var ctx []byte
	for _, ev := range []engine.Event{{Name: engine.EvStart}, {Name: engine.EvClick, ClickID: "delivery"},
		{Name: engine.EvMessage, Text: "a 12345"}, {Name: engine.EvClick, ClickID: "hours"}} {
		ev.Channel, ev.Now = "web", now
		now = now.Add(time.Minute)
		o, _ := turn.Run(context.Background(), turn.Request{Deployment: engine.NewDeployment(bot), Context: ctx, Binding: "c1", Event: ev, Jobs: jobs, Observe: w})
		ctx = o.Context
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return logPath, flowsDir
}

func TestReplayCommand(t *testing.T) {
	logPath, flowsDir := webshopLog(t)
	code, out, errOut := flowbot(t, []string{orderAPI}, "replay", logPath, "--flows", flowsDir)
	if code != 0 || !strings.Contains(out, "4 turn(s): 4 identical on their own version, 0 differ; on the current flows: 4 the same, 0 differ") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}

	// The flow's welcome edited: the replay shows the start turn's change.
	flowFile := filepath.Join(flowsDir, "webshop.yaml")
	src, _ := os.ReadFile(flowFile)
	if err := os.WriteFile(flowFile, []byte(strings.Replace(string(src), "I'm the shop's bot.", "I am its bot.", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = flowbot(t, []string{orderAPI}, "replay", logPath, "--flows", flowsDir)
	want := "      - text: \"Welcome to our shop! I'm the shop's bot.\"\n      + text: \"Welcome to our shop! I am its bot.\"\n"
	if code != 1 || !strings.Contains(out, "on the current flows: 3 the same, 1 differ") || !strings.Contains(out, want) ||
		strings.Count(out, "differs on the current flow") != 1 || !strings.Contains(strings.Split(out, "\n")[1], "start: (new) → menu") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	os.WriteFile(flowFile, src, 0o644)

	// --as-test writes a test file that flowbot test passes.
	testFile := filepath.Join(flowsDir, "webshop_replay_test.yaml")
	code, out, errOut = flowbot(t, []string{orderAPI}, "replay", logPath, "--conversation", "c1", "--flows", flowsDir, "--as-test", testFile)
	if code != 0 || !strings.Contains(out, "wrote "+testFile+": 4 turn(s)") {
		t.Fatalf("as-test: exit %d:\n%s%s", code, out, errOut)
	}
	if code, out, errOut = flowbot(t, []string{orderAPI}, "test", testFile); code != 0 || !strings.Contains(out, "(1 passed, 0 failed)") {
		t.Fatalf("flowbot test of the replayed conversation: exit %d:\n%s%s", code, out, errOut)
	}

	// Mistakes are explained.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"replay", logPath, "--turn", "ffff"}, 1, `no turn "ffff"`},
		{[]string{"replay", logPath, "--conversation", "nobody"}, 1, `no turns of conversation "nobody"`},
		{[]string{"replay", filepath.Join(flowsDir, "missing.jsonl")}, 1, "cannot read the turn log"},
		{[]string{"replay", flowFile}, 1, "webshop.yaml:1: not a turn log line"},
		{[]string{"replay", logPath, "--as-test", "x.yaml"}, 2, "ends in _test.yaml"},
		{[]string{"stats", logPath, "--format", "xml"}, 2, "--format must be table, csv or json"},
		{[]string{"stats", logPath, "--from", "yesterday"}, 2, "write a time as"},
	} {
		code, out, errOut := flowbot(t, nil, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("%v: exit %d (want %d), want %q in:\n%s%s", c.args, code, c.code, c.want, out, errOut)
		}
	}
}

func TestStatsCommand(t *testing.T) {
	logPath, _ := webshopLog(t)
	code, out, errOut := flowbot(t, nil, "stats", logPath, "--format", "table")
	lines := strings.Split(out, "\n")
	if code != 0 || !strings.HasPrefix(lines[0], "FLOW") || !strings.Contains(out, "ask_order") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	// welcome is entered once and left for the menu.
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "webshop welcome 1 0 0 0 0 menu 1" {
		t.Errorf("welcome row %q", lines[1])
	}
	code, out, _ = flowbot(t, nil, "stats", logPath, "--format", "csv", "--silent-after", "10m", "--until", "2026-03-01T10:00:00Z")
	if code != 0 || !strings.HasPrefix(out, "flow,state,outcome,to,conversations\n") || !strings.Contains(out, "webshop,menu,silent,,1\n") ||
		!strings.Contains(out, "webshop,menu,left,ask_order,1\n") {
		t.Fatalf("csv: exit %d:\n%s", code, out)
	}
	code, out, _ = flowbot(t, nil, "stats", logPath, "--format", "json", "--until", "2026-03-01T09:00:30Z")
	var got struct{ Rows []turnlog.FunnelRow }
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got.Rows) != 2 || got.Rows[0].State != "welcome" || got.Rows[1].State != "menu" {
		t.Fatalf("json: exit %d, %v:\n%s", code, err, out)
	}
}

// TestServeTurnLog: serve --turn-log DIR/ logs each webhook turn, redacted
// (the name the contact typed is not in the file); stopped with SIGTERM,
// the log is complete, replays by hash where it can, and gives a funnel.
func TestServeTurnLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "turns") + "/"
	p := startServe(t, nil, "--flows", examples(t), "--data", "", "--database", "", "--turn-log", dir)
	plat := platformtest.New("http://" + p.addr + "/bots/name-email-forward/webhook")
	c := plat.Conversation("chatbot::logged", "web")
	if r, err := c.Start(""); err != nil || r.Status != 200 {
		t.Fatalf("start: %v %d", err, r.Status)
	}
	if r, err := c.Say("Alan Turing"); err != nil || r.Status != 200 {
		t.Fatalf("name: %v %d", err, r.Status)
	}
	if code, logs := p.stop(t, syscall.SIGTERM); code != 0 || !strings.Contains(logs, "turn log on; personal data hashed") {
		t.Fatalf("exit %d\n%s", code, logs)
	}
	raw, err := os.ReadFile(filepath.Join(dir, turnlog.CurrentName))
	if err != nil || strings.Contains(string(raw), "Alan") || strings.Count(string(raw), `"kind":"turn"`) != 2 {
		t.Fatalf("%v:\n%s", err, raw)
	}
	code, out, errOut := flowbot(t, nil, "replay", dir, "--flows", examples(t))
	if code != 0 || !strings.Contains(out, "2 turn(s): 1 identical on their own version, 0 differ, 1 not replayed (redacted inputs)") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ = flowbot(t, nil, "stats", dir); code != 0 || !strings.Contains(out, "ask_name") {
		t.Fatalf("stats: exit %d\n%s", code, out)
	}
	if code, _, errOut := flowbot(t, nil, "serve", "--turn-log-personal-data"); code != 2 || !strings.Contains(errOut, "needs --turn-log") {
		t.Fatalf("--turn-log-personal-data alone: exit %d\n%s", code, errOut)
	}
}
