package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/delivery"
	"github.com/flowbot/flowbot/runtime/flowset"
	"github.com/flowbot/flowbot/runtime/llm"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/outbox"
	"github.com/flowbot/flowbot/runtime/playground"
	"github.com/flowbot/flowbot/runtime/server"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/worker"
)

// serveFlags are the options of flowbot serve.
type serveFlags struct {
	flowsDir    string
	addr        string
	token       string
	tokenHeader string
	logBodies   bool
	logFormat   string
	logLevel    string
	data        string
	dataShared  bool // data is the postgres:// --database (not given itself)
	lease       time.Duration
	workers     int
	watch       bool
	database    string
	sqliteSync  string
	insecure    bool
	schedule    string
	deliveries  int
	network     string
	scriptTime  time.Duration
	scriptMem   string
	turnLog     turnLogFlags
	playground  bool
}

// defaultDataPath is where serve keeps its outbox unless --data says
// otherwise.
var defaultDataPath = filepath.Join("flowbot-data", "flowbot.db")

// defaultDatabase is the Chat API's store unless --database or
// FLOWBOT_DATABASE say otherwise.
var defaultDatabase = filepath.Join("flowbot-data", "platform.db")

func newServeCmd(stderr io.Writer) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--flows DIR] [--addr HOST:PORT]",
		Short: "Serve every flow of a folder as a Userlike chatbot webhook",
		Long: `Serve loads every flow (*.yaml, *.yml) of a folder and answers the Userlike
Chatbot API's webhook calls for each, under its name (the flow's name: field):

  POST /bots/{name}/webhook   Userlike webhook events in, triggerable events out
  GET  /healthz               200 {"status":"ok","flows":[…]} when ready
  GET  /metrics               Prometheus metrics

Set the webhook URL of your Userlike chatbot to
https://YOUR-HOST/bots/{name}/webhook and its outbound token to the value of
--webhook-token: flowbot then answers 401 to any call without it.

A flow with errors stops serve from starting (each error is printed as
file:line:col). Warnings, such as a ${env.NAME} that is not set, are logged
and serve starts anyway. SIGINT or SIGTERM shut the server down gracefully:
requests in flight are finished first.

A state with an async HTTP step (async: true) answers the webhook at once;
the request runs in the background and its result is pushed to the flow's
api_url (for the example flows: USERLIKE_API_URL, with the token
USERLIKE_API_TOKEN). The pending work is kept in an SQLite file (--data), so a
restart or a crash loses none of it. --data '' keeps nothing and runs async
steps during the webhook call instead. Instances behind a load balancer
must share it: give them one PostgreSQL database (--database postgres://…,
or --data postgres://…), where their jobs, follow-ups, pushes and flow
versions live (docs/userlike.md, "Many instances").

Platform mode: the same server also hosts the Chat API for apps without a
chat platform (docs/platform.md): POST /api/bots, POST /api/conversations,
POST /api/conversations/{id}/messages, GET …/messages for the history. Bot
messages are POSTed to each conversation's webhook, retried until a 2xx
(--delivery-schedule), and signed per Standard Webhooks when
FLOWBOT_WEBHOOK_SECRET (whsec_…) is set. Requests need Authorization: Bearer
with one of the keys in FLOWBOT_API_KEYS (comma-separated); without keys the
Chat API answers 401 (--insecure-no-auth opens it, for local development
only). Its data lives in --database: a SQLite file (default), or a
postgres:// URL, with which several flowbot serve processes share
conversations and the delivery queue.

Language model: the flows' llm steps, and persona bots (a Chat API bot
created with freeform and attributes but no flow), ask any OpenAI-compatible
chat-completions endpoint: FLOWBOT_LLM_BASE_URL (e.g.
https://api.openai.com/v1 or http://127.0.0.1:11434/v1), FLOWBOT_LLM_MODEL
and, if the endpoint needs one, FLOWBOT_LLM_API_KEY. Without them llm steps
take their error path and persona bots are refused with 422.

Outgoing requests — the flows' HTTP steps and the Chat API's webhook
deliveries — reach public addresses only: a step's URL may carry what a
contact typed and a webhook URL is chosen by an API client, so neither may
call loopback, private (RFC 1918, fc00::/7), link-local (with the cloud
metadata service 169.254.169.254), CGNAT (100.64.0.0/10), unspecified,
multicast or reserved addresses. The address is checked when connecting,
after DNS and on every redirect; a refused step takes its error path, a
refused delivery is retried on schedule, and flowbot_ssrf_refused_total
counts them. --allow-network (default $FLOWBOT_ALLOW_NETWORK) allows more:
comma-separated keywords loopback, private, link-local, cgnat, all, or
CIDRs (10.1.0.0/16) and addresses. Guarded requests ignore HTTP_PROXY and
HTTPS_PROXY (the guard could only check the proxy); with "all" nothing is
guarded and the proxy is used. Pushes to a Userlike bot's api_url are not
restricted: the operator sets that URL.

--playground also serves the page of flowbot playground at /playground/ for
the flows of --flows: with FLOWBOT_API_KEYS set, open it once as
/playground/?key=YOUR_KEY. There its requests are answered by the page's
mocks only, and saved tests are downloaded, not written.

Logs go to stderr, one line per turn (bot, cid, event, from → to state,
duration). Message texts and contact data are left out unless --log-bodies
is given.`,
		Example: `  # Serve the example flows on the default address
  flowbot serve

  # Serve your own flows on all interfaces, requiring a token, with JSON logs
  FLOWBOT_WEBHOOK_TOKEN=s3cret flowbot serve --flows ./flows --addr 0.0.0.0:8080 --log-format json

  # The webshop example with its order lookup in the background: results go
  # to the bot's API URL and token from the Userlike dashboard
  ORDER_API_URL=https://shop.example.com/api USERLIKE_API_URL='<API URL>' \
  USERLIKE_API_TOKEN='<API token>' flowbot serve --data /var/lib/flowbot/flowbot.db

  # An order API on the private network, a webhook receiver on this host
  flowbot serve --allow-network 10.20.0.0/16,loopback

  # Try it
  curl -s localhost:8080/bots/name-email-forward/webhook \
    -d '{"info":{"cid":"c1"},"packet":{"name":"start","payload":{}}}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("serve takes no arguments (got %q); give the folder with --flows", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("webhook-token") {
				f.token = os.Getenv("FLOWBOT_WEBHOOK_TOKEN")
			}
			if !cmd.Flags().Changed(netguard.Flag) {
				f.network = os.Getenv(netguard.EnvVar)
			}
			if !cmd.Flags().Changed("database") {
				if v, ok := os.LookupEnv("FLOWBOT_DATABASE"); ok {
					f.database = v
				}
			}
			if !cmd.Flags().Changed("data") && outbox.IsPostgres(f.database) {
				// Instances sharing a PostgreSQL database share Userlike
				// mode's pending work and flow versions there too.
				f.data, f.dataShared = f.database, true
			}
			return serve(cmd, f, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.flowsDir, "flows", "examples", "the folder of flow files to serve")
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "the HOST:PORT to listen on (0.0.0.0:8080 for all interfaces)")
	fl.StringVar(&f.token, "webhook-token", "", "the token every webhook call must carry (default $FLOWBOT_WEBHOOK_TOKEN; none: no check)")
	fl.StringVar(&f.tokenHeader, "token-header", userlike.DefaultTokenHeader, "the request header that carries the webhook token")
	fl.BoolVar(&f.logBodies, "log-bodies", false, "also log message texts, clicks, contact data and answers (personal data!)")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "least important logs shown: debug, info, warn or error")
	fl.StringVar(&f.data, "data", defaultDataPath, "where Userlike mode keeps background jobs, follow-ups, pushes and flow versions: a SQLite file (its folder is created) or a postgres:// URL shared by instances (default: --database when it is a postgres:// URL, else this file; '' keeps nothing)")
	fl.DurationVar(&f.lease, "lease", worker.DefaultLease, "how long a crashed process's background work stays claimed before another takes it up")
	fl.IntVar(&f.workers, "workers", worker.DefaultWorkers, "background HTTP requests run at once")
	fl.StringVar(&f.database, "database", defaultDatabase, "the Chat API's data: a SQLite file or a postgres:// URL (default $FLOWBOT_DATABASE, else this file; '' turns the Chat API off)")
	fl.StringVar(&f.sqliteSync, "sqlite-sync", "full", "SQLite durability of --database: full (a commit survives a power cut) or normal (survives a crash of flowbot; faster)")
	fl.BoolVar(&f.insecure, "insecure-no-auth", false, "accept Chat API requests without an API key (local development only!)")
	fl.StringVar(&f.schedule, "delivery-schedule", delivery.DefaultSchedule.String(), "waits before each webhook delivery attempt; the last one repeats until a 2xx")
	fl.IntVar(&f.deliveries, "delivery-concurrency", delivery.DefaultConcurrency, "webhook requests in flight at once")
	fl.StringVar(&f.network, netguard.Flag, "", "non-public addresses HTTP steps and webhooks may reach: loopback, private, link-local, cgnat, all, CIDRs (default $"+netguard.EnvVar+"; none: public addresses only)")
	fl.DurationVar(&f.scriptTime, "script-timeout-max", engine.DefaultMaxScriptTimeout, "the longest time limit a flow's scripts may ask for (scripts: {timeout})")
	fl.StringVar(&f.scriptMem, "script-memory-max", "128MiB", "the largest memory budget a flow's scripts may ask for (scripts: {memory})")
	f.turnLog.register(cmd)
	fl.BoolVar(&f.playground, "playground", false, "also serve the playground page at /playground/ (behind FLOWBOT_API_KEYS when set; mocks only, no test files written)")
	fl.BoolVar(&f.watch, "watch", false, "reload flows when their files change (SIGHUP reloads too); a flow with errors keeps its old version serving")
	return cmd
}

func serve(cmd *cobra.Command, f serveFlags, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usagef("--log-level must be debug, info, warn or error, not %q", f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var logger *slog.Logger
	switch strings.ToLower(f.logFormat) {
	case "text":
		logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return usagef("--log-format must be text or json, not %q", f.logFormat)
	}
	if strings.TrimSpace(f.tokenHeader) == "" {
		return usagef("--token-header must name a header")
	}
	if f.lease < 300*time.Millisecond {
		return usagef("--lease must be at least 300ms, not %s", f.lease)
	}
	if f.workers < 1 {
		return usagef("--workers must be at least 1, not %d", f.workers)
	}
	if err := f.turnLog.check(); err != nil {
		return err
	}
	network, err := netguard.ParsePolicy(f.network)
	if err != nil {
		return usagef("--%s: %v", netguard.Flag, err)
	}
	contextKeys, err := engine.ParseContextKeys(os.Getenv(engine.ContextKeysEnv))
	if err != nil {
		return usagef("%v", err)
	}
	if contextKeys != nil {
		logger.Info("contexts are signed", "keys", contextKeys.String())
	} else {
		logger.Warn("contexts are not signed: anyone who can call a webhook can edit a conversation's variables; set " + engine.ContextKeysEnv + " (see SECURITY.md)")
	}
	var model *llm.Config
	if cfg, ok, err := llm.ConfigFromEnv(os.Getenv); err != nil {
		return usagef("%v", err)
	} else if ok {
		model = &cfg
		base := cfg.BaseURL
		if u, err := url.Parse(base); err == nil {
			base = u.Redacted() // a user:password in the URL stays out of the logs
		}
		logger.Info("language model configured for llm steps and persona bots", "model", cfg.Model, "base_url", base)
	}
	var platform *server.Platform
	if f.database != "" {
		schedule, err := delivery.ParseSchedule(f.schedule)
		if err != nil {
			return usagef("--delivery-schedule: %v", err)
		}
		if f.deliveries < 1 {
			return usagef("--delivery-concurrency must be at least 1, not %d", f.deliveries)
		}
		if sync := strings.ToLower(f.sqliteSync); sync != "full" && sync != "normal" {
			return usagef("--sqlite-sync must be full or normal, not %q", f.sqliteSync)
		}
		platform = &server.Platform{Database: f.database, SQLiteSynchronous: f.sqliteSync, APIKeys: apiKeys(), InsecureNoAuth: f.insecure,
			WebhookSecret: os.Getenv("FLOWBOT_WEBHOOK_SECRET"), Schedule: schedule, Lease: f.lease, Concurrency: f.deliveries}
		if f.insecure {
			logger.Warn("--insecure-no-auth: anyone who can reach the server can use the Chat API")
		}
	}

	scriptMem, err := flows.ParseSize(f.scriptMem)
	if err != nil {
		return usagef("--script-memory-max: %v", err)
	}
	if f.scriptTime <= 0 {
		return usagef("--script-timeout-max must be more than 0, not %s", f.scriptTime)
	}
	engineOpts := engine.Options{MaxScriptTimeout: f.scriptTime, MaxScriptMemory: scriptMem}
	set, lints, err := flowset.Load(cmd.Context(), f.flowsDir, flowset.Options{Flows: flows.Options{Env: os.LookupEnv}, Logger: logger, Engine: engineOpts})
	if lints.HasErrors() {
		errs := lints.Errors()
		fmt.Fprint(stderr, errs.String())
		fmt.Fprintf(stderr, "flowbot: not serving: %d error(s) in the flows of %s; fix them (flowbot validate %s shows every problem)\n", len(errs), f.flowsDir, f.flowsDir)
		return errFailed
	}
	if err != nil {
		return fmt.Errorf("%v (give the folder of your flows with --flows)", err)
	}
	for _, l := range lints {
		logger.Warn("flow warning", "lint", l.String())
	}
	for _, b := range set.Bots() {
		fl := b.Flow()
		logger.Info("flow loaded", "flow", fl.Name, "file", fl.File, "version", fl.ShortHash(), "webhook", "/bots/"+fl.Name+"/webhook")
	}
	if f.token == "" {
		logger.Warn("no webhook token: anyone who can reach the server can call the webhooks; set FLOWBOT_WEBHOOK_TOKEN or --webhook-token")
	}
	switch {
	case network.AllowsAll():
		logger.Warn("--allow-network all: HTTP steps and webhooks may reach any address, the loopback interface, the private network and the cloud metadata service included")
	case network.String() != "":
		logger.Info("HTTP steps and webhooks may reach public addresses and these", "allow_network", network.String())
	}
	if f.logBodies {
		logger.Warn("--log-bodies is on: logs will contain message texts and contact data")
	}
	if _, err := os.Stat(defaultDataPath); err == nil && f.dataShared {
		logger.Warn("Userlike mode now keeps its pending work in the PostgreSQL --database; what is left in " + defaultDataPath +
			" is not taken over: run once with --data " + defaultDataPath + " until flowbot_outbox_pending is 0, then remove the file")
	}
	turnLog, err := f.turnLog.open(logger)
	if err != nil {
		return err
	}
	if turnLog != nil {
		defer turnLog.Close()
	}
	var mount map[string]http.Handler
	if f.playground {
		mount = map[string]http.Handler{"/playground/": playground.New(playground.Options{Dir: f.flowsDir, Env: os.LookupEnv, APIKeys: apiKeys()})}
		if len(apiKeys()) == 0 {
			logger.Warn("--playground without FLOWBOT_API_KEYS: anyone who can reach the server can use the playground at /playground/")
		} else {
			logger.Info("playground at /playground/?key=YOUR_API_KEY")
		}
	}
	srv, err := server.New(server.Config{
		Addr:        f.addr,
		FlowSet:     set,
		Watch:       watchEvery(f.watch),
		Token:       f.token,
		TokenHeader: f.tokenHeader,
		LogBodies:   f.logBodies,
		Logger:      logger,
		DataPath:    f.data,
		Worker:      worker.Config{Lease: f.lease, Workers: f.workers},
		Platform:    platform,
		ContextKeys: contextKeys,
		Network:     network,
		LLM:         model,
		TurnLog:     turnLog.Observer(),
		Mount:       mount,
	})
	if err != nil {
		return err
	}
	// SIGHUP reloads the flows, as --watch does on a change.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			logger.Info("SIGHUP: reloading flows")
			if _, err := srv.Reload(cmd.Context()); err != nil {
				logger.Error("reload failed; the flows in service are unchanged", "error", err)
			}
		}
	}()
	return srv.Run(cmd.Context())
}

// apiKeys are the Chat API's keys (FLOWBOT_API_KEYS, comma-separated),
// which also open the playground.
func apiKeys() []string {
	var keys []string
	for _, k := range strings.Split(os.Getenv("FLOWBOT_API_KEYS"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// watchEvery is how often --watch looks at the flow files.
func watchEvery(on bool) time.Duration {
	if on {
		return time.Second
	}
	return 0
}
