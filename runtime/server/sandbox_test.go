package server_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbot/flowbot/engine/script/hostile"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/store/storetest"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

const hostileOops = hostile.Oops

// hostileFlows serves every script of the engine's hostile corpus that
// loads as a flow of its own (hostile.FlowYAML), and the extra scripts
// given as name, source pairs.
func hostileFlows(t *testing.T, extra ...string) ([]*flows.Flow, []hostile.Case) {
	t.Helper()
	all, err := hostile.Load("../../engine/script/testdata/hostile")
	if err != nil {
		t.Fatal(err)
	}
	var fl []*flows.Flow
	add := func(name, script string) {
		src := hostile.FlowYAML(name, script, "")
		f, lints := flows.Parse(name+".yaml", []byte(src), flows.Options{})
		if f == nil || lints.HasErrors() {
			t.Fatalf("%s: %s\n%s", name, lints, src)
		}
		fl = append(fl, f)
	}
	var cases []hostile.Case
	for _, c := range all {
		if c.Loads() {
			add(c.Flow(), c.Source)
			cases = append(cases, c)
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		add(extra[i], extra[i+1])
	}
	return fl, cases
}

// hostileTurn bounds a hostile turn in these tests (race detector on, two
// cores shared with other packages' tests): far below what the holes took
// before (seconds to minutes), far above the 100 ms limit plus margin that
// bench/sandbox measures.
const hostileTurn = 5 * time.Second

// hostileRatio bounds a hostile turn that outlasts hostileTurn on a loaded
// machine: at most this many times as long as a turn of a plain endless
// loop stopped by the same limit, over the same mode, measured right then.
const hostileRatio = 5

// plainLoop is the floor's script: stopped by the time limit, nothing more.
const plainLoop = `while (true) {}`

// leakWriter stores the contact's text wherever a script can reach;
// leakReader says what it finds there.
const (
	leakWriter = `const secret = "LEAK " + event.text;
const targets = [say, act, Object.prototype, Array.prototype, Object.getPrototypeOf([][Symbol.iterator]()), JSON, Math, globalThis];
for (const o of targets) {
  try { o.leak = secret; } catch (e) {}
  try { Object.defineProperty(o, "leak2", { value: secret }); } catch (e) {}
  try { Object.setPrototypeOf(o, { leak3: secret }); } catch (e) {}
}`
	leakReader = `const found = [];
const targets = [say, act, Object.prototype, Array.prototype, Object.getPrototypeOf([][Symbol.iterator]()), JSON, Math, globalThis, {}, []];
for (const o of targets) {
  for (const k of ["leak", "leak2", "leak3"]) if (o[k] !== undefined) found.push(k + "=" + o[k]);
}
say("found: " + (found.join(", ") || "nothing"));`
)

// TestHostileScriptsOverBothModes serves every script of the hostile corpus
// as a flow, over the Userlike webhook and the Chat API of one process:
// each turn answers 200 (202 for the Chat API) with the flow's error path
// ("Sorry…", or "done" for the scripts that must run) within the bound;
// the next conversation — another bot, in the other mode — reads nothing
// the previous one wrote; the process stays up throughout.
func TestHostileScriptsOverBothModes(t *testing.T) {
	fl, scripts := hostileFlows(t, "leak-writer", leakWriter, "leak-reader", leakReader, "plain-loop", plainLoop)
	cfg := server.Config{Flows: fl, Platform: &server.Platform{
		Database: storetest.Address(t, "sqlite"), APIKeys: []string{chatKey}, WebhookSecret: webhookSecret, Lease: 5 * time.Second,
	}}
	logs := &logLines{t: t}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	r := serve(t, cfg, nil)
	c := chat{t: t, url: r.url}
	p := platformtest.New("")

	// floor is how long a turn of the plain loop takes over a mode now.
	floor := map[string]func() time.Duration{
		"userlike": func() time.Duration {
			p.SetURL(r.url + "/bots/plain-loop/webhook")
			conv := p.Conversation(fmt.Sprintf("chatbot::floor:%d", time.Now().UnixNano()), "web")
			must(t)(conv.Start(""))
			start := time.Now()
			must(t)(conv.Say("x"))
			return time.Since(start)
		},
		"chat-api": func() time.Duration {
			bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "floor", "flow": "plain-loop"})["bot"].(map[string]any)["id"].(string)
			conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": fmt.Sprintf("floor-%d", time.Now().UnixNano()), "create_user_if_not_exists": true})["conversation"].(map[string]any)["id"].(string)
			start := time.Now()
			c.send(conv, "x")
			waitHistory(t, c, conv, 3)
			return time.Since(start)
		},
	}
	bounded := func(t *testing.T, mode, name string, took time.Duration) {
		if took <= hostileTurn {
			return
		}
		if f := floor[mode](); took > hostileRatio*f {
			t.Errorf("%s: the turn took %v, more than %v and more than %d× a plain loop's turn (%v)", name, took, hostileTurn, hostileRatio, f)
		}
	}

	t.Run("userlike", func(t *testing.T) {
		for i, s := range scripts {
			p.SetURL(r.url + "/bots/" + s.Flow() + "/webhook")
			conv := p.Conversation(fmt.Sprintf("chatbot::hostile:%d", i), "web")
			must(t)(conv.Start(""))
			start := time.Now()
			reply := must(t)(conv.Say(s.Text))
			took := time.Since(start)
			want := hostileOops
			if s.Runs() {
				want = "done"
			}
			if texts := reply.Texts(); len(texts) == 0 || texts[0] != want && !(s.MayRun() && texts[0] == "done") {
				t.Errorf("%s: answered %q, want %q first", s.Name, texts, want)
			}
			bounded(t, "userlike", s.Name, took)
		}
	})

	t.Run("chat-api", func(t *testing.T) {
		for _, s := range scripts {
			bot := c.do(201, "POST", "/api/bots", map[string]any{"name": s.Name, "flow": s.Flow()})["bot"].(map[string]any)["id"].(string)
			conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "u-" + s.Name, "create_user_if_not_exists": true})["conversation"].(map[string]any)["id"].(string)
			start := time.Now()
			c.send(conv, s.Text)
			want := "bot: " + hostileOops
			if s.Runs() {
				want = "bot: done"
			}
			got := waitHistory(t, c, conv, 3)
			if got[2] != want && !(s.MayRun() && got[2] == "bot: done") {
				t.Errorf("%s: history %q, want %q third", s.Name, got, want)
			}
			bounded(t, "chat-api", s.Name, time.Since(start))
		}
	})

	t.Run("no-cross-conversation-read", func(t *testing.T) {
		// Userlike mode writes, the Chat API (another bot) reads, and back.
		p.SetURL(r.url + "/bots/leak-writer/webhook")
		w := p.Conversation("chatbot::writer", "web")
		must(t)(w.Start(""))
		must(t)(w.Say("Ada Lovelace, ada@example.com"))
		bot := c.do(201, "POST", "/api/bots", map[string]any{"name": "reader", "flow": "leak-reader"})["bot"].(map[string]any)["id"].(string)
		conv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": bot, "user_id": "reader", "create_user_if_not_exists": true})["conversation"].(map[string]any)["id"].(string)
		c.send(conv, "anyone there?")
		if got := waitHistory(t, c, conv, 3); got[2] != "bot: found: nothing" {
			t.Fatalf("the Chat API conversation read %q", got[2])
		}
		wbot := c.do(201, "POST", "/api/bots", map[string]any{"name": "writer", "flow": "leak-writer"})["bot"].(map[string]any)["id"].(string)
		wconv := c.do(201, "POST", "/api/conversations", map[string]any{"bot_id": wbot, "user_id": "writer", "create_user_if_not_exists": true})["conversation"].(map[string]any)["id"].(string)
		c.send(wconv, "Grace Hopper")
		waitHistory(t, c, wconv, 3)
		p.SetURL(r.url + "/bots/leak-reader/webhook")
		rd := p.Conversation("chatbot::reader", "web")
		must(t)(rd.Start(""))
		if texts := must(t)(rd.Say("hi")).Texts(); len(texts) == 0 || texts[0] != "found: nothing" {
			t.Fatalf("the webhook conversation read %q", texts)
		}
	})

	t.Run("four-memory-turns-at-once", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				pp := platformtest.New(r.url + "/bots/hostile-memory-doubling-string/webhook")
				conv := pp.Conversation(fmt.Sprintf("chatbot::mem:%d", i), "web")
				if _, err := conv.Start(""); err != nil {
					t.Error(err)
					return
				}
				reply, err := conv.Say("x")
				if err != nil || reply.Status != 200 || len(reply.Texts()) == 0 || reply.Texts()[0] != hostileOops {
					t.Errorf("memory turn %d: %v %d %s", i, err, reply.Status, reply.Body)
				}
			}(i)
		}
		wg.Wait()
	})

	code, _, _ := get(t, r.url+"/healthz")
	if code != 200 {
		t.Fatalf("healthz %d after the hostile turns", code)
	}
	if n := logs.count("panic"); n > 0 {
		t.Fatalf("%d log lines mention a panic", n)
	}
	if n := logs.count("the flow took an error path"); n < len(scripts) {
		t.Fatalf("only %d error paths logged for %d hostile scripts", n, len(scripts))
	}
}

// logLines passes log lines to the test log and counts them.
type logLines struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, string(p))
	l.mu.Unlock()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (l *logLines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(strings.ToLower(line), sub) {
			n++
		}
	}
	return n
}

// waitHistory polls a conversation's history until it has n lines.
func waitHistory(t *testing.T, c chat, conv string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		got := c.history(conv)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("history after %v: %q", wait, got)
		}
		time.Sleep(5 * time.Millisecond) // polling flowbot's progress through its API
	}
}
