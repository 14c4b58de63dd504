;; A mini-app that answers every event with 1,000 chat.send calls of
;; {"text":"flood"}, going on whatever each call returns: it tries to
;; overflow the person's connection.
;; Rebuild: wat2wasm flood.wat -o flood.wasm
;; The tests embed a manifest (id "flood", permission "chat") with
;; runtime/wasmfile.EmbedManifest.
(module
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"text\":\"flood\"}")
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (local $i i32)
    (loop $send
      (drop (call $chat_send (i32.const 0) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $send (i32.lt_u (local.get $i) (i32.const 1000))))
    i32.const 0))
