;; Breaks export.memory: the memory is not exported.
(module
  (memory 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32) (i32.const 0)))
