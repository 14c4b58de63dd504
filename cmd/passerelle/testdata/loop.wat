;; A hostile mini-app for the fairness benchmark: every event loops until
;; the platform stops it at its deadline.
;; Rebuild: wat2wasm loop.wat -o loop.wasm
;; The tests embed a manifest (id "loop") with runtime/wasmfile.EmbedManifest.
(module
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (loop $forever (br $forever))
    i32.const 0))
