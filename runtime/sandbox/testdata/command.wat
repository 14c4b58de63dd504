;; A command module (exports _start) with wrong signatures.
(module
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "_initialize") (param i32))
  (func (export "passerelle_v1_on_event") (result i32) i32.const 0))
