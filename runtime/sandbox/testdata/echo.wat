;; Reads the event, sends it back with chat_send, reads the result and logs
;; it. Returns the chat_send status (0 on success) as its own status.
(module
  (import "passerelle_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "passerelle_v1" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "passerelle_v1" "log" (func $log (param i32 i32 i32)))
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32 i32) (result i64)))
  (memory (export "memory") 2)
  (func (export "passerelle_v1_on_event") (param $len i32) (result i32)
    (local $r i64) (local $n i32)
    ;; event at 1024
    (local.set $len (call $event_read (i32.const 1024) (local.get $len)))
    (local.set $r (call $chat_send (i32.const 1024) (local.get $len)))
    ;; result at 65536
    (local.set $n (call $result_read (i32.const 65536) (i32.wrap_i64 (local.get $r))))
    (call $log (i32.const 1) (i32.const 65536) (local.get $n))
    (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32)))))
