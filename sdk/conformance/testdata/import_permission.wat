;; Breaks import.permission when the manifest grants only "chat": kv_get
;; needs "storage".
(module
  (import "passerelle_v1" "kv_get" (func (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32) (i32.const 0)))
