//! Integer building blocks: rounding shifts, block exponents, square roots, and the table
//! lookups that stand in for `exp` and GELU. Integers give the same bits on every target.
//!
//! A vector is carried as integer mantissas with one shared power-of-two exponent
//! (value = m · 2^e), renormalised after every operation so that it keeps about 13 bits of
//! precision relative to its largest element without ever overflowing its accumulators.

/// Mantissa bits of matrix-product inputs: `|m| ≤ 2^13`, so an i32 accumulator of products
/// with int8 weights holds any fan-in up to 2048.
pub const ACT_BITS: u32 = 13;
/// Mantissa bits of queries and keys: `|m| ≤ 2^12`, so a head's dot product fits an i32.
pub const QK_BITS: u32 = 12;
/// Fractional bits of the fixed-point reals fed to the exp and GELU tables.
pub const Q: u32 = 16;
/// Fractional bits of exp outputs (softmax weights).
pub const EXP_BITS: u32 = 30;
/// Entries of the `2^-x` table over `x ∈ [0, 1)`: fine enough (8.5e-5 relative at worst)
/// that no interpolation is needed.
pub const EXP2_STEPS: usize = 4096;
/// GELU table: inputs in `[-GELU_RANGE, GELU_RANGE)` at steps of `2^-GELU_STEP_BITS`.
pub const GELU_RANGE: i64 = 8;
/// Bits of the GELU table's step: 1/64.
pub const GELU_STEP_BITS: u32 = 6;
/// Entries of the GELU table (one more for interpolation).
pub const GELU_ENTRIES: usize = (2 * GELU_RANGE as usize) << GELU_STEP_BITS;
/// Fractional bits of the rotary cos/sin tables.
pub const ROPE_BITS: u32 = 14;

/// `x · 2^-s` rounded to nearest (ties towards +∞).
#[inline(always)]
pub fn rshift(x: i64, s: u32) -> i64 {
    match s {
        0 => x,
        1..=62 => (x + (1i64 << (s - 1))) >> s,
        _ => 0,
    }
}

/// `x · 2^k` saturated to i64 (`x.saturating_mul(1 << k)`), for `k ≤ 62`, by comparisons
/// (wasm has no cheap overflow test for a 64-bit product).
#[inline(always)]
pub fn shl_sat(x: i64, k: u32) -> i64 {
    let lim = i64::MAX >> k;
    if x > lim {
        i64::MAX
    } else if x < !lim {
        i64::MIN
    } else {
        x << k
    }
}

/// `x · 2^n` for either sign of `n`: exact (saturating) left, rounded right.
#[inline(always)]
pub fn shift(x: i64, n: i32) -> i64 {
    if n >= 0 {
        shl_sat(x, n.min(62) as u32)
    } else {
        rshift(x, n.unsigned_abs())
    }
}

/// `a / b` rounded to nearest, ties away from zero; `b > 0`.
#[inline(always)]
pub fn div_round(a: i64, b: i64) -> i64 {
    if a >= 0 {
        (a + b / 2) / b
    } else {
        -((-a + b / 2) / b)
    }
}

/// The exponent shift that brings `max_abs` to at most `2^bits` (negative: room to grow).
#[inline(always)]
fn renorm_shift(max_abs: u64, bits: u32) -> i32 {
    let len = 64 - max_abs.leading_zeros() as i32;
    len - bits as i32
}

/// A number with the bit length of the largest `|v|` (their OR: the same length as their
/// maximum, and a reduction every target vectorises); 0 when all are 0.
#[inline(always)]
fn max_bits(m: &[i64]) -> u64 {
    m.iter().fold(0, |acc, v| acc | v.unsigned_abs())
}

