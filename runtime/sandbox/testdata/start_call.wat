;; Calls the host from its start function, before any event.
(module
  (import "passerelle_v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func $start (call $log (i32.const 1) (i32.const 0) (i32.const 4)))
  (start $start)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    i32.const 0))
