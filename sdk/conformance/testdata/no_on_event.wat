;; Breaks export.on_event: the event handler is not exported.
(module
  (memory (export "memory") 1)
  (func (export "on_event") (param i32) (result i32) (i32.const 0)))
