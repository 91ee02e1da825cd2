package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

// Funnel counts, per flow and state, what conversations did there, from
// every turn of both modes (it is a turn.Observer, given to turn.Run):
//
//	flowbot_funnel_total{flow, state, outcome}        entered, done, error, gave_up, silent (a follow-up fired there)
//	flowbot_funnel_transitions_total{flow, from, to}  conversations leaving a state, by the state they went to
//	flowbot_turn_log_dropped_total                    turn log lines dropped because its queue was full
//
// Labels are bounded: a flow served, and states of that flow ("other" for
// a state it no longer has); never a contact or a conversation.
type Funnel struct {
	outcomes    *prometheus.CounterVec
	transitions *prometheus.CounterVec
}

// NewFunnel creates the funnel's collectors and registers them with reg.
func NewFunnel(reg prometheus.Registerer) (*Funnel, error) {
	f := &Funnel{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_funnel_total",
			Help: "What conversations did at each state of a flow, by outcome: entered, done (the flow ended there), error (an error path taken there), gave_up (a question given up), silent (a follow-up fired there).",
		}, []string{"flow", "state", "outcome"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbot_funnel_transitions_total",
			Help: "Conversations leaving a state of a flow, by the state they went to.",
		}, []string{"flow", "from", "to"}),
	}
	for _, c := range []prometheus.Collector{f.outcomes, f.transitions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Observe counts a completed turn's funnel facts (turnlog.Facts).
func (f *Funnel) Observe(r *turn.Request, o *turn.Outcome) {
	if o.Bot == nil || o.Dropped {
		return
	}
	fl := o.Bot.Flow()
	label := func(state string) string {
		if _, ok := fl.States[state]; ok {
			return state
		}
		return "other"
	}
	turnlog.Facts(r.Event.Name, o.From, o.Result.Session, o.Result.Trace, o.Kinds(), func(state, outcome, next string) {
		if outcome == turnlog.FunnelLeft {
			f.transitions.WithLabelValues(fl.Name, label(state), label(next)).Inc()
			return
		}
		f.outcomes.WithLabelValues(fl.Name, label(state), outcome).Inc()
	})
}

// WatchTurnLog registers flowbot_turn_log_dropped_total, read from
// dropped at each scrape.
func WatchTurnLog(reg prometheus.Registerer, dropped func() int64) error {
	return reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "flowbot_turn_log_dropped_total",
		Help: "Turn log lines dropped because the log's queue was full (the disk was too slow).",
	}, func() float64 { return float64(dropped()) }))
}
