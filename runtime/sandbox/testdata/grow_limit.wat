;; Grows memory one page at a time until memory.grow fails, then returns 0:
;; the event succeeds with memory at the cap.
(module
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param i32) (result i32)
    (block $done
      (loop $l
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $l)))
    i32.const 0))
