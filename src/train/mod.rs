//! `lmzip train`: Adam with warm-up and cosine decay on random windows of real text, logging
//! validation bits per byte on a held-back slice of the training files, checkpointing every few
//! minutes and resuming after any interruption (native only, `train` feature).
//!
//! One job per module: [`corpus`] reads and samples the data, [`checkpoint`] saves and restores a
//! run, [`backend`] picks where the tensors live, [`run`] is the loop.

mod backend;
mod checkpoint;
mod corpus;
mod run;

pub use backend::Backend;
pub use checkpoint::Checkpoint;
pub use corpus::Corpus;
pub use run::{evaluate, learning_rate, train};

use crate::model::ModelConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything that fixes a training run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    /// The model's shape.
    pub model: ModelConfig,
    /// Bytes per training window.
    pub seq_len: usize,
    /// Windows per step.
    pub batch: usize,
    /// Total optimiser steps (the cosine schedule's length).
    pub steps: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup: u64,
    /// Evaluate validation bits per byte every this many steps; 0 evaluates only at the end.
    pub eval_every: u64,
    /// Validation windows (fixed, from the held-back tail of the training files).
    pub eval_windows: usize,
    /// Seed for the initial weights and the data order.
    pub seed: u64,
    /// Fraction of each training file held back for validation.
    pub holdout: f64,
    /// Exported weights (`.lmzw`) to start from instead of random ones; a new schedule and
    /// optimiser state begin there.
    #[serde(default)]
    pub init: Option<PathBuf>,
}

/// Progress that a checkpoint carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps done.
    pub step: u64,
    /// State of the data-order generator.
    pub rng: u64,
    /// Bytes of training text seen.
    pub tokens: u64,
    /// Wall-clock seconds spent training, over all resumptions.
    pub seconds: f64,
    /// `(step, tokens, train bits/byte, validation bits/byte)` at each evaluation; a warm start
    /// (`init`) is measured first, at step 0, its training column repeating the validation.
    pub curve: Vec<(u64, u64, f64, f64)>,
}

/// Why training stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Reading data or writing checkpoints failed.
    #[error("{0}")]
    Io(String),
    /// A checkpoint's configuration differs from the one asked for.
    #[error("the checkpoint in {dir} was made with another configuration; use another --dir or the same settings")]
    ConfigMismatch {
        /// The checkpoint directory.
        dir: String,
    },
    /// The asked-for backend is not available.
    #[error("{0}")]
    Backend(String),
    /// The `--init` weights do not fit the preset.
    #[error("--init: {0}")]
    Init(String),
    /// A `--mix` that does not fit the data.
    #[error("--mix: {0}")]
    Mix(String),
    /// A setting that cannot train (a zero batch, a learning rate that is not positive…).
    #[error("{0}")]
    Config(String),
    /// Too little text for the window size.
    #[error("not enough training text: need more than {0} bytes per file after the hold-out")]
    TooLittleData(usize),
}

fn io(e: impl std::fmt::Display) -> TrainError {
    TrainError::Io(e.to_string())
}

impl TrainConfig {
    /// Refuses settings that would fail later, mid-run, or train nothing.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |why: String| Err(TrainError::Config(why));
        if self.batch == 0 {
            return bad("--batch must be at least 1".into());
        }
        if self.seq_len < 2 || self.seq_len > self.model.context {
            return bad(format!(
                "--seq-len {} must lie between 2 and the model's context ({})",
                self.seq_len, self.model.context
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr {} must be a positive number", self.lr));
        }
        if self.eval_windows == 0 {
            // A validation over nothing is NaN, which a checkpoint cannot store.
            return bad("--eval-windows must be at least 1".into());
        }
        if self.steps == 0 {
            return bad("--steps must be at least 1".into());
        }
        if !(self.holdout > 0.0 && self.holdout < 1.0) {
            return bad(format!(
                "the hold-out {} must lie between 0 and 1",
                self.holdout
            ));
        }
        Ok(())
    }

    /// Whether the run evaluates after `step`: every `eval_every` steps and at the last.
    pub fn evaluates_at(&self, step: u64) -> bool {
        step == self.steps || (self.eval_every > 0 && step.is_multiple_of(self.eval_every))
    }
}

/// Hooks for progress display, so the library stays free of terminal code.
pub trait Progress {
    /// Called after every step.
    fn step(&mut self, state: &TrainState, config: &TrainConfig, loss_bits: f64);
    /// Called after every evaluation.
    fn eval(&mut self, state: &TrainState, val_bpb: f64);
}
