package main

// The rss and soak modes: the flowbot binary as its own process, measured
// from outside.
//
// -mode rss starts `flowbot serve --data '' --database ''` (webhook mode,
// nothing kept: the whole conversation state travels in the context), waits
// -idle and samples VmRSS and VmHWM (/proc/PID/status), utime+stime
// (/proc/PID/stat) and go_goroutines and go_memstats_heap_inuse_bytes
// (/metrics). Then -concurrency workers run -conversations distinct
// conversations (cid chatbot::rss:N, the -scenario's scripts: at least a
// start and one turn that echoes the context) and it samples again at each
// of -checkpoints conversations, at the end, and after -idle more. CPU per
// turn is the process's CPU time between two samples over the turns
// answered between them.
//
// -mode soak starts `flowbot serve` with a fresh --data file (the outbox)
// and --database '' (the Chat API off), a fake order service and a fake
// Userlike API URL, and sends -rate webhook turns per second for
// -duration: the -scenario's conversations, and a -webshop share of webshop
// order lookups (each an async job, a background request and a push). Every
// -interval it prints the turns, req/s, p50/p99/max latency, errors, and
// the process's RSS (process_resident_memory_bytes), Go heap in use,
// goroutines, open files, outbox depth, pushes received and the data
// file's size, so that drift shows. At the end it waits for the outbox to
// drain and compares the lookups answered with the pushes received.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowbot/flowbot/bench/internal/harness"
)

// binEnv is the temporary folder and the binary of a run.
type binEnv struct {
	dir, bin string
}

func prepare(c config, out io.Writer) (*binEnv, error) {
	dir, err := os.MkdirTemp("", "flowbot-load-")
	if err != nil {
		return nil, err
	}
	e := &binEnv{dir: dir, bin: c.bin}
	if e.bin == "" {
		fmt.Fprintln(out, "building ./cmd/flowbot …")
		if e.bin, err = harness.Build(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	return e, nil
}

func (e *binEnv) close(out io.Writer, keep bool) {
	if keep {
		fmt.Fprintf(out, "kept %s (flowbot.log, data files)\n", e.dir)
		return
	}
	os.RemoveAll(e.dir)
}

// newClient returns a client with a keep-alive connection per worker.
func newClient(workers int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: workers, MaxIdleConnsPerHost: workers, IdleConnTimeout: 90 * time.Second, DisableCompression: true}}
}

// sample is the process's figures at one point of an rss run.
type sample struct {
	label         string
	conversations int64
	turns         int64
	at            time.Time
	proc          harness.ProcStats
	heap          float64
	goroutines    float64
}

func takeSample(client *http.Client, srv *harness.Server, label string, conversations, turns int64) (sample, error) {
	s := sample{label: label, conversations: conversations, turns: turns, at: time.Now()}
	var err error
	if s.proc, err = harness.ReadProc(srv.PID()); err != nil {
		return s, err
	}
	m, err := harness.Scrape(client, srv.URL()+"/metrics")
	if err != nil {
		return s, err
	}
	s.heap, s.goroutines = m.Sum("go_memstats_heap_inuse_bytes"), m.Sum("go_goroutines")
	return s, nil
}

func logLevel(c config) string {
	if c.logs {
		return "info"
	}
	return "warn"
}

