;; Imports its memory and a global instead of defining them.
(module
  (import "env" "memory" (memory 1))
  (import "env" "g" (global i32))
  (export "memory" (memory 0))
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    global.get 0))
