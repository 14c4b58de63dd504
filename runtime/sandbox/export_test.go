package sandbox

// UseContextDeadlines switches e to per-event context.WithTimeout deadlines
// (wazero's own context watcher) instead of the watchdog. Benchmarks use it
// to compare the two.
func UseContextDeadlines(e *Engine) { e.ctxDeadlines = true }
