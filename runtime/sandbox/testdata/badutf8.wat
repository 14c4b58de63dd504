;; Sends a request whose JSON string holds invalid UTF-8.
(module
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"text\":\"\ff\fe\"}")
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (drop (call $chat_send (i32.const 0) (i32.const 13)))
    i32.const 0))
