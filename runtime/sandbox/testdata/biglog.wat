;; Logs 1 KiB lines forever (past the log_bytes limit).
(module
  (import "passerelle_v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (loop $l
      (call $log (i32.const 1) (i32.const 0) (i32.const 1024))
      (br $l))
    i32.const 0))
