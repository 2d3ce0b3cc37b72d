//! The mixing predictor: every model's prediction of the next bit, mixed and refined.
//!
//! Per bit the inputs are: order-0 and order-1 counters, the hashed context models of
//! [`Kind::contexts`], the match model, and (when given) the transformer's distribution for
//! the byte, turned exactly into the probability of this bit given the bits before it; for
//! audio and images also a linear predictor's distribution for the sample or pixel
//! ([`SampleModel`], over past samples or a pixel's neighbours).
//! A first mixer layer with nine weight-set selectors ([`SETS`]), a second that mixes their
//! outputs with four selectors ([`SETS2`]) and averages those, then three APM stages.

use super::adaptive::{Apm, Counters};
use super::contexts::{self, History, Kind, COUNT};
use super::logistic::{squash, stretch};
use super::matcher::Matcher;
use super::mixer::{Mixer, WEIGHT_ONE};
use super::prime::Learned;
use super::samples::SampleModel;
use crate::coder::FreqTable;

/// Count limit of the hashed context models' counters (their adaptation floor).
const HASHED_LIMIT: u32 = 255;
/// Learning rates of the two mixer layers. The first layer starts slow, trusting its primed
/// weights (2,048-byte chunks code best so), and speeds up once the stream has taught it
/// something of its own (whole files code best at the faster rate).
const LAYER1_RATE_START: i32 = 10;
const LAYER1_RATE: i32 = 4;
const LAYER1_SETTLED: usize = 1 << 14;
const LAYER2_RATE: i32 = 2;
/// Adaptation rate shift of the APM stages.
const APM_RATE: u32 = 7;

/// Hashed contexts with few distinct values, given a quarter of the slots.
const SMALL: [usize; 5] = [0, 10, 12, 14, 15];
/// Inputs to the first mixer layer.
const INPUTS: usize = 2 + 4 * COUNT + 2 + 2 + 2 + 1;
/// Contexts of the layer-1 selectors: partial byte, match state, the transformer's confidence
/// by bit position, previous byte, the last two bytes hashed (pixels left and above), known
/// contexts by bit position, the byte before the previous, the last three bytes hashed (audio:
/// where the bit's interval lies from the linear prediction), and the byte a match predicts
/// with its length.
const SETS: [usize; 9] = [256, 33, 16 * 8, 256, 256, (COUNT + 1) * 8, 256, 1024, 1024];
/// Contexts of the layer-2 selectors, whose outputs are averaged: known contexts by bit
/// position, partial byte, previous byte, the byte before the previous.
const SETS2: [usize; 4] = [(COUNT + 1) * 8, 256, 256, 256];

/// The transformer's distribution for the current byte, as cumulative frequencies.
#[derive(Debug, Clone)]
struct Prior {
    cdf: [u32; 257],
}

/// Predicts the bits of a stream one after another.
pub struct Predictor {
    kind: Kind,
    hist: Vec<u8>,
    history: History,
    /// Partial byte with a leading 1, and bits of it known.
    c0: u32,
    bitpos: u32,
    cx: [u32; COUNT],
    order0: Counters,
    order1: Counters,
    hashed: Vec<Counters>,
    /// Per hashed model: what followed each recent-bit history in any of its contexts.
    indirect: Vec<Counters>,
    histories: [usize; COUNT],
    bits: [u32; COUNT],
    base: [usize; COUNT],
    slots: [usize; COUNT + 2],
    matcher: Matcher,
    /// Audio only: the next sample's linear prediction (the other kinds give its inputs 0).
    samples: SampleModel,
    prior: Option<Prior>,
    prior_p: i32,
    prior_apm: Apm,
    layer1: Mixer,
    layer2: Mixer,
    apm0: Apm,
    apm1: Apm,
    apm2: Apm,
    p_mix: i32,
    p: i32,
}

