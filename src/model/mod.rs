//! The byte-level transformer: shapes, exported weights, and (with `train`) the burn model.

mod config;
mod infer;
mod math;
pub(crate) mod weights;

#[cfg(feature = "train")]
mod transformer;

pub use config::{ModelConfig, VOCAB};
pub use infer::{FloatModel, Session};
pub use math::exp as portable_exp;
pub use weights::{sha256, Weights, WeightsError};

#[cfg(feature = "train")]
pub use transformer::Transformer;
