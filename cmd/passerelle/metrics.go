package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apps"
)

// runtimeCollector exports the sandbox's instance pools and failures per app
// version on the gateway's /metrics, read from the router when scraped.
type runtimeCollector struct {
	router    *apps.Router
	instances *prometheus.Desc
	events    *prometheus.Desc
	failures  *prometheus.Desc
	created   *prometheus.Desc
	discarded *prometheus.Desc
}

func newRuntimeCollector(r *apps.Router) *runtimeCollector {
	const ns, sub = "passerelle", "runtime"
	labels := []string{"app", "version"}
	return &runtimeCollector{
		router: r,
		instances: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "instances"),
			"Instances of an app version, by state (idle, busy).", append(labels, "state"), nil),
		events: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "events_total"),
			"Events dispatched to an app version.", labels, nil),
		failures: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "failures_total"),
			"Events that failed, by kind: trap, deadline, memory, quota (host calls, bytes, log), abi, guest (non-zero status).",
			append(labels, "kind"), nil),
		created: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "instances_created_total"),
			"Instances made for an app version.", labels, nil),
		discarded: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "instances_discarded_total"),
			"Instances closed after a failure, when recycled for memory, or on unload.", labels, nil),
	}
}

func (c *runtimeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.instances
	ch <- c.events
	ch <- c.failures
	ch <- c.created
	ch <- c.discarded
}

func (c *runtimeCollector) Collect(ch chan<- prometheus.Metric) {
	all, err := c.router.Registry().Apps("")
	if err != nil {
		return
	}
	for _, a := range all {
		for version, st := range c.router.Pools(a.ID) {
			l := []string{a.ID, version}
			ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(st.Idle), append(l, "idle")...)
			ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(st.Busy), append(l, "busy")...)
			ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(st.Events), l...)
			ch <- prometheus.MustNewConstMetric(c.created, prometheus.CounterValue, float64(st.Created), l...)
			ch <- prometheus.MustNewConstMetric(c.discarded, prometheus.CounterValue, float64(st.Discarded), l...)
			for kind, n := range map[string]uint64{"trap": st.Traps, "deadline": st.Deadlines, "memory": st.Memory,
				"quota": st.Quotas, "abi": st.ABI, "guest": st.Guest} {
				ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(n), append(l, kind)...)
			}
		}
	}
}

// paymentMetrics counts payment outcomes as the pay service hands them over.
// Outcomes are handed over at least once, so after a restart an outcome may
// be counted again.
type paymentMetrics struct {
	outcomes *prometheus.CounterVec
}

func newPaymentMetrics() *paymentMetrics {
	return &paymentMetrics{outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "passerelle", Subsystem: "pay", Name: "outcomes_total",
		Help: "Final payment order states handed to apps, by state (paid, declined, expired, refunded, partially_refunded) and currency.",
	}, []string{"state", "currency"})}
}

func (m *paymentMetrics) observe(o host.PaymentEvent) {
	m.outcomes.WithLabelValues(o.Status, o.Currency).Inc()
}
