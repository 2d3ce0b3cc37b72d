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
pub mod generate;
pub mod lmz;
pub mod modality;
pub mod model;
pub mod paper;
pub mod par;
pub mod table1;
#[cfg(feature = "train")]
pub mod train;

#[cfg(target_arch = "wasm32")]
mod web;
