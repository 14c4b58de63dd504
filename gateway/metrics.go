package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, on a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	conns        prometheus.Gauge
	connsTotal   prometheus.Counter
	framesIn     *prometheus.CounterVec
	msgsIn       prometheus.Counter
	msgsOut      prometheus.Counter
	dups         prometheus.Counter
	errors       *prometheus.CounterVec
	slow         prometheus.Counter
	gaps         prometheus.Counter
	persist      prometheus.Histogram
	appEvents    *prometheus.CounterVec
	appLatency   *prometheus.HistogramVec
	appFailures  *prometheus.CounterVec
	emitted      *prometheus.CounterVec
	promptAnswer *prometheus.CounterVec
}

func newMetrics() *metrics {
	const ns, sub = "passerelle", "gateway"
	m := &metrics{
		reg: prometheus.NewRegistry(),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connections", Help: "Open WebSocket connections."}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connections_total", Help: "WebSocket connections accepted."}),
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "frames_in_total", Help: "Client frames received, by type."}, []string{"type"}),
		msgsIn: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_in_total", Help: "Messages persisted (from people and apps)."}),
		msgsOut: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_out_total", Help: "Message deliveries queued to connections."}),
		dups: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "duplicates_total", Help: "Resent client messages recognised by client id and not stored again."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "errors_total", Help: "Error frames sent, by code."}, []string{"code"}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "slow_consumers_total", Help: "Connections closed because their send queue was full."}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "app_gaps_total", Help: "Times a connection's send queue was half full when an app's message came: it was skipped and the client told to fetch it (a gap frame)."}),
		persist: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "persist_seconds", Help: "Time to persist one message (group commit).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		appEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "app_events_total", Help: "Events dispatched to mini-apps, by app and type."}, []string{"app", "type"}),
		appLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "app_event_seconds", Help: "Time for a mini-app to handle one event.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"app"}),
		appFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "app_failures_total", Help: "Events a mini-app failed to handle, by app."}, []string{"app"}),
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "emitted_total", Help: "Outgoing messages and prompts from host APIs, by kind."}, []string{"kind"}),
		promptAnswer: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "prompt_answers_total", Help: "Prompt answers, by prompt type and answer."}, []string{"type", "answer"}),
	}
	m.reg.MustRegister(m.conns, m.connsTotal, m.framesIn, m.msgsIn, m.msgsOut, m.dups, m.errors, m.slow, m.gaps,
		m.persist, m.appEvents, m.appLatency, m.appFailures, m.emitted, m.promptAnswer,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
