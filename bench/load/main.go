// Command load measures flowbot serve against a bare net/http floor, in one
// run, over loopback only.
//
//	go run ./bench/load -duration 10s -concurrency 64
//
// It starts (a) flowbot's real server (runtime/server: router, metrics,
// webhook handler) with the flows of -flows on 127.0.0.1:0 and (b) the
// floor (bench/floor: decodes the same webhook JSON, writes a fixed
// two-event answer) on another 127.0.0.1:0 port. Then it drives each in
// turn with -concurrency concurrent conversations for -duration (after a
// -warmup that is not counted). Each conversation acts as Userlike does: it
// echoes the context of the previous answer on every call. The default
// scenario alternates the name-email-forward conversation (start, name, a
// wrong email, the email) and the campaign-signup one (start, click on
// "start") on new cids.
//
// It prints requests/s, p50 and p99 latency for each target and the ratio
// flowbot/floor. The client runs in the same process, so on a small machine
// the client, the floor and flowbot share the CPUs: compare the ratio, not
// the absolute numbers, across machines.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowbot/flowbot/bench/floor"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/server"
)

type config struct {
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	flowsDir    string
	scenario    string
	target      string
	rounds      int
	logs        bool
	cpuprofile  string
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to measure each target (after the warmup)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "how long to drive each target before measuring")
	flag.IntVar(&c.concurrency, "concurrency", 64, "concurrent conversations (one connection each)")
	flag.StringVar(&c.flowsDir, "flows", "examples", "the folder of flows flowbot serves (needs name-email-forward and campaign-signup)")
	flag.StringVar(&c.scenario, "scenario", "mixed", "conversations to run: mixed, name-email or campaign (click turns)")
	flag.StringVar(&c.target, "target", "both", "what to drive: both, flowbot or floor")
	flag.IntVar(&c.rounds, "rounds", 1, "alternate floor and flowbot this many times")
	flag.BoolVar(&c.logs, "logs", false, "let flowbot log every turn (text, to a discarded writer) as in production")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the (last) flowbot phase to this file (client included)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go run ./bench/load [flags]\n\nMeasures flowbot serve against a bare net/http floor over loopback.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if c.concurrency < 1 || c.duration <= 0 || c.rounds < 1 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if _, ok := scenarios[c.scenario]; !ok {
		fmt.Fprintf(os.Stderr, "unknown -scenario %q: mixed, name-email or campaign\n", c.scenario)
		os.Exit(2)
	}
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(c config, out io.Writer) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	loaded, lints, err := flows.LoadDir(c.flowsDir, flows.Options{Env: os.LookupEnv})
	if err != nil {
		return err
	}
	if lints.HasErrors() {
		return fmt.Errorf("flows have errors:\n%s", lints.Errors())
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if c.logs {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(server.Config{Flows: loaded, Logger: logger})
	if err != nil {
		return err
	}
	flowbotURL, stopFlowbot, err := start(ctx, func(ctx context.Context, ln net.Listener) error { return srv.Serve(ctx, ln) })
	if err != nil {
		return err
	}
	defer stopFlowbot()
	floorURL, stopFloor, err := start(ctx, func(ctx context.Context, ln net.Listener) error {
		hs := &http.Server{Handler: floor.Handler(), ReadHeaderTimeout: server.DefaultReadHeaderTimeout,
			ReadTimeout: server.DefaultReadTimeout, WriteTimeout: server.DefaultWriteTimeout, IdleTimeout: server.DefaultIdleTimeout}
		go func() { <-ctx.Done(); hs.Close() }()
		return hs.Serve(ln)
	})
	if err != nil {
		return err
	}
	defer stopFloor()

	fmt.Fprintf(out, "flowbot load test: %s, GOMAXPROCS=%d, %d CPUs; scenario %s, concurrency %d, %s per target (+%s warmup), flowbot logs %v\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), c.scenario, c.concurrency, c.duration, c.warmup, c.logs)
	fmt.Fprintf(out, "%-8s %6s %10s %11s %9s %9s %7s\n", "target", "conc", "requests", "req/s", "p50", "p99", "errors")
	var best = map[string]result{}
	for round := 0; round < c.rounds; round++ {
		for _, t := range []struct{ name, url string }{{"floor", floorURL}, {"flowbot", flowbotURL}} {
			if c.target != "both" && c.target != t.name {
				continue
			}
			var stopProfile func()
			if t.name == "flowbot" && c.cpuprofile != "" {
				if stopProfile, err = profile(c.cpuprofile); err != nil {
					return err
				}
			}
			r := drive(t.url, c)
			if stopProfile != nil {
				stopProfile()
			}
			fmt.Fprintf(out, "%-8s %6d %10d %11.0f %9s %9s %7d\n", t.name, c.concurrency, r.requests, r.rps, fmtDur(r.p50), fmtDur(r.p99), r.errors)
			if r.errors > 0 && r.firstErr != "" {
				fmt.Fprintf(out, "         first error: %s\n", r.firstErr)
			}
			if r.rps > best[t.name].rps {
				best[t.name] = r
			}
		}
	}
	if f, b := best["floor"], best["flowbot"]; f.rps > 0 && b.rps > 0 {
		fmt.Fprintf(out, "\nratio flowbot/floor: %.2f of the requests/s (target ≥ 0.60); p50 %s vs %s\n", b.rps/f.rps, fmtDur(b.p50), fmtDur(f.p50))
	}
	return nil
}

// profile starts a CPU profile into path.
func profile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// start serves on a loopback port and returns the base URL and a stop
// function that waits for the server to end.
func start(ctx context.Context, serve func(context.Context, net.Listener) error) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serve(sctx, ln); err != nil && err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, "server:", err)
		}
	}()
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }, nil
}

