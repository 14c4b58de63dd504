;; A module declaring a little of everything ReadShape counts; rebuild with:
;; wat2wasm shape.wat -o shape.wasm
(module
  (type (func (param i32) (result i32)))
  (type (func))
  (import "env" "f" (func (type 1)))
  (import "env" "m" (memory 1))
  (table 3 10 funcref)
  (table 5 externref)
  (global i32 (i32.const 0))
  (func (type 0) (local i64 i64 i32) (local.get 0))
  (func (type 1) (local f32))
  (func (type 1))
  (export "a" (func 1))
  (export "b" (func 2))
  (export "t" (table 0))
  (elem (i32.const 0) func 1 2)
  (data (i32.const 0) "hello")
  (data (i32.const 8) "world!"))
