// Package metrics exposes what flowbot serve measures as Prometheus metrics.
//
//	flowbot_turns_total{flow, state}                    events handled, by the state the conversation is in afterwards
//	flowbot_turn_duration_seconds{flow}                 time from request to answer of a handled event
//	flowbot_errors_total{flow, kind}                    problems: flow, script_timeout, context_too_big, context_lost, context_forged, context_unsigned, context_unknown_key, panic, write
//	flowbot_context_recoveries_total{flow, kind}        contexts recovered: foreign, migrated, restarted
//	flowbot_http_requests_total{handler, code}          answered requests, by handler (webhook, healthz, metrics, other) and status
//	flowbot_flows_loaded                                flows being served
//	flowbot_jobs_total{flow, outcome}                   background HTTP jobs finished: done, ignored, superseded, failed, released
//	flowbot_job_duration_seconds{flow}                  time a background HTTP request took
//	flowbot_push_attempts_total{outcome}                requests to API URLs: sent, retry, rate_limited, failed
//	flowbot_push_failures_total{flow, reason}           pushes that failed for good: refused, gone, expired, no_api_url
//	flowbot_outbox_pending{kind}                        open work in the outbox: jobs (pending or running), pushes (pending)
//	flowbot_ssrf_refused_total{client}                  connections refused by the network guard (runtime/netguard): http_step, webhook
//	flowbot_llm_requests_total{outcome}                 requests of llm steps and persona bots: ok, error, not_configured
//	flowbot_llm_request_seconds                         time a language model took to answer
//	flowbot_timers_total{timer, outcome}                timers: reply (aggregated messages, Chat API), silence (follow-ups, both modes); fired, dropped, failed, released
//	flowbot_messages_cancelled_total                    unsent bot messages cancelled by a user's interruption
//	flowbot_funnel_total{flow, state, outcome}          per state: entered, done, error, gave_up, silent (Funnel)
//	flowbot_funnel_transitions_total{flow, from, to}    conversations leaving a state, by the state they went to (Funnel)
//	flowbot_turn_log_dropped_total                      turn log lines dropped, the log's queue full (WatchTurnLog)
//
// A Metrics implements userlike.Observer and netguard.Observer. Label sets
// known at start (every flow's states, the usual status codes) are resolved
// once, so the hot path does map lookups, not label hashing.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/netguard"
)

// Metrics holds flowbot's collectors. It is safe for concurrent use.
type Metrics struct {
	turns        *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	errors       *prometheus.CounterVec
	recoveries   *prometheus.CounterVec
	requests     *prometheus.CounterVec
	loaded       prometheus.Gauge
	jobs         *prometheus.CounterVec
	jobTime      *prometheus.HistogramVec
	pushes       *prometheus.CounterVec
	pushFailures *prometheus.CounterVec
	deliveries   *prometheus.CounterVec
	deliveryTime prometheus.Histogram
	refused      *prometheus.CounterVec
	llm          *prometheus.CounterVec
	llmTime      prometheus.Histogram
	timers       *prometheus.CounterVec
	cancelled    prometheus.Counter
	reg          prometheus.Registerer

	// Resolved children, read-only after New.
	turnBy    map[string]map[string]prometheus.Counter
	latencyBy map[string]prometheus.Observer
	webhookBy map[int]prometheus.Counter
}

// LatencyBuckets are the turn duration buckets, in seconds: 50 µs to about 1 s.
var LatencyBuckets = prometheus.ExponentialBuckets(0.00005, 2.5, 12)

// JobBuckets are the background request duration buckets, in seconds:
// 10 ms to about 80 s.
var JobBuckets = prometheus.ExponentialBuckets(0.01, 2.5, 11)

// codes are the statuses whose counters are resolved in advance.
var codes = []int{200, 400, 401, 404, 405, 413, 500}

