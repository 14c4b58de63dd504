;; Passes chat_send a request that lies past the end of memory.
(module
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (drop (call $chat_send (i32.const 65530) (i32.const 100)))
    i32.const 0))
