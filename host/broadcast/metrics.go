package broadcast

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the engine does. It is a prometheus.Collector: the
// caller registers it and hands it to Config.Metrics. A nil *Metrics counts
// nothing.
type Metrics struct {
	made   *prometheus.CounterVec
	people *prometheus.CounterVec // by outcome and reason
}

// NewMetrics returns the engine's counters, every label value at zero.
func NewMetrics() *Metrics {
	const ns, sub = "passerelle", "broadcast"
	m := &Metrics{
		made: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "created_total",
			Help: "Broadcasts made (an id sent again with the same content is not counted)."}, nil),
		people: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "people_total",
			Help: "People a broadcast reached, by outcome (sent, skipped) and, when skipped, reason (opted_out, not_opted_in, window_closed, rate_limited, undeliverable)."},
			[]string{"outcome", "reason"}),
	}
	m.made.WithLabelValues()
	m.people.WithLabelValues(stateSent, "")
	for _, r := range Reasons() {
		m.people.WithLabelValues(stateSkipped, string(r))
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.made.Describe(ch)
	m.people.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.made.Collect(ch)
	m.people.Collect(ch)
}

func (m *Metrics) created() {
	if m != nil {
		m.made.WithLabelValues().Inc()
	}
}

func (m *Metrics) outcome(state string, r Reason) {
	if m != nil {
		m.people.WithLabelValues(state, string(r)).Inc()
	}
}