type result struct {
	requests int
	errors   int64
	rps      float64
	p50, p99 time.Duration
	firstErr string
}

// turn is one webhook call of a scripted conversation.
type turn struct {
	name    string // packet name
	payload string // packet payload JSON
}

type script struct {
	bot     string
	channel string
	turns   func(i int) []turn
}

var nameEmail = script{bot: "name-email-forward", channel: "web", turns: func(i int) []turn {
	n := strconv.Itoa(i)
	return []turn{
		{"start", `{}`},
		{"message", `{"body":"Person ` + n + `"}`},
		{"message", `{"body":"not an email"}`},
		{"message", `{"body":"person` + n + `@example.com"}`},
	}
}}

var campaign = script{bot: "campaign-signup", channel: "whatsapp_business", turns: func(int) []turn {
	return []turn{{"start", `{}`}, {"click", `{"value":{"id":"start","label":"start"}}`}}
}}

var scenarios = map[string][]script{
	"mixed":      {nameEmail, campaign},
	"name-email": {nameEmail},
	"campaign":   {campaign},
}

// drive runs c.concurrency conversation loops against base for the warmup
// and the measured duration.
func drive(base string, c config) result {
	tr := &http.Transport{
		MaxIdleConns:        c.concurrency,
		MaxIdleConnsPerHost: c.concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	scripts := scenarios[c.scenario]

	begin := time.Now()
	measureFrom := begin.Add(c.warmup)
	until := measureFrom.Add(c.duration)
	var (
		wg       sync.WaitGroup
		errors   atomic.Int64
		firstErr atomic.Value
		mu       sync.Mutex
		all      []time.Duration
	)
	for w := range c.concurrency {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			var body, ctxBuf []byte
			for conv := 0; ; conv++ {
				s := scripts[(w+conv)%len(scripts)]
				cid := fmt.Sprintf("chatbot::load:%d:%d", w, conv)
				ctxBuf = append(ctxBuf[:0], "{}"...)
				url := base + "/bots/" + s.bot + "/webhook"
				for _, t := range s.turns(w*100000 + conv) {
					now := time.Now()
					if !now.Before(until) {
						mu.Lock()
						all = append(all, lat...)
						mu.Unlock()
						return
					}
					body = buildBody(body[:0], cid, s.channel, ctxBuf, t)
					newCtx, err := call(client, url, body)
					d := time.Since(now)
					if err != nil {
						if errors.Add(1) == 1 {
							firstErr.Store(err.Error())
						}
						break // start a new conversation
					}
					if !now.Before(measureFrom) {
						lat = append(lat, d)
					}
					if len(newCtx) > 0 {
						ctxBuf = append(ctxBuf[:0], newCtx...)
					}
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(all)
	r := result{requests: len(all), errors: errors.Load()}
	r.rps = float64(len(all)) / c.duration.Seconds()
	if len(all) > 0 {
		r.p50 = all[len(all)*50/100]
		r.p99 = all[min(len(all)-1, len(all)*99/100)]
	}
	if s, ok := firstErr.Load().(string); ok {
		r.firstErr = s
	}
	return r
}

// buildBody writes a webhook call as Userlike sends it.
func buildBody(b []byte, cid, channel string, ctx []byte, t turn) []byte {
	b = append(b, `{"info":{"approach_mode":"normal","cid":"`...)
	b = append(b, cid...)
	b = append(b, `","context":`...)
	b = append(b, ctx...)
	b = append(b, `,"conversation":{"contact_channel":{"state":"valid","type":"`...)
	b = append(b, channel...)
	b = append(b, `"}},"contact":{"name":"Load Tester","email":"load@example.com","mobile_number":"+4915112345678"}},"packet":{"name":"`...)
	b = append(b, t.name...)
	b = append(b, `","payload":`...)
	b = append(b, t.payload...)
	return append(b, "}}"...)
}

// answer is what the client reads of an answer: the contexts to echo.
type answer []struct {
	Info struct {
		Context json.RawMessage `json:"context"`
	} `json:"info"`
}

// call posts one webhook call and returns the last context of the answer.
func call(client *http.Client, url string, body []byte) ([]byte, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %.200s", resp.StatusCode, raw)
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil || len(a) == 0 {
		return nil, fmt.Errorf("answer is not a non-empty event array: %v: %.200s", err, raw)
	}
	return a[len(a)-1].Info.Context, nil
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}
