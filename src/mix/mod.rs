//! lmzip's own coder: the transformer's next-byte distribution mixed, bit by bit, with models
//! that learn the data as it is coded (context models, a match model, word, pixel and sample
//! contexts), in the manner of lpaq and paq8 but with the transformer as one more input.
//!
//! Everything is integer arithmetic with fixed tables, so a stream decodes on every platform.

mod adaptive;
mod arith;
mod contexts;
mod logistic;
mod matcher;
mod mixer;
mod predictor;
mod prime;
mod samples;

pub use arith::{BitDecoder, BitEncoder};
pub use contexts::Kind;
pub use predictor::Predictor;
pub use prime::{Learned, Prime, PrimeError};

/// Codes one byte's bits with `p`, returning its cost in bits (for "where the bits go").
pub fn encode_byte(p: &mut Predictor, enc: &mut BitEncoder, byte: u8) -> f32 {
    let mut cost = 0.0f32;
    for k in (0..8).rev() {
        let bit = u32::from(byte >> k) & 1;
        let p1 = p.p();
        enc.encode(bit, p1);
        let q = if bit == 1 { p1 } else { 4096 - p1 };
        cost += COST[q as usize];
        p.update(bit);
    }
    cost
}

/// Decodes one byte's bits with `p`.
pub fn decode_byte(p: &mut Predictor, dec: &mut BitDecoder) -> u8 {
    let mut c = 0u32;
    for _ in 0..8 {
        let bit = dec.decode(p.p());
        p.update(bit);
        c = (c << 1) | bit;
    }
    c as u8
}

/// −log2(q / 4096) for every 12-bit probability.
static COST: std::sync::LazyLock<Vec<f32>> = std::sync::LazyLock::new(|| {
    (0..4096)
        .map(|q: i32| -(f64::from(q.max(1)) / 4096.0).log2() as f32)
        .collect()
});