// New creates the collectors, registers them with reg, and resolves the
// label sets of the given flows.
func New(reg prometheus.Registerer, fl []*flows.Flow) (*Metrics, error) {
	m := &Metrics{
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_turns_total",
			Help: "Webhook events handled by a flow, by the state the conversation is in afterwards.",
		}, []string{"flow", "state"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flowbot_turn_duration_seconds",
			Help:    "Time from receiving a webhook event to having answered it.",
			Buckets: LatencyBuckets,
		}, []string{"flow"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_errors_total",
			Help: "Problems by kind: flow (an error path taken), script_timeout, context_too_big, context_lost, context_forged, context_unsigned, context_unknown_key (refused contexts), panic, write.",
		}, []string{"flow", "kind"}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_context_recoveries_total",
			Help: "Contexts that did not match the flow: foreign (restarted), migrated (older version, continued), restarted (state gone).",
		}, []string{"flow", "kind"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_http_requests_total",
			Help: "HTTP requests answered, by handler and status code.",
		}, []string{"handler", "code"}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowbot_flows_loaded",
			Help: "Flows being served.",
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_jobs_total",
			Help: "Background HTTP jobs finished, by outcome: done, ignored (not awaited), superseded (the contact moved on), failed, released (interrupted by shutdown).",
		}, []string{"flow", "outcome"}),
		jobTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flowbot_job_duration_seconds",
			Help:    "Time a background HTTP request took.",
			Buckets: JobBuckets,
		}, []string{"flow"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_push_attempts_total",
			Help: "Requests to the bots' API URLs, by outcome: sent, retry (network error, 408, 5xx), rate_limited (429), failed (other 4xx, no API URL).",
		}, []string{"outcome"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_webhook_deliveries_total",
			Help: "Chat API webhook requests, by outcome: delivered (2xx), retry (any other answer, or none).",
		}, []string{"outcome"}),
		deliveryTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowbot_webhook_delivery_seconds",
			Help:    "Duration of Chat API webhook requests.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_ssrf_refused_total",
			Help: "Outgoing connections refused because their address is not public and not allowed (--allow-network), by client: http_step, webhook.",
		}, []string{"client"}),
		llm: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_llm_requests_total",
			Help: "Requests to the language model (llm steps, persona bots), by outcome: ok, error, not_configured.",
		}, []string{"outcome"}),
		llmTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowbot_llm_request_seconds",
			Help:    "Time the language model took to answer.",
			Buckets: JobBuckets,
		}),
		pushFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_push_failures_total",
			Help: "Pushes to the bots' API URLs that failed for good, by reason: refused (a 4xx for the push alone), gone (404, 410), expired (undelivered for 24 h), no_api_url.",
		}, []string{"flow", "reason"}),
		timers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_timers_total",
			Help: "Timers, by timer (reply: aggregated user messages of the Chat API; silence: follow-ups, in both modes) and outcome (fired; dropped: the conversation moved on; failed; released: shutdown).",
		}, []string{"timer", "outcome"}),
		cancelled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowbot_messages_cancelled_total",
			Help: "Bot messages not yet sent that a user's message cancelled (timing: interrupt).",
		}),
		reg:       reg,
		turnBy:    map[string]map[string]prometheus.Counter{},
		latencyBy: map[string]prometheus.Observer{},
		webhookBy: map[int]prometheus.Counter{},
	}
	for _, c := range []prometheus.Collector{m.turns, m.latency, m.errors, m.recoveries, m.requests, m.loaded, m.jobs, m.jobTime, m.pushes, m.pushFailures, m.deliveries, m.deliveryTime, m.refused, m.llm, m.llmTime, m.timers, m.cancelled} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.loaded.Set(float64(len(fl)))
	for _, f := range fl {
		states := map[string]prometheus.Counter{}
		for _, s := range f.Order {
			states[s] = m.turns.WithLabelValues(f.Name, s)
		}
		m.turnBy[f.Name] = states
		m.latencyBy[f.Name] = m.latency.WithLabelValues(f.Name)
	}
	for _, c := range codes {
		m.webhookBy[c] = m.requests.WithLabelValues("webhook", strconv.Itoa(c))
	}
	// Both clients' series exist from the start, at 0.
	m.refused.WithLabelValues(netguard.ClientHTTPStep)
	m.refused.WithLabelValues(netguard.ClientWebhook)
	return m, nil
}

// Request counts a webhook request by status (userlike.Observer).
func (m *Metrics) Request(status int) {
	if c, ok := m.webhookBy[status]; ok {
		c.Inc()
		return
	}
	m.requests.WithLabelValues("webhook", strconv.Itoa(status)).Inc()
}

// HTTPRequest counts a request to another handler (healthz, metrics, other).
func (m *Metrics) HTTPRequest(handler string, status int) {
	m.requests.WithLabelValues(handler, strconv.Itoa(status)).Inc()
}

