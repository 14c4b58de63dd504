;; The call tree of tree.wat with a host call (event_read) at every call:
;; the guest returns to Go all the time, but never at a loop.
(module
  (import "passerelle_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $f (param $d i32)
    (drop (call $event_read (i32.const 0) (i32.const 0)))
    (if (local.get $d)
      (then
        (call $f (i32.sub (local.get $d) (i32.const 1)))
        (call $f (i32.sub (local.get $d) (i32.const 1))))))
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (call $f (i32.const 40))
    i32.const 0))
