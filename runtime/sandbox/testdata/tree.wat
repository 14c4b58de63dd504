;; An exponential call tree without a loop: $f(40) makes 2^41 calls. Only
;; metering stops it (wazero's own termination checks are at loop
;; back-edges).
(module
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (func $f (param $d i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (local.get $d)
      (then
        (call $f (i32.sub (local.get $d) (i32.const 1)))
        (call $f (i32.sub (local.get $d) (i32.const 1))))))
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (call $f (i32.const 40))
    i32.const 0))
