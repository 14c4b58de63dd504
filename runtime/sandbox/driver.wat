;; The event driver: one instance per guest instance, linked to that guest's
;; passerelle_v1_on_event. Its run function is called once, when the guest
;; instance is made, and loops: it waits in the host function next for an
;; event's length (a negative length stops it), calls on_event with it, and
;; hands the status to done. Every event of the instance thus runs inside
;; one long call from Go, so wazero's per-call set-up (a watcher goroutine
;; when termination checks are compiled in) is paid once per instance, not
;; once per event. See RATIONALE.md.
;;
;; next is called before the loop and at the end of each turn, so that the
;; termination check at the loop header runs only after next returned, that
;; is during an event: a driver stopped at its deadline has always taken an
;; event first.
;;
;; Rebuild driver.wasm with `wat2wasm driver.wat -o driver.wasm` (or
;; `go generate`).
(module
  (import "guest" "passerelle_v1_on_event" (func $on_event (param i32) (result i32)))
  (import "passerelle_driver" "next" (func $next (result i32)))
  (import "passerelle_driver" "done" (func $done (param i32)))
  (func (export "run")
    (local $len i32)
    (local.set $len (call $next))
    (loop $events
      (if (i32.lt_s (local.get $len) (i32.const 0))
        (then return))
      (call $done (call $on_event (local.get $len)))
      (local.set $len (call $next))
      (br $events))))