/// Rescales `m · 2^e` so the largest `|m|` lies in `[2^(bits-1), 2^bits]`; writes the mantissas
/// to `out` and returns their exponent. All zeros keep exponent `e`.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub fn normalize_into(m: &[i64], e: i32, bits: u32, out: &mut [i16]) -> i32 {
    debug_assert!(bits <= 14);
    let max = max_bits(m);
    if max == 0 {
        out.fill(0);
        return e;
    }
    let s = renorm_shift(max, bits);
    // The direction decided once per vector: `shift(v, -s)` either way.
    if s <= 0 {
        // Exact: the largest lands at most at 2^bits.
        let k = -s;
        for (o, &v) in out.iter_mut().zip(m) {
            *o = (v << k) as i16;
        }
    } else {
        // `rshift(v, s)` with its cases decided once (s ≤ 62: the largest has at most 64 bits).
        let s = s as u32;
        let half = 1i64 << (s - 1);
        for (o, &v) in out.iter_mut().zip(m) {
            *o = ((v + half) >> s) as i16;
        }
    }
    e + s
}

/// Like [`normalize_into`] with wider mantissas kept in i64 (for LayerNorm inputs).
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub fn normalize_wide(m: &mut [i64], e: i32, bits: u32) -> i32 {
    let max = max_bits(m);
    if max == 0 {
        return e;
    }
    let s = renorm_shift(max, bits);
    if s <= 0 {
        let k = -s;
        for v in m.iter_mut() {
            *v <<= k;
        }
    } else {
        let s = s as u32;
        let half = 1i64 << (s - 1);
        for v in m.iter_mut() {
            *v = (*v + half) >> s;
        }
    }
    e + s
}

/// ⌊√n⌋ for u128: a float's square root as the first guess, then integer steps to the exact
/// root, so the result is the same whatever the float gives (it only saves Newton steps).
pub fn isqrt(n: u128) -> u128 {
    // The guess is within a few units for every n (53-bit floats, a root of at most 64 bits);
    // the loops make it exact.
    let mut x = ((n as f64).sqrt() as u128).min(u128::from(u64::MAX));
    while x * x > n {
        x -= 1;
    }
    while (x + 1).checked_mul(x + 1).is_some_and(|s| s <= n) {
        x += 1;
    }
    x
}

/// A positive divisor with its reciprocal, for exact division by multiplication: a 64-bit
/// multiply-high gives the quotient or one less, and one comparison decides.
#[derive(Clone, Copy)]
pub struct Divisor {
    d: u64,
    inv: u64,
}

impl Divisor {
    /// The divisor `d` (at least 1).
    #[inline(always)]
    pub fn new(d: u64) -> Self {
        let d = d.max(1);
        Self {
            d,
            inv: u64::MAX / d,
        }
    }

    /// ⌊n / d⌋ for `n < 2^63`, exactly.
    #[inline(always)]
    pub fn div(self, n: u64) -> u64 {
        // wasm has a 64-bit division instruction but no 64×64→128 product (a library call):
        // there the plain quotient is the faster one, and the same number.
        if cfg!(target_arch = "wasm32") {
            return n / self.d;
        }
        let q = ((u128::from(n) * u128::from(self.inv)) >> 64) as u64;
        q + u64::from(n - q * self.d >= self.d)
    }

    /// [`div_round`]`(a, d)` for `|a| + d/2 < 2^63`, exactly.
    #[inline(always)]
    pub fn div_round(self, a: i64) -> i64 {
        let q = self.div(a.unsigned_abs() + self.d / 2) as i64;
        if a >= 0 {
            q
        } else {
            -q
        }
    }
}

/// `2^(-y)` for a fixed-point `y ≥ 0` with [`Q`] fractional bits, in [`EXP_BITS`] fixed point:
/// the table gives the fraction, a shift the integer part.
#[inline(always)]
pub fn pow2_neg(y: i64, exp2: &[i32; EXP2_STEPS]) -> i64 {
    const STEP_BITS: u32 = Q - EXP2_STEPS.trailing_zeros();
    let y = y.clamp(0, 64 << Q);
    // Round the fraction to the table's step; a carry into the integer part is exact.
    let y = rshift(y, STEP_BITS);
    let n = (y >> (Q - STEP_BITS)) as u32;
    if n > EXP_BITS {
        return 0;
    }
    let i = (y as usize) & (EXP2_STEPS - 1);
    rshift(i64::from(exp2[i]), n)
}

