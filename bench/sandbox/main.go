// Command sandbox measures the script sandbox against the real flowbot
// binary: every script of the hostile corpus (engine/script/testdata/hostile)
// is served as a flow by `flowbot serve`, and each is played over the
// Userlike webhook, on loopback only:
//
//   - the turn time of each hostile script, against the flow's script time
//     limit plus the 50 ms margin the sandbox promises, beside a benign
//     script turn measured in the same run (the floor);
//
//   - the server's resident memory (VmRSS, sampled every 5 ms) while four
//     memory-hostile turns run at once, for several rounds;
//
//   - that the process is still serving at the end.
//
//     go run ./bench/sandbox [-rounds 5] [-limit 100ms]
//
// It exits non-zero when a turn answered with anything but 200 and the
// flow's error path, or the server died.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowbot/flowbot/bench/internal/harness"
	"github.com/flowbot/flowbot/engine/script/hostile"
)

const oops = hostile.Oops

func main() {
	rounds := flag.Int("rounds", 5, "rounds of each measurement")
	limit := flag.Duration("limit", 100*time.Millisecond, "the flows' script time limit (scripts.timeout)")
	corpus := flag.String("corpus", "engine/script/testdata/hostile", "the hostile corpus")
	flag.Parse()
	if err := run(*rounds, *limit, *corpus); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func run(rounds int, limit time.Duration, corpus string) error {
	dir, err := os.MkdirTemp("", "flowbot-sandbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cases, err := writeFlows(filepath.Join(dir, "flows"), corpus, limit)
	if err != nil {
		return err
	}
	bin, err := harness.Build(dir)
	if err != nil {
		return err
	}
	addr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	srv := &harness.Server{Bin: bin, Addr: addr, Args: []string{"--flows", filepath.Join(dir, "flows")}, LogPath: filepath.Join(dir, "flowbot.log")}
	if err := srv.Start(30 * time.Second); err != nil {
		return err
	}
	defer srv.Stop(10 * time.Second)
	client := &http.Client{Timeout: 60 * time.Second}

	// Warm up: every flow once, so runtimes and programs are built.
	for _, c := range cases {
		if _, _, err := turn(client, srv.URL(), c, "warm"); err != nil {
			return err
		}
	}
	base, _ := harness.ReadProc(srv.PID())

	// Turn times.
	benign := hostile.Case{Name: "benign", Text: "a-12345", Kinds: []string{"ok"}}
	fmt.Printf("Hostile script turns over the Userlike webhook (flowbot serve, script limit %v, margin 50ms), %d rounds each, slowest of the rounds:\n\n", limit, rounds)
	fmt.Println("| script | slowest turn | answered |")
	fmt.Println("|---|---|---|")
	var worst time.Duration
	var worstName string
	bad := 0
	floor := slowest(client, srv.URL(), benign, rounds, nil)
	for _, c := range cases {
		var answer string
		took := slowest(client, srv.URL(), c, rounds, &answer)
		if took > worst {
			worst, worstName = took, c.Name
		}
		want := oops
		if c.Runs() {
			want = "done"
		}
		mark := answer
		if answer != want && !(c.MayRun() && answer == "done") {
			mark = "**" + answer + "** (want " + want + ")"
			bad++
		}
		fmt.Printf("| %s | %v | %s |\n", c.Name, took.Round(time.Millisecond/10), mark)
	}
	fmt.Printf("\nbenign script turn (floor): %v; slowest hostile turn: %v (%s), %.1f× the limit; limit + margin = %v\n\n",
		floor.Round(time.Microsecond), worst.Round(time.Millisecond/10), worstName, float64(worst)/float64(limit), limit+50*time.Millisecond)

	// Memory: four memory-hostile turns at once.
	var mem hostile.Case
	for _, c := range cases {
		if c.Name == "memory-doubling-string" {
			mem = c
		}
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if st, err := harness.ReadProc(srv.PID()); err == nil && st.RSS > peak.Load() {
					peak.Store(st.RSS)
				}
			}
		}
	}()
	failed := 0
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				c := mem
				_, answer, err := turn(client, srv.URL(), c, fmt.Sprintf("mem-%d-%d", r, i))
				if err != nil || answer != oops {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
	}
	close(stop)
	<-sampled
	after, _ := harness.ReadProc(srv.PID())
	fmt.Printf("Memory: four %q turns at once, %d rounds: server RSS %d MiB before, peak %d MiB, %d MiB after; %d turns not answered with the error path\n",
		mem.Name, rounds, base.RSS>>20, peak.Load()>>20, after.RSS>>20, failed)
	if !srv.Running() {
		return fmt.Errorf("the server died")
	}
	if bad > 0 || failed > 0 {
		return fmt.Errorf("%d hostile turns and %d memory turns did not answer as expected", bad, failed)
	}
	return nil
}

// slowest plays a conversation's message turn rounds times and returns the
// slowest; answer receives the first text of the last answer.
func slowest(client *http.Client, url string, c hostile.Case, rounds int, answer *string) time.Duration {
	var worst time.Duration
	for i := 0; i < rounds; i++ {
		took, text, err := turn(client, url, c, fmt.Sprintf("r%d", i))
		if err != nil {
			text = "error: " + err.Error()
		}
		if answer != nil {
			*answer = text
		}
		worst = max(worst, took)
	}
	return worst
}

// turn starts a conversation on the case's flow and sends its text; it
// returns how long the message turn took and the answer's first text.
func turn(client *http.Client, url string, c hostile.Case, id string) (time.Duration, string, error) {
	cid := "chatbot::sandbox:" + c.Name + ":" + id
	events, err := post(client, url+"/bots/"+flowOf(c)+"/webhook", harness.WebhookBody(nil, cid, "web", nil, "start", "{}"))
	if err != nil {
		return 0, "", err
	}
	ctx := harness.LastContext(events)
	payload, _ := json.Marshal(map[string]string{"body": c.Text})
	body := harness.WebhookBody(nil, cid, "web", ctx, "message", string(payload))
	start := time.Now()
	events, err = post(client, url+"/bots/"+flowOf(c)+"/webhook", body)
	took := time.Since(start)
	if err != nil {
		return took, "", err
	}
	texts := harness.Texts(events)
	if len(texts) == 0 {
		return took, "(no text)", nil
	}
	return took, texts[0], nil
}

// flowOf is the flow that serves a case: its corpus flow, or "benign".
func flowOf(c hostile.Case) string {
	if c.Name == "benign" {
		return "benign"
	}
	return c.Flow()
}

func post(client *http.Client, url string, body []byte) ([]harness.Event, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var events []harness.Event
	if err := json.Unmarshal(b, &events); err != nil {
		return nil, fmt.Errorf("answer %s: %v", b, err)
	}
	return events, nil
}

// writeFlows writes one flow per corpus script that loads, and a benign
// one, each hostile.FlowYAML with the script limit.
func writeFlows(dir, corpus string, limit time.Duration) ([]hostile.Case, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	all, err := hostile.Load(corpus)
	if err != nil {
		return nil, fmt.Errorf("%v (run from the repository's root)", err)
	}
	write := func(flow, script string) error {
		return os.WriteFile(filepath.Join(dir, flow+".yaml"), []byte(hostile.FlowYAML(flow, script, limit.String())), 0o644)
	}
	var cases []hostile.Case
	for _, c := range all {
		if !c.Loads() {
			continue
		}
		if err := write(c.Flow(), c.Source); err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	return cases, write("benign", `vars.order_id = vars.input.toUpperCase().replace(/[^A-Z0-9]/g, "");`)
}
