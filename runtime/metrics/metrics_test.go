package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/netguard"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := &flows.Flow{Name: "f", Order: []string{"a", "b"}}
	m, err := New(reg, []*flows.Flow{f})
	if err != nil {
		t.Fatal(err)
	}
	m.Turn("f", "a", time.Millisecond)
	m.Turn("f", "a", time.Millisecond)
	m.Turn("f", "gone", time.Millisecond) // a state not known at start
	m.Turn("other", "x", time.Second)
	m.Request(200)
	m.Request(418)
	m.HTTPRequest("healthz", 200)
	m.Error("f", "flow")
	m.Recovery("f", "foreign")
	want := `
# HELP flowbot_turns_total Webhook events handled by a flow, by the state the conversation is in afterwards.
# TYPE flowbot_turns_total counter
flowbot_turns_total{flow="f",state="a"} 2
flowbot_turns_total{flow="f",state="b"} 0
flowbot_turns_total{flow="f",state="gone"} 1
flowbot_turns_total{flow="other",state="x"} 1
# HELP flowbot_http_requests_total HTTP requests answered, by handler and status code.
# TYPE flowbot_http_requests_total counter
flowbot_http_requests_total{code="200",handler="healthz"} 1
flowbot_http_requests_total{code="200",handler="webhook"} 1
flowbot_http_requests_total{code="400",handler="webhook"} 0
flowbot_http_requests_total{code="401",handler="webhook"} 0
flowbot_http_requests_total{code="404",handler="webhook"} 0
flowbot_http_requests_total{code="405",handler="webhook"} 0
flowbot_http_requests_total{code="413",handler="webhook"} 0
flowbot_http_requests_total{code="418",handler="webhook"} 1
flowbot_http_requests_total{code="500",handler="webhook"} 0
# HELP flowbot_errors_total Problems by kind: flow (an error path taken), script_timeout, context_too_big, context_lost, context_forged, context_unsigned, context_unknown_key (refused contexts), panic, write.
# TYPE flowbot_errors_total counter
flowbot_errors_total{flow="f",kind="flow"} 1
# HELP flowbot_context_recoveries_total Contexts that did not match the flow: foreign (restarted), migrated (older version, continued), restarted (state gone).
# TYPE flowbot_context_recoveries_total counter
flowbot_context_recoveries_total{flow="f",kind="foreign"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "flowbot_turns_total", "flowbot_http_requests_total", "flowbot_errors_total", "flowbot_context_recoveries_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.latency); n != 2 {
		t.Errorf("%d latency series, want 2", n)
	}
	if _, err := New(reg, nil); err == nil {
		t.Error("registering twice: no error")
	}
}

func TestOutboxMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.JobFinished("webshop", "done", 250*time.Millisecond)
	m.JobFinished("webshop", "superseded", 0)
	m.PushAttempt("rate_limited")
	m.PushAttempt("sent")
	m.PushAttempt("sent")
	jobs, pushes := 3, 5
	if err := m.WatchOutbox(func() (int, int, error) { return jobs, pushes, nil }); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP flowbot_jobs_total Background HTTP jobs finished, by outcome: done, ignored (not awaited), superseded (the contact moved on), failed, released (interrupted by shutdown).
# TYPE flowbot_jobs_total counter
flowbot_jobs_total{flow="webshop",outcome="done"} 1
flowbot_jobs_total{flow="webshop",outcome="superseded"} 1
# HELP flowbot_push_attempts_total Requests to the bots' API URLs, by outcome: sent, retry (network error, 408, 5xx), rate_limited (429), failed (other 4xx, no API URL).
# TYPE flowbot_push_attempts_total counter
flowbot_push_attempts_total{outcome="rate_limited"} 1
flowbot_push_attempts_total{outcome="sent"} 2
# HELP flowbot_outbox_pending Open work in the outbox: jobs pending or running, pushes not yet delivered.
# TYPE flowbot_outbox_pending gauge
flowbot_outbox_pending{kind="jobs"} 3
flowbot_outbox_pending{kind="pushes"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "flowbot_jobs_total", "flowbot_push_attempts_total", "flowbot_outbox_pending"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.jobTime); n != 1 {
		t.Errorf("%d job duration series, want 1 (no request: no observation)", n)
	}
}

func TestRefusedMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obs netguard.Observer = m
	obs.AddressRefused(netguard.ClientWebhook, &netguard.RefusedError{})
	obs.AddressRefused(netguard.ClientWebhook, &netguard.RefusedError{})
	want := `
# HELP flowbot_ssrf_refused_total Outgoing connections refused because their address is not public and not allowed (--allow-network), by client: http_step, webhook.
# TYPE flowbot_ssrf_refused_total counter
flowbot_ssrf_refused_total{client="http_step"} 0
flowbot_ssrf_refused_total{client="webhook"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "flowbot_ssrf_refused_total"); err != nil {
		t.Error(err)
	}
}
