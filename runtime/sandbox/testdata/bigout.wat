;; Sends a 1 MiB request (larger than the call_bytes limit).
(module
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32 i32) (result i64)))
  (memory (export "memory") 17)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (drop (call $chat_send (i32.const 0) (i32.const 1048576)))
    i32.const 0))
