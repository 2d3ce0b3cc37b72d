//! Many rows through the engine at once, with the same bits as stepping a session row by row.
//!
//! - Encoding ([`IntModel::window_tables`]): every byte of a window is known, so each layer's
//!   matrix products run over all its positions at once, and attention replays the session's
//!   key/value cache position by position (shared exponents and rescaling history included:
//!   rounding shifts applied one after another are not one shift).
//! - Decoding ([`IntLanes`]): independent contexts (one per chunk) advance one byte each per
//!   step, as one matrix product with a row per context.
//!
//! Either way each row goes through exactly the step path's integer operations; the products
//! only share each weight row between rows while it is in cache.

use super::fixed::{normalize_into, ACT_BITS, Q, QK_BITS};
use super::forward::{
    add, attend, rotate, weigh, Cpu, IntModel, Layer, LayerCache, Products, Scratch, Softmax,
};
use super::kernels::{self, BLOCK};
use crate::coder::FreqTable;
use crate::model::{ModelConfig, VOCAB};

/// Queries scored together against the keys the last of them sees.
const QUERY_BLOCK: usize = 16;

/// Buffers for up to `cap` rows of one model.
struct Rows {
    d: usize,
    h: usize,
    x: Vec<i16>,
    ex: Vec<i32>,
    q: Vec<i16>,
    k: Vec<i16>,
    v: Vec<i16>,
    a: Vec<i16>,
    hidden: Vec<i16>,
    eq: Vec<i32>,
    ek: Vec<i32>,
    ev: Vec<i32>,
    ea: Vec<i32>,
    ey: Vec<i32>,
    wide: Vec<i64>,
    wide2: Vec<i64>,
    sums: Vec<i32>,
    tmp: Vec<i64>,
}

impl Rows {
    fn new(c: &ModelConfig, cap: usize) -> Self {
        let (d, h) = (c.d_model, c.widening * c.d_model);
        let narrow = || vec![0i16; cap * d];
        let exps = || vec![0i32; cap];
        Self {
            d,
            h,
            x: narrow(),
            ex: exps(),
            q: narrow(),
            k: narrow(),
            v: narrow(),
            a: narrow(),
            hidden: vec![0; cap * h],
            eq: exps(),
            ek: exps(),
            ev: exps(),
            ea: exps(),
            ey: exps(),
            wide: vec![0; cap * h.max(VOCAB)],
            wide2: vec![0; cap * d],
            sums: vec![0; cap * h.max(VOCAB)],
            tmp: vec![0; d],
        }
    }

    /// Row `r` starts from token `t`'s embedding.
    #[inline(always)]
    fn embed(&mut self, m: &IntModel, r: usize, t: u8) {
        let (d, t) = (self.d, t as usize);
        self.x[r * d..(r + 1) * d].copy_from_slice(&m.embed[t * d..(t + 1) * d]);
        self.ex[r] = m.embed_e[t];
    }

    /// Queries and keys rotated to each row's position, and values, for `n` rows.
    #[inline(always)]
    fn project<P: Products>(
        &mut self,
        p: &P,
        m: &IntModel,
        l: &Layer,
        n: usize,
        pos: impl Fn(usize) -> usize,
    ) {
        let c = m.config();
        let (d, heads, half) = (self.d, c.n_heads, c.head_dim() / 2);
        let outs = [
            (&mut self.q[..n * d], &mut self.eq[..n]),
            (&mut self.k[..n * d], &mut self.ek[..n]),
            (&mut self.v[..n * d], &mut self.ev[..n]),
        ];
        if p.project(m, l, &self.x[..n * d], &self.ex[..n], &pos, outs) {
            return;
        }
        for (lin, out, e, bits, rotated) in [
            (&l.wq, &mut self.q, &mut self.eq, QK_BITS, true),
            (&l.wk, &mut self.k, &mut self.ek, QK_BITS, true),
            (&l.wv, &mut self.v, &mut self.ev, ACT_BITS, false),
        ] {
            let wide = &mut self.wide[..n * d];
            lin.apply_rows(
                p,
                &self.x[..n * d],
                &self.ex[..n],
                wide,
                &mut self.ey,
                &mut self.sums,
            );
            for (r, row) in wide.chunks_exact_mut(d).enumerate() {
                if rotated {
                    let at = pos(r);
                    let (cos, sin) = (
                        &m.cos[at * half..(at + 1) * half],
                        &m.sin[at * half..(at + 1) * half],
                    );
                    rotate(row, heads, cos, sin);
                }
                e[r] = normalize_into(row, self.ey[r], bits, &mut out[r * d..(r + 1) * d]);
            }
        }
    }