impl Predictor {
    /// Whether `learned` has this predictor's shapes (so [`Predictor::new`] can start from it).
    pub fn fits(learned: &Learned) -> bool {
        // The shapes, from one predictor built once (each build allocates its tables).
        static SHAPE: std::sync::LazyLock<[usize; 7]> = std::sync::LazyLock::new(|| {
            let p = Predictor::new(Kind::Bytes, 1, None);
            [
                p.layer1.weight_count(),
                p.layer2.weight_count(),
                COUNT * 256,
                p.order0.raw().len(),
                Matcher::new(1).counter_count(),
                SampleModel::table_len(),
                p.prior_apm.knots().len(),
            ]
        });
        [
            learned.layer1.len(),
            learned.layer2.len(),
            learned.indirect.len(),
            learned.order0.len(),
            learned.matcher.len(),
            learned.samples.len(),
            learned.prior_apm.len(),
        ] == *SHAPE
    }

    /// What this predictor has learned that carries over to new data.
    pub fn learned(&mut self) -> Learned {
        Learned {
            layer1: self.layer1.weights(),
            layer2: self.layer2.weights(),
            indirect: self
                .indirect
                .iter()
                .flat_map(|t| t.raw().to_vec())
                .collect(),
            order0: self.order0.raw().to_vec(),
            matcher: self.matcher.counters().raw().to_vec(),
            samples: self.samples.table().raw().to_vec(),
            prior_apm: self.prior_apm.knots().to_vec(),
        }
    }

    /// A predictor for `len` bytes of `kind` (tables are sized by `len`), starting from
    /// `start` where given (which must [fit](Predictor::fits)).
    pub fn new(kind: Kind, len: usize, start: Option<&Learned>) -> Self {
        let mut p = Self::fresh(kind, len, start);
        if let Some(l) = start {
            for (t, raw) in p.indirect.iter_mut().zip(l.indirect.chunks_exact(256)) {
                t.set_raw(raw);
            }
            p.order0.set_raw(&l.order0);
            p.matcher.counters().set_raw(&l.matcher);
            p.samples.table().set_raw(&l.samples);
            p.prior_apm.set_knots(&l.prior_apm);
        }
        p
    }

    fn fresh(kind: Kind, len: usize, start: Option<&Learned>) -> Self {
        // Text's high orders make many contexts: room for each nibble of the input. Pixels and
        // samples repeat their contexts, and code as well with an eighth of that (measured on
        // dev images and audio, whole and chunked), in less memory and less time.
        let room = if kind == Kind::Bytes { 4 } else { 1 };
        let top = (usize::BITS - len.max(1).leading_zeros() + room).clamp(12, 22);
        let bits = std::array::from_fn(|i| top - 2 * u32::from(SMALL.contains(&i)));
        let hashed = bits
            .iter()
            .map(|&b| Counters::new(1 << b, HASHED_LIMIT))
            .collect();
        let prior_input = INPUTS - 3;
        let (layer1, layer2) = match start {
            Some(l) => (
                Mixer::with_weights(INPUTS, &SETS, LAYER1_RATE_START, &l.layer1),
                Mixer::with_weights(SETS.len(), &SETS2, LAYER2_RATE, &l.layer2),
            ),
            None => (
                Mixer::new(INPUTS, &SETS, LAYER1_RATE_START, |i| {
                    if i == prior_input {
                        WEIGHT_ONE
                    } else {
                        WEIGHT_ONE / 4
                    }
                }),
                Mixer::new(SETS.len(), &SETS2, LAYER2_RATE, |_| {
                    WEIGHT_ONE / SETS.len() as i32
                }),
            ),
        };
        Self {
            kind,
            hist: Vec::with_capacity(len.min(1 << 20)),
            history: History::default(),
            c0: 1,
            bitpos: 0,
            cx: [0; COUNT],
            order0: Counters::new(256, 1023),
            order1: Counters::new(1 << 16, 1023),
            hashed,
            indirect: (0..COUNT).map(|_| Counters::new(256, 255)).collect(),
            histories: [1; COUNT],
            bits,
            base: [0; COUNT],
            slots: [0; COUNT + 2],
            matcher: Matcher::new(len),
            samples: match kind {
                Kind::Image { width } => {
                    let mut m = SampleModel::for_images();
                    m.end_pixel(None, &[], width);
                    m
                }
                _ => SampleModel::default(),
            },
            prior: None,
            prior_p: 2048,
            prior_apm: Apm::new(256, 6),
            layer1,
            layer2,
            apm0: Apm::new(256, APM_RATE),
            apm1: Apm::new(1 << 16, APM_RATE),
            apm2: Apm::new(1 << 16, APM_RATE),
            p_mix: 2048,
            p: 2048,
        }
    }

