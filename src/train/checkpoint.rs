//! Saving a run so that a kill at any moment loses at most a few minutes, and resuming it.

use super::{io, TrainConfig, TrainError, TrainState};
use crate::model::Transformer;
use burn::module::Module;
use burn::store::ModuleRecord;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where a run keeps its checkpoint.
pub struct Checkpoint {
    dir: PathBuf,
}

impl Checkpoint {
    /// A checkpoint directory (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// The exported weights of the last checkpoint.
    pub fn exported(&self) -> PathBuf {
        self.path("model.lmzw")
    }
    /// The evaluation log (TSV) of the run.
    pub fn log(&self) -> PathBuf {
        self.path("curve.tsv")
    }
    /// The folder holding the last complete checkpoint, if any. A checkpoint is written to
    /// `resume.new/` and swapped in by renames, so a kill at any moment leaves one whole set:
    /// `resume/`, or `resume.old/` if the kill fell between the two renames (older runs kept
    /// the set at the top level).
    fn resume_dir(&self) -> Option<PathBuf> {
        ["resume", "resume.old", ""]
            .iter()
            .map(|sub| self.dir.join(sub))
            .find(|d| d.join("state.json").is_file())
    }
}

/// The optimiser training uses (Adam over the model's parameters).
pub(super) type Optimizer = burn::optim::ModuleOptimizer;

/// Restores the run saved in `ckpt` into `model` and `optim`, and returns its state; without a
/// saved run both come back as they were and the state is `None`. A checkpoint made with
/// another configuration is refused.
pub(super) fn restore(
    ckpt: &Checkpoint,
    config: &TrainConfig,
    model: Transformer,
    optim: Optimizer,
) -> Result<(Transformer, Optimizer, Option<TrainState>), TrainError> {
    let Some(from) = ckpt.resume_dir() else {
        return Ok((model, optim, None));
    };
    let saved: TrainConfig = read_json(&ckpt.path("config.json"))?;
    if &saved != config {
        return Err(TrainError::ConfigMismatch {
            dir: ckpt.dir.display().to_string(),
        });
    }
    let state = read_json(&from.join("state.json"))?;
    let record = ModuleRecord::load(from.join("model.bpk")).map_err(|e| io(format!("{e:?}")))?;
    let optim = optim
        .load(from.join("optim.bpk"))
        .map_err(|e| io(format!("{e:?}")))?;
    Ok((model.load_record(record), optim, Some(state)))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TrainError> {
    let bytes =
        std::fs::read(path).map_err(|e| TrainError::Io(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| TrainError::Io(format!("{}: {e}", path.display())))
}

/// Saves the run as a complete set (model, optimiser, state), then its exported weights and its
/// evaluation log.
pub(super) fn save(
    model: &Transformer,
    optim: &Optimizer,
    config: &TrainConfig,
    state: &TrainState,
    ckpt: &Checkpoint,
) -> Result<(), TrainError> {
    let next = ckpt.path("resume.new");
    let _ = std::fs::remove_dir_all(&next);
    std::fs::create_dir_all(&next).map_err(io)?;
    model
        .clone()
        .save_file(next.join("model.bpk"))
        .map_err(|e| io(format!("{e:?}")))?;
    optim
        .save(next.join("optim.bpk"))
        .map_err(|e| io(format!("{e:?}")))?;
    std::fs::write(
        next.join("state.json"),
        serde_json::to_vec_pretty(state).map_err(io)?,
    )
    .map_err(io)?;
    write_atomic(
        &ckpt.path("config.json"),
        &serde_json::to_vec_pretty(config).map_err(io)?,
    )?;
    // Swap the complete set in: resume → resume.old, resume.new → resume.
    let (current, old) = (ckpt.path("resume"), ckpt.path("resume.old"));
    let _ = std::fs::remove_dir_all(&old);
    if current.exists() {
        std::fs::rename(&current, &old).map_err(io)?;
    }
    std::fs::rename(&next, &current).map_err(io)?;
    let _ = std::fs::remove_dir_all(&old);
    for legacy in ["state.json", "model.bpk", "optim.bpk"] {
        let _ = std::fs::remove_file(ckpt.path(legacy));
    }
    // Positions past the training windows were never seen: the exported model stops there.
    let mut weights = model.valid().export();
    weights.limit_context(config.seq_len);
    write_atomic(&ckpt.exported(), &weights.to_bytes())?;
    let mut tsv = String::from("step\ttokens\ttrain_bpb\tval_bpb\n");
    for (s, t, tr, va) in &state.curve {
        tsv += &format!("{s}\t{t}\t{tr:.4}\t{va:.4}\n");
    }
    write_atomic(&ckpt.log(), tsv.as_bytes())
}
