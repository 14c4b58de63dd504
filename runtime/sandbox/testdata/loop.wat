;; Never returns: the event must stop at its deadline.
(module
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (loop $l (br $l))
    i32.const 0))
