//! exp and tanh from +, −, ×, ÷ only, so that float inference gives the same bits on every
//! target (platform `libm`s differ in the last bit; Rust never fuses or reorders f32 ops).

/// e^x for f32, within about 2 ulp; saturates to 0 and +∞ outside the f32 range.
#[inline]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.7 {
        return f32::INFINITY;
    }
    if x < -103.0 {
        return 0.0;
    }
    // x = k·ln2 + r, |r| ≤ ln2/2; ln2 split in two parts for an exact-enough reduction.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let k = (x * std::f32::consts::LOG2_E + if x >= 0.0 { 0.5 } else { -0.5 }) as i32;
    let kf = k as f32;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    // Taylor to degree 7 on |r| ≤ 0.347: error below 2^-24.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // Scale by 2^k in two steps so that k near ±127 cannot overflow the exponent field.
    let half = k / 2;
    p * pow2(half) * pow2(k - half)
}

#[inline]
fn pow2(k: i32) -> f32 {
    f32::from_bits(((k + 127).clamp(1, 254) as u32) << 23)
}

/// tanh for f32 via `1 − 2 / (e^{2x} + 1)`.
#[inline]
pub fn tanh(x: f32) -> f32 {
    if x > 9.0 {
        return 1.0;
    }
    if x < -9.0 {
        return -1.0;
    }
    if x.abs() < 0.004 {
        // Near zero the subtraction below loses digits; x − x³/3 is exact enough here.
        return x - x * x * x / 3.0;
    }
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// The tanh approximation of GELU (the paper's `jax.nn.gelu` default; burn's `gelu_approximate`).
#[inline]
pub fn gelu(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_std() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp(x), x.exp());
            assert!(((a - b) / b).abs() < 4e-7, "exp({x}) = {a} vs {b}");
            x += 0.0137;
        }
        let mut x = -10.0f32;
        while x < 10.0 {
            assert!((tanh(x) - x.tanh()).abs() < 3e-7, "tanh({x})");
            x += 0.00071;
        }
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert!(gelu(3.0) > 2.99 && gelu(-3.0).abs() < 0.01);
    }
}
