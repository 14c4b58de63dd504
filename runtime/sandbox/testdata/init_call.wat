;; Calls the host from _initialize, before any event.
(module
  (import "passerelle_v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "init")
  (func (export "_initialize") (call $log (i32.const 1) (i32.const 0) (i32.const 4)))
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    i32.const 0))
