//! The contexts the hashed models condition on, one set per kind of data: preceding bytes and
//! words for text and bytes, neighbouring pixels for images, preceding samples and a linear
//! prediction for audio. Each is a 32-bit hash, computed once per byte.

/// What the bytes are, which decides the contexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text or any other bytes.
    Bytes,
    /// Row-major 8-bit pixels, `width` per row.
    Image {
        /// Pixels per row.
        width: usize,
    },
    /// 8-bit samples.
    Audio,
}

/// How many hashed contexts every kind has (the mixer's shape does not depend on the kind).
pub const COUNT: usize = 9;

/// Combines two values into a hash.
#[inline]
pub fn hash(a: u32, b: u32) -> u32 {
    let x = (a ^ 0x2545_F491).wrapping_mul(0x9E37_79B1) ^ b.wrapping_mul(0x85EB_CA6B);
    (x ^ (x >> 15)).wrapping_mul(0x2C1B_3C6D)
}

/// Running state that the contexts are computed from.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The current word (letters so far, case-folded) and the one before, hashed.
    word: u32,
    prev_word: u32,
}

impl Kind {
    /// Computes the contexts after `hist` (which is not empty) into `out`.
    pub fn contexts(self, hist: &[u8], state: &mut History, out: &mut [u32; COUNT]) {
        let n = hist.len();
        let at = |back: usize| -> u32 {
            if back <= n {
                u32::from(hist[n - back])
            } else {
                0
            }
        };
        let c4 = at(1) | at(2) << 8 | at(3) << 16 | at(4) << 24;
        let c8 = at(5) | at(6) << 8 | at(7) << 16 | at(8) << 24;
        match self {
            Kind::Bytes => {
                let c = hist[n - 1];
                if c.is_ascii_alphabetic() || c >= 128 {
                    state.word = hash(state.word, u32::from(c.to_ascii_lowercase()));
                } else if state.word != 0 {
                    state.prev_word = state.word;
                    state.word = 0;
                }
                out[0] = hash(2, c4 & 0xFFFF);
                out[1] = hash(3, c4 & 0xFF_FFFF);
                out[2] = hash(4, c4);
                out[3] = hash(hash(5, c4), c8 & 0xFF);
                out[4] = hash(hash(6, c4), c8 & 0xFFFF);
                out[5] = hash(hash(8, c4), c8);
                out[6] = hash(hash(9, state.word), c4 & 0xFF);
                out[7] = hash(hash(10, state.word), state.prev_word);
                out[8] = hash(11, c4 & 0xFFFF_FF00);
            }
            Kind::Image { width } => {
                let w = width.max(1);
                let left = at(1);
                let up = at(w);
                let up_left = at(w + 1);
                let up_right = if w >= 2 { at(w - 1) } else { up };
                let up_up = at(2 * w);
                let left_left = at(2);
                let grad = (left as i32 + up as i32 - up_left as i32).clamp(0, 255) as u32;
                let avg = (left + up).div_ceil(2);
                out[0] = hash(20, up);
                out[1] = hash(21, left | up << 8);
                out[2] = hash(22, up_left | up << 8 | up_right << 16);
                out[3] = hash(23, grad);
                out[4] = hash(24, avg | (left.abs_diff(up) >> 3) << 8);
                out[5] = hash(
                    25,
                    left >> 2 | (up >> 2) << 6 | (up_left >> 2) << 12 | (up_right >> 2) << 18,
                );
                out[6] = hash(26, up | up_up << 8);
                out[7] = hash(27, left | left_left << 8);
                out[8] = hash(
                    28,
                    (2 * up).saturating_sub(up_up).min(255)
                        | ((2 * left).saturating_sub(left_left).min(255)) << 8,
                );
            }
            Kind::Audio => {
                let s1 = at(1) as i32;
                let s2 = at(2) as i32;
                let s3 = at(3) as i32;
                let lin = (2 * s1 - s2).clamp(0, 255) as u32;
                let cubic = (3 * s1 - 3 * s2 + s3).clamp(0, 255) as u32;
                out[0] = hash(40, s1 as u32);
                out[1] = hash(41, lin);
                out[2] = hash(42, cubic);
                out[3] = hash(43, (s1 as u32) | (s2 as u32) << 8);
                out[4] = hash(44, lin >> 1 | ((s1 - s2 + 256) as u32 >> 3) << 8);
                out[5] = hash(
                    45,
                    (s1 >> 2) as u32 | ((s2 >> 2) as u32) << 6 | ((s3 >> 2) as u32) << 12,
                );
                out[6] = hash(46, c4 & 0xFF_FFFF);
                out[7] = hash(47, (lin + cubic) / 2);
                out[8] = hash(48, c4);
            }
        }
    }
}
