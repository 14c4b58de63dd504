;; Imports functions the ABI does not offer.
(module
  (import "env" "foo" (func $foo))
  (import "passerelle_v1" "fs_open" (func $open (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    call $foo
    i32.const 0))