    /// Row `r`'s attention output (in `wide2`, exponent `e`) into `a` as the next input.
    #[inline(always)]
    fn attended(&mut self, r: usize, e: i32) {
        let rows = r * self.d..(r + 1) * self.d;
        self.ea[r] = normalize_into(&self.wide2[rows.clone()], e, ACT_BITS, &mut self.a[rows]);
    }

    /// The rest of a layer after attention: output projection, residual and LayerNorm, the
    /// MLP, residual and LayerNorm, for `n` rows.
    #[inline(always)]
    fn finish_layer<P: Products>(&mut self, p: &P, m: &IntModel, l: &Layer, n: usize) {
        let (d, h) = (self.d, self.h);
        let (a, ea) = (&self.a[..n * d], &self.ea[..n]);
        if p.finish_layer(m, l, a, ea, &mut self.x[..n * d], &mut self.ex[..n]) {
            return;
        }
        let wide = &mut self.wide[..n * d];
        l.wo.apply_rows(
            p,
            &self.a[..n * d],
            &self.ea[..n],
            wide,
            &mut self.ey,
            &mut self.sums,
        );
        self.residual_norm(&l.ln1, n);
        let wide = &mut self.wide[..n * h];
        l.fc1.apply_rows(
            p,
            &self.x[..n * d],
            &self.ex[..n],
            wide,
            &mut self.ey,
            &mut self.sums,
        );
        for (r, row) in wide.chunks_exact_mut(h).enumerate() {
            kernels::gelu_row(row, self.ey[r] + Q as i32, &m.gelu);
            let out = &mut self.hidden[r * h..(r + 1) * h];
            self.ea[r] = normalize_into(row, -(Q as i32), ACT_BITS, out);
        }
        let wide = &mut self.wide[..n * d];
        l.fc2.apply_rows(
            p,
            &self.hidden[..n * h],
            &self.ea[..n],
            wide,
            &mut self.ey,
            &mut self.sums,
        );
        self.residual_norm(&l.ln2, n);
    }

    /// `x ← norm(x + wide)` row by row (the block's output, exponents in `ey`).
    #[inline(always)]
    fn residual_norm(&mut self, norm: &super::forward::Norm, n: usize) {
        let d = self.d;
        for r in 0..n {
            let rows = r * d..(r + 1) * d;
            let (x, y, sum) = (
                &mut self.x[rows.clone()],
                &mut self.wide[rows.clone()],
                &mut self.wide2[rows],
            );
            add(x, self.ex[r], y, self.ey[r], sum);
            self.ex[r] = norm.apply(sum, x, &mut self.tmp);
        }
    }

    /// The next byte's table for each of rows `from..n`, in order.
    #[inline(always)]
    fn tables<P: Products>(
        &mut self,
        p: &P,
        m: &IntModel,
        from: usize,
        n: usize,
        visit: &mut dyn FnMut(usize, FreqTable),
    ) {
        let wide = &mut self.wide[..(n - from) * VOCAB];
        let (x, ex) = (&self.x[from * self.d..n * self.d], &self.ex[from..n]);
        if p.tables(m, x, ex, visit) {
            return;
        }
        m.head
            .apply_rows(p, x, ex, wide, &mut self.ey, &mut self.sums);
        for (r, logits) in wide.chunks_exact(VOCAB).enumerate() {
            visit(r, m.table(logits, self.ey[r]));
        }
    }
}

impl IntModel {
    /// Feeds `tokens` (at most the context; the first is 0 as in a session) and hands `visit`
    /// the table after each one, in order: what [`super::IntSession::step`] returns for them.
    ///
    /// # Panics
    /// When `tokens` is longer than the context.
    pub fn window_tables(&self, tokens: &[u8], visit: &mut dyn FnMut(FreqTable)) {
        self.window(&Cpu, tokens, 0, visit);
    }

    /// As [`Self::window_tables`], but only the tables after `tokens[from..]`: the earlier
    /// tokens are context (a sliding window's overlap).
    pub fn window_tables_from(&self, tokens: &[u8], from: usize, visit: &mut dyn FnMut(FreqTable)) {
        self.window(&Cpu, tokens, from, visit);
    }

