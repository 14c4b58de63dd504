;; The smallest valid guest (sdk/ABI.md, "WebAssembly text"): on every event
;; it sends {"text":"hello from WAT"} and returns the status of chat.send.
(module
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"text\":\"hello from WAT\"}")
  (func (export "passerelle_v1_on_event") (param $len i32) (result i32)
    (i32.wrap_i64
      (i64.shr_u (call $chat_send (i32.const 16) (i32.const 25)) (i64.const 32)))))
