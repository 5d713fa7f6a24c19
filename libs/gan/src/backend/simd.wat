;; Element-wise kernels in WebAssembly SIMD for the wasm backend, run on its own heap: the module
;; imports the backend's memory, so a kernel reads its inputs and writes its outputs in place,
;; without a copy. The backend's stock kernels for these ops are scalar C++ loops, and the same
;; loops in JavaScript run at 2-5 ns an element; these run four lanes at a time.
;;
;; `average` runs on a memory of its own (the server's weight average, in chunks copied in).
;;
;; Pointers are byte offsets into that memory; counts are elements. Every function needs its
;; count to be a multiple of 4 (of 16 for sum_cols): the callers run JavaScript on the rest.
;; Outputs never alias inputs. NaN propagates through every function.
;;
;; simd-binary.ts holds the assembled module: `npm run assemble:simd -w @distgan/gan` rewrites it,
;; and a unit test checks that it is this file's assembly.
(module
  (import "env" "memory" (memory 0))

  ;; One Adam step: m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g², w' = w - step m' / (√v' + eps),
  ;; with `step` already bias-corrected.
  (func (export "adam")
    (param $w i32) (param $m i32) (param $v i32) (param $g i32)
    (param $wo i32) (param $mo i32) (param $vo i32) (param $n i32)
    (param $b1 f32) (param $b2 f32) (param $step f32) (param $eps f32)
    (local $i i32) (local $end i32) (local $gr v128) (local $mm v128) (local $vv v128)
    (local $B1 v128) (local $B2 v128) (local $C1 v128) (local $C2 v128) (local $S v128)
    (local $E v128)
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $C1 (f32x4.splat (f32.sub (f32.const 1) (local.get $b1))))
    (local.set $C2 (f32x4.splat (f32.sub (f32.const 1) (local.get $b2))))
    (local.set $S (f32x4.splat (local.get $step)))
    (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $gr (v128.load (i32.add (local.get $g) (local.get $i))))
        (local.set $mm
          (f32x4.add
            (f32x4.mul (local.get $B1) (v128.load (i32.add (local.get $m) (local.get $i))))
            (f32x4.mul (local.get $C1) (local.get $gr))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (local.get $B2) (v128.load (i32.add (local.get $v) (local.get $i))))
            (f32x4.mul (local.get $C2) (f32x4.mul (local.get $gr) (local.get $gr)))))
        (v128.store (i32.add (local.get $mo) (local.get $i)) (local.get $mm))
        (v128.store (i32.add (local.get $vo) (local.get $i)) (local.get $vv))
        (v128.store (i32.add (local.get $wo) (local.get $i))
          (f32x4.sub
            (v128.load (i32.add (local.get $w) (local.get $i)))
            (f32x4.div
              (f32x4.mul (local.get $S) (local.get $mm))
              (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $E)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; tanh as a rational function: odd degree-13 numerator over even degree-6 denominator on
  ;; x clamped to ±7.9053 (where tanh rounds to ±1 in float32); the form Eigen and XNNPACK use.
  ;; Measured against Math.tanh on a dense grid of [-10, 10]: at most 3.5e-7 off (6 ulp of 1).
  (func (export "tanh") (param $x i32) (param $y i32) (param $n i32)
    (local $i i32) (local $end i32) (local $v v128) (local $x2 v128) (local $p v128)
    (local $q v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v
          (f32x4.max
            (v128.const f32x4 -7.90531110763549805 -7.90531110763549805 -7.90531110763549805 -7.90531110763549805)
            (f32x4.min
              (v128.const f32x4 7.90531110763549805 7.90531110763549805 7.90531110763549805 7.90531110763549805)
              (v128.load (i32.add (local.get $x) (local.get $i))))))
        (local.set $x2 (f32x4.mul (local.get $v) (local.get $v)))
        (local.set $p
          (f32x4.add
            (f32x4.mul (local.get $x2)
              (v128.const f32x4 -2.76076847742355e-16 -2.76076847742355e-16 -2.76076847742355e-16 -2.76076847742355e-16))
            (v128.const f32x4 2.00018790482477e-13 2.00018790482477e-13 2.00018790482477e-13 2.00018790482477e-13)))
        (local.set $p
          (f32x4.add (f32x4.mul (local.get $p) (local.get $x2))
            (v128.const f32x4 -8.60467152213735e-11 -8.60467152213735e-11 -8.60467152213735e-11 -8.60467152213735e-11)))
        (local.set $p
          (f32x4.add (f32x4.mul (local.get $p) (local.get $x2))
            (v128.const f32x4 5.12229709037114e-08 5.12229709037114e-08 5.12229709037114e-08 5.12229709037114e-08)))
        (local.set $p
          (f32x4.add (f32x4.mul (local.get $p) (local.get $x2))
            (v128.const f32x4 1.48572235717979e-05 1.48572235717979e-05 1.48572235717979e-05 1.48572235717979e-05)))
        (local.set $p
          (f32x4.add (f32x4.mul (local.get $p) (local.get $x2))
            (v128.const f32x4 6.37261928875436e-04 6.37261928875436e-04 6.37261928875436e-04 6.37261928875436e-04)))
        (local.set $p
          (f32x4.add (f32x4.mul (local.get $p) (local.get $x2))
            (v128.const f32x4 4.89352455891786e-03 4.89352455891786e-03 4.89352455891786e-03 4.89352455891786e-03)))
        (local.set $p (f32x4.mul (local.get $p) (local.get $v)))
        (local.set $q
          (f32x4.add
            (f32x4.mul (local.get $x2)
              (v128.const f32x4 1.19825839466702e-06 1.19825839466702e-06 1.19825839466702e-06 1.19825839466702e-06))
            (v128.const f32x4 1.18534705686654e-04 1.18534705686654e-04 1.18534705686654e-04 1.18534705686654e-04)))
        (local.set $q
          (f32x4.add (f32x4.mul (local.get $q) (local.get $x2))
            (v128.const f32x4 2.26843463243900e-03 2.26843463243900e-03 2.26843463243900e-03 2.26843463243900e-03)))
        (local.set $q
          (f32x4.add (f32x4.mul (local.get $q) (local.get $x2))
            (v128.const f32x4 4.89352518554385e-03 4.89352518554385e-03 4.89352518554385e-03 4.89352518554385e-03)))
        (v128.store (i32.add (local.get $y) (local.get $i)) (f32x4.div (local.get $p) (local.get $q)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; y = x > 0 ? x : alpha x
  (func (export "leaky_relu") (param $x i32) (param $y i32) (param $n i32) (param $alpha f32)
    (local $i i32) (local $end i32) (local $v v128) (local $A v128)
    (local.set $A (f32x4.splat (local.get $alpha)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (v128.load (i32.add (local.get $x) (local.get $i))))
        (v128.store (i32.add (local.get $y) (local.get $i))
          (v128.bitselect
            (local.get $v)
            (f32x4.mul (local.get $v) (local.get $A))
            (f32x4.gt (local.get $v) (v128.const f32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; The gradient of leaky_relu: dx = x > 0 ? dy : alpha dy
  (func (export "leaky_relu_grad")
    (param $x i32) (param $dy i32) (param $dx i32) (param $n i32) (param $alpha f32)
    (local $i i32) (local $end i32) (local $d v128) (local $A v128)
    (local.set $A (f32x4.splat (local.get $alpha)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $d (v128.load (i32.add (local.get $dy) (local.get $i))))
        (v128.store (i32.add (local.get $dx) (local.get $i))
          (v128.bitselect
            (local.get $d)
            (f32x4.mul (local.get $d) (local.get $A))
            (f32x4.gt
              (v128.load (i32.add (local.get $x) (local.get $i)))
              (v128.const f32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; out[c] = scale Σ_r x[r, c] for a row-major rows × cols matrix, cols a multiple of 16,
  ;; accumulated in float64 (as the JavaScript reduction does). A block of 16 columns, one cache
  ;; line a row, is summed over all rows in eight f64x2 registers.
  (func (export "sum_cols")
    (param $x i32) (param $out i32) (param $rows i32) (param $cols i32) (param $scale f64)
    (local $c i32) (local $r i32) (local $p i32) (local $stride i32) (local $v v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128) (local $S v128)
    (local.set $S (f64x2.splat (local.get $scale)))
    (local.set $stride (i32.shl (local.get $cols) (i32.const 2)))
    (block $cols_done
      (loop $next_block
        (br_if $cols_done (i32.ge_u (local.get $c) (local.get $cols)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $a4 (v128.const i64x2 0 0))
        (local.set $a5 (v128.const i64x2 0 0))
        (local.set $a6 (v128.const i64x2 0 0))
        (local.set $a7 (v128.const i64x2 0 0))
        (local.set $p (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $r (i32.const 0))
        (block $rows_done
          (loop $next_row
            (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $v (v128.load (local.get $p)))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.promote_low_f32x4 (local.get $v))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $v (v128.load offset=16 (local.get $p)))
            (local.set $a2 (f64x2.add (local.get $a2) (f64x2.promote_low_f32x4 (local.get $v))))
            (local.set $a3 (f64x2.add (local.get $a3) (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $v (v128.load offset=32 (local.get $p)))
            (local.set $a4 (f64x2.add (local.get $a4) (f64x2.promote_low_f32x4 (local.get $v))))
            (local.set $a5 (f64x2.add (local.get $a5) (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $v (v128.load offset=48 (local.get $p)))
            (local.set $a6 (f64x2.add (local.get $a6) (f64x2.promote_low_f32x4 (local.get $v))))
            (local.set $a7 (f64x2.add (local.get $a7) (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $p (i32.add (local.get $p) (local.get $stride)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $next_row)))
        (local.set $p (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2))))
        (v128.store (local.get $p)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $a0) (local.get $S)))
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $a1) (local.get $S)))))
        (v128.store offset=16 (local.get $p)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $a2) (local.get $S)))
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $a3) (local.get $S)))))
        (v128.store offset=32 (local.get $p)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $a4) (local.get $S)))
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $a5) (local.get $S)))))
        (v128.store offset=48 (local.get $p)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $a6) (local.get $S)))
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $a7) (local.get $S)))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $next_block))))

  ;; out[i] = (Σ_k w_k x_k[i]) inv for `count` float32 arrays, their byte offsets an i32 table at
  ;; $ptrs, their weights a float64 table at $weights; n a multiple of 4. Summed in float64 and
  ;; associated as the JavaScript average is (w_0 x_0, then groups of four as ((a + b) + c) + d,
  ;; then the rest one by one), so both give the same bits.
  (func (export "average")
    (param $ptrs i32) (param $weights i32) (param $count i32) (param $out i32) (param $n i32)
    (param $inv f64)
    (local $i i32) (local $end i32) (local $k i32) (local $groups_end i32) (local $v v128)
    (local $w v128) (local $lo v128) (local $hi v128) (local $glo v128) (local $ghi v128)
    (local $INV v128)
    (local.set $INV (f64x2.splat (local.get $inv)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $groups_end
      (i32.add (i32.const 1)
        (i32.shl (i32.shr_u (i32.sub (local.get $count) (i32.const 1)) (i32.const 2)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $k (i32.const 0))
        (local.set $v (v128.load (i32.add (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $k) (i32.const 2)))) (local.get $i))))
            (local.set $w (f64x2.splat (f64.load (i32.add (local.get $weights) (i32.shl (local.get $k) (i32.const 3))))))
            (local.set $lo (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $w)))
            (local.set $hi (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $w)))
        (local.set $k (i32.const 1))
        (block $groups_done
          (loop $next_group
            (br_if $groups_done (i32.ge_u (local.get $k) (local.get $groups_end)))
            (local.set $v (v128.load (i32.add (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $k) (i32.const 2)))) (local.get $i))))
            (local.set $w (f64x2.splat (f64.load (i32.add (local.get $weights) (i32.shl (local.get $k) (i32.const 3))))))
            (local.set $glo (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $w)))
            (local.set $ghi (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $w)))
            (local.set $v (v128.load (i32.add (i32.load (i32.add (local.get $ptrs) (i32.shl (i32.add (local.get $k) (i32.const 1)) (i32.const 2)))) (local.get $i))))
            (local.set $w (f64x2.splat (f64.load (i32.add (local.get $weights) (i32.shl (i32.add (local.get $k) (i32.const 1)) (i32.const 3))))))
            (local.set $glo (f64x2.add (local.get $glo) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $w))))
            (local.set $ghi (f64x2.add (local.get $ghi) (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $w))))
            (local.set $v (v128.load (i32.add (i32.load (i32.add (local.get $ptrs) (i32.shl (i32.add (local.get $k) (i32.const 2)) (i32.const 2)))) (local.get $i))))
            (local.set $w (f64x2.splat (f64.load (i32.add (local.get $weights) (i32.shl (i32.add (local.get $k) (i32.const 2)) (i32.const 3))))))
            (local.set $glo (f64x2.add (local.get $glo) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $w))))
            (local.set $ghi (f64x2.add (local.get $ghi) (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $w))))
            (local.set $v (v128.load (i32.add (i32.load (i32.add (local.get $ptrs) (i32.shl (i32.add (local.get $k) (i32.const 3)) (i32.const 2)))) (local.get $i))))
            (local.set $w (f64x2.splat (f64.load (i32.add (local.get $weights) (i32.shl (i32.add (local.get $k) (i32.const 3)) (i32.const 3))))))
            (local.set $glo (f64x2.add (local.get $glo) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $w))))
            (local.set $ghi (f64x2.add (local.get $ghi) (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $w))))
            (local.set $lo (f64x2.add (local.get $lo) (local.get $glo)))
            (local.set $hi (f64x2.add (local.get $hi) (local.get $ghi)))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $next_group)))
        (block $singles_done
          (loop $next_single
            (br_if $singles_done (i32.ge_u (local.get $k) (local.get $count)))
            (local.set $v (v128.load (i32.add (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $k) (i32.const 2)))) (local.get $i))))
            (local.set $w (f64x2.splat (f64.load (i32.add (local.get $weights) (i32.shl (local.get $k) (i32.const 3))))))
            (local.set $lo (f64x2.add (local.get $lo) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $w))))
            (local.set $hi (f64x2.add (local.get $hi) (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $w))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $next_single)))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $lo) (local.get $INV)))
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $hi) (local.get $INV)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; dst[c dst_rs + r] = src[r src_rs + c] for r < rows, c < cols (strides in elements): one
  ;; rows × cols block of 4-byte elements (float32, int32) transposed, read from rows `src_rs`
  ;; apart, written to rows `dst_rs` apart. 4 × 4 tiles are transposed in registers; a block of 32
  ;; columns is walked down all rows, so that the 32 output rows it writes stay in the L1 cache.
  ;; Rows and columns past a multiple of 4 are copied one element at a time (any counts work).
  (func (export "transpose")
    (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (param $src_rs i32) (param $dst_rs i32)
    (local $rows4 i32) (local $cols4 i32) (local $srs i32) (local $drs i32)
    (local $cb i32) (local $ce i32) (local $r i32) (local $c i32) (local $s i32) (local $d i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rows4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $srs (i32.shl (local.get $src_rs) (i32.const 2)))
    (local.set $drs (i32.shl (local.get $dst_rs) (i32.const 2)))
    ;; whole 4 × 4 tiles
    (block $blocks_done
      (loop $next_block
        (br_if $blocks_done (i32.ge_u (local.get $cb) (local.get $cols4)))
        (local.set $ce (i32.add (local.get $cb) (i32.const 32)))
        (if (i32.gt_u (local.get $ce) (local.get $cols4)) (then (local.set $ce (local.get $cols4))))
        (local.set $r (i32.const 0))
        (block $rows_done
          (loop $next_rows
            (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows4)))
            (local.set $c (local.get $cb))
            (block $tiles_done
              (loop $next_tile
                (br_if $tiles_done (i32.ge_u (local.get $c) (local.get $ce)))
                (local.set $s
                  (i32.add (local.get $src)
                    (i32.add (i32.mul (local.get $r) (local.get $srs)) (i32.shl (local.get $c) (i32.const 2)))))
                (local.set $a0 (v128.load (local.get $s)))
                (local.set $s (i32.add (local.get $s) (local.get $srs)))
                (local.set $a1 (v128.load (local.get $s)))
                (local.set $s (i32.add (local.get $s) (local.get $srs)))
                (local.set $a2 (v128.load (local.get $s)))
                (local.set $s (i32.add (local.get $s) (local.get $srs)))
                (local.set $a3 (v128.load (local.get $s)))
                ;; [a0.0 a1.0 a0.1 a1.1], [a0.2 a1.2 a0.3 a1.3], and the same for a2, a3
                (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
                (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
                (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
                (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
                (local.set $d
                  (i32.add (local.get $dst)
                    (i32.add (i32.mul (local.get $c) (local.get $drs)) (i32.shl (local.get $r) (i32.const 2)))))
                (v128.store (local.get $d)
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
                (local.set $d (i32.add (local.get $d) (local.get $drs)))
                (v128.store (local.get $d)
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
                (local.set $d (i32.add (local.get $d) (local.get $drs)))
                (v128.store (local.get $d)
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
                (local.set $d (i32.add (local.get $d) (local.get $drs)))
                (v128.store (local.get $d)
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $next_tile)))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $next_rows)))
        (local.set $cb (local.get $ce))
        (br $next_block)))
    ;; columns past cols4, in the first rows4 rows; then rows past rows4, every column
    (call $transpose_scalar (local.get $src) (local.get $dst) (i32.const 0) (local.get $rows4)
      (local.get $cols4) (local.get $cols) (local.get $srs) (local.get $drs))
    (call $transpose_scalar (local.get $src) (local.get $dst) (local.get $rows4) (local.get $rows)
      (i32.const 0) (local.get $cols) (local.get $srs) (local.get $drs)))

  ;; The rows r0 ≤ r < r1 by columns c0 ≤ c < c1 of that transpose, one element at a time (byte
  ;; strides).
  (func $transpose_scalar
    (param $src i32) (param $dst i32) (param $r0 i32) (param $r1 i32) (param $c0 i32)
    (param $c1 i32) (param $srs i32) (param $drs i32)
    (local $r i32) (local $c i32)
    (local.set $r (local.get $r0))
    (block $rows_done
      (loop $next_row
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $r1)))
        (local.set $c (local.get $c0))
        (block $row_done
          (loop $next
            (br_if $row_done (i32.ge_u (local.get $c) (local.get $c1)))
            (i32.store
              (i32.add (local.get $dst)
                (i32.add (i32.mul (local.get $c) (local.get $drs)) (i32.shl (local.get $r) (i32.const 2))))
              (i32.load
                (i32.add (local.get $src)
                  (i32.add (i32.mul (local.get $r) (local.get $srs)) (i32.shl (local.get $c) (i32.const 2))))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $next)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $next_row))))

  ;; The same transpose with runs of `run` 4-byte elements as its elements:
  ;; dst[(c dst_rs + r run) + k] = src[(r src_rs + c run) + k] for k < run (strides in elements),
  ;; 16 bytes at a time, then one element at a time.
  (func (export "transpose_runs")
    (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32) (param $run i32)
    (param $src_rs i32) (param $dst_rs i32)
    (local $r i32) (local $c i32) (local $s i32) (local $d i32) (local $e i32) (local $e16 i32)
    (local $rb i32)
    (local.set $rb (i32.shl (local.get $run) (i32.const 2)))
    (block $rows_done
      (loop $next_row
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $cols_done
          (loop $next_col
            (br_if $cols_done (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $s
              (i32.add (local.get $src)
                (i32.shl
                  (i32.add (i32.mul (local.get $r) (local.get $src_rs)) (i32.mul (local.get $c) (local.get $run)))
                  (i32.const 2))))
            (local.set $d
              (i32.add (local.get $dst)
                (i32.shl
                  (i32.add (i32.mul (local.get $c) (local.get $dst_rs)) (i32.mul (local.get $r) (local.get $run)))
                  (i32.const 2))))
            (local.set $e (i32.add (local.get $s) (local.get $rb)))
            (local.set $e16 (i32.sub (local.get $e) (i32.const 15)))
            (block $wide_done
              (loop $next_wide
                (br_if $wide_done (i32.ge_s (local.get $s) (local.get $e16)))
                (v128.store (local.get $d) (v128.load (local.get $s)))
                (local.set $s (i32.add (local.get $s) (i32.const 16)))
                (local.set $d (i32.add (local.get $d) (i32.const 16)))
                (br $next_wide)))
            (block $narrow_done
              (loop $next_narrow
                (br_if $narrow_done (i32.ge_u (local.get $s) (local.get $e)))
                (i32.store (local.get $d) (i32.load (local.get $s)))
                (local.set $s (i32.add (local.get $s) (i32.const 4)))
                (local.set $d (i32.add (local.get $d) (i32.const 4)))
                (br $next_narrow)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $next_col)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $next_row))))

  ;; col2im, the scatter of Conv2DBackpropInput: for every row (img, i, j) of cols, a
  ;; [n·ho·wo, kh·kw·ci] matrix, and every window position (p, q) inside the image,
  ;; dst[img, i·sh + p - top, j·sw + q - left, :] += cols[(img, i, j), (p, q, :)], over a dst of
  ;; [n, h, w, ci] that the caller zeroed; ci a multiple of 4. Rows are taken in order, so every
  ;; element of dst sums its terms in the order the JavaScript loop does.
  (func (export "col2im")
    (param $cols i32) (param $dst i32) (param $n i32) (param $ho i32) (param $wo i32)
    (param $h i32) (param $w i32) (param $kh i32) (param $kw i32) (param $ci i32)
    (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $img i32) (local $i i32) (local $j i32) (local $p i32) (local $q i32) (local $y i32)
    (local $x i32) (local $s i32) (local $d i32) (local $e i32) (local $cb i32)
    (local.set $cb (i32.shl (local.get $ci) (i32.const 2)))
    (local.set $s (local.get $cols))
    (block $imgs_done
      (loop $next_img
        (br_if $imgs_done (i32.ge_u (local.get $img) (local.get $n)))
        (local.set $i (i32.const 0))
        (block $is_done
          (loop $next_i
            (br_if $is_done (i32.ge_u (local.get $i) (local.get $ho)))
            (local.set $j (i32.const 0))
            (block $js_done
              (loop $next_j
                (br_if $js_done (i32.ge_u (local.get $j) (local.get $wo)))
                ;; $s walks cols row after row, window position after window position
                (local.set $p (i32.const 0))
                (block $ps_done
                  (loop $next_p
                    (br_if $ps_done (i32.ge_u (local.get $p) (local.get $kh)))
                    (local.set $y
                      (i32.sub (i32.add (i32.mul (local.get $i) (local.get $sh)) (local.get $p))
                        (local.get $top)))
                    (local.set $q (i32.const 0))
                    (block $qs_done
                      (loop $next_q
                        (br_if $qs_done (i32.ge_u (local.get $q) (local.get $kw)))
                        (local.set $x
                          (i32.sub (i32.add (i32.mul (local.get $j) (local.get $sw)) (local.get $q))
                            (local.get $left)))
                        (if (i32.and
                              (i32.lt_u (local.get $y) (local.get $h))
                              (i32.lt_u (local.get $x) (local.get $w)))
                          (then
                            (local.set $d
                              (i32.add (local.get $dst)
                                (i32.mul
                                  (i32.add
                                    (i32.mul (i32.add (i32.mul (local.get $img) (local.get $h)) (local.get $y))
                                      (local.get $w))
                                    (local.get $x))
                                  (local.get $cb))))
                            (local.set $e (i32.add (local.get $d) (local.get $cb)))
                            (block $cs_done
                              (loop $next_c
                                (br_if $cs_done (i32.ge_u (local.get $d) (local.get $e)))
                                (v128.store (local.get $d)
                                  (f32x4.add (v128.load (local.get $d)) (v128.load (local.get $s))))
                                (local.set $d (i32.add (local.get $d) (i32.const 16)))
                                (local.set $s (i32.add (local.get $s) (i32.const 16)))
                                (br $next_c))))
                          (else (local.set $s (i32.add (local.get $s) (local.get $cb)))))
                        (local.set $q (i32.add (local.get $q) (i32.const 1)))
                        (br $next_q)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $next_p)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $next_j)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next_i)))
        (local.set $img (i32.add (local.get $img) (i32.const 1)))
        (br $next_img))))
)
