;; Breaks export.start: a command module exporting _start.
(module
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "passerelle_v1_on_event") (param i32) (result i32) (i32.const 0)))
