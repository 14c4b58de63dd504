;; A valid module with the "pay" permission: on every event it requests the
;; same payment (a retry with the same idempotency key returns the same
;; order) and returns the status of pay.request.
(module
  (import "passerelle_v1" "pay_request" (func $pay_request (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"amount\":1250,\"currency\":\"EUR\",\"description\":\"Soup\",\"idempotency_key\":\"k1\"}")
  (func (export "passerelle_v1_on_event") (param $len i32) (result i32)
    (i32.wrap_i64
      (i64.shr_u (call $pay_request (i32.const 16) (i32.const 76)) (i64.const 32)))))
