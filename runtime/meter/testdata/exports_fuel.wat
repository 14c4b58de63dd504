;; Exports a name the instrumentation adds: refused.
(module (func (export "passerelle_meter.fuel")))
