package consent

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the service decides. It is a prometheus.Collector:
// the caller registers it (reg.MustRegister(m)) and hands it to
// Config.Metrics. A nil *Metrics counts nothing.
type Metrics struct {
	allowed *prometheus.CounterVec // by rule
	refused *prometheus.CounterVec // by code
	optIns  *prometheus.CounterVec // by kind
	optOuts *prometheus.CounterVec // by kind
}

// NewMetrics returns counters for one Service, every label value at zero.
func NewMetrics() *Metrics {
	const ns, sub = "passerelle", "consent"
	m := &Metrics{
		allowed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sends_allowed_total",
			Help: "Business messages let through, by the rule that allowed them (window, opt_in, subscription)."}, []string{"rule"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sends_refused_total",
			Help: "Business messages refused, by code (window_closed, not_opted_in, opted_out, rate_limited)."}, []string{"code"}),
		optIns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "opt_ins_total",
			Help: "Consent given, by kind (purpose: a standing opt-in; subscription: a one-time subscription; start: START after a STOP)."}, []string{"kind"}),
		optOuts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "opt_outs_total",
			Help: "Consent withdrawn, by kind (stop, stopall, revoke: the whole business in the consent screen; withdrawal: one purpose)."}, []string{"kind"}),
	}
	for _, r := range []Rule{RuleWindow, RuleOptIn, RuleSubscription} {
		m.allowed.WithLabelValues(string(r))
	}
	for _, c := range []string{"window_closed", "not_opted_in", "opted_out", "rate_limited"} {
		m.refused.WithLabelValues(c)
	}
	for _, k := range []string{"purpose", "subscription", "start"} {
		m.optIns.WithLabelValues(k)
	}
	for _, k := range []string{"stop", "stopall", "revoke", "withdrawal"} {
		m.optOuts.WithLabelValues(k)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.allowed.Describe(ch)
	m.refused.Describe(ch)
	m.optIns.Describe(ch)
	m.optOuts.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.allowed.Collect(ch)
	m.refused.Collect(ch)
	m.optIns.Collect(ch)
	m.optOuts.Collect(ch)
}

func (m *Metrics) allow(r Rule) {
	if m != nil {
		m.allowed.WithLabelValues(string(r)).Inc()
	}
}

func (m *Metrics) refuse(code string) {
	if m != nil {
		m.refused.WithLabelValues(code).Inc()
	}
}

func (m *Metrics) optIn(kind string) {
	if m != nil {
		m.optIns.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) optOut(kind string) {
	if m != nil {
		m.optOuts.WithLabelValues(kind).Inc()
	}
}
