package turnlog_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/metrics"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

// plan is how a scripted conversation of the signup flow goes.
type plan int

const (
	planSubscribes            plan = iota // yes, a valid email, the subscription works: done at thanks
	planDeclines                          // no: done at bye
	planSilentAtWelcome                   // never answers the first question
	planSilentAtEmail                     // yes, then nothing
	planGivesUp                           // yes, then two invalid emails: given up, handed to a human
	planFails                             // yes, a valid email, the subscription fails: error at subscribe, a human
	planRetriesThenSubscribes             // yes, one invalid email, then a valid one
	plans
)

// TestFunnelOfAThousandConversations: 1,000 scripted conversations of the
// signup flow, each dropping out (or not) where its plan says, logged and
// counted by the Prometheus funnel as they run; the funnel table of the
// log and the metrics match the numbers the plans intended.
func TestFunnelOfAThousandConversations(t *testing.T) {
	bot, _, err := compile.File("testdata/signup.yaml", compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := turnlog.Open(dir, turnlog.Options{Queue: 1 << 14}) // redacted: funnels need no personal data
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	funnel, err := metrics.NewFunnel(reg)
	if err != nil {
		t.Fatal(err)
	}
	obs := turn.Observers{funnel, w}
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	const n = 1000
	count := make([]int, plans)
	for i := range n {
		p := plan(i % int(plans)) // every plan, interleaved
		if i%13 == 0 {
			p = planSubscribes
		}
		count[p]++
		talk(t, bot, obs, fmt.Sprintf("c%04d", i), p, start.Add(time.Duration(i)*time.Second))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := turnlog.Read(dir)
	if err != nil || w.Dropped() != 0 || l.Dropped != 0 {
		t.Fatalf("read: %v; %d dropped", err, w.Dropped())
	}

	// What the plans intended, per state.
	yes := n - count[planDeclines] - count[planSilentAtWelcome]
	valid := count[planSubscribes] + count[planFails] + count[planRetriesThenSubscribes]
	want := map[string]turnlog.FunnelRow{
		"welcome": {Entered: n, Silent: count[planSilentAtWelcome], Left: map[string]int{"ask_email": yes, "bye": count[planDeclines]}},
		"ask_email": {Entered: yes, Silent: count[planSilentAtEmail], GaveUp: count[planGivesUp],
			Left: map[string]int{"subscribe": valid, "human": count[planGivesUp]}},
		"subscribe": {Entered: valid, Error: count[planFails],
			Left: map[string]int{"thanks": count[planSubscribes] + count[planRetriesThenSubscribes], "human": count[planFails]}},
		"thanks": {Entered: count[planSubscribes] + count[planRetriesThenSubscribes], Done: count[planSubscribes] + count[planRetriesThenSubscribes]},
		"bye":    {Entered: count[planDeclines], Done: count[planDeclines]},
		"human":  {Entered: count[planGivesUp] + count[planFails], Done: count[planGivesUp] + count[planFails]},
	}
	rows := turnlog.Funnel(l.Turns, turnlog.FunnelOptions{SilentAfter: time.Hour, Until: start.Add(3 * time.Hour)})
	var order []string
	for _, r := range rows {
		order = append(order, r.State)
		w := want[r.State]
		w.Flow, w.State = "signup", r.State
		if fmt.Sprint(r) != fmt.Sprint(w) {
			t.Errorf("funnel row %+v\nwant        %+v", r, w)
		}
	}
	if got := strings.Join(order, " "); got != "welcome ask_email subscribe thanks bye human" {
		t.Errorf("rows in the order %s", got)
	}

	// The Prometheus funnel counted the same (silence there is a follow-up
	// fired, which this flow has none of).
	for state, w := range want {
		for outcome, v := range map[string]int{"entered": w.Entered, "done": w.Done, "error": w.Error, "gave_up": w.GaveUp} {
			if got := testutil.ToFloat64(must(funnelCounter(reg, "flowbot_funnel_total", state, outcome))); int(got) != v {
				t.Errorf("flowbot_funnel_total{state=%q,outcome=%q} = %v, want %d", state, outcome, got, v)
			}
		}
		for to, v := range w.Left {
			if got := testutil.ToFloat64(must(funnelCounter(reg, "flowbot_funnel_transitions_total", state, to))); int(got) != v {
				t.Errorf("flowbot_funnel_transitions_total{from=%q,to=%q} = %v, want %d", state, to, got, v)
			}
		}
	}

	// A time range counts only its turns: the first 100 conversations
	// started in the first 120 s (each 20 s after its second).
	first := turnlog.Funnel(l.Turns, turnlog.FunnelOptions{From: start, Until: start.Add(120 * time.Second)})
	if first[0].State != "welcome" || first[0].Entered != 100 {
		t.Errorf("the first 100 seconds: %+v", first[0])
	}

	// The formats carry the same numbers.
	var b bytes.Buffer
	if err := turnlog.WriteFunnel(&b, rows, turnlog.FormatCSV); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil || strings.Join(recs[0], ",") != "flow,state,outcome,to,conversations" {
		t.Fatalf("csv: %v %v", err, recs[:1])
	}
	for _, r := range recs[1:] {
		if r[1] == "welcome" && r[2] == "entered" && r[4] != fmt.Sprint(n) {
			t.Errorf("csv row %v", r)
		}
	}
	b.Reset()
	if err := turnlog.WriteFunnel(&b, rows, turnlog.FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back struct{ Rows []turnlog.FunnelRow }
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || fmt.Sprint(back.Rows) != fmt.Sprint(rows) {
		t.Errorf("json: %v\n%s", err, b.Bytes())
	}
	if err := turnlog.WriteFunnel(&b, rows, "xml"); err == nil || !strings.Contains(err.Error(), "table, csv or json") {
		t.Errorf("unknown format: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func funnelCounter(reg *prometheus.Registry, name, state, second string) (prometheus.Collector, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["state"] == state && labels["outcome"] == second || labels["from"] == state && labels["to"] == second {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, m.GetCounter().GetValue), nil
			}
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return 0 }), nil
}

// talk plays one conversation of the signup flow the way its plan says.
func talk(t *testing.T, bot *engine.Bot, obs turn.Observer, cid string, p plan, now time.Time) {
	t.Helper()
	dep := engine.NewDeployment(bot)
	jobs := turn.RunnerFunc(func(_ context.Context, job *engine.Job) engine.HTTPResult {
		if p == planFails {
			return engine.HTTPResult{Seq: job.Seq, Err: "connection refused"}
		}
		return engine.HTTPResult{Seq: job.Seq, Status: 200, Body: []byte(`{}`)}
	})
	var ctx []byte
	send := func(ev engine.Event) {
		now = now.Add(20 * time.Second)
		ev.Channel, ev.Now = "web", now
		o, err := turn.Run(context.Background(), turn.Request{Deployment: dep, Context: ctx, Binding: cid, Event: ev, Jobs: jobs, Observe: obs})
		if err != nil {
			t.Fatal(err)
		}
		ctx = o.Context
	}
	text := func(s string) engine.Event { return engine.Event{Name: engine.EvMessage, Text: s} }
	send(engine.Event{Name: engine.EvStart})
	switch p {
	case planSilentAtWelcome:
		return
	case planDeclines:
		send(engine.Event{Name: engine.EvClick, ClickID: "no"})
		return
	}
	send(engine.Event{Name: engine.EvClick, ClickID: "yes"})
	switch p {
	case planSilentAtEmail:
	case planGivesUp:
		for range 2 { // retries: 2
			send(text("not an email"))
		}
	case planRetriesThenSubscribes:
		send(text("ann at example"))
		send(text("ann@example.com"))
	default:
		send(text("ann@example.com"))
	}
}
