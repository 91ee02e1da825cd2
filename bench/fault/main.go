// Command fault runs flowbot serve under faults and checks that nothing is
// lost: every conversation and every pushed or delivered message is
// accounted for.
//
//	go run ./bench/fault -duration 10m -kill-every 30s
//
// It starts, over loopback only:
//
//   - a fake order service (GET /orders/{id} → {"status": "shipped"} after
//     up to -order-delay), never taken down;
//   - a fake Userlike API URL (harness.PushAPI) that records the pushes of
//     async results by cid and X-Flowbot-Push-Id;
//   - a Chat API webhook receiver (harness.Receiver) that verifies the
//     signatures and records deliveries by webhook-id;
//   - the flowbot binary (-bin, or built from ./cmd/flowbot) with a fresh
//     --data file (the Userlike outbox) and a fresh --database (a SQLite
//     file, or a new schema of the PostgreSQL database of -database), the
//     example flows, a short --lease and a fast --delivery-schedule, and
//     --allow-network loopback when the binary knows that flag;
//   - with -instances N (and a postgres:// -database), N such processes
//     on the one database, which then also keeps their Userlike outbox
//     (--data): every client request goes to the next instance (round
//     robin), and each kill takes a random one.
//
// Then, for -duration, it drives both modes at once:
//
//   - -userlike workers play Userlike: each conversation of the webshop
//     flow (a new cid) starts, clicks "Delivery status" and sends an order
//     id, echoing the context of each answer; the last turn queues an async
//     order lookup whose result flowbot pushes to the fake API;
//   - -chat workers play an app on the Chat API: each creates a
//     conversation of a webshop bot with the receiver as webhook, and for
//     -rounds rounds sends "1" (delivery status), an order id (an async
//     lookup; the worker waits for its result to arrive on the webhook) and
//     "3" (opening hours), each POST with its own Idempotency-Key;
//
// -follow-ups clients play a flow with on_silence reminders (added to the
// flows of -flows), half of them answering before the first reminder is
// due: each must get the reminder of the state it is in, and none of a
// state it had left;
//
// with -move-on, a share of the Userlike conversations sends "menu"
// right after the lookup turn (to the next instance): their result must
// then not arrive after the menu's answer (it would be stale: the older
// context of the lookup);
//
// and -bad clients send malformed requests (broken JSON, wrong types, a
// body over the limit, a missing API key…), each of which must get its 4xx;
//
// while, every -kill-every (±-jitter), it SIGKILLs flowbot and starts it
// again on the same port and files, and every -receiver-every (±-jitter)
// it takes the fake Userlike API or the webhook receiver down for
// -down-min…-down-max: its listener closed (connection refused, requests
// in flight cut) or answering 503. Clients retry what failed because
// flowbot was down: a Chat API post with the same Idempotency-Key, a
// Userlike webhook call with the same body.
//
// At the end it stops the faults, lets the workers finish their
// conversations, waits (up to -drain) until flowbot_outbox_pending and
// flowbot_platform_pending are 0 and every Chat API conversation's
// delivery.pending is 0, and checks (see check.go for what "accounted for"
// means). It prints a summary and exits 1 on any loss or failure.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for -database postgres://…

	"github.com/flowbot/flowbot/bench/internal/harness"
)

