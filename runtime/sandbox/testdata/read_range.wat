;; Names ranges that run past the end of its one page of memory but are
;; longer than what there is to copy: event_read at 65500 with a length of
;; 4096 (the event is shorter than that), then, when the event's first
;; byte is "r", result_read with nothing pending at 65535 for 2 bytes.
(module
  (import "passerelle_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "passerelle_v1" "result_read" (func $result_read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "passerelle_v1_on_event") (param $len i32) (result i32)
    (drop (call $event_read (i32.const 0) (local.get $len)))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x72))
      (then (drop (call $result_read (i32.const 65535) (i32.const 2))))
      (else (drop (call $event_read (i32.const 65500) (i32.const 4096)))))
    i32.const 0))
