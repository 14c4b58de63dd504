;; Compute-heavy guests for BenchmarkCompute: a call-heavy one (recursive
;; fib) and a loop-heavy one (a sieve of Eratosthenes over linear memory).
(module
  (memory (export "memory") 2)
  (func $fib (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "fib") (result i32) (call $fib (i32.const 25)))

  ;; Counts the primes below 100000 (9592).
  (func (export "sieve") (result i32)
    (local $i i32) (local $j i32) (local $n i32)
    (memory.fill (i32.const 0) (i32.const 0) (i32.const 100000))
    (local.set $i (i32.const 2))
    (loop $outer
      (if (i32.eqz (i32.load8_u (local.get $i)))
        (then
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (local.set $j (i32.mul (local.get $i) (local.get $i)))
          (block $done
            (loop $inner
              (br_if $done (i32.ge_u (local.get $j) (i32.const 100000)))
              (i32.store8 (local.get $j) (i32.const 1))
              (local.set $j (i32.add (local.get $j) (local.get $i)))
              (br $inner)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (i32.const 100000))))
    (local.get $n)))
