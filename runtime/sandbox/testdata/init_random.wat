;; Its _initialize traps on half of its instantiations: it draws a random
;; byte and traps when the byte is odd. Load may succeed and a later
;; instance still fail.
(module
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_initialize")
    (drop (call $random_get (i32.const 0) (i32.const 1)))
    (if (i32.and (i32.load8_u (i32.const 0)) (i32.const 1))
      (then unreachable)))
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    i32.const 0))
