;; Reads the event and the chat.send result through event_read/result_read,
;; logs the event, and returns 0 only if every length came back as asked.
(module
  (import "passerelle_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "passerelle_v1" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "passerelle_v1" "log" (func $log (param i32 i32 i32)))
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"text\":\"read ok\"}")
  (func (export "passerelle_v1_on_event") (param $len i32) (result i32)
    (local $r i64) (local $n i32)
    ;; the event goes to offset 1024
    (if (i32.ne (call $event_read (i32.const 1024) (local.get $len)) (local.get $len))
      (then (return (i32.const 11))))
    (call $log (i32.const 1) (i32.const 1024) (local.get $len))
    (local.set $r (call $chat_send (i32.const 0) (i32.const 18)))
    (if (i64.ne (i64.shr_u (local.get $r) (i64.const 32)) (i64.const 0))
      (then (return (i32.const 12))))
    (local.set $n (i32.wrap_i64 (local.get $r)))
    ;; the result goes to offset 512
    (if (i32.ne (call $result_read (i32.const 512) (local.get $n)) (local.get $n))
      (then (return (i32.const 13))))
    (i32.const 0)))