func runRSS(ctx context.Context, c config, out io.Writer) error {
	env, err := prepare(c, out)
	if err != nil {
		return err
	}
	defer env.close(out, c.keep)
	addr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	srv := &harness.Server{Bin: env.bin, Addr: addr, LogPath: filepath.Join(env.dir, "flowbot.log"),
		Args: []string{"--flows", c.flowsDir, "--data", "", "--database", "", "--log-level", logLevel(c)}}
	if err := srv.Start(30 * time.Second); err != nil {
		return err
	}
	defer srv.Close()
	workers := c.concurrency[0]
	client := newClient(workers)
	metricsClient := &http.Client{Timeout: 10 * time.Second}
	fmt.Fprintf(out, "flowbot RSS and CPU per turn: %s serve --data '' --database '' (webhook mode, nothing kept), --log-level %s; scenario %s, %d distinct conversations, %d concurrent; pid %d\n\n",
		env.bin, logLevel(c), c.scenario, c.conversations, workers, srv.PID())

	var samples []sample
	take := func(label string, conversations, turns int64) error {
		s, err := takeSample(metricsClient, srv, label, conversations, turns)
		if err != nil {
			return err
		}
		samples = append(samples, s)
		printSample(out, samples)
		return nil
	}
	fmt.Fprintf(out, "%-28s %13s %10s %10s %10s %11s %10s %8s %10s %9s\n",
		"point", "conversations", "turns", "VmRSS", "VmHWM", "heap inuse", "goroutines", "CPU s", "CPU/turn", "turns/s")
	harness.WaitCtx(ctx, c.idle)
	if err := take("idle after start", 0, 0); err != nil {
		return err
	}

	var next, done, turns, errs atomic.Int64
	var firstErr atomic.Value
	scripts := scenarios[c.scenario]
	total := int64(c.conversations)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var body, ctxBuf []byte
			for ctx.Err() == nil {
				n := next.Add(1) - 1
				if n >= total {
					return
				}
				s := scripts[int(n)%len(scripts)]
				cid := "chatbot::rss:" + strconv.FormatInt(n, 10)
				url := srv.URL() + "/bots/" + s.bot + "/webhook"
				ctxBuf = append(ctxBuf[:0], "{}"...)
				for _, t := range s.turns(int(n)) {
					body = buildBody(body[:0], cid, s.channel, ctxBuf, t)
					newCtx, err := call(client, url, body)
					if err != nil {
						if errs.Add(1) == 1 {
							firstErr.Store(err.Error())
						}
						break
					}
					turns.Add(1)
					if len(newCtx) > 0 {
						ctxBuf = append(ctxBuf[:0], newCtx...)
					}
				}
				done.Add(1)
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()

	points := slices.Sorted(slices.Values(append(slices.Clone(c.checkpoints), c.conversations)))
	points = slices.Compact(points)
	for _, p := range points {
		if p > c.conversations {
			break
		}
		for done.Load() < int64(p) {
			select {
			case <-finished:
			case <-time.After(20 * time.Millisecond):
				continue
			}
			break
		}
		if ctx.Err() != nil {
			break
		}
		if err := take(fmt.Sprintf("after %s conversations", count(int64(p))), done.Load(), turns.Load()); err != nil {
			return err
		}
	}
	<-finished
	if harness.WaitCtx(ctx, c.idle) {
		if err := take(fmt.Sprintf("idle %s after the load", c.idle), done.Load(), turns.Load()); err != nil {
			return err
		}
	}
	if n := errs.Load(); n > 0 {
		fmt.Fprintf(out, "\n%d conversations ended on an error; first: %v\n", n, firstErr.Load())
	}
	first, last := samples[0], samples[len(samples)-1]
	var peakLoad sample
	for _, s := range samples[1:] {
		if s.proc.RSS > peakLoad.proc.RSS {
			peakLoad = s
		}
	}
	fmt.Fprintf(out, "\nCPU per turn over the whole load: %s (%d turns, %.1f s CPU); RSS idle %s, highest sample %s (%s), last %s; VmHWM %s\n",
		fmtDur((last.proc.CPU-first.proc.CPU)/time.Duration(max(1, last.turns))), last.turns, (last.proc.CPU - first.proc.CPU).Seconds(),
		harness.MiB(first.proc.RSS), harness.MiB(peakLoad.proc.RSS), peakLoad.label, harness.MiB(last.proc.RSS), harness.MiB(last.proc.HWM))
	fmt.Fprintf(out, "\n| point | conversations | turns | VmRSS | VmHWM | Go heap in use | goroutines | CPU/turn since the previous point |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, s := range samples {
		per := "–"
		if i > 0 && s.turns > samples[i-1].turns {
			per = fmtDur((s.proc.CPU - samples[i-1].proc.CPU) / time.Duration(s.turns-samples[i-1].turns))
		}
		fmt.Fprintf(out, "| %s | %d | %d | %s | %s | %s | %.0f | %s |\n", s.label, s.conversations, s.turns,
			harness.MiB(s.proc.RSS), harness.MiB(s.proc.HWM), harness.MiB(int64(s.heap)), s.goroutines, per)
	}
	return ctx.Err()
}

// printSample prints the last sample, with CPU per turn and turns/s since
// the one before.
func printSample(out io.Writer, samples []sample) {
	s := samples[len(samples)-1]
	per, rate := "–", "–"
	if len(samples) > 1 {
		p := samples[len(samples)-2]
		if dt := s.turns - p.turns; dt > 0 {
			per = fmtDur((s.proc.CPU - p.proc.CPU) / time.Duration(dt))
			rate = fmt.Sprintf("%.0f", float64(dt)/s.at.Sub(p.at).Seconds())
		}
	}
	fmt.Fprintf(out, "%-28s %13d %10d %10s %10s %11s %10.0f %8.1f %10s %9s\n", s.label, s.conversations, s.turns,
		harness.MiB(s.proc.RSS), harness.MiB(s.proc.HWM), harness.MiB(int64(s.heap)), s.goroutines, s.proc.CPU.Seconds(), per, rate)
}

// count writes 100000 as 100k and 1000000 as 1M.
func count(n int64) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return strconv.FormatInt(n/1000000, 10) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.FormatInt(n/1000, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}

// window collects the latencies and errors of one soak interval.
type window struct {
	mu     sync.Mutex
	lat    []time.Duration
	errors int
	first  string
}

func (w *window) add(d time.Duration, err error) {
	w.mu.Lock()
	if err != nil {
		if w.errors == 0 {
			w.first = err.Error()
		}
		w.errors++
	} else {
		w.lat = append(w.lat, d)
	}
	w.mu.Unlock()
}

func (w *window) take() (lat []time.Duration, errors int, first string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	lat, errors, first = w.lat, w.errors, w.first
	w.lat, w.errors, w.first = make([]time.Duration, 0, len(lat)), 0, ""
	return
}

// soakToken is the fake Userlike API's SECURITY-TOKEN.
const soakToken = "soak-token"

func runSoak(ctx context.Context, c config, out io.Writer) error {
	env, err := prepare(c, out)
	if err != nil {
		return err
	}
	defer env.close(out, c.keep)
	orders := harness.NewOrderAPI(50 * time.Millisecond)
	orderEP, err := harness.NewEndpoint("order API", orders)
	if err != nil {
		return err
	}
	defer orderEP.Down()
	pushes := harness.NewPushAPI(soakToken)
	pushEP, err := harness.NewEndpoint("Userlike API", pushes)
	if err != nil {
		return err
	}
	defer pushEP.Down()
	addr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	dataPath := filepath.Join(env.dir, "flowbot.db")
	srv := &harness.Server{Bin: env.bin, Addr: addr, LogPath: filepath.Join(env.dir, "flowbot.log"),
		Args: append([]string{"--flows", c.flowsDir, "--data", dataPath, "--database", "", "--log-level", logLevel(c)}, harness.AllowNetworkArgs(env.bin)...),
		Env:  []string{"ORDER_API_URL=" + orderEP.URL(), "USERLIKE_API_URL=" + pushEP.URL() + "/push", "USERLIKE_API_TOKEN=" + soakToken}}
	if err := srv.Start(30 * time.Second); err != nil {
		return err
	}
	defer srv.Close()
	workers := c.concurrency[0]
	client := newClient(workers)
	metricsClient := &http.Client{Timeout: 10 * time.Second}
	fmt.Fprintf(out, "flowbot soak: %s serve --data FILE --database '' %v; %d turns/s for %s, %d workers, scenario %s + %.0f%% webshop lookups (async, pushed); pid %d\n\n",
		env.bin, harness.AllowNetworkArgs(env.bin), c.rate, c.duration, workers, c.scenario, 100*c.webshop, srv.PID())

	runCtx, stopRun := context.WithTimeout(ctx, c.duration)
	defer stopRun()
	// The pacer hands out one permit per turn, -rate per second; permits
	// not taken within a second are dropped and counted as behind.
	permits := make(chan struct{}, c.rate)
	var behind atomic.Int64
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		last, owed := time.Now(), 0.0
		for {
			select {
			case <-runCtx.Done():
				return
			case now := <-tick.C:
				owed += now.Sub(last).Seconds() * float64(c.rate)
				last = now
				for ; owed >= 1; owed-- {
					select {
					case permits <- struct{}{}:
					default:
						behind.Add(1)
					}
				}
			}
		}
	}()

	var win window
	var next, lookups, lookupErrs atomic.Int64
	scripts := scenarios[c.scenario]
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var body, ctxBuf []byte
			for runCtx.Err() == nil {
				n := next.Add(1) - 1
				s := scripts[int(n)%len(scripts)]
				if rand.Float64() < c.webshop {
					s = webshop
				}
				cid := "chatbot::soak:" + strconv.FormatInt(n, 10)
				url := srv.URL() + "/bots/" + s.bot + "/webhook"
				ctxBuf = append(ctxBuf[:0], "{}"...)
				ts := s.turns(int(n))
				for i, t := range ts {
					select {
					case <-runCtx.Done():
						return
					case <-permits:
					}
					body = buildBody(body[:0], cid, s.channel, ctxBuf, t)
					t0 := time.Now()
					newCtx, err := call(client, url, body)
					win.add(time.Since(t0), err)
					if s.bot == webshop.bot && i == len(ts)-1 {
						if err != nil {
							lookupErrs.Add(1)
						} else {
							lookups.Add(1)
						}
					}
					if err != nil {
						break
					}
					if len(newCtx) > 0 {
						ctxBuf = append(ctxBuf[:0], newCtx...)
					}
				}
			}
		})
	}

	fmt.Fprintf(out, "%8s %8s %7s %8s %8s %8s %6s %10s %10s %10s %6s %5s %7s %7s %10s\n", "t", "turns", "req/s", "p50", "p99", "max", "errors",
		"RSS", "VmHWM", "heap inuse", "gorout", "fds", "outbox", "pushes", "data file")
	type row struct {
		rss, heap, goroutines float64
	}
	var rows []row
	begin := time.Now()
	prevPushes := 0
	report := func() error {
		lat, errors, first := win.take()
		slices.Sort(lat)
		m, err := harness.Scrape(metricsClient, srv.URL()+"/metrics")
		if err != nil {
			return err
		}
		ps, err := harness.ReadProc(srv.PID())
		if err != nil {
			return err
		}
		_, distinct, _, _ := pushes.Totals()
		var p50, p99, top time.Duration
		if len(lat) > 0 {
			p50, p99, top = lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]
		}
		r := row{rss: m.Sum("process_resident_memory_bytes"), heap: m.Sum("go_memstats_heap_inuse_bytes"), goroutines: m.Sum("go_goroutines")}
		rows = append(rows, r)
		fmt.Fprintf(out, "%8s %8d %7.0f %8s %8s %8s %6d %10s %10s %10s %6.0f %5.0f %7.0f %7d %10s\n",
			time.Since(begin).Round(time.Second), len(lat), float64(len(lat))/c.interval.Seconds(), fmtDur(p50), fmtDur(p99), fmtDur(top), errors,
			harness.MiB(int64(r.rss)), harness.MiB(ps.HWM), harness.MiB(int64(r.heap)), r.goroutines, m.Sum("process_open_fds"),
			m.Sum("flowbot_outbox_pending"), distinct-prevPushes, harness.MiB(fileSize(dataPath)))
		if errors > 0 {
			fmt.Fprintf(out, "         first error: %s\n", first)
		}
		prevPushes = distinct
		return nil
	}
	tick := time.NewTicker(c.interval)
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-tick.C:
			if err := report(); err != nil {
				return err
			}
		}
	}
	tick.Stop()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// Drain: the outbox empties, every lookup's result is pushed.
	drainStart := time.Now()
	var pending float64
	for time.Since(drainStart) < time.Minute {
		m, err := harness.Scrape(metricsClient, srv.URL()+"/metrics")
		if err != nil {
			return err
		}
		if pending = m.Sum("flowbot_outbox_pending"); pending == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	requests, distinct, redelivered, bad := pushes.Totals()
	orderRequests, _ := orders.Requests("")
	fmt.Fprintf(out, "\nturns behind schedule (the server or the client could not keep -rate): %d\n", behind.Load())
	fmt.Fprintf(out, "webshop lookups answered: %d (failed calls %d); order API requests: %d; pushes received: %d distinct push ids in %d requests (%d redelivered); outbox pending after %s: %.0f\n",
		lookups.Load(), lookupErrs.Load(), orderRequests, distinct, requests, redelivered, time.Since(drainStart).Round(time.Millisecond), pending)
	for _, b := range bad {
		fmt.Fprintln(out, "bad push:", b)
	}
	if len(rows) >= 2 {
		f, l := rows[0], rows[len(rows)-1]
		fmt.Fprintf(out, "drift, first → last interval: RSS %s → %s, Go heap in use %s → %s, goroutines %.0f → %.0f\n",
			harness.MiB(int64(f.rss)), harness.MiB(int64(l.rss)), harness.MiB(int64(f.heap)), harness.MiB(int64(l.heap)), f.goroutines, l.goroutines)
	}
	if int64(distinct) != lookups.Load() || pending != 0 || len(bad) > 0 {
		return fmt.Errorf("%d lookups answered but %d results pushed (outbox pending %.0f, bad pushes %d)", lookups.Load(), distinct, pending, len(bad))
	}
	return nil
}

// fileSize is the size of an SQLite file with its WAL.
func fileSize(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}