/// GELU of a fixed-point `x` with [`Q`] fractional bits, same format out: the table
/// interpolated inside `[-8, 8)`, the identity above, zero below (the rule [`gelu_row`] keeps).
#[cfg(test)]
pub fn gelu(x: i64, table: &[i32]) -> i64 {
    let lo = -(GELU_RANGE << Q);
    if x >= GELU_RANGE << Q {
        return x;
    }
    if x < lo {
        return 0;
    }
    let step_bits = Q - GELU_STEP_BITS;
    let u = x - lo;
    let (i, fr) = ((u >> step_bits) as usize, u & ((1 << step_bits) - 1));
    let (a, b) = (i64::from(table[i]), i64::from(table[i + 1]));
    a + rshift((b - a) * fr, step_bits)
}

/// [`gelu`]`(`[`shift`]`(v, n))` for every `v` of `row`, in place: the shift's direction
/// decided once, the table read without branches.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub fn gelu_row(row: &mut [i64], n: i32, table: &[i32; GELU_ENTRIES + 1]) {
    if n >= 0 {
        let k = n.min(62) as u32;
        for v in row.iter_mut() {
            *v = gelu_at(shl_sat(*v, k), table);
        }
    } else {
        let s = n.unsigned_abs();
        for v in row.iter_mut() {
            *v = gelu_at(rshift(*v, s), table);
        }
    }
}

