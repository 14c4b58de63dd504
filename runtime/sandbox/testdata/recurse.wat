;; Unbounded recursion.
(module
  (memory (export "memory") 1)
  (func $f (param i32) (result i32)
    (call $f (i32.add (local.get 0) (i32.const 1))))
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (call $f (i32.const 0))))
