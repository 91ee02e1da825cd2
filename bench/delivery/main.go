// Command delivery measures flowbot's platform mode end to end, over
// loopback only: a user's message posted to the Chat API, through the flow,
// the store and the delivery worker, to the conversation's webhook.
//
//	go run ./bench/delivery -store both -duration 10s -concurrency 8,32,128
//
// For each row (a store, a SQLite synchronous mode, a client concurrency)
// it starts, on a fresh database (a temporary SQLite file, or a new
// PostgreSQL schema named in the URL's search_path, dropped afterwards):
//
//   - a webhook receiver (net/http) that answers 200 and notes the arrival
//     time of every delivery;
//   - flowbot in platform mode (runtime/server.New with a Platform config,
//     in this process, or with -inprocess=false the flowbot binary) with the
//     flows of -flows, an API key and the default delivery schedule;
//
// creates a bot of the webshop flow and -conversations conversations with
// the receiver as their webhook, and waits until their start messages
// arrived. Then -concurrency client goroutines post the user message "3"
// (opening hours: the bot answers with the hours and the menu, two
// messages) for -warmup plus -duration. By default a client waits for the
// two replies of its message to arrive before it sends the next one, to the
// next idle conversation (a user who reads the answer before typing again;
// -await=false only waits for the 202, so that turns pile up in a
// conversation). -rate paces the messages instead of sending as fast as
// the clients can.
//
// Latency of a bot message = its arrival at the receiver − the time the
// POST of its user message was sent. A conversation's deliveries arrive one
// at a time in the order the bot produced them, so the receiver matches
// each delivery with the oldest turn of its conversation whose replies
// have not all arrived (receiver.go).
//
// The floor, measured in the same run (once per concurrency and round,
// after the flowbot phase, while flowbot is stopped): -concurrency
// goroutines of a bare net/http client POSTing the same JSON body, with the
// same headers, to the same receiver as fast as they can. flowbot/floor is
// bot messages delivered per second over the best floor's requests per
// second at the same concurrency.
//
// It prints a line per row and, at the end, a markdown table. Everything —
// clients, receiver, flowbot and (for PostgreSQL) the database server —
// shares the machine's CPUs.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowbot/flowbot/runtime/server"
)

// defaultPostgres is the database of -database (runtime/store/storetest's
// default too).
const defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

type config struct {
	stores        []string // sqlite, postgres
	database      string
	syncs         []string // full, normal
	duration      time.Duration
	warmup        time.Duration
	timeout       time.Duration
	conversations int
	concurrency   []int
	deliveryConc  int
	await         bool
	rate          float64
	inprocess     bool
	binary        string
	flowsDir      string
	logs          bool
	cpuprofile    string
	blockprofile  string
	rounds        int
	keep          bool
}