    /// Starts a byte; `prior` is the transformer's table for it, if there is a transformer.
    pub fn begin_byte(&mut self, prior: Option<&FreqTable>) {
        self.prior = prior.map(|t| {
            let mut cdf = [0u32; 257];
            for (s, c) in cdf.iter_mut().enumerate() {
                *c = t.cum(s);
            }
            Prior { cdf }
        });
        self.c0 = 1;
        self.bitpos = 0;
        if self.kind != Kind::Bytes {
            self.samples.begin_byte();
        }
        self.set_bases();
        self.predict();
    }

    /// The probability that the next bit is 1, 12-bit.
    #[inline]
    pub fn p(&self) -> i32 {
        self.p
    }

    /// Learns the coded bit and predicts the next one (within the byte; a byte's last bit
    /// ends it, and the next byte starts with [`Predictor::begin_byte`]).
    pub fn update(&mut self, bit: u32) {
        self.order0.update(self.slots[0], bit);
        self.order1.update(self.slots[1], bit);
        for i in 0..COUNT {
            self.hashed[i].update(self.slots[2 + i], bit);
            self.indirect[i].update(self.histories[i], bit);
        }
        self.matcher.update(bit);
        if self.kind != Kind::Bytes {
            self.samples.update(bit);
        }
        if self.prior.is_some() {
            self.prior_apm.update(bit);
        }
        self.layer1.update(bit);
        self.layer2.update(bit);
        self.apm0.update(bit);
        self.apm1.update(bit);
        self.apm2.update(bit);
        self.c0 = (self.c0 << 1) | bit;
        self.bitpos += 1;
        if self.bitpos == 8 {
            self.end_byte((self.c0 & 255) as u8);
            return;
        }
        if self.bitpos == 4 {
            self.set_bases();
        }
        self.predict();
    }

    fn end_byte(&mut self, b: u8) {
        self.hist.push(b);
        self.kind
            .contexts(&self.hist, &mut self.history, &mut self.cx);
        // The next byte's first knots (hints, as in `predict`).
        let c2 = self.hist.len().checked_sub(2).map_or(0, |i| self.hist[i]);
        self.apm1.prefetch(usize::from(b) << 8 | 1);
        self.apm2
            .prefetch(contexts::hash(c2.into(), b.into()) as usize & 0xFF00 | 1);
        self.matcher.end_byte(&self.hist);
        match self.kind {
            Kind::Audio => self.samples.end_byte(b),
            Kind::Image { width } => self.samples.end_pixel(Some(b), &self.hist, width),
            Kind::Bytes => {}
        }
        if self.hist.len() == LAYER1_SETTLED {
            self.layer1.set_rate(LAYER1_RATE);
        }
    }

    /// Each hashed model's block of 16 counters for the current nibble.
    fn set_bases(&mut self) {
        let nibble = if self.bitpos == 0 { 0 } else { self.c0 };
        for i in 0..COUNT {
            let h = contexts::hash(self.cx[i], nibble);
            let base = ((h >> (32 - self.bits[i])) as usize) & !15;
            self.base[i] = self.hashed[i].claim(base, h as u16);
        }
    }

    fn c1(&self) -> u32 {
        self.hist.last().copied().map_or(0, u32::from)
    }

    /// The transformer's probability that the next bit is 1, given the bits so far.
    fn prior_bit(&self) -> Option<i32> {
        let prior = self.prior.as_ref()?;
        let k = self.bitpos;
        let prefix = (self.c0 ^ (1 << k)) as usize;
        let lo = prefix << (8 - k);
        let hi = lo + (1 << (8 - k));
        let mid = lo + (1 << (7 - k));
        let all = prior.cdf[hi] - prior.cdf[lo];
        let ones = prior.cdf[hi] - prior.cdf[mid];
        let p = ((u64::from(ones) << 12) + u64::from(all) / 2) / u64::from(all.max(1));
        Some((p as i32).clamp(1, 4095))
    }