// Turn records a handled event (userlike.Observer).
func (m *Metrics) Turn(flow, state string, d time.Duration) {
	if c, ok := m.turnBy[flow][state]; ok {
		c.Inc()
	} else {
		m.turns.WithLabelValues(flow, state).Inc()
	}
	if o, ok := m.latencyBy[flow]; ok {
		o.Observe(d.Seconds())
	} else {
		m.latency.WithLabelValues(flow).Observe(d.Seconds())
	}
}

// Error counts a problem by kind (userlike.Observer).
func (m *Metrics) Error(flow, kind string) {
	m.errors.WithLabelValues(flow, kind).Inc()
}

// Recovery counts a recovered context by kind (userlike.Observer).
func (m *Metrics) Recovery(flow, kind string) {
	m.recoveries.WithLabelValues(flow, kind).Inc()
}

// JobFinished counts a background job by outcome and records its request's
// duration (runtime/worker.Observer).
func (m *Metrics) JobFinished(flow, outcome string, d time.Duration) {
	m.jobs.WithLabelValues(flow, outcome).Inc()
	if d > 0 {
		m.jobTime.WithLabelValues(flow).Observe(d.Seconds())
	}
}

// PushAttempt counts a request to an API URL by outcome
// (runtime/worker.Observer).
func (m *Metrics) PushAttempt(outcome string) {
	m.pushes.WithLabelValues(outcome).Inc()
}

// Attempt counts one webhook delivery request of the Chat API
// (runtime/delivery.Observer).
func (m *Metrics) Attempt(status int, delivered bool, d time.Duration) {
	outcome := "retry"
	if delivered {
		outcome = "delivered"
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	m.deliveryTime.Observe(d.Seconds())
}

// AddressRefused counts a connection refused by the network guard, by
// client (netguard.Observer).
func (m *Metrics) AddressRefused(client string, _ *netguard.RefusedError) {
	m.refused.WithLabelValues(client).Inc()
}

// LLMRequest counts a request to the language model (llm.Observer).
func (m *Metrics) LLMRequest(outcome string, d time.Duration) {
	m.llm.WithLabelValues(outcome).Inc()
	if d > 0 {
		m.llmTime.Observe(d.Seconds())
	}
}

// Timer counts a Chat API timer by outcome (platform.Observer).
func (m *Metrics) Timer(name, outcome string) {
	m.timers.WithLabelValues(name, outcome).Inc()
}

// FollowUp counts a Userlike-mode follow-up by outcome
// (worker.FollowUpObserver); it shares flowbot_timers_total with the Chat
// API's follow-ups.
func (m *Metrics) FollowUp(_, outcome string) {
	m.timers.WithLabelValues("silence", outcome).Inc()
}

// PushFailed counts a push that failed for good, by reason
// (runtime/worker.PushFailureObserver).
func (m *Metrics) PushFailed(flow, reason string) {
	m.pushFailures.WithLabelValues(flow, reason).Inc()
}

// Cancelled counts bot messages cancelled by an interruption
// (platform.Observer).
func (m *Metrics) Cancelled(n int) {
	m.cancelled.Add(float64(n))
}

// WatchPlatform registers flowbot_platform_pending, read from depth at each
// scrape: the Chat API's bot messages not yet delivered to their webhook,
// and the background jobs queued.
func (m *Metrics) WatchPlatform(depth func() (deliveries, jobs int, err error)) error {
	return m.reg.Register(&depthCollector{depth: depth, labels: [2]string{"deliveries", "jobs"}, desc: prometheus.NewDesc("flowbot_platform_pending",
		"Open work of the Chat API: webhook deliveries pending, background jobs queued.", []string{"kind"}, nil)})
}

// WatchOutbox registers flowbot_outbox_pending, read from depth at each
// scrape: the jobs pending or running and the pushes pending.
func (m *Metrics) WatchOutbox(depth func() (jobs, pushes int, err error)) error {
	return m.reg.Register(&depthCollector{depth: depth, labels: [2]string{"jobs", "pushes"}, desc: prometheus.NewDesc("flowbot_outbox_pending",
		"Open work in the outbox: jobs pending or running, pushes not yet delivered.", []string{"kind"}, nil)})
}

type depthCollector struct {
	depth  func() (int, int, error)
	labels [2]string
	desc   *prometheus.Desc
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	a, b, err := c.depth()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(a), c.labels[0])
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(b), c.labels[1])
}