type config struct {
	duration      time.Duration
	killEvery     time.Duration
	receiverEvery time.Duration
	jitter        float64
	downMin       time.Duration
	downMax       time.Duration
	restartDelay  time.Duration
	userlike      int
	chat          int
	bad           int
	rounds        int
	think         time.Duration
	bin           string
	flowsDir      string
	database      string
	lease         time.Duration
	schedule      string
	drain         time.Duration
	orderDelay    time.Duration
	workers       int
	resultWait    time.Duration
	keep          bool
	instances     int
	moveOn        float64
	followUps     int
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long to drive flowbot under faults")
	flag.DurationVar(&c.killEvery, "kill-every", 30*time.Second, "SIGKILL flowbot (and restart it) this often, jittered; 0: never")
	flag.DurationVar(&c.receiverEvery, "receiver-every", 45*time.Second, "take the fake Userlike API or the webhook receiver down this often, jittered; 0: never")
	flag.Float64Var(&c.jitter, "jitter", 0.4, "random share added to or taken from each wait (0.4: 30 s is 18–42 s)")
	flag.DurationVar(&c.downMin, "down-min", 2*time.Second, "shortest time a receiver stays down")
	flag.DurationVar(&c.downMax, "down-max", 6*time.Second, "longest time a receiver stays down")
	flag.DurationVar(&c.restartDelay, "restart-delay", time.Second, "longest wait between killing flowbot and starting it again (random from 0)")
	flag.IntVar(&c.userlike, "userlike", 8, "concurrent Userlike webhook conversations")
	flag.IntVar(&c.chat, "chat", 8, "concurrent Chat API conversations")
	flag.IntVar(&c.bad, "bad", 1, "clients sending malformed requests (each must get its 4xx, never a 5xx)")
	flag.IntVar(&c.rounds, "rounds", 2, "order lookups per Chat API conversation")
	flag.DurationVar(&c.think, "think", 100*time.Millisecond, "longest pause of a client between two turns (random from 0)")
	flag.StringVar(&c.bin, "bin", "", "the flowbot binary (default: go build ./cmd/flowbot into the temporary folder)")
	flag.StringVar(&c.flowsDir, "flows", "examples", "the folder of flows (needs webshop)")
	flag.StringVar(&c.database, "database", "", "the Chat API's database: empty for a fresh SQLite file, or a postgres:// URL (a fresh schema is created in it and dropped at the end)")
	flag.DurationVar(&c.lease, "lease", 10*time.Second, "flowbot's --lease: how long a killed process's claims hold its work")
	flag.StringVar(&c.schedule, "delivery-schedule", "0s,1s,2s,4s", "flowbot's --delivery-schedule (the last wait repeats)")
	flag.DurationVar(&c.drain, "drain", 5*time.Minute, "how long to wait, after the faults, for the queues to drain")
	flag.IntVar(&c.workers, "workers", 0, "flowbot's --workers (background requests of Userlike async steps at once); 0: flowbot's default")
	flag.DurationVar(&c.orderDelay, "order-delay", 100*time.Millisecond, "longest answer time of the fake order service (random from 0)")
	flag.DurationVar(&c.resultWait, "result-wait", 2*time.Minute, "how long a Chat API client waits for a lookup's result before it goes on")
	flag.IntVar(&c.instances, "instances", 1, "flowbot serve processes on one database, each client request going to the next (round robin); more than 1 needs a postgres:// -database")
	flag.Float64Var(&c.moveOn, "move-on", 0, "share of Userlike conversations that send \"menu\" right after the lookup turn, before its result (which must then not be pushed after the menu's answer)")
	flag.IntVar(&c.followUps, "follow-ups", 0, "concurrent Userlike conversations of a flow with on_silence reminders (added to -flows): half answer before the reminder; each must get the reminder of the state it is in, and none of a state it left")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary folder (flowbot.log, data files) even when the run passes")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go run ./bench/fault [flags]\n\nDrives flowbot serve (Userlike webhooks and the Chat API) while killing it and\nits receivers, then checks that no conversation or message was lost.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if c.duration <= 0 || c.userlike < 0 || c.chat < 0 || c.userlike+c.chat == 0 || c.rounds < 1 || c.jitter < 0 || c.jitter >= 1 ||
		c.downMin <= 0 || c.downMax < c.downMin || flag.NArg() > 0 || c.instances < 1 || (c.instances > 1 && c.database == "") || c.moveOn < 0 || c.moveOn > 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := runFault(ctx, c, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// run holds one fault run.
type run struct {
	c        config
	out      io.Writer
	dir      string
	srvs     []*harness.Server // the instances, sharing one database
	rr       atomic.Uint64     // the round robin's counter
	orders   *harness.OrderAPI
	pushes   *harness.PushAPI
	pushEP   *harness.Endpoint
	recv     *harness.Receiver
	recvEP   *harness.Endpoint
	apiKey   string
	botID    string
	stats    *stats
	stopping atomic.Bool   // workers finish their conversation and stop
	abort    chan struct{} // closed when clients must give up (drain timeout, interrupt)

	mu      sync.Mutex
	ul      []*ulConv
	reminds []*remindConv
	chats   []*chatConv
	kills   []time.Time
	chaos   chaosStats
}

// chaosStats counts the faults injected.
type chaosStats struct {
	kills, restarts                 int
	restartMin, restartMax, restart time.Duration // time from start to /healthz 200
	downs                           map[string]int
}

func runFault(ctx context.Context, c config, out io.Writer) (bool, error) {
	c.instances = max(c.instances, 1)
	r := &run{c: c, out: out, stats: newStats(), abort: make(chan struct{}), chaos: chaosStats{downs: map[string]int{}}}
	var err error
	if r.dir, err = os.MkdirTemp("", "flowbot-fault-"); err != nil {
		return false, err
	}
	passed := false
	defer func() {
		if passed && !c.keep {
			os.RemoveAll(r.dir)
		} else {
			fmt.Fprintf(out, "kept %s (flowbot.log, data files)\n", r.dir)
		}
	}()
	bin := c.bin
	if bin == "" {
		fmt.Fprintln(out, "building ./cmd/flowbot …")
		if bin, err = harness.Build(r.dir); err != nil {
			return false, err
		}
	}
	database := filepath.Join(r.dir, "platform.db")
	if c.database != "" {
		var drop func()
		if database, drop, err = freshSchema(c.database); err != nil {
			return false, err
		}
		defer func() {
			if passed && !c.keep {
				drop()
			}
		}()
	}

	// The fake services.
	r.orders = harness.NewOrderAPI(c.orderDelay)
	orderEP, err := harness.NewEndpoint("order API", r.orders)
	if err != nil {
		return false, err
	}
	defer orderEP.Down()
	pushToken := "ul_" + randHex(12)
	r.pushes = harness.NewPushAPI(pushToken)
	if r.pushEP, err = harness.NewEndpoint("Userlike API", r.pushes); err != nil {
		return false, err
	}
	defer r.pushEP.Down()
	secret := "whsec_" + base64.StdEncoding.EncodeToString(randBytes(24))
	if r.recv, err = harness.NewReceiver(secret); err != nil {
		return false, err
	}
	if r.recvEP, err = harness.NewEndpoint("webhook receiver", r.recv); err != nil {
		return false, err
	}
	defer r.recvEP.Down()

	r.apiKey = "sk_fault_" + randHex(12)
	extra := harness.AllowNetworkArgs(bin)
	if c.workers > 0 {
		extra = append(extra, "--workers", fmt.Sprint(c.workers))
	}
	// One instance keeps Userlike mode's outbox in a SQLite file of its
	// own; several share the PostgreSQL database for it too.
	data := filepath.Join(r.dir, "flowbot.db")
	if c.instances > 1 {
		data = database
	}
	flowsDir := c.flowsDir
	if c.followUps > 0 {
		if flowsDir, err = flowsWithRemind(c.flowsDir, r.dir); err != nil {
			return false, err
		}
	}
	var addrs []string
	for i := range c.instances {
		addr, err := harness.FreeAddr()
		if err != nil {
			return false, err
		}
		log := filepath.Join(r.dir, "flowbot.log")
		if c.instances > 1 {
			log = filepath.Join(r.dir, fmt.Sprintf("flowbot-%d.log", i+1))
		}
		srv := &harness.Server{Bin: bin, Addr: addr, LogPath: log,
			Args: append([]string{"--flows", flowsDir, "--data", data, "--database", database,
				"--lease", c.lease.String(), "--delivery-schedule", c.schedule, "--log-level", "info"}, extra...),
			Env: []string{"ORDER_API_URL=" + orderEP.URL(), "USERLIKE_API_URL=" + r.pushEP.URL() + "/push", "USERLIKE_API_TOKEN=" + pushToken,
				"FLOWBOT_API_KEYS=" + r.apiKey, "FLOWBOT_WEBHOOK_SECRET=" + secret, "FLOWBOT_WEBHOOK_TOKEN=", "FLOWBOT_DATABASE="}}
		if err := srv.Start(60 * time.Second); err != nil {
			return false, err
		}
		defer srv.Close()
		r.srvs = append(r.srvs, srv)
		addrs = append(addrs, addr)
	}
	dbName := "SQLite " + database
	if c.database != "" {
		dbName = "PostgreSQL " + redact(database)
	}
	fmt.Fprintf(out, "flowbot fault run: %d × %s serve on %s, --data %s, --database %s, --lease %s, --delivery-schedule %s %s\n",
		c.instances, bin, strings.Join(addrs, ", "), redact(data), dbName, c.lease, c.schedule, strings.Join(extra, " "))
	fmt.Fprintf(out, "%s of faults: SIGKILL every %s ±%.0f%%, a receiver down every %s ±%.0f%% for %s–%s; %d Userlike and %d Chat API clients\n\n",
		c.duration, c.killEvery, 100*c.jitter, c.receiverEvery, 100*c.jitter, c.downMin, c.downMax, c.userlike, c.chat)

	if r.botID, err = r.createBot(); err != nil {
		return false, err
	}

	// The run: workers, and the faults until the end of -duration.
	began := time.Now()
	faultCtx, stopFaults := context.WithTimeout(ctx, c.duration)
	defer stopFaults()
	var workers sync.WaitGroup
	for w := range c.userlike {
		workers.Go(func() { r.userlikeWorker(w) })
	}
	for w := range c.chat {
		workers.Go(func() { r.chatWorker(w) })
	}
	for range c.bad {
		workers.Go(r.badWorker)
	}
	for w := range c.followUps {
		workers.Go(func() { r.followUpWorker(w) })
	}
	var chaos sync.WaitGroup
	chaos.Go(func() { r.killLoop(faultCtx) })
	chaos.Go(func() { r.receiverLoop(faultCtx) })
	chaos.Go(func() { r.progress(faultCtx, began) })
	<-faultCtx.Done()
	chaos.Wait()
	if ctx.Err() != nil {
		close(r.abort)
		workers.Wait()
		return false, ctx.Err()
	}
	// Everything up again; the workers finish their conversations.
	r.pushEP.SetFailing(false)
	r.recvEP.SetFailing(false)
	if err := errors.Join(r.pushEP.Up(), r.recvEP.Up()); err != nil {
		return false, err
	}
	for _, srv := range r.srvs {
		if !srv.Running() {
			if err := srv.Start(60 * time.Second); err != nil {
				return false, err
			}
		}
	}
	faultsEnded := time.Now()
	fmt.Fprintf(out, "\n%s: faults stopped; the clients finish their conversations …\n", faultsEnded.Sub(began).Round(time.Second))
	r.stopping.Store(true)
	finished := make(chan struct{})
	go func() { workers.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(c.resultWait + time.Minute):
		close(r.abort)
		<-finished
		fmt.Fprintln(out, "the clients did not finish in time; they were stopped")
	}

	drained, drainTook, err := r.waitDrained(ctx)
	if err != nil {
		return false, err
	}
	rep := r.check()
	rep.drained, rep.drainTook = drained, drainTook
	// A graceful stop at the end must work too.
	var stopErrs []error
	for _, srv := range r.srvs {
		stopErrs = append(stopErrs, srv.Stop(30*time.Second))
		rep.logs.add(scanLog(srv.LogPath))
	}
	rep.stopErr = errors.Join(stopErrs...)
	passed = rep.print(out, r, time.Since(began))
	return passed, nil
}

// next is the instance the next client request goes to (round robin).
func (r *run) next() *harness.Server {
	return r.srvs[int(r.rr.Add(1)%uint64(len(r.srvs)))]
}

// killLoop SIGKILLs a random instance every ~killEvery and starts it
// again.
func (r *run) killLoop(ctx context.Context) {
	if r.c.killEvery <= 0 {
		return
	}
	for harness.WaitCtx(ctx, jittered(r.c.killEvery, r.c.jitter)) {
		srv := r.srvs[mrand.IntN(len(r.srvs))]
		if err := srv.Kill(); err != nil {
			fmt.Fprintln(r.out, "kill:", err)
			continue
		}
		r.mu.Lock()
		r.kills = append(r.kills, time.Now())
		r.chaos.kills++
		r.mu.Unlock()
		if r.c.restartDelay > 0 {
			time.Sleep(mrand.N(r.c.restartDelay))
		}
		t0 := time.Now()
		for {
			err := srv.Start(60 * time.Second)
			if err == nil {
				break
			}
			fmt.Fprintln(r.out, "restart failed, trying again:", err)
			time.Sleep(time.Second)
		}
		took := time.Since(t0)
		r.mu.Lock()
		ch := &r.chaos
		ch.restarts++
		ch.restart += took
		if ch.restartMin == 0 || took < ch.restartMin {
			ch.restartMin = took
		}
		ch.restartMax = max(ch.restartMax, took)
		r.mu.Unlock()
	}
}

// receiverLoop takes the fake Userlike API or the webhook receiver down
// every ~receiverEvery: closed (connection refused) or answering 503.
func (r *run) receiverLoop(ctx context.Context) {
	if r.c.receiverEvery <= 0 {
		return
	}
	for harness.WaitCtx(ctx, jittered(r.c.receiverEvery, r.c.jitter)) {
		ep := r.pushEP
		if mrand.IntN(2) == 0 {
			ep = r.recvEP
		}
		down := r.c.downMin + mrand.N(r.c.downMax-r.c.downMin+1)
		how := "closed"
		if mrand.IntN(2) == 0 {
			how = "503"
			ep.SetFailing(true)
		} else {
			ep.Down()
		}
		r.mu.Lock()
		r.chaos.downs[ep.Name+" "+how]++
		r.mu.Unlock()
		harness.WaitCtx(ctx, down)
		ep.SetFailing(false)
		if err := ep.Up(); err != nil {
			fmt.Fprintln(r.out, err)
		}
	}
}

// progress prints a line every 30 s.
func (r *run) progress(ctx context.Context, began time.Time) {
	for harness.WaitCtx(ctx, 30*time.Second) {
		r.mu.Lock()
		nul, nchat, kills := len(r.ul), len(r.chats), r.chaos.kills
		var downs int
		for _, n := range r.chaos.downs {
			downs += n
		}
		r.mu.Unlock()
		_, pushed, _, _ := r.pushes.Totals()
		_, delivered, _, _ := r.recv.Totals()
		fmt.Fprintf(r.out, "%6s  kills %3d  receiver outages %3d  Userlike conversations %6d  Chat API conversations %5d  pushes %6d  deliveries %6d  5xx %d  4xx %d  connection errors %d\n",
			time.Since(began).Round(time.Second), kills, downs, nul, nchat, pushed, delivered,
			r.stats.count5xx(), r.stats.count4xx(), r.stats.connErrors())
	}
}

// waitDrained waits until flowbot has no pending jobs, pushes or
// deliveries, and no Chat API conversation waits for a delivery.
func (r *run) waitDrained(ctx context.Context) (bool, time.Duration, error) {
	t0 := time.Now()
	lastShown := t0
	client := r.apiClient()
	for time.Since(t0) < r.c.drain && ctx.Err() == nil {
		m, err := harness.Scrape(client, r.next().URL()+"/metrics") // the outbox's and the store's depths are the database's
		if err == nil && time.Since(lastShown) >= 5*time.Second {
			lastShown = time.Now()
			fmt.Fprintf(r.out, "%6s  draining: outbox jobs %.0f, pushes %.0f; Chat API deliveries %.0f, jobs %.0f\n", time.Since(t0).Round(time.Second),
				m.Sum("flowbot_outbox_pending", `kind="jobs"`), m.Sum("flowbot_outbox_pending", `kind="pushes"`),
				m.Sum("flowbot_platform_pending", `kind="deliveries"`), m.Sum("flowbot_platform_pending", `kind="jobs"`))
		}
		if err == nil && m.Sum("flowbot_outbox_pending") == 0 && m.Sum("flowbot_platform_pending") == 0 {
			pending := 0
			for _, cv := range r.chatConversations() {
				n, err := r.deliveryPending(cv.id)
				if err != nil {
					pending++
					break
				}
				pending += n
				if pending > 0 {
					break
				}
			}
			if pending == 0 {
				return true, time.Since(t0), nil
			}
		}
		time.Sleep(time.Second)
	}
	return false, time.Since(t0), ctx.Err()
}

// jittered returns d ± share·d, at random.
func jittered(d time.Duration, share float64) time.Duration {
	return time.Duration(float64(d) * (1 - share + 2*share*mrand.Float64()))
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randHex(n int) string { return hex.EncodeToString(randBytes(n)) }

// freshSchema creates a new schema in the PostgreSQL database at base and
// returns a URL whose search_path is it, and a function that drops it.
func freshSchema(base string) (string, func(), error) {
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	schema := "flowbot_fault_" + randHex(6)
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("-database: create schema: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() { db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); db.Close() }, nil
}

// starts counts the starts of every instance.
func (r *run) starts() int {
	n := 0
	for _, srv := range r.srvs {
		n += srv.Starts()
	}
	return n
}

// exitStates lists how the instances ended; ok reports whether every one
// exited with status 0.
func (r *run) exitStates() (states string, ok bool) {
	var out []string
	ok = true
	for _, srv := range r.srvs {
		st := srv.ExitState()
		ok = ok && st == "exit status 0"
		out = append(out, st)
	}
	return strings.Join(out, ", "), ok
}

// redact hides a URL's password.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}
