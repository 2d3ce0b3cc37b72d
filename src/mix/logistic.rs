//! The logistic domain in integers: `squash` (logit → 12-bit probability) and `stretch` (its
//! inverse), both from fixed tables so every platform gets the same bits.

// Probabilities are 12-bit: `p` in `1..=4095` stands for `p / 4096`.
/// Logits are clamped to `±LOGIT_MAX` (units of 1/256 nat).
pub const LOGIT_MAX: i32 = 2047;

/// 4096 / (1 + e^(−x/256)) at x = −2048, −1920, …, 2048, rounded.
const KNOTS: [i32; 33] = [
    1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994, 3349,
    3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095,
];

/// The probability of a logit `x` (1/256 nat): linear between the knots, in `1..=4095`.
#[inline]
pub const fn squash(x: i32) -> i32 {
    if x > LOGIT_MAX {
        return 4095;
    }
    if x < -LOGIT_MAX {
        return 1;
    }
    let w = x & 127;
    let i = ((x >> 7) + 16) as usize;
    let p = (KNOTS[i] * (128 - w) + KNOTS[i + 1] * w + 64) >> 7;
    if p < 1 {
        1
    } else if p > 4095 {
        4095
    } else {
        p
    }
}

const fn stretch_table() -> [i16; 4096] {
    let mut t = [0i16; 4096];
    let mut next = 0usize;
    let mut x = -LOGIT_MAX;
    while x <= LOGIT_MAX {
        let p = squash(x) as usize;
        while next <= p {
            t[next] = x as i16;
            next += 1;
        }
        x += 1;
    }
    while next < 4096 {
        t[next] = LOGIT_MAX as i16;
        next += 1;
    }
    t
}

static STRETCH: [i16; 4096] = stretch_table();

/// The logit of a 12-bit probability: the smallest `x` with `squash(x) ≥ p`.
#[inline]
pub fn stretch(p: i32) -> i32 {
    i32::from(STRETCH[(p & 4095) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_is_monotone_and_stretch_inverts_it() {
        let mut last = 0;
        for x in -2100..2100 {
            let p = squash(x);
            assert!((1..=4095).contains(&p));
            assert!(p >= last);
            last = p;
        }
        for p in 1..4096 {
            let x = stretch(p);
            assert!(squash(x) >= p || x == LOGIT_MAX, "p {p}");
            assert!(x == -LOGIT_MAX || squash(x - 1) < p, "p {p}");
        }
        assert_eq!(squash(0), 2048);
        assert_eq!(stretch(2048), 0);
    }
}
