;; Asks event_read to write past the end of memory.
(module
  (import "passerelle_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param $len i32) (result i32)
    (drop (call $event_read (i32.const 65535) (local.get $len)))
    i32.const 0))
