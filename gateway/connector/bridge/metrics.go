package bridge

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the bridge's figures per network: what came in, what went
// out and how, and what waits. Register it with the server's registry
// (gateway.Server.Registerer) and pass it in Config.Metrics.
type Metrics struct {
	inbound       *prometheus.CounterVec // network, kind
	dups          *prometheus.CounterVec // network
	inboundFailed prometheus.Counter
	sends         *prometheus.CounterVec // network, outcome, code
	retries       *prometheus.CounterVec // network, class
	statuses      *prometheus.CounterVec // network, state
	depth         *prometheus.GaugeVec   // connection
	prompts       *prometheus.CounterVec // network, type
	answers       *prometheus.CounterVec // network, answer
	forms         *prometheus.CounterVec // network, outcome
	links         *prometheus.CounterVec // network, outcome
}

// NewMetrics returns the bridge's collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passerelle_connector_inbound_total",
			Help: "Webhook events the connector runtime handled, by network and kind (text, button_reply, status, unsupported, duplicate, no_connection...)."}, []string{"network", "kind"}),
		dups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passerelle_connector_duplicates_total",
			Help: "Webhook events dropped because the same event was recorded before (Meta delivers again until it gets 200)."}, []string{"network"}),
		inboundFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "passerelle_connector_inbound_failed_total",
			Help: "Inbox events passed over after repeated failures (see the log)."}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passerelle_connector_sends_total",
			Help: "Send API outcomes, by network, outcome (sent, unknown, failed:<class>) and Meta's code."}, []string{"network", "outcome", "code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passerelle_connector_retries_total",
			Help: "Sends refused for throughput or a passing failure and queued again, by network and class."}, []string{"network", "class"}),
		statuses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passerelle_connector_statuses_total",
			Help: "Message states the networks reported that moved a message forward, by network and state."}, []string{"network", "state"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "passerelle_connector_outbox_depth",
			Help: "Messages in a connection's outbox waiting to be sent (at most 256 counted)."}, []string{"connection"}),
		prompts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passerelle_connector_prompts_total",
			Help: "Host-drawn prompts sent on networks, by network and prompt type."}, []string{"network", "type"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passerelle_connector_prompt_answers_total",
			Help: "Host prompts answered from a network, by network and answer."}, []string{"network", "answer"}),
		forms: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passerelle_connector_form_replies_total",
			Help: "Forms asked question by question: replies refused (invalid) and forms submitted."}, []string{"network", "outcome"}),
		links: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passerelle_connector_links_total",
			Help: "LINK codes sent from networks, by outcome (linked, refused)."}, []string{"network", "outcome"}),
	}
}

func (m *Metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.inbound, m.dups, m.inboundFailed, m.sends, m.retries, m.statuses, m.depth, m.prompts, m.answers, m.forms, m.links}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all() {
		c.Collect(ch)
	}
}
