;; Breaks import.unknown twice: a module the host does not offer, and a
;; passerelle_v1 name that is no operation.
(module
  (import "env" "abort" (func (param i32)))
  (import "passerelle_v1" "fs_open" (func (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32) (i32.const 0)))
