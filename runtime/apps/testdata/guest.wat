;; A minimal passerelle_v1 guest for the router's tests. It reads the event
;; and looks at its bytes:
;;   contains '!'  -> traps (unreachable)
;;   contains '~'  -> loops forever (hits the deadline)
;;   contains '?'  -> returns guest status 7
;;   otherwise     -> chat.send with the event JSON itself as the request
;;                    (so tests see what the guest saw) and returns 0
;; Rebuild: wat2wasm guest.wat -o guest.wasm
;; The tests embed a manifest (id, version, permission "chat") with
;; runtime/wasmfile.EmbedManifest.
(module
  (import "passerelle_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "passerelle_v1" "chat_send" (func $chat_send (param i32 i32) (result i64)))
  (memory (export "memory") 2)
  (func (export "passerelle_v1_on_event") (param $len i32) (result i32)
    (local $n i32) (local $i i32) (local $c i32)
    (local.set $n (call $event_read (i32.const 1024) (i32.const 64000)))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (i32.const 1024) (local.get $i))))
        (if (i32.eq (local.get $c) (i32.const 33)) (then unreachable))
        (if (i32.eq (local.get $c) (i32.const 126)) (then (loop $forever (br $forever))))
        (if (i32.eq (local.get $c) (i32.const 63)) (then (return (i32.const 7))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (drop (call $chat_send (i32.const 1024) (local.get $n)))
    (i32.const 0))
)
