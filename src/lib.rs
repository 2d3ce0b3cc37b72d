//! lmzip: language modeling is compression.
//!
//! A predictive model plus an arithmetic coder is a lossless compressor (Delétang et al.,
//! 2023). This crate holds the whole pipeline — bytes → modality adapter → codecs →
//! container — for the command-line tool and, compiled to WebAssembly, for the web page.

pub mod bench;
pub mod clock;
pub mod codecs;
pub mod coder;
pub mod container;
pub mod engine;
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzzing;
pub mod generate;
pub mod lmz;
pub mod mix;
pub mod modality;
pub mod model;
pub mod paper;
pub mod par;
#[cfg(not(target_arch = "wasm32"))]
pub mod stream;
pub mod table1;
#[cfg(feature = "train")]
pub mod train;

#[cfg(target_arch = "wasm32")]
mod web;

/// The checkout the tests run in. Read at run time: a test binary compiled in another checkout
/// that shares the build cache (CI's clone and a work tree) is reused as is by cargo, and a
/// compile-time `env!` would point it at that other, possibly deleted, checkout.
#[cfg(test)]
pub(crate) fn repo_root() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
