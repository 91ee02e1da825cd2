// Command load measures flowbot serve: against a bare net/http floor in one
// run (-mode table), its memory and CPU per turn over many distinct
// conversations (-mode rss), and its drift over a long run (-mode soak);
// over loopback only.
//
//	go run ./bench/load -duration 10s -concurrency 1,64,1024
//	go run ./bench/load -mode rss -conversations 1000000
//	go run ./bench/load -mode soak -duration 30m -rate 500
//
// Table mode starts (a) flowbot's real server (runtime/server: router,
// metrics, webhook handler) with the flows of -flows on 127.0.0.1:0 and (b)
// the floor (bench/floor: decodes the same webhook JSON, writes a fixed
// two-event answer) on another 127.0.0.1:0 port. Then, for each value of
// -concurrency, it drives each in turn with that many concurrent
// conversations for -duration (after a -warmup that is not counted). Each
// conversation acts as Userlike does: it echoes the context of the previous
// answer on every call. The default scenario alternates the
// name-email-forward conversation (start, name, a wrong email, the email)
// and the campaign-signup one (start, click on "start") on new cids.
//
// It prints requests/s, p50 and p99 latency for each target and the ratio
// flowbot/floor, then a markdown table. The client runs in the same
// process, so on a small machine the client, the floor and flowbot share
// the CPUs: compare the ratio, not the absolute numbers, across machines.
//
// The rss and soak modes run the flowbot binary (-bin, or one built from
// ./cmd/flowbot) as a separate process and read its figures from
// /proc/PID/status, /proc/PID/stat and /metrics: see binary.go.
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
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowbot/flowbot/bench/floor"
	"github.com/flowbot/flowbot/bench/internal/harness"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/server"
)

type config struct {
	mode        string
	duration    time.Duration
	warmup      time.Duration
	concurrency []int
	flowsDir    string
	scenario    string
	target      string
	rounds      int
	logs        bool
	cpuprofile  string

	// rss and soak modes (binary.go)
	bin           string
	conversations int
	checkpoints   []int
	idle          time.Duration
	rate          int
	interval      time.Duration
	webshop       float64
	keep          bool
}

