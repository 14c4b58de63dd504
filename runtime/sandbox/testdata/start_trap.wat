;; Its start function traps while being instantiated.
(module
  (memory (export "memory") 1)
  (func $start unreachable)
  (start $start)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    i32.const 0))
