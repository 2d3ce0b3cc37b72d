//! The integer engine: the transformer's forward pass in integer arithmetic only, so a `.lmz`
//! made on one machine decodes on any other (native, wasm, browser) bit for bit.
//!
//! `lmzip export` quantizes the float weights once ([`quantize`]) into an `.lmzi` file
//! ([`IntWeights`]); [`IntModel`] runs it token by token with an integer KV cache and turns
//! the last layer into a frequency table without a single float operation.

mod file;
mod fixed;
mod forward;
mod quantize;

pub use file::IntWeights;
pub use forward::{IntModel, IntSession};
pub use quantize::quantize;