    /// A session that has been fed `tokens` (at most the context), computed as one window: the
    /// same state as stepping them one by one, in a fraction of the time.
    pub fn prefill(&self, tokens: &[u8]) -> super::IntSession<'_> {
        if tokens.is_empty() {
            return self.session();
        }
        let caches = self.window(&Cpu, tokens, tokens.len(), &mut |_| {});
        self.session_with(caches, tokens.len())
    }

    pub(super) fn window<P: Products>(
        &self,
        p: &P,
        tokens: &[u8],
        from: usize,
        visit: &mut dyn FnMut(FreqTable),
    ) -> Vec<LayerCache> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.window_avx2(p, tokens, from, visit) };
        }
        self.window_portable(p, tokens, from, visit)
    }

    /// The same code compiled for AVX2: integers give the same results in any instruction set.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn window_avx2<P: Products>(
        &self,
        p: &P,
        tokens: &[u8],
        from: usize,
        visit: &mut dyn FnMut(FreqTable),
    ) -> Vec<LayerCache> {
        self.window_portable(p, tokens, from, visit)
    }

    /// Runs the window's layers, hands `visit` the tables after `tokens[from..]` and returns
    /// each layer's key/value cache.
    #[inline(always)]
    fn window_portable<P: Products>(
        &self,
        p: &P,
        tokens: &[u8],
        from: usize,
        visit: &mut dyn FnMut(FreqTable),
    ) -> Vec<LayerCache> {
        let c = *self.config();
        let n = tokens.len();
        assert!(n <= c.context, "context of {} exhausted", c.context);
        let mut caches = Vec::with_capacity(self.layers.len());
        if n == 0 {
            return caches;
        }
        let (d, hd, heads) = (c.d_model, c.head_dim(), c.n_heads);
        let mut b = Rows::new(&c, n);
        for (r, &t) in tokens.iter().enumerate() {
            b.embed(self, r, t);
        }
        let mut soft = Softmax::new(&c);
        let mut scores = vec![0i32; QUERY_BLOCK * c.context.next_multiple_of(BLOCK)];
        for l in &self.layers {
            b.project(p, self, l, n, |r| r);
            // Attention. A key or value exponent above every earlier one rescales the cache
            // there, as in a session; between such positions the cache only grows, so each
            // such segment's queries are scored against it in block products per head.
            let mut cache = LayerCache::new(&c);
            let (mut kmax, mut vmax) = (i32::MIN, i32::MIN);
            let mut s0 = 0;
            while s0 < n {
                kmax = kmax.max(b.ek[s0]);
                vmax = vmax.max(b.ev[s0]);
                let mut s1 = s0 + 1;
                while s1 < n && b.ek[s1] <= kmax && b.ev[s1] <= vmax {
                    s1 += 1;
                }
                for r in s0..s1 {
                    let rows = r * d..(r + 1) * d;
                    cache.push(&mut b.k[rows.clone()], b.ek[r], &mut b.v[rows], b.ev[r], r);
                }
                let (q, out) = (&b.q[s0 * d..s1 * d], &mut b.wide2[s0 * d..s1 * d]);
                let done = p.attend_rows(self, &cache, q, &b.eq[s0..s1], s0, out);
                for head in (0..heads).filter(|_| !done) {
                    // Blocks of queries against the keys they see (the causal triangle).
                    for i0 in (s0..s1).step_by(QUERY_BLOCK) {
                        let i1 = (i0 + QUERY_BLOCK).min(s1);
                        let width = i1.next_multiple_of(BLOCK);
                        let q = &b.q[i0 * d + head * hd..];
                        let keys = cache.keys(head, i1);
                        kernels::matmul(q, d, i1 - i0, hd, keys, &mut scores, width);
                        for r in i0..i1 {
                            let row = &scores[(r - i0) * width..][..r + 1];
                            let out = &mut b.wide2[r * d + head * hd..r * d + (head + 1) * hd];
                            let eqk = b.eq[r] + cache.key_e();
                            weigh(self, eqk, row, cache.values(head), &mut soft, out);
                        }
                    }
                }
                for r in s0..s1 {
                    b.attended(r, cache.value_e() - 16);
                }
                s0 = s1;
            }
            b.finish_layer(p, self, l, n);
            caches.push(cache);
        }
        if from < n {
            b.tables(p, self, from, n, &mut |_, t| visit(t));
        }
        caches
    }

    /// `lanes` independent contexts to advance in lockstep.
    pub fn lanes(&self, lanes: usize) -> IntLanes<'_> {
        self.lanes_on(Cpu, lanes)
    }

    /// [`Self::lanes`] with the products run by `p`.
    pub fn lanes_on<P: Products>(&self, p: P, lanes: usize) -> IntLanes<'_, P> {
        let c = self.config();
        IntLanes {
            p,
            m: self,
            pos: vec![0; lanes],
            caches: (0..lanes)
                .map(|_| (0..c.n_layers).map(|_| LayerCache::new(c)).collect())
                .collect(),
            scratch: Scratch::new(c),
            rows: Rows::new(c, lanes),
        }
    }
}