func main() {
	var c config
	var stores, syncs, concs string
	flag.StringVar(&stores, "store", "both", "sqlite, postgres or both")
	flag.StringVar(&c.database, "database", defaultPostgres, "the PostgreSQL database in which each row creates (and drops) a fresh schema")
	flag.StringVar(&syncs, "sqlite-sync", "full", "SQLite synchronous mode(s), comma-separated: full, normal")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per row (after the warmup)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured time before it")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long the replies of a message may take before they count as lost")
	flag.IntVar(&c.conversations, "conversations", 200, "conversations with the receiver as webhook")
	flag.StringVar(&concs, "concurrency", "32", "client goroutines, comma-separated for several rows (e.g. 8,32,128)")
	flag.IntVar(&c.deliveryConc, "delivery-concurrency", 16, "flowbot's --delivery-concurrency (webhook requests in flight)")
	flag.BoolVar(&c.await, "await", true, "a client waits for a message's replies before its next message; false: only for the 202")
	flag.Float64Var(&c.rate, "rate", 0, "user messages per second, all clients together (0: as fast as they go)")
	flag.BoolVar(&c.inprocess, "inprocess", true, "run flowbot in this process (runtime/server.New); false: build and run the flowbot binary")
	flag.StringVar(&c.binary, "binary", "", "with -inprocess=false, the flowbot binary to run (default: go build ./cmd/flowbot)")
	flag.StringVar(&c.flowsDir, "flows", "examples", "the folder of flows (needs webshop)")
	flag.IntVar(&c.rounds, "rounds", 1, "measure each row this many times and keep the best (most bot messages per second): the machine may be shared")
	flag.BoolVar(&c.keep, "keep", false, "keep each row's database (a SQLite file, a PostgreSQL schema) and print where it is, to look at it afterwards")
	flag.BoolVar(&c.logs, "logs", true, "flowbot logs at info, one line per turn (as flowbot serve does), to a discarded writer")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "with -inprocess, a CPU profile of each row's measured window (clients and receiver included) to this file; several rows add -<row> to the name")
	flag.StringVar(&c.blockprofile, "blockprofile", "", "with -inprocess, a blocking profile (waits of 10 µs or more) of each row's measured window to this file; named like -cpuprofile's")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go run ./bench/delivery [flags]\n\nMeasures platform mode: user message → Chat API → flow → store → webhook, against a bare net/http floor.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	var err error
	switch stores {
	case "both":
		c.stores = []string{"sqlite", "postgres"}
	case "sqlite", "postgres":
		c.stores = []string{stores}
	default:
		err = fmt.Errorf("-store %q: sqlite, postgres or both", stores)
	}
	for _, s := range strings.Split(syncs, ",") {
		switch s = strings.TrimSpace(strings.ToLower(s)); s {
		case "full", "normal":
			c.syncs = append(c.syncs, s)
		default:
			err = fmt.Errorf("-sqlite-sync %q: full or normal", s)
		}
	}
	for _, s := range strings.Split(concs, ",") {
		n, cerr := strconv.Atoi(strings.TrimSpace(s))
		if cerr != nil || n < 1 {
			err = fmt.Errorf("-concurrency %q: whole numbers ≥ 1, comma-separated", concs)
		}
		c.concurrency = append(c.concurrency, n)
	}
	if err == nil && (c.duration <= 0 || c.conversations < 1 || c.deliveryConc < 1 || c.rounds < 1 || c.rate < 0 || flag.NArg() > 0) {
		err = errors.New("-duration, -conversations, -delivery-concurrency and -rounds must be above 0, -rate not below, and there are no arguments")
	}
	if err == nil && (c.cpuprofile != "" || c.blockprofile != "") && !c.inprocess {
		err = errors.New("-cpuprofile and -blockprofile need -inprocess")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "delivery:", err)
		flag.Usage()
		os.Exit(2)
	}
	if _, err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "delivery:", err)
		os.Exit(1)
	}
}

// row is one measured configuration.
type row struct {
	kind, sync string
	conc       int
}

func (r row) label() string {
	if r.kind == "sqlite" {
		return "sqlite (" + r.sync + ")"
	}
	return r.kind
}

// result is what a row measured.
type result struct {
	row
	accepted  int     // 202s of messages sent in the window
	acceptRPS float64 // accepted per second
	delivered int64   // bot messages that arrived in the window
	delivRPS  float64
	post      []time.Duration // POST → 202
	hook      []time.Duration // POST sent → each bot message's arrival
	turn      []time.Duration // POST sent → the turn's last bot message
	backlog   int             // replies outstanding when the window ended
	errs      errorCounts
	floorRPS  float64
	floorP50  time.Duration
	cpu       cpuUsage // during the window
	inprocess bool
}

type errorCounts struct {
	post, lost, unexpected, misordered, afterError, bad, floor int64
	dups                                                       int64 // duplicates are allowed (at least once); not errors
	first                                                      string
}

func (e errorCounts) total() int64 {
	return e.post + e.lost + e.unexpected + e.misordered + e.afterError + e.bad + e.floor
}

