;; Breaks export.signature: the handler takes no length and returns nothing.
(module
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event")))
