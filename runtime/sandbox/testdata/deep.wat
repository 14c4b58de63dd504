;; Recursion to the depth given in the event's first byte times 100, then
;; back: a guest that stays under the call depth bound succeeds.
(module
  (import "passerelle_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $f (param $d i32) (result i32)
    (if (result i32) (local.get $d)
      (then (i32.add (i32.const 1) (call $f (i32.sub (local.get $d) (i32.const 1)))))
      (else (i32.const 0))))
  (func (export "passerelle_v1_on_event") (param $len i32) (result i32)
    (drop (call $event_read (i32.const 0) (i32.const 1)))
    (i32.ne
      (call $f (i32.mul (i32.load8_u (i32.const 0)) (i32.const 100)))
      (i32.mul (i32.load8_u (i32.const 0)) (i32.const 100)))))