    fn predict(&mut self) {
        let c0 = self.c0 as usize;
        let c1 = self.c1() as usize;
        let c2 = self.hist.len().checked_sub(2).map_or(0, |i| self.hist[i]) as usize;
        let j = self.bitpos & 3;
        let nib = ((1u32 << j) | (self.c0 & ((1 << j) - 1))) as usize;
        self.slots[0] = c0;
        self.slots[1] = c1 << 8 | c0;
        for i in 0..COUNT {
            self.slots[2 + i] = self.base[i] + nib;
        }
        let prior = self.prior_bit();
        let m = &mut self.layer1;
        m.clear();
        for (k, table) in [&self.order0, &self.order1].into_iter().enumerate() {
            m.add(stretch(table.p(self.slots[k])));
        }
        let mut known = 0;
        for i in 0..COUNT {
            let t = &self.hashed[i];
            let s = self.slots[2 + i];
            known += usize::from(t.seen(s) > 0);
            let st = stretch(t.p(s));
            m.add(st);
            let h = t.history(s);
            self.histories[i] = h;
            m.add(stretch(self.indirect[i].p(h)));
            // Confidence: a context seen often speaks louder.
            m.add((st * (t.seen(s).min(15) as i32)) >> 4);
            m.add((t.p(s) - 2048) >> 1);
        }
        self.matcher
            .predict(self.c0, self.bitpos, &mut |x| m.add(x));
        if self.kind != Kind::Bytes {
            let (dist, table) = self.samples.predict(self.c0, self.bitpos);
            m.add(stretch(dist));
            m.add(stretch(table));
        } else {
            m.add(0);
            m.add(0);
        }
        let confidence = match prior {
            Some(p) => {
                self.prior_p = p;
                let st = stretch(p);
                m.add(st);
                m.add(stretch(self.prior_apm.refine(p, c0)));
                (st.unsigned_abs() as usize / 128).min(15)
            }
            None => {
                m.add(0);
                m.add(0);
                0
            }
        };
        m.add(256);
        m.select(0, c0);
        m.select(1, self.matcher.context(self.bitpos));
        m.select(2, confidence * 8 + self.bitpos as usize);
        m.select(3, c1);
        // Images: the pixels left and above, coarsely; otherwise the last two bytes, hashed.
        let sel = match self.kind {
            Kind::Image { width } if self.hist.len() >= width => {
                let up = self.hist[self.hist.len() - width] as usize;
                (up >> 4) << 4 | c1 >> 4
            }
            _ => (contexts::hash(c2 as u32, c1 as u32) >> 24) as usize,
        };
        m.select(4, sel);
        m.select(5, known * 8 + self.bitpos as usize);
        m.select(6, c2);
        let c3 = self.hist.len().checked_sub(3).map_or(0, |i| self.hist[i]);
        m.select(
            7,
            if self.kind != Kind::Bytes {
                self.samples.slot()
            } else {
                (contexts::hash(contexts::hash(c3.into(), c2 as u32), c1 as u32) >> 22) as usize
            },
        );
        m.select(
            8,
            self.matcher.predicted().map_or(0, |(b, len)| {
                (usize::from(b) << 2) | (1 + usize::from(len >= 16) + usize::from(len >= 32))
            }),
        );
        let m2 = &mut self.layer2;
        m2.clear();
        for &x in m.mix() {
            m2.add(x);
        }
        m2.select(0, known * 8 + self.bitpos as usize);
        m2.select(1, c0);
        m2.select(2, c1);
        m2.select(3, c2);
        let p = squash(m2.mix().iter().sum::<i32>() >> 2);
        self.p_mix = p;
        let h2 = contexts::hash(c2 as u32, c1 as u32) as usize & 0xFF00;
        let a0 = self.apm0.refine(p, c0);
        let a1 = self.apm1.refine(p, c1 << 8 | c0);
        let a2 = self.apm2.refine(p, h2 | c0);
        // The next bit's knots, whichever this bit is, while this bit is coded (the maps are
        // larger than the cache; hints only, the results do not depend on them).
        if self.bitpos < 7 {
            for next in [c0 << 1, c0 << 1 | 1] {
                self.apm1.prefetch(c1 << 8 | next);
                self.apm2.prefetch(h2 | next);
            }
        }
        let p = (p + a0 + 3 * a1 + 3 * a2 + 4) >> 3;
        self.p = p.clamp(1, 4095);
    }
}
