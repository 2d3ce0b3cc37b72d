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
pub const COUNT: usize = 16;

/// Combines two values into a hash.
#[inline]
pub fn hash(a: u32, b: u32) -> u32 {
    let x = (a ^ 0x2545_F491).wrapping_mul(0x9E37_79B1) ^ b.wrapping_mul(0x85EB_CA6B);
    (x ^ (x >> 15)).wrapping_mul(0x2C1B_3C6D)
}

/// Running state that the text contexts are computed from.
#[derive(Debug, Clone)]
pub struct History {
    /// The current word (letters so far, case-folded) and the two before it, hashed.
    word: u32,
    prev_word: u32,
    prev_word2: u32,
    /// The last four letters (case-folded), whatever came between them.
    letters: u32,
    /// Where the current line starts, and where the line before it started.
    line: usize,
    prev_line: usize,
    /// Brackets still open, the innermost in the low byte.
    nest: u32,
    /// The last two bytes that followed each byte, and each pair of bytes (indirect contexts).
    after1: Vec<u16>,
    after2: Vec<u16>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            word: 0,
            prev_word: 0,
            prev_word2: 0,
            letters: 0,
            line: 0,
            prev_line: 0,
            nest: 0,
            after1: vec![0; 256],
            after2: vec![0; 1 << 16],
        }
    }
}

impl History {
    /// Follows text whose last byte is new (`hist` is not empty).
    fn follow_text(&mut self, hist: &[u8]) {
        let n = hist.len();
        let c = hist[n - 1];
        if c.is_ascii_alphabetic() || c >= 128 {
            let folded = u32::from(c.to_ascii_lowercase());
            self.word = hash(self.word, folded);
            self.letters = self.letters << 8 | folded;
        } else if self.word != 0 {
            self.prev_word2 = self.prev_word;
            self.prev_word = self.word;
            self.word = 0;
        }
        match c {
            b'(' | b'[' | b'{' | b'<' => self.nest = self.nest << 8 | u32::from(c),
            b')' | b']' | b'}' | b'>' => self.nest >>= 8,
            b'\n' => {
                self.prev_line = self.line;
                self.line = n;
            }
            _ => {}
        }
        if n >= 2 {
            let b1 = usize::from(hist[n - 2]);
            self.after1[b1] = self.after1[b1] << 8 | u16::from(c);
            if n >= 3 {
                let pair = usize::from(hist[n - 3]) << 8 | b1;
                self.after2[pair] = self.after2[pair] << 8 | u16::from(c);
            }
        }
    }
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
                state.follow_text(hist);
                let s = &*state;
                let col = n - s.line;
                // The byte at the same column of the line before.
                let above = if s.prev_line + col < s.line {
                    u32::from(hist[s.prev_line + col])
                } else {
                    0
                };
                let after1 = u32::from(s.after1[at(1) as usize]);
                let after2 = u32::from(s.after2[(c4 & 0xFFFF) as usize]);
                out[0] = hash(2, c4 & 0xFFFF);
                out[1] = hash(3, c4 & 0xFF_FFFF);
                out[2] = hash(4, c4);
                out[3] = hash(hash(5, c4), c8 & 0xFF);
                out[4] = hash(hash(6, c4), c8 & 0xFFFF);
                out[5] = hash(hash(8, c4), c8);
                out[6] = hash(hash(9, s.word), c4 & 0xFF);
                out[7] = hash(hash(10, s.word), s.prev_word);
                out[8] = hash(11, c4 & 0xFFFF_FF00);
                out[9] = hash(hash(12, s.word), hash(s.prev_word, s.prev_word2));
                out[10] = hash(13, above | (c4 & 0xFF) << 8 | (col.min(255) as u32) << 16);
                out[11] = hash(14, s.letters);
                out[12] = hash(15, after1 | (c4 & 0xFF) << 16);
                out[13] = hash(16, after2 | (c4 & 0xFFFF) << 16);
                out[14] = hash(17, c4 & 0xFF_FF00);
                out[15] = hash(18, (s.nest & 0xFFFF) | (c4 & 0xFFFF) << 16);
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
                out[9] = hash(29, up | up_right << 8);
                out[10] = hash(30, left | up_left << 8);
                out[11] = hash(31, grad >> 2 | (avg >> 2) << 6 | (up_up >> 3) << 12);
                out[12] = hash(
                    32,
                    left.abs_diff(up_left) >> 2
                        | (up.abs_diff(up_left) >> 2) << 6
                        | (grad >> 3) << 12,
                );
                out[13] = hash(33, (up + up_right).div_ceil(2) | (left >> 3) << 8);
                out[14] = hash(34, left >> 1 | (up >> 1) << 8);
                out[15] = hash(35, grad >> 1 | (up.abs_diff(up_up) >> 2) << 8);
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
                out[9] = hash(49, c4 & 0xFFFF | (c8 & 0xFF) << 16);
                out[10] = hash(
                    50,
                    (s1 >> 3) as u32
                        | ((s2 >> 3) as u32) << 5
                        | ((s3 >> 3) as u32) << 10
                        | (at(4) >> 3) << 15,
                );
                out[11] = hash(51, lin >> 2 | (cubic >> 2) << 6);
                out[12] = hash(
                    52,
                    ((s1 - s2 + 256) as u32 >> 2) | (((s2 - s3 + 256) as u32) >> 2) << 8,
                );
                out[13] = hash(53, lin >> 3 | (at(4) >> 3) << 5 | (c8 & 0xFF) >> 3 << 10);
                out[14] = hash(54, s1 as u32 >> 1 | (lin >> 1) << 8);
                out[15] = hash(
                    55,
                    (2 * lin).saturating_sub(cubic).min(255) | (s1 as u32 >> 4) << 8,
                );
            }
        }
    }
}
