;; Breaks import.signature: chat_send must return i64.
(module
  (import "passerelle_v1" "chat_send" (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32) (i32.const 0)))
