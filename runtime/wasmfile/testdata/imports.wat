;; One import of each kind; rebuild with: wat2wasm imports.wat -o imports.wasm
(module
  (import "env" "f" (func (param i32)))
  (import "env" "t" (table 1 funcref))
  (import "env" "m" (memory 1 2))
  (import "env" "g" (global (mut i32)))
  (import "env" "g2" (global externref)))
