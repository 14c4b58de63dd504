;; Writes "hi from stdout\n" with WASI fd_write, then returns status 7.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hi from stdout\n")
  (func (export "_initialize"))
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    ;; iovec at 0: {ptr 64, len 15}
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 15))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    i32.const 7))
