;; Exports neither memory nor the event handler.
(module
  (memory 1)
  (func $f (param i32) (result i32) i32.const 0))