// run measures every row of c, prints them, and returns them.
func run(ctx context.Context, c config, out io.Writer) ([]result, error) {
	var rows []row
	for _, kind := range c.stores {
		syncs := []string{""}
		if kind == "sqlite" {
			syncs = c.syncs
		}
		for _, s := range syncs {
			for _, n := range c.concurrency {
				rows = append(rows, row{kind: kind, sync: s, conc: n})
			}
		}
	}
	var bin string
	if !c.inprocess {
		bin = c.binary
		if bin == "" {
			dir, err := os.MkdirTemp("", "flowbot-bench-bin-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
			if bin, err = buildBinary(dir); err != nil {
				return nil, err
			}
		}
	}
	mode := "in-process"
	if !c.inprocess {
		mode = "binary " + bin
	}
	fmt.Fprintf(out, "flowbot delivery benchmark, %s: %s, GOMAXPROCS=%d, %d CPUs (%s); flowbot %s, delivery concurrency %d, logs %v; %d conversations, await replies %v, rate %s; %s per row (+%s warmup)\n\n",
		time.Now().Format("2006-01-02"), runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel(),
		mode, c.deliveryConc, c.logs, c.conversations, c.await, rateString(c.rate), c.duration, c.warmup)
	c.rounds = max(c.rounds, 1)
	floors := map[int]floorResult{}
	var results []result
	for _, r := range rows {
		var best result
		for round := range c.rounds {
			res, err := measure(ctx, c, r, bin, len(rows) > 1 || c.rounds > 1, round, floors)
			if err != nil {
				return results, fmt.Errorf("%s, concurrency %d: %w", r.label(), r.conc, err)
			}
			printResult(out, res)
			if round == 0 || res.delivRPS > best.delivRPS {
				best = res
			}
		}
		results = append(results, best)
	}
	for i := range results { // the best floor at each concurrency
		f := floors[results[i].conc]
		results[i].floorRPS, results[i].floorP50 = f.rps, f.p50
	}
	fmt.Fprintln(out)
	printTable(out, results)
	return results, nil
}

func rateString(r float64) string {
	if r == 0 {
		return "unpaced"
	}
	return fmt.Sprintf("%.0f/s", r)
}

// measure runs one row: a fresh database, flowbot, the receiver, the
// clients, then the floor (at the first row of each concurrency, and in
// every round after the first; floors keeps the best at each concurrency).
func measure(ctx context.Context, c config, r row, bin string, many bool, round int, floors map[int]floorResult) (result, error) {
	res := result{row: r, inprocess: c.inprocess}
	db, err := freshDatabase(ctx, r.kind, c.database)
	if err != nil {
		return res, err
	}
	if c.keep {
		defer fmt.Fprintf(os.Stderr, "delivery: kept the database of %s, concurrency %d: %s\n", r.label(), r.conc, redact(db.addr))
		defer db.release()
	} else {
		defer db.cleanup()
	}

	rc := newReceiver()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	rc.url = "http://" + ln.Addr().String()
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: server.DefaultReadHeaderTimeout, IdleTimeout: server.DefaultIdleTimeout}
	go rc.srv.Serve(ln)
	defer rc.srv.Close()

	var fb *flowbot
	if c.inprocess {
		fb, err = startInProcess(ctx, c, db.addr, r.sync)
	} else {
		fb, err = startBinary(ctx, c, bin, db.addr, r.sync)
	}
	if err != nil {
		return res, err
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			if err := fb.stop(); err != nil {
				fmt.Fprintln(os.Stderr, "delivery: stopping flowbot:", err)
			}
		}
	}
	defer stop()

	client := newClient(r.conc + 8)
	defer client.CloseIdleConnections()
	convs, err := setup(ctx, client, fb.url, rc, c)
	if err != nil {
		return res, err
	}
	profName := func(path string) string {
		if path == "" || !many {
			return path
		}
		ext := filepath.Ext(path)
		name := strings.TrimSuffix(path, ext) + "-" + strings.NewReplacer(" ", "", "(", "-", ")", "").Replace(r.label()) + "-" + strconv.Itoa(r.conc)
		if c.rounds > 1 {
			name += "-" + strconv.Itoa(round+1)
		}
		return name + ext
	}
	prof := profiles{cpu: profName(c.cpuprofile), block: profName(c.blockprofile)}
	if err := drive(client, fb.url, rc, convs, c, r.conc, prof, &res); err != nil {
		return res, err
	}
	stop()
	f, ok := floors[r.conc]
	if !ok || round > 0 {
		f = driveFloor(rc.url, r.conc, c)
		if f.rps > floors[r.conc].rps {
			floors[r.conc] = f
		}
	}
	res.floorRPS, res.floorP50 = f.rps, f.p50
	res.errs.floor = f.errors
	if res.errs.first == "" {
		res.errs.first = f.first
	}
	res.errs.unexpected = rc.unexpected.Load()
	res.errs.misordered = rc.misordered.Load()
	res.errs.afterError = rc.afterError.Load()
	res.errs.bad = rc.bad.Load()
	res.errs.dups = rc.dups.Load()
	return res, nil
}

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: 90 * time.Second, DisableCompression: true}}
}

