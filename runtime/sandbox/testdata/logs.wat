;; Logs a line with invalid UTF-8 at level 3, then an empty line with a
;; pointer far outside memory (valid: the length is 0).
(module
  (import "passerelle_v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bad \ff byte")
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (call $log (i32.const 3) (i32.const 0) (i32.const 10))
    (call $log (i32.const 0) (i32.const -1) (i32.const 0))
    i32.const 0))
