package gateway_test

import "github.com/prometheus/client_golang/prometheus"

func promCounter() prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_other_package_total", Help: "A collector from another package."})
	c.Inc()
	return c
}
