;; Calls chat_send with "{}" forever.
(module
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{}")
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (loop $l
      (drop (call $chat_send (i32.const 0) (i32.const 2)))
      (br $l))
    i32.const 0))
