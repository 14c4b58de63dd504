;; Code shapes the instrumentation must keep working: every export is
;; called with no arguments by the tests, on the original and on the
;; instrumented module, and must return the same values.
(module
  (import "env" "twice" (func $twice (param i64) (result i64)))
  (type $binop (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table $t 8 funcref)
  (global $started (mut i32) (i32.const 0))
  (global $fref funcref (ref.func $add))
  (elem (i32.const 0) $add $sub)
  (elem $passive func $mul $add)
  (elem declare func $fib)
  (data $d "hello, world")
  (start $init)

  (func $init (global.set $started (i32.const 41)))
  (func $add (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $binop) (i32.sub (local.get 0) (local.get 1)))
  (func $mul (type $binop) (i32.mul (local.get 0) (local.get 1)))

  (func $fib (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))

  (func (export "started") (result i32) (global.get $started))
  (func (export "fib") (result i32) (call $fib (i32.const 20)))

  ;; A loop with an early return from inside nested blocks.
  (func $find (param $n i32) (result i32) (local $i i32)
    (loop $l
      (block $skip
        (br_if $skip (i32.ne (i32.rem_u (local.get $i) (i32.const 7)) (i32.const 6)))
        (if (i32.gt_u (local.get $i) (local.get $n)) (then (return (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))
    (unreachable))
  (func (export "find") (result i32) (call $find (i32.const 100)))

  ;; br_table, and a br to the function's own label.
  (func $classify (param i32) (result i32)
    (block $c (block $b (block $a
      (br_table $a $b $c $c (local.get 0)))
      (return (i32.const 10)))
      (return (i32.const 20)))
    (i32.const 30))
  (func $early (param i32) (result i32)
    (block (drop (br_if 1 (i32.const 5) (local.get 0))))
    (i32.const 6))
  (func (export "classify") (result i32)
    (i32.add (i32.add (call $classify (i32.const 0)) (call $classify (i32.const 1)))
      (i32.add (i32.add (call $classify (i32.const 2)) (call $classify (i32.const 9)))
        (i32.mul (call $early (i32.const 1)) (call $early (i32.const 0))))))

  ;; Multiple results, returned early and at the end.
  (func $pair (param i32) (result i32 i64)
    (if (local.get 0) (then (return (i32.const 1) (i64.const 2))))
    (i32.const 3) (i64.const 4))
  (func (export "pair") (result i64)
    (local $a i32) (local $b i64)
    (call $pair (i32.const 1))
    (local.set $b) (local.set $a)
    (i64.add (i64.extend_i32_u (local.get $a)) (local.get $b))
    (call $pair (i32.const 0))
    (local.set $b) (local.set $a)
    (i64.add (i64.extend_i32_u (local.get $a)) (local.get $b))
    (i64.mul))

  ;; call_indirect through active and passive element segments, table ops.
  (func (export "indirect") (result i32)
    (table.init $t $passive (i32.const 2) (i32.const 0) (i32.const 2))
    (table.copy (i32.const 4) (i32.const 0) (i32.const 4))
    (table.set $t (i32.const 7) (global.get $fref))
    (i32.add
      (i32.add (call_indirect (type $binop) (i32.const 9) (i32.const 4) (i32.const 0))
               (call_indirect (type $binop) (i32.const 9) (i32.const 4) (i32.const 1)))
      (i32.add (call_indirect (type $binop) (i32.const 9) (i32.const 4) (i32.const 6))
               (call_indirect (type $binop) (i32.const 9) (i32.const 4) (i32.const 7)))))
  (func (export "reffunc") (result i32)
    (table.fill $t (i32.const 0) (ref.func $mul) (i32.const 8))
    (call_indirect (type $binop) (i32.const 6) (i32.const 7) (i32.const 5)))

  ;; Bulk memory.
  (func (export "bulk") (result i64)
    (memory.init $d (i32.const 100) (i32.const 0) (i32.const 12))
    (data.drop $d)
    (memory.copy (i32.const 200) (i32.const 100) (i32.const 12))
    (memory.fill (i32.const 204) (i32.const 0x41) (i32.const 3))
    (i64.load (i32.const 200)))

  ;; SIMD, select with a type, saturating truncation, a host import.
  (func (export "misc") (result i64)
    (local $v v128)
    (local.set $v (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 10 20 30 40)))
    (i64.add
      (i64.extend_i32_s (i32.add (i32x4.extract_lane 2 (local.get $v))
        (select (result i32) (i32.const 5) (i32.const 6) (i32.const 0))))
      (i64.add (i64.trunc_sat_f64_s (f64.const 1e30))
               (call $twice (i64.const 21)))))

  ;; memory.grow and size
  (func (export "grow") (result i32)
    (drop (memory.grow (i32.const 1)))
    (memory.size)))