/// [`gelu`] with the range tests as selects.
#[inline(always)]
fn gelu_at(x: i64, table: &[i32; GELU_ENTRIES + 1]) -> i64 {
    let (lo, hi) = (-(GELU_RANGE << Q), GELU_RANGE << Q);
    let step_bits = Q - GELU_STEP_BITS;
    let u = (x.clamp(lo, hi - 1) - lo) as usize;
    let (i, fr) = (u >> step_bits, (u & ((1 << step_bits) - 1)) as i64);
    let (a, b) = (i64::from(table[i]), i64::from(table[i + 1]));
    let g = a + rshift((b - a) * fr, step_bits);
    if x >= hi {
        x
    } else if x < lo {
        0
    } else {
        g
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub fn exp2_table() -> Box<[i32; EXP2_STEPS]> {
        let v: Vec<i32> = (0..EXP2_STEPS)
            .map(|i| {
                (2f64.powf(-(i as f64) / EXP2_STEPS as f64) * (1u64 << EXP_BITS) as f64).round()
                    as i32
            })
            .collect();
        v.into_boxed_slice().try_into().unwrap()
    }

    /// `len` wide mantissas of every size, with a third of i64's extremes every 50th.
    pub fn awkward_row(seed: u64, len: usize) -> Vec<i64> {
        let mut x = seed;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                match i % 50 {
                    0 => i64::MAX / 3,
                    1 => i64::MIN / 3,
                    _ => (x as i64) >> (x % 64),
                }
            })
            .collect()
    }

    #[test]
    fn gelu_rows_equal_gelu_of_each_shift() {
        let g: Vec<i32> = (0..=GELU_ENTRIES as i32).map(|i| i * 37 - 20_000).collect();
        let table: &[i32; GELU_ENTRIES + 1] = g.as_slice().try_into().unwrap();
        let row = awkward_row(5, 500);
        for n in [-70, -40, -16, -3, -1, 0, 1, 5, 20, 63] {
            let mut got = row.clone();
            gelu_row(&mut got, n, table);
            let want: Vec<i64> = row.iter().map(|&v| gelu(shift(v, n), &g)).collect();
            assert_eq!(got, want, "shift {n}");
        }
    }

    #[test]
    fn saturating_shifts_equal_saturating_products() {
        for k in [0u32, 1, 5, 31, 40, 62] {
            for x in [
                0i64,
                1,
                -1,
                7,
                -7,
                1 << 20,
                -(1 << 20),
                i64::MAX,
                i64::MIN,
                i64::MAX >> k,
            ] {
                for x in [x, x.wrapping_add(1), x.wrapping_sub(1), !x] {
                    assert_eq!(shl_sat(x, k), x.saturating_mul(1 << k), "{x} << {k}");
                }
            }
        }
    }

    #[test]
    fn shifts_round_to_nearest() {
        assert_eq!(rshift(5, 1), 3);
        assert_eq!(rshift(-5, 1), -2);
        assert_eq!(rshift(7, 2), 2);
        assert_eq!(shift(3, 4), 48);
        assert_eq!(shift(i64::MAX / 2, 4), i64::MAX);
        assert_eq!(div_round(7, 2), 4);
        assert_eq!(div_round(-7, 2), -4);
        assert_eq!(rshift(1 << 40, 70), 0);
    }

    #[test]
    fn divisors_divide_exactly() {
        let mut x = 1u64;
        for d in [
            1u64,
            2,
            3,
            7,
            1000,
            65535,
            1 << 20,
            (1 << 40) + 3,
            (1 << 62) - 1,
        ] {
            let div = Divisor::new(d);
            for n in [0u64, 1, d - 1, d, d + 1, 2 * d - 1, (1 << 63) - 1] {
                assert_eq!(div.div(n), n / d, "{n} / {d}");
            }
            for _ in 0..1000 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let n = x >> 1;
                assert_eq!(div.div(n), n / d, "{n} / {d}");
                let a = (x as i64) >> (x % 40);
                if a.unsigned_abs() + d / 2 < 1 << 63 {
                    assert_eq!(div.div_round(a), div_round(a, d as i64), "{a} / {d}");
                }
            }
        }
    }

    #[test]
    fn isqrt_is_exact() {
        for n in [
            0u128,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 40,
            (1 << 90) + 12345,
            (1 << 100) - 1,
            (1 << 127) + (1 << 64) + 5,
            u128::from(u64::MAX) * u128::from(u64::MAX),
            u128::MAX,
        ] {
            let r = isqrt(n);
            assert!(r * r <= n, "{n}");
            assert!((r + 1).checked_mul(r + 1).is_none_or(|s| s > n), "{n}");
        }
    }

    #[test]
    fn normalize_keeps_precision_and_bounds() {
        let mut out = [0i16; 3];
        let e = normalize_into(&[1 << 20, -(3 << 18), 5], -30, 13, &mut out);
        assert_eq!(out, [4096, -3072, 0]);
        assert_eq!(e, -30 + 8);
        let e = normalize_into(&[3, -1, 0], 0, 13, &mut out);
        assert_eq!(out, [6144, -2048, 0]);
        assert_eq!(e, -11);
        assert!(normalize_into(&[8191 << 3, 1], 0, 13, &mut out) == 3 && out[0] == 8191);
    }

    #[test]
    fn pow2_and_gelu_tables_are_close() {
        let t = exp2_table();
        for k in 0..4000 {
            let x = k as f64 * 0.005;
            let got = pow2_neg((x * 65536.0).round() as i64, &t) as f64 / (1u64 << 30) as f64;
            let want = 2f64.powf(-x);
            assert!((got - want).abs() < 1e-4 * want + 2e-9, "2^-{x} = {got}");
        }
        let g: Vec<i32> = (0..=GELU_ENTRIES)
            .map(|i| {
                let x = i as f64 / 64.0 - 8.0;
                (0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044_715 * x * x * x)).tanh()) * 65536.0)
                    .round() as i32
            })
            .collect();
        for k in -1200..1200 {
            let x = k as f64 / 100.0;
            let want = 0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044_715 * x * x * x)).tanh());
            let got = gelu((x * 65536.0).round() as i64, &g) as f64 / 65536.0;
            assert!((got - want).abs() < 5e-4, "gelu({x}) = {got} vs {want}");
        }
    }
}