func main() {
	var c config
	concurrency, checkpoints := "64", "100000,250000,500000"
	flag.StringVar(&c.mode, "mode", "table", "table: flowbot (in process) against the floor; rss: RSS and CPU per turn of the flowbot binary over -conversations distinct conversations; soak: the binary at -rate for -duration, a line per -interval")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "table: how long to measure each target (after the warmup); soak: how long to run (default there 30m)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "how long to drive each target before measuring (table)")
	flag.StringVar(&concurrency, "concurrency", concurrency, "concurrent conversations (one connection each); table: a comma-separated list, one row per value (1,64,1024)")
	flag.StringVar(&c.flowsDir, "flows", "examples", "the folder of flows flowbot serves (needs name-email-forward and campaign-signup; soak: webshop)")
	flag.StringVar(&c.scenario, "scenario", "mixed", "conversations to run: mixed, name-email or campaign (click turns)")
	flag.StringVar(&c.target, "target", "both", "what to drive: both, flowbot or floor (table)")
	flag.IntVar(&c.rounds, "rounds", 1, "alternate floor and flowbot this many times (table)")
	flag.BoolVar(&c.logs, "logs", false, "let flowbot log every turn as in production (table: text to a discarded writer; rss, soak: --log-level info to a file)")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the (last) flowbot phase to this file (client included; table)")
	flag.StringVar(&c.bin, "bin", "", "rss, soak: the flowbot binary (default: go build ./cmd/flowbot into a temporary folder)")
	flag.IntVar(&c.conversations, "conversations", 1000000, "rss: distinct conversations (cids) to run")
	flag.StringVar(&checkpoints, "checkpoints", checkpoints, "rss: conversation counts at which to sample RSS and CPU (and at the end)")
	flag.DurationVar(&c.idle, "idle", 10*time.Second, "rss: idle time before the first and after the last sample")
	flag.IntVar(&c.rate, "rate", 500, "soak: webhook turns per second")
	flag.DurationVar(&c.interval, "interval", time.Minute, "soak: one report line per interval")
	flag.Float64Var(&c.webshop, "webshop", 0.1, "soak: share of conversations that are webshop order lookups (async: job, background request, push to a fake Userlike API)")
	flag.BoolVar(&c.keep, "keep", false, "rss, soak: keep the temporary folder (flowbot's log and data file)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go run ./bench/load [flags]\n\nMeasures flowbot serve against a bare net/http floor over loopback (-mode table),\nits RSS and CPU per turn over many conversations (-mode rss), or its drift\nover a long run (-mode soak).\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	var err error
	if c.concurrency, err = parseInts(concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "-concurrency:", err)
		os.Exit(2)
	}
	if c.checkpoints, err = parseInts(checkpoints); err != nil {
		fmt.Fprintln(os.Stderr, "-checkpoints:", err)
		os.Exit(2)
	}
	durationSet := false
	flag.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if c.mode == "soak" && !durationSet {
		c.duration = 30 * time.Minute
	}
	if c.duration <= 0 || c.rounds < 1 || c.conversations < 1 || c.rate < 1 || c.interval <= 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if _, ok := scenarios[c.scenario]; !ok {
		fmt.Fprintf(os.Stderr, "unknown -scenario %q: mixed, name-email or campaign\n", c.scenario)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch c.mode {
	case "table":
		err = run(c, os.Stdout)
	case "rss":
		err = runRSS(ctx, c, os.Stdout)
	case "soak":
		err = runSoak(ctx, c, os.Stdout)
	default:
		fmt.Fprintf(os.Stderr, "unknown -mode %q: table, rss or soak\n", c.mode)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// parseInts reads a comma-separated list of positive numbers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a list of positive whole numbers", s)
		}
		out = append(out, n)
	}
	return out, nil
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

	fmt.Fprintf(out, "flowbot load test: %s, GOMAXPROCS=%d, %d CPUs; scenario %s, concurrency %s, %s per target (+%s warmup), flowbot logs %v\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), c.scenario, joinInts(c.concurrency), c.duration, c.warmup, c.logs)
	fmt.Fprintf(out, "%-8s %6s %10s %11s %9s %9s %7s\n", "target", "conc", "requests", "req/s", "p50", "p99", "errors")
	type row struct {
		conc          int
		floor, flowbt result
	}
	var rows []row
	for _, conc := range c.concurrency {
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
				r := drive(t.url, c, conc)
				if stopProfile != nil {
					stopProfile()
				}
				fmt.Fprintf(out, "%-8s %6d %10d %11.0f %9s %9s %7d\n", t.name, conc, r.requests, r.rps, fmtDur(r.p50), fmtDur(r.p99), r.errors)
				if r.errors > 0 && r.firstErr != "" {
					fmt.Fprintf(out, "         first error: %s\n", r.firstErr)
				}
				if r.rps > best[t.name].rps {
					best[t.name] = r
				}
			}
		}
		f, b := best["floor"], best["flowbot"]
		if f.rps > 0 && b.rps > 0 {
			fmt.Fprintf(out, "ratio flowbot/floor: %.2f of the requests/s (target ≥ 0.60); p50 %s vs %s\n", b.rps/f.rps, fmtDur(b.p50), fmtDur(f.p50))
		}
		rows = append(rows, row{conc, f, b})
	}
	if c.target == "both" {
		fmt.Fprintf(out, "\n| conversations | flowbot req/s | flowbot p50 | flowbot p99 | floor req/s | floor p50 | floor p99 | flowbot/floor |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			ratio := 0.0
			if r.floor.rps > 0 {
				ratio = r.flowbt.rps / r.floor.rps
			}
			fmt.Fprintf(out, "| %d | %.0f | %s | %s | %.0f | %s | %s | %.2f |\n", r.conc, r.flowbt.rps, fmtDur(r.flowbt.p50), fmtDur(r.flowbt.p99),
				r.floor.rps, fmtDur(r.floor.p50), fmtDur(r.floor.p99), ratio)
		}
	}
	return nil
}

// joinInts writes ns comma-separated.
func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
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

// webshop is the webshop flow's order lookup: the last turn starts an async
// HTTP step (a job in the outbox, a background request to ORDER_API_URL,
// the result pushed to USERLIKE_API_URL); soak mode only.
var webshop = script{bot: "webshop", channel: "web", turns: func(i int) []turn {
	return []turn{
		{"start", `{}`},
		{"click", `{"value":{"id":"delivery","label":"Delivery status"}}`},
		{"message", `{"body":"W-` + strconv.Itoa(10000000+i) + `"}`},
	}
}}

var scenarios = map[string][]script{
	"mixed":      {nameEmail, campaign},
	"name-email": {nameEmail},
	"campaign":   {campaign},
}

// drive runs concurrency conversation loops against base for the warmup
// and the measured duration.
func drive(base string, c config, concurrency int) result {
	tr := &http.Transport{
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
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
	for w := range concurrency {
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
	return harness.WebhookBody(b, cid, channel, ctx, t.name, t.payload)
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
