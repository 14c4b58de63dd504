;; Grows memory until memory.grow fails, then traps as a runtime out of
;; memory would.
(module
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (loop $l
      (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