// apiCall sends a Chat API request and decodes a JSON answer of status want.
func apiCall(ctx context.Context, client *http.Client, method, url string, body []byte, want int, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, not %d: %.300s", method, url, resp.StatusCode, want, raw)
	}
	if v != nil {
		return json.Unmarshal(raw, v)
	}
	return nil
}

// setup creates the bot and the conversations, waits for their start
// messages, and registers the conversations with the receiver.
func setup(ctx context.Context, client *http.Client, base string, rc *receiver, c config) ([]*conv, error) {
	var bot struct {
		Bot struct{ ID string } `json:"bot"`
	}
	if err := apiCall(ctx, client, http.MethodPost, base+"/api/bots", []byte(`{"name":"Bench shop","flow":"webshop"}`), http.StatusCreated, &bot); err != nil {
		return nil, err
	}
	convs := make([]*conv, c.conversations)
	var wg sync.WaitGroup
	var next atomic.Int64
	errc := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(convs) {
					return
				}
				body, _ := json.Marshal(map[string]any{"bot_id": bot.Bot.ID, "user_id": "bench-user-" + strconv.Itoa(i),
					"create_user_if_not_exists": true, "webhook": rc.url + "/webhook"})
				var cv struct {
					Conversation struct{ ID string } `json:"conversation"`
				}
				if err := apiCall(ctx, client, http.MethodPost, base+"/api/conversations", body, http.StatusCreated, &cv); err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				convs[i] = &conv{id: cv.Conversation.ID}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	want := int64(startReplies * c.conversations)
	deadline := time.Now().Add(c.timeout + 30*time.Second)
	for rc.setup.Load() < want {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of the %d start messages arrived at the webhook", rc.setup.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the last deliveries' outcomes are recorded
	m := make(map[string]*conv, len(convs))
	for _, cv := range convs {
		m[cv.id] = cv
	}
	rc.convs.Store(&m)
	return convs, nil
}

// drive runs the clients for the warmup and the window, then waits for the
// replies still on their way, and fills res.
func drive(client *http.Client, base string, rc *receiver, convs []*conv, c config, conc int, prof profiles, res *result) error {
	idle := make(chan *conv, len(convs))
	for _, i := range rand.Perm(len(convs)) {
		idle <- convs[i]
	}
	begin := time.Now()
	from := begin.Add(c.warmup)
	until := from.Add(c.duration)
	rc.from.Store(from.UnixNano())
	rc.until.Store(until.UnixNano())

	var profErr error
	profDone := make(chan struct{})
	go func() {
		defer close(profDone)
		profErr = prof.record(from, until)
	}()
	var backlog atomic.Int64
	var usage0, usage1 cpuUsage
	go func() {
		time.Sleep(time.Until(from))
		usage0 = readCPU()
	}()
	go func() {
		time.Sleep(time.Until(until))
		usage1 = readCPU()
		n := 0
		for _, cv := range convs {
			_, all := cv.outstanding()
			n += all
		}
		backlog.Store(int64(n))
	}()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		postErrs atomic.Int64
		lost     atomic.Int64
		firstErr atomic.Value
		slot     atomic.Int64
	)
	fail := func(cv *conv, err error) {
		if postErrs.Add(1) == 1 {
			firstErr.Store(err.Error())
		}
		cv.fail()
	}
	body := []byte(`{"message":{"text":"` + userText + `","from_bot":false}}`)
	for range conc {
		wg.Go(func() {
			var lat []time.Duration
			n := 0
			defer func() {
				mu.Lock()
				res.post = append(res.post, lat...)
				accepted += n
				mu.Unlock()
			}()
			for {
				if c.rate > 0 {
					at := begin.Add(time.Duration(float64(slot.Add(1)-1) / c.rate * float64(time.Second)))
					time.Sleep(time.Until(at))
				}
				if !time.Now().Before(until) {
					return
				}
				var cv *conv
				select {
				case cv = <-idle:
				case <-time.After(time.Until(until)):
					return
				}
				t := &turn{done: make(chan struct{})}
				t.sent = time.Now()
				t.measured = !t.sent.Before(from) && t.sent.Before(until)
				cv.push(t)
				req, _ := http.NewRequest(http.MethodPost, base+"/api/conversations/"+cv.id+"/messages", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+apiKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					fail(cv, err)
					continue
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(t.sent)
				if err == nil && resp.StatusCode != http.StatusAccepted {
					err = fmt.Errorf("POST message: status %d: %.300s", resp.StatusCode, raw)
				}
				if err != nil {
					fail(cv, err)
					continue
				}
				if t.measured {
					lat = append(lat, d)
					n++
				}
				if c.await {
					select {
					case <-t.done:
					case <-time.After(c.timeout):
						m, _ := cv.outstanding()
						lost.Add(int64(m))
						cv.fail()
						continue
					}
				}
				idle <- cv
			}
		})
	}
	wg.Wait()
	// The replies still on their way (all of them with -await=false).
	deadline := time.Now().Add(c.timeout)
	for {
		pending := 0
		for _, cv := range convs {
			_, all := cv.outstanding()
			pending += all
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, cv := range convs {
		m, _ := cv.outstanding()
		lost.Add(int64(m))
	}
	<-profDone
	if profErr != nil {
		return profErr
	}
	rc.mu.Lock()
	res.hook = slices.Clone(rc.lat)
	res.turn = slices.Clone(rc.last)
	rc.mu.Unlock()
	slices.Sort(res.post)
	slices.Sort(res.hook)
	slices.Sort(res.turn)
	res.accepted = accepted
	res.acceptRPS = float64(accepted) / c.duration.Seconds()
	res.delivered = rc.delivered.Load()
	res.delivRPS = float64(res.delivered) / c.duration.Seconds()
	res.backlog = int(backlog.Load())
	res.cpu = usage1.sub(usage0)
	res.errs.post, res.errs.lost = postErrs.Load(), lost.Load()
	if s, ok := firstErr.Load().(string); ok {
		res.errs.first = s
	}
	return nil
}

// profiles are the files of the profiles of a row's window.
type profiles struct{ cpu, block string }

// record writes the profiles of the time from from to until.
func (p profiles) record(from, until time.Time) error {
	if p.cpu == "" && p.block == "" {
		return nil
	}
	time.Sleep(time.Until(from))
	if p.cpu != "" {
		f, err := os.Create(p.cpu)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if p.block != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	}
	time.Sleep(time.Until(until))
	if p.block == "" {
		return nil
	}
	runtime.SetBlockProfileRate(0)
	f, err := os.Create(p.block)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("block").WriteTo(f, 0)
}

type floorResult struct {
	rps    float64
	p50    time.Duration
	errors int64
	first  string
}

// driveFloor posts delivery-shaped bodies from conc goroutines of a bare
// net/http client to the receiver, for the warmup and the window.
func driveFloor(url string, conc int, c config) floorResult {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conc, conc
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	begin := time.Now()
	from := begin.Add(c.warmup)
	until := from.Add(c.duration)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		all    []time.Duration
		errs   atomic.Int64
		first  atomic.Value
		nextID atomic.Int64
	)
	for range conc {
		wg.Go(func() {
			var lat []time.Duration
			for {
				start := time.Now()
				if !start.Before(until) {
					break
				}
				id := "floor-" + strconv.FormatInt(nextID.Add(1), 10)
				body := floorBody(id, start)
				req, _ := http.NewRequest(http.MethodPost, url+"/webhook", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("User-Agent", "flowbot")
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", strconv.FormatInt(start.Unix(), 10))
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("floor: status %d", resp.StatusCode)
					}
				}
				if err != nil {
					if errs.Add(1) == 1 {
						first.Store(err.Error())
					}
					continue
				}
				if !start.Before(from) {
					lat = append(lat, time.Since(start))
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	f := floorResult{rps: float64(len(all)) / c.duration.Seconds(), p50: pct(all, 0.50), errors: errs.Load()}
	if s, ok := first.Load().(string); ok {
		f.first = s
	}
	return f
}

// floorBody is the JSON flowbot's delivery.Body writes for the hours
// message, with the floor's conversation id.
func floorBody(id string, now time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"conversation_id": floorConv, "message": map[string]any{
		"id": id, "text": "We're open Monday to Friday 9:00–18:00 and Saturday 10:00–14:00.", "from_bot": true,
		"sent_at": now.Unix(), "attached_media": nil}})
	return b
}

// pct is the q-quantile of sorted durations (0 when there are none).
func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}

// quantiles writes p50/p90/p99/max.
func quantiles(s []time.Duration) string {
	if len(s) == 0 {
		return "-"
	}
	return fmtDur(pct(s, 0.50)) + " / " + fmtDur(pct(s, 0.90)) + " / " + fmtDur(pct(s, 0.99)) + " / " + fmtDur(s[len(s)-1])
}

func printResult(out io.Writer, r result) {
	fmt.Fprintf(out, "%s, concurrency %d: %.0f user msg/s accepted, %.0f bot msg/s delivered (backlog %d at the end); floor %.0f/s (p50 %s), flowbot/floor %.2f\n",
		r.label(), r.conc, r.acceptRPS, r.delivRPS, r.backlog, r.floorRPS, fmtDur(r.floorP50), ratio(r))
	fmt.Fprintf(out, "    POST→202 p50/p90/p99/max %s; user→webhook %s; turn complete (last reply) %s\n",
		quantiles(r.post), quantiles(r.hook), quantiles(r.turn))
	if r.accepted > 0 && r.cpu.wall > 0 {
		who := "clients, receiver and flowbot"
		if !r.inprocess {
			who = "clients and receiver"
		}
		fmt.Fprintf(out, "    CPU: this process (%s) %.0f µs per user message (%.2f cores); the machine %.0f%% busy (%d CPUs)\n",
			who, float64(r.cpu.process.Microseconds())/float64(r.accepted), r.cpu.process.Seconds()/r.cpu.wall.Seconds(), 100*r.cpu.machineBusy, runtime.NumCPU())
	}
	e := r.errs
	fmt.Fprintf(out, "    errors %d (post %d, lost %d, unexpected %d, misordered %d, after an error %d, bad %d, floor %d), duplicates %d\n",
		e.total(), e.post, e.lost, e.unexpected, e.misordered, e.afterError, e.bad, e.floor, e.dups)
	if e.first != "" {
		fmt.Fprintf(out, "    first error: %s\n", e.first)
	}
}

func ratio(r result) float64 {
	if r.floorRPS == 0 {
		return 0
	}
	return r.delivRPS / r.floorRPS
}

func printTable(out io.Writer, rs []result) {
	fmt.Fprintln(out, "| store | clients | user msg/s | bot msg/s | POST→202 p50 / p90 / p99 / max | user→webhook p50 / p90 / p99 / max | errors | floor req/s | flowbot/floor |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---|---|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(out, "| %s | %d | %.0f | %.0f | %s | %s | %d | %.0f | %.2f |\n",
			r.label(), r.conc, r.acceptRPS, r.delivRPS, quantiles(r.post), quantiles(r.hook), r.errs.total(), r.floorRPS, ratio(r))
	}
}

// cpuModel reads the CPU's name on Linux.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
