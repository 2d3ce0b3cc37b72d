//! Arithmetic coding over integer frequency tables: exact in both directions.

mod freq;
pub mod paper;
mod range;

pub use freq::{FreqTable, TOTAL, TOTAL_BITS};
pub use range::{RangeDecoder, RangeEncoder};

/// Errors from building frequency tables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoderError {
    /// The table breaks an invariant (every symbol ≥ 1, fixed total).
    #[error("invalid frequency table: {0}")]
    BadTable(&'static str),
}
