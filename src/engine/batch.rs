//! Encoding a whole window in one pass: every position of a window is known when encoding,
//! so each layer runs its matrix products over all rows at once (each weight row is read
//! once per block of rows instead of once per byte).
//!
//! The tables are the same bits as stepping an [`super::IntSession`] over the window: every
//! row goes through exactly the step path's integer operations, and attention replays the
//! session's key/value cache position by position (its shared exponents and rescaling
//! history included), since rounding shifts applied one after another are not one shift.

use super::fixed::{self, normalize_into, shift, ACT_BITS, Q, QK_BITS};
use super::forward::{add, attend, rotate, IntModel, LayerCache, Scratch};
use crate::coder::FreqTable;
use crate::model::VOCAB;

impl IntModel {
    /// Feeds `tokens` (at most the context; the first is 0 as in a session) and hands `visit`
    /// the table after each one, in order: what [`super::IntSession::step`] returns for them.
    ///
    /// # Panics
    /// When `tokens` is longer than the context.
    pub fn window_tables(&self, tokens: &[u8], visit: &mut dyn FnMut(FreqTable)) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.window_avx2(tokens, visit) };
        }
        self.window_portable(tokens, visit)
    }

    /// The same code compiled for AVX2: integers give the same results in any instruction set.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn window_avx2(&self, tokens: &[u8], visit: &mut dyn FnMut(FreqTable)) {
        self.window_portable(tokens, visit)
    }

    #[inline(always)]
    fn window_portable(&self, tokens: &[u8], visit: &mut dyn FnMut(FreqTable)) {
        let c = *self.config();
        let n = tokens.len();
        assert!(n <= c.context, "context of {} exhausted", c.context);
        if n == 0 {
            return;
        }
        let (d, hd, heads) = (c.d_model, c.head_dim(), c.n_heads);
        let h = c.widening * d;
        let half = hd / 2;
        let mut x = vec![0i16; n * d];
        let mut ex = vec![0i32; n];
        for (r, &t) in tokens.iter().enumerate() {
            let t = t as usize;
            x[r * d..(r + 1) * d].copy_from_slice(&self.embed[t * d..(t + 1) * d]);
            ex[r] = self.embed_e[t];
        }
        let mut wide = vec![0i64; n * h.max(VOCAB)];
        let mut wide2 = vec![0i64; n * d];
        let mut sums = vec![0i32; n * h.max(VOCAB)];
        let mut tmp = vec![0i64; d];
        let (mut q, mut k, mut v, mut a) = (
            vec![0i16; n * d],
            vec![0i16; n * d],
            vec![0i16; n * d],
            vec![0i16; n * d],
        );
        let mut hidden = vec![0i16; n * h];
        let (mut eq, mut ek, mut ev, mut ea, mut ey) =
            (vec![0; n], vec![0; n], vec![0; n], vec![0; n], vec![0; n]);
        let mut scratch = Scratch::new(&c);
        let rope = |r: usize| {
            (
                &self.cos[r * half..(r + 1) * half],
                &self.sin[r * half..(r + 1) * half],
            )
        };
        for l in &self.layers {
            // Queries and keys, rotated to their positions; values.
            for (lin, out, e, bits, rotated) in [
                (&l.wq, &mut q, &mut eq, QK_BITS, true),
                (&l.wk, &mut k, &mut ek, QK_BITS, true),
                (&l.wv, &mut v, &mut ev, ACT_BITS, false),
            ] {
                lin.apply_rows(&x, &ex, &mut wide[..n * d], &mut ey, &mut sums);
                for (r, row) in wide[..n * d].chunks_exact_mut(d).enumerate() {
                    if rotated {
                        let (cos, sin) = rope(r);
                        rotate(row, heads, cos, sin);
                    }
                    e[r] = normalize_into(row, ey[r], bits, &mut out[r * d..(r + 1) * d]);
                }
            }
            // Attention, with the cache filled position by position as a session fills it.
            let mut cache = LayerCache::new(&c);
            for r in 0..n {
                let rows = r * d..(r + 1) * d;
                cache.push(&mut k[rows.clone()], ek[r], &mut v[rows.clone()], ev[r], r);
                let out = &mut wide2[rows.clone()];
                attend(
                    self,
                    cache.query(&q[rows.clone()], eq[r], r + 1),
                    &mut scratch,
                    out,
                );
                ea[r] = normalize_into(out, cache.value_e() - 16, ACT_BITS, &mut a[rows]);
            }
            l.wo.apply_rows(&a, &ea, &mut wide[..n * d], &mut ey, &mut sums);
            for r in 0..n {
                let rows = r * d..(r + 1) * d;
                add(
                    &x[rows.clone()],
                    ex[r],
                    &mut wide[rows.clone()],
                    ey[r],
                    &mut wide2[rows.clone()],
                );
                ex[r] = l
                    .ln1
                    .apply(&mut wide2[rows.clone()], &mut x[rows], &mut tmp);
            }
            // The MLP.
            l.fc1
                .apply_rows(&x, &ex, &mut wide[..n * h], &mut ey, &mut sums);
            for (r, row) in wide[..n * h].chunks_exact_mut(h).enumerate() {
                for v in row.iter_mut() {
                    *v = fixed::gelu(shift(*v, ey[r] + Q as i32), &self.gelu);
                }
                ea[r] = normalize_into(row, -(Q as i32), ACT_BITS, &mut hidden[r * h..(r + 1) * h]);
            }
            l.fc2
                .apply_rows(&hidden, &ea, &mut wide[..n * d], &mut ey, &mut sums);
            for r in 0..n {
                let rows = r * d..(r + 1) * d;
                add(
                    &x[rows.clone()],
                    ex[r],
                    &mut wide[rows.clone()],
                    ey[r],
                    &mut wide2[rows.clone()],
                );
                ex[r] = l
                    .ln2
                    .apply(&mut wide2[rows.clone()], &mut x[rows], &mut tmp);
            }
        }
        self.head
            .apply_rows(&x, &ex, &mut wide[..n * VOCAB], &mut ey, &mut sums);
        for (r, logits) in wide[..n * VOCAB].chunks_exact(VOCAB).enumerate() {
            visit(self.table(logits, ey[r]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{IntModel, IntWeights};

    fn stepped(m: &IntModel, tokens: &[u8]) -> Vec<Vec<u32>> {
        let mut s = m.session();
        tokens
            .iter()
            .map(|&t| {
                let table = s.step(t);
                (0..table.len()).map(|i| table.freq(i)).collect()
            })
            .collect()
    }

    fn batched(m: &IntModel, tokens: &[u8]) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        m.window_tables(tokens, &mut |t| {
            out.push((0..t.len()).map(|i| t.freq(i)).collect())
        });
        out
    }

    #[test]
    fn a_window_at_once_equals_stepping_it() {
        let root = crate::repo_root();
        let file = std::fs::read(root.join("models/200k/model.lmzi")).expect("shipped model");
        let m = IntModel::new(&IntWeights::from_bytes(&file).unwrap()).unwrap();
        let text = std::fs::read(root.join("tests/data/sample.txt")).expect("sample");
        let window = m.config().context;
        let mut tokens = vec![0u8];
        tokens.extend_from_slice(&text[..window - 1]);
        // Whole windows, short ones, and one token.
        for len in [window, 137, 1] {
            assert_eq!(
                batched(&m, &tokens[..len]),
                stepped(&m, &tokens[..len]),
                "{len}"
            );
        }
        // Random models and bytes, where exponents jump about more.
        for seed in 0..4 {
            let file = crate::codecs::lm::tests::tiny_int_weights(seed);
            let m = IntModel::new(&IntWeights::from_bytes(&file).unwrap()).unwrap();
            let mut x = seed as u32 + 1;
            let tokens: Vec<u8> = (0..m.config().context)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                })
                .collect();
            assert_eq!(batched(&m, &tokens), stepped(&m, &tokens), "seed {seed}");
        }
    }
}