/// Independent contexts (lanes) advanced together, one token each per step: what a session
/// per lane would give, with each weight row read once per step for all of them.
pub struct IntLanes<'m, P: Products = Cpu> {
    p: P,
    m: &'m IntModel,
    pos: Vec<usize>,
    caches: Vec<Vec<LayerCache>>,
    scratch: Scratch,
    rows: Rows,
}

impl<P: Products> IntLanes<'_, P> {
    /// Starts lane `lane` afresh (no tokens seen).
    pub fn reset(&mut self, lane: usize) {
        self.pos[lane] = 0;
    }

    /// Starts lane `lane` as if fed `tokens` (a sliding window's context), computed in one
    /// pass as [`IntModel::prefill`] does.
    ///
    /// # Panics
    /// When `tokens` is longer than the context.
    pub fn resume(&mut self, lane: usize, tokens: &[u8]) {
        if tokens.is_empty() {
            self.reset(lane);
            return;
        }
        self.caches[lane] = self.m.window(&self.p, tokens, tokens.len(), &mut |_| {});
        self.pos[lane] = tokens.len();
    }

    /// Feeds `tokens[i]` to lane `lanes[i]` (each lane at most once) and hands `visit` each
    /// lane's next table, as [`super::IntSession::step`] would.
    ///
    /// # Panics
    /// When a lane's context is full, or `lanes` and `tokens` differ in length.
    pub fn step(
        &mut self,
        lanes: &[usize],
        tokens: &[u8],
        visit: &mut dyn FnMut(usize, FreqTable),
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.step_avx2(lanes, tokens, visit) };
        }
        self.step_portable(lanes, tokens, visit)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn step_avx2(
        &mut self,
        lanes: &[usize],
        tokens: &[u8],
        visit: &mut dyn FnMut(usize, FreqTable),
    ) {
        self.step_portable(lanes, tokens, visit)
    }

    #[inline(always)]
    fn step_portable(
        &mut self,
        lanes: &[usize],
        tokens: &[u8],
        visit: &mut dyn FnMut(usize, FreqTable),
    ) {
        let m = self.m;
        let c = *m.config();
        let (n, d) = (lanes.len(), c.d_model);
        assert_eq!(n, tokens.len(), "one token per lane");
        let b = &mut self.rows;
        for (r, (&lane, &t)) in lanes.iter().zip(tokens).enumerate() {
            assert!(
                self.pos[lane] < c.context,
                "context of {} exhausted",
                c.context
            );
            b.embed(m, r, t);
        }
        let pos = &self.pos;
        for (li, l) in m.layers.iter().enumerate() {
            b.project(&self.p, m, l, n, |r| pos[lanes[r]]);
            for (r, &lane) in lanes.iter().enumerate() {
                let rows = r * d..(r + 1) * d;
                let p = pos[lane];
                let cache = &mut self.caches[lane][li];
                cache.push(
                    &mut b.k[rows.clone()],
                    b.ek[r],
                    &mut b.v[rows.clone()],
                    b.ev[r],
                    p,
                );
                let (q, out) = (&b.q[rows.clone()], &mut b.wide2[rows]);
                attend(m, cache, q, b.eq[r], p + 1, &mut self.scratch, out);
                b.attended(r, cache.value_e() - 16);
            }
            b.finish_layer(&self.p, m, l, n);
        }
        b.tables(&self.p, m, 0, n, &mut |r, t| visit(lanes[r], t));
        for &lane in lanes {
            self.pos[lane] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{IntModel, IntWeights};
    use crate::coder::FreqTable;

    /// A table's frequencies, to compare tables.
    fn freqs(t: &FreqTable) -> Vec<u32> {
        (0..t.len()).map(|i| t.freq(i)).collect()
    }

    fn stepped(m: &IntModel, tokens: &[u8]) -> Vec<Vec<u32>> {
        let mut s = m.session();
        tokens.iter().map(|&t| freqs(&s.step(t))).collect()
    }

    fn batched(m: &IntModel, tokens: &[u8]) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        m.window_tables(tokens, &mut |t| out.push(freqs(&t)));
        out
    }

    #[test]
    fn lanes_in_lockstep_equal_a_session_each() {
        let file = crate::codecs::lm::tests::tiny_int_weights(5);
        let m = IntModel::new(&IntWeights::from_bytes(&file).unwrap()).unwrap();
        let ctx = m.config().context;
        let text = include_bytes!("../../tests/data/sample.txt");
        // Three lanes over different text; lane 1 restarts halfway, lane 2 stops early.
        let streams: Vec<Vec<u8>> = (0..3)
            .map(|i| text[i * 700..i * 700 + ctx].to_vec())
            .collect();
        let mut want: Vec<Vec<Vec<u32>>> = streams.iter().map(|s| stepped(&m, s)).collect();
        let restart = ctx / 2;
        want[1].truncate(restart);
        want[1].extend(stepped(&m, &streams[1][..ctx - restart]));
        let stop = ctx / 3;
        want[2].truncate(stop);
        let mut got: Vec<Vec<Vec<u32>>> = vec![Vec::new(); 3];
        let mut lanes = m.lanes(3);
        for step in 0..ctx {
            if step == restart {
                lanes.reset(1);
            }
            let active: Vec<usize> = (0..3).filter(|&l| l != 2 || step < stop).collect();
            let tokens: Vec<u8> = active
                .iter()
                .map(|&l| match l {
                    1 if step >= restart => streams[1][step - restart],
                    _ => streams[l][step],
                })
                .collect();
            lanes.step(&active, &tokens, &mut |l, t| got[l].push(freqs(&t)));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn a_resumed_lane_equals_stepping_its_context_first() {
        let file = crate::codecs::lm::tests::tiny_int_weights(2);
        let m = IntModel::new(&IntWeights::from_bytes(&file).unwrap()).unwrap();
        let ctx = m.config().context;
        let text = include_bytes!("../../tests/data/sample.txt");
        let want = stepped(&m, &text[..ctx]);
        let mut lanes = m.lanes(2);
        // Lane 1 has run a while; both lanes then take up the text after `k` known tokens.
        lanes.step(&[1], &text[900..901], &mut |_, _| {});
        for k in [0, 1, ctx / 4, ctx - 1] {
            let mut got = vec![Vec::new(); 2];
            for lane in 0..2 {
                lanes.resume(lane, &text[..k]);
            }
            for &t in &text[k..ctx] {
                lanes.step(&[0, 1], &[t, t], &mut |l, table| got[l].push(freqs(&table)));
            }
            assert_eq!(got[0], want[k..], "{k}");
            assert_eq!(got[1], want[k..], "{k}");
        }
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

    #[test]
    fn a_prefilled_session_and_a_window_tail_equal_stepping() {
        for seed in [1, 7] {
            let file = crate::codecs::lm::tests::tiny_int_weights(seed);
            let m = IntModel::new(&IntWeights::from_bytes(&file).unwrap()).unwrap();
            let text = include_bytes!("../../tests/data/sample.txt");
            let ctx = m.config().context;
            let mut tokens = vec![0u8];
            tokens.extend_from_slice(&text[300..300 + ctx - 1]);
            let want = stepped(&m, &tokens);
            for from in [0, 1, ctx / 3, ctx - 1, ctx] {
                let mut tail = Vec::new();
                m.window_tables_from(&tokens, from, &mut |t| tail.push(freqs(&t)));
                assert_eq!(tail, want[from..], "tail from {from}, seed {seed}");
            }
            for at in [1, ctx / 2, ctx - 1] {
                let mut s = m.prefill(&tokens[..at]);
                assert_eq!(s.len(), at);
                let rest: Vec<Vec<u32>> = tokens[at..]
                    .iter()
                    .map(|&t| {
                        let table = s.step(t);
                        freqs(&table)
                    })
                    .collect();
                assert_eq!(rest, want[at..], "prefill {at}, seed {seed}");
            }
        }
    }
}
