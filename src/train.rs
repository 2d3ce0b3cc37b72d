//! `lmzip train`: Adam with warm-up and cosine decay on random windows of real text, logging
//! validation bits per byte on a held-back slice of the training files, checkpointing every few
//! minutes and resuming after any interruption (native only, `train` feature).

use crate::model::{ModelConfig, Transformer, Weights, VOCAB};
use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::store::ModuleRecord;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    /// Evaluate validation bits per byte every this many steps.
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
    /// `(step, tokens, train bits/byte, validation bits/byte)` at each evaluation.
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
    /// Too little text for the window size.
    #[error("not enough training text: need more than {0} bytes per file after the hold-out")]
    TooLittleData(usize),
}

fn io(e: impl std::fmt::Display) -> TrainError {
    TrainError::Io(e.to_string())
}

/// splitmix64: a tiny, seedable generator whose whole state fits a checkpoint.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The training data split into a training part and a held-back validation part.
///
/// Files are read through the modality adapters: text as is, images as the paper's 64×32
/// grayscale patches one after another, audio as 8-bit mono PCM. With several modalities each
/// is drawn equally often (a `-multi` model); within one, files weigh by size.
pub struct Corpus {
    train: Vec<Vec<u8>>,
    /// Indices into `train` per modality, in the order first seen.
    groups: Vec<Vec<usize>>,
    /// The modality of each group.
    kinds: Vec<&'static str>,
    /// Relative draw weight of each group; empty for equal draws.
    mix: Vec<u64>,
    valid: Vec<u8>,
}

impl Corpus {
    /// Reads the files (folders are expanded, sorted) and holds back the last `holdout` fraction
    /// of each. Files too short to give a window are skipped.
    pub fn load(files: &[PathBuf], holdout: f64, seq_len: usize) -> Result<Self, TrainError> {
        let mut paths = Vec::new();
        for f in files {
            if f.is_dir() {
                let mut inner: Vec<PathBuf> = std::fs::read_dir(f)
                    .map_err(|e| TrainError::Io(format!("{}: {e}", f.display())))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect();
                inner.sort();
                paths.extend(inner);
            } else {
                paths.push(f.clone());
            }
        }
        let mut train = Vec::new();
        let mut valid = Vec::new();
        let mut kinds: Vec<&'static str> = Vec::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for f in &paths {
            let raw =
                std::fs::read(f).map_err(|e| TrainError::Io(format!("{}: {e}", f.display())))?;
            let prep = crate::modality::prepare(&raw, &f.display().to_string())
                .map_err(|e| TrainError::Io(format!("{}: {e}", f.display())))?;
            let bytes = match prep.layout {
                crate::modality::Layout::Image { .. } => {
                    crate::paper::chunks(&prep.stream, &prep.layout)
                        .into_iter()
                        .flat_map(|c| c.bytes)
                        .collect()
                }
                _ => prep.stream,
            };
            let cut = ((bytes.len() as f64) * (1.0 - holdout)) as usize;
            if cut <= seq_len {
                continue;
            }
            valid.extend_from_slice(&bytes[cut..]);
            let kind = prep.modality.as_str();
            let g = match kinds.iter().position(|k| *k == kind) {
                Some(g) => g,
                None => {
                    kinds.push(kind);
                    groups.push(Vec::new());
                    groups.len() - 1
                }
            };
            groups[g].push(train.len());
            train.push(bytes[..cut].to_vec());
        }
        if train.is_empty() || valid.len() <= seq_len {
            return Err(TrainError::TooLittleData(seq_len));
        }
        Ok(Self {
            train,
            groups,
            kinds,
            mix: Vec::new(),
            valid,
        })
    }

    /// Draws modalities in proportion to `weights` (`text=1,image=2,audio=2`) instead of
    /// equally: once a model knows one modality, the others can get more of the steps.
    pub fn with_mix(mut self, weights: &str) -> Result<Self, TrainError> {
        let mut mix = vec![None; self.kinds.len()];
        for part in weights.split(',').filter(|p| !p.trim().is_empty()) {
            let bad = || TrainError::Mix(format!("{part:?} is not modality=weight"));
            let (kind, w) = part.split_once('=').ok_or_else(bad)?;
            let w: u64 = w.trim().parse().map_err(|_| bad())?;
            let g = self
                .kinds
                .iter()
                .position(|k| *k == kind.trim())
                .ok_or_else(|| TrainError::Mix(format!("no {kind} files in the data")))?;
            mix[g] = Some(w);
        }
        self.mix = mix
            .iter()
            .zip(&self.kinds)
            .map(|(w, k)| w.ok_or_else(|| TrainError::Mix(format!("no weight for {k}"))))
            .collect::<Result<_, _>>()?;
        if self.mix.iter().sum::<u64>() == 0 {
            return Err(TrainError::Mix("every weight is zero".into()));
        }
        Ok(self)
    }

    /// Bytes available for training.
    pub fn train_bytes(&self) -> usize {
        self.train.iter().map(Vec::len).sum()
    }

    /// Modalities in the data.
    pub fn modalities(&self) -> usize {
        self.groups.len()
    }

    /// A random window of `len` bytes: a modality uniformly (when there are several), then a
    /// file weighted by size.
    fn sample(&self, len: usize, rng: &mut u64) -> &[u8] {
        let group = if !self.mix.is_empty() {
            let mut pick = next(rng) % self.mix.iter().sum::<u64>();
            let g = self
                .mix
                .iter()
                .position(|&w| {
                    let here = pick < w;
                    pick = pick.saturating_sub(w);
                    here
                })
                .unwrap_or(0);
            &self.groups[g]
        } else if self.groups.len() > 1 {
            &self.groups[(next(rng) % self.groups.len() as u64) as usize]
        } else {
            &self.groups[0]
        };
        let total: u64 = group.iter().map(|&i| self.train[i].len() as u64).sum();
        let mut pick = next(rng) % total;
        let mut file = &self.train[group[0]];
        for &i in group {
            let f = &self.train[i];
            if pick < f.len() as u64 {
                file = f;
                break;
            }
            pick -= f.len() as u64;
        }
        let start = (next(rng) % (file.len() - len + 1) as u64) as usize;
        &file[start..start + len]
    }
}

/// Turns windows into model inputs `[0, x0, …, x(T−2)]` and targets `[x0, …, x(T−1)]`.
fn batch_tensors(windows: &[&[u8]], device: &Device) -> (Tensor<2, Int>, Tensor<1, Int>) {
    let (b, t) = (windows.len(), windows[0].len());
    let mut inputs = Vec::with_capacity(b * t);
    let mut targets = Vec::with_capacity(b * t);
    for w in windows {
        inputs.push(0i64);
        inputs.extend(w[..t - 1].iter().map(|&x| i64::from(x)));
        targets.extend(w.iter().map(|&x| i64::from(x)));
    }
    (
        Tensor::from_data(TensorData::new(inputs, [b, t]), device),
        Tensor::from_data(TensorData::new(targets, [b * t]), device),
    )
}

/// Mean negative log-likelihood in nats of `targets` under `logp` `(B, T, 256)`.
fn nll(logp: Tensor<3>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, t, v] = logp.dims();
    debug_assert_eq!(v, VOCAB);
    let picked = logp
        .reshape([b * t, v])
        .gather(1, targets.unsqueeze_dim::<2>(1));
    picked.mean().neg()
}

/// Learning rate at `step`: linear warm-up, then cosine decay to a tenth of the peak.
pub fn learning_rate(c: &TrainConfig, step: u64) -> f64 {
    if step < c.warmup {
        return c.lr * (step + 1) as f64 / c.warmup as f64;
    }
    let progress = (step - c.warmup) as f64 / (c.steps.saturating_sub(c.warmup)).max(1) as f64;
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos());
    c.lr * (0.1 + 0.9 * cosine)
}

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

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Hooks for progress display, so the library stays free of terminal code.
pub trait Progress {
    /// Called after every step.
    fn step(&mut self, state: &TrainState, config: &TrainConfig, loss_bits: f64);
    /// Called after every evaluation.
    fn eval(&mut self, state: &TrainState, val_bpb: f64);
}

/// Where the tensors live while training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (the fastest here).
    Flex,
    /// A GPU through wgpu (Vulkan, Metal, DX12; needs the `gpu` feature).
    Wgpu,
}

impl Backend {
    /// The backend named `flex` or `wgpu`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "flex" | "cpu" => Some(Backend::Flex),
            "wgpu" | "gpu" => Some(Backend::Wgpu),
            _ => None,
        }
    }

    /// The backend's device, checked by a first small operation so that a missing GPU is an
    /// error here instead of a panic somewhere in training.
    pub fn device(self) -> Result<Device, TrainError> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu => wgpu_device(),
        }
    }
}

#[cfg(feature = "gpu")]
fn wgpu_device() -> Result<Device, TrainError> {
    use burn::tensor::DeviceKind;
    // wgpu reports a missing adapter by panicking: catch it, quietly, and say so.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        let device = Device::wgpu(DeviceKind::DefaultDevice);
        let sum: f32 = Tensor::<1>::ones([4], &device).sum().into_scalar();
        (device, sum)
    });
    std::panic::set_hook(hook);
    match probe {
        Ok((device, 4.0)) => Ok(device),
        Ok((_, sum)) => Err(TrainError::Backend(format!(
            "the wgpu device computed 1+1+1+1 = {sum}"
        ))),
        Err(e) => {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(TrainError::Backend(format!(
                "no usable GPU adapter through wgpu (on Debian, `mesa-vulkan-drivers` gives a \
                 software one): {why}"
            )))
        }
    }
}

#[cfg(not(feature = "gpu"))]
fn wgpu_device() -> Result<Device, TrainError> {
    Err(TrainError::Backend(
        "this build has no GPU backend: build with `cargo build --release --features gpu`".into(),
    ))
}

/// Trains until `config.steps`, or until `stop_after` more steps (for tests and time-boxed runs),
/// saving to `ckpt` every `checkpoint_secs` and at the end. Resumes if `ckpt` holds a run (made
/// on any backend).
pub fn train(
    config: &TrainConfig,
    corpus: &Corpus,
    ckpt: &Checkpoint,
    backend: Backend,
    checkpoint_secs: f64,
    stop_after: Option<u64>,
    progress: &mut dyn Progress,
) -> Result<TrainState, TrainError> {
    let device = backend.device()?.autodiff();
    device.seed(config.seed);
    let mut model = Transformer::new(&config.model, &device);
    let mut optim = AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
        .init();
    let mut state = TrainState {
        rng: config.seed ^ 0x5EED,
        ..TrainState::default()
    };
    let resume = ckpt.resume_dir();
    if let (None, Some(init)) = (&resume, &config.init) {
        let bytes = std::fs::read(init).map_err(|e| io(format!("{}: {e}", init.display())))?;
        model = Weights::from_bytes(&bytes)
            .and_then(|w| model.with_weights(&w))
            .map_err(|e| TrainError::Init(format!("{}: {e}", init.display())))?;
    }
    if let Some(from) = resume {
        let saved: TrainConfig = read_json(&ckpt.path("config.json"))?;
        if &saved != config {
            return Err(TrainError::ConfigMismatch {
                dir: ckpt.dir.display().to_string(),
            });
        }
        state = read_json(&from.join("state.json"))?;
        let record =
            ModuleRecord::load(from.join("model.bpk")).map_err(|e| io(format!("{e:?}")))?;
        model = model.load_record(record);
        optim = optim
            .load(from.join("optim.bpk"))
            .map_err(|e| io(format!("{e:?}")))?;
    }
    // Fixed validation windows, the same at every evaluation, across resumptions and across
    // seeds (so a run continued with another seed is measured on the same bytes).
    let mut vrng = 0xE7A1;
    let stride = config.seq_len;
    let n_valid = (corpus.valid.len() / stride).max(1);
    let valid: Vec<&[u8]> = (0..config.eval_windows.min(n_valid))
        .map(|_| {
            let i = (next(&mut vrng) % n_valid as u64) as usize * stride;
            &corpus.valid[i..(i + stride).min(corpus.valid.len())]
        })
        .filter(|w| w.len() == stride)
        .collect();

    let start_step = state.step;
    let mut last_save = Instant::now();
    let mut clock = Instant::now();
    let end = stop_after.map_or(config.steps, |n| (start_step + n).min(config.steps));
    let mut recent = Vec::new();
    while state.step < end {
        let windows: Vec<&[u8]> = (0..config.batch)
            .map(|_| corpus.sample(config.seq_len, &mut state.rng))
            .collect();
        let (inputs, targets) = batch_tensors(&windows, &device);
        let loss = nll(model.forward(inputs), targets);
        let loss_nats: f32 = loss.clone().into_scalar();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(learning_rate(config, state.step), model, grads);
        state.step += 1;
        state.tokens += (config.batch * config.seq_len) as u64;
        let bits = f64::from(loss_nats) / std::f64::consts::LN_2;
        recent.push(bits);
        progress.step(&state, config, bits);

        let now = Instant::now();
        state.seconds += now.duration_since(clock).as_secs_f64();
        clock = now;
        if state.step.is_multiple_of(config.eval_every) || state.step == config.steps {
            let val = evaluate(&model.valid(), &valid, &device.clone().inner());
            let train_bits = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
            recent.clear();
            state
                .curve
                .push((state.step, state.tokens, train_bits, val));
            progress.eval(&state, val);
            clock = Instant::now();
        }
        if last_save.elapsed().as_secs_f64() >= checkpoint_secs {
            save(&model, &optim, config, &state, ckpt)?;
            last_save = Instant::now();
            clock = Instant::now();
        }
    }
    save(&model, &optim, config, &state, ckpt)?;
    Ok(state)
}

/// Validation bits per byte of `model` on `windows`.
pub fn evaluate(model: &Transformer, windows: &[&[u8]], device: &Device) -> f64 {
    if windows.is_empty() {
        return f64::NAN;
    }
    let mut total = 0.0;
    for chunk in windows.chunks(4) {
        let (inputs, targets) = batch_tensors(chunk, device);
        let loss: f32 = nll(model.forward(inputs), targets).into_scalar();
        total += f64::from(loss) * chunk.len() as f64;
    }
    total / windows.len() as f64 / std::f64::consts::LN_2
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TrainError> {
    let bytes =
        std::fs::read(path).map_err(|e| TrainError::Io(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| TrainError::Io(format!("{}: {e}", path.display())))
}

fn save(
    model: &Transformer,
    optim: &burn::optim::ModuleOptimizer,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FloatModel;

    /// burn's seed is global to the device: tests that seed and initialise take turns.
    static SEED_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    struct Quiet;
    impl Progress for Quiet {
        fn step(&mut self, _: &TrainState, _: &TrainConfig, _: f64) {}
        fn eval(&mut self, _: &TrainState, _: f64) {}
    }

    fn tiny_config() -> TrainConfig {
        let mut model = ModelConfig::preset("tiny").unwrap();
        model.context = 32;
        TrainConfig {
            model,
            seq_len: 32,
            batch: 2,
            steps: 6,
            lr: 3e-3,
            warmup: 2,
            eval_every: 3,
            eval_windows: 2,
            seed: 11,
            holdout: 0.1,
            init: None,
        }
    }

    fn corpus() -> Corpus {
        let dir = std::env::temp_dir().join(format!("lmzip-train-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("sample.txt");
        std::fs::write(&f, include_bytes!("../tests/data/sample.txt")).unwrap();
        Corpus::load(&[f], 0.1, 32).unwrap()
    }

    #[test]
    fn plain_inference_matches_burn() {
        let _turn = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::flex();
        device.seed(5);
        let config = tiny_config().model;
        let model = Transformer::new(&config, &device);
        let text = &include_bytes!("../tests/data/sample.txt")[..31];
        let mut input = vec![0i64];
        input.extend(text.iter().map(|&b| i64::from(b)));
        let t = input.len();
        let logp: Vec<f32> = model
            .forward(Tensor::from_data(
                TensorData::new(input.clone(), [1, t]),
                &device,
            ))
            .into_data()
            .try_to_vec()
            .unwrap();
        let plain =
            FloatModel::new(&Weights::from_bytes(&model.export().to_bytes()).unwrap()).unwrap();
        let mut s = plain.session();
        let mut worst = 0.0f32;
        for (pos, &tok) in input.iter().enumerate() {
            let row = s.step(tok as u8);
            for v in 0..VOCAB {
                worst = worst.max((row[v] - logp[pos * VOCAB + v]).abs());
            }
        }
        assert!(worst < 1e-4, "largest log-prob difference {worst}");
    }

    #[test]
    fn a_mixed_corpus_draws_every_modality() {
        let dir = std::env::temp_dir().join(format!("lmzip-multi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["sample.txt", "sample.png", "sample.wav"] {
            let src = crate::repo_root().join("tests/data").join(name);
            std::fs::copy(src, dir.join(name)).unwrap();
        }
        let corpus = Corpus::load(std::slice::from_ref(&dir), 0.05, 64).unwrap();
        assert_eq!(corpus.modalities(), 3);
        // The image comes in as patches: its first 64 bytes are the first patch row.
        let png =
            crate::modality::prepare(&std::fs::read(dir.join("sample.png")).unwrap(), "a.png")
                .unwrap();
        let first = &crate::paper::chunks(&png.stream, &png.layout)[0].bytes;
        assert!(corpus.train.iter().any(|t| t.starts_with(&first[..64])));
        let mut rng = 9u64;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..60 {
            let w = corpus.sample(64, &mut rng);
            let file = corpus
                .train
                .iter()
                .position(|t| t.windows(64).any(|x| x == w))
                .unwrap();
            seen.insert(file);
        }
        assert_eq!(seen.len(), 3, "every modality drawn");

        // A mix steers the draws: text never, audio four times as often as images.
        let kind_of = |c: &Corpus, w: &[u8]| {
            let file = c.train.iter().position(|t| t.windows(64).any(|x| x == w));
            let g = c.groups.iter().position(|g| g.contains(&file.unwrap()));
            c.kinds[g.unwrap()]
        };
        let mixed = Corpus::load(std::slice::from_ref(&dir), 0.05, 64)
            .unwrap()
            .with_mix("text=0, image=1,audio=4")
            .unwrap();
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..500 {
            let w = mixed.sample(64, &mut rng);
            *counts.entry(kind_of(&mixed, w)).or_insert(0) += 1;
        }
        assert_eq!(counts.get("text"), None);
        let (image, audio) = (counts["image"], counts["audio"]);
        assert!(
            (300..500).contains(&audio) && audio > 2 * image,
            "{counts:?}"
        );
        for bad in [
            "text=1,image=1",
            "text=1,image=x,audio=1",
            "video=1",
            "text=0,image=0,audio=0",
        ] {
            let c = Corpus::load(std::slice::from_ref(&dir), 0.05, 64).unwrap();
            assert!(matches!(c.with_mix(bad), Err(TrainError::Mix(_))), "{bad}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_burn_model_is_causal() {
        let _turn = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::flex();
        device.seed(6);
        let config = tiny_config().model;
        let model = Transformer::new(&config, &device);
        let run = |tokens: &[i64]| -> Vec<f32> {
            model
                .forward(Tensor::from_data(
                    TensorData::new(tokens.to_vec(), [1, tokens.len()]),
                    &device,
                ))
                .into_data()
                .try_to_vec()
                .unwrap()
        };
        let a: Vec<i64> = (0..24).map(|i| (i * 37 % 251) as i64).collect();
        let mut b = a.clone();
        b[23] = 200;
        let (la, lb) = (run(&a), run(&b));
        let worst = la[..23 * VOCAB]
            .iter()
            .zip(&lb[..23 * VOCAB])
            .fold(0f32, |w, (x, y)| w.max((x - y).abs()));
        assert!(
            worst < 1e-6,
            "a later token changed earlier predictions by {worst}"
        );
    }

    #[test]
    fn a_warm_start_begins_from_the_given_weights() {
        let _turn = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let corpus = corpus();
        let base = std::env::temp_dir().join(format!("lmzip-train-init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let first = Checkpoint::new(base.join("first"));
        train(
            &tiny_config(),
            &corpus,
            &first,
            Backend::Flex,
            1e9,
            None,
            &mut Quiet,
        )
        .unwrap();
        let trained = std::fs::read(first.exported()).unwrap();

        // Another seed would start elsewhere; --init starts where the first run ended.
        let config = TrainConfig {
            seed: 99,
            init: Some(first.exported()),
            ..tiny_config()
        };
        let warm = Checkpoint::new(base.join("warm"));
        train(
            &config,
            &corpus,
            &warm,
            Backend::Flex,
            1e9,
            Some(0),
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(std::fs::read(warm.exported()).unwrap(), trained);
        let s = train(
            &config,
            &corpus,
            &warm,
            Backend::Flex,
            1e9,
            Some(2),
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(s.step, 2);
        assert_ne!(std::fs::read(warm.exported()).unwrap(), trained);

        // Weights of another shape are refused with the reason.
        let mut other = tiny_config();
        other.model.d_model *= 2;
        other.init = Some(first.exported());
        let err = train(
            &other,
            &corpus,
            &Checkpoint::new(base.join("other")),
            Backend::Flex,
            1e9,
            None,
            &mut Quiet,
        )
        .unwrap_err();
        assert!(
            matches!(err, TrainError::Init(ref m) if m.contains("d=")),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_killed_run_resumes_to_the_same_weights() {
        let _turn = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let config = tiny_config();
        let corpus = corpus();
        let base = std::env::temp_dir().join(format!("lmzip-train-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let straight = Checkpoint::new(base.join("straight"));
        let s = train(
            &config,
            &corpus,
            &straight,
            Backend::Flex,
            1e9,
            None,
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(s.step, 6);
        assert_eq!(s.curve.len(), 2);
        assert!(s.curve.iter().all(|c| c.3.is_finite() && c.3 > 0.0));

        // Stopped after 3 steps (as a kill after a checkpoint would), then resumed.
        let resumed = Checkpoint::new(base.join("resumed"));
        let first = train(
            &config,
            &corpus,
            &resumed,
            Backend::Flex,
            0.0,
            Some(3),
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(first.step, 3);
        let second = train(
            &config,
            &corpus,
            &resumed,
            Backend::Flex,
            1e9,
            None,
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(second.step, 6);
        assert_eq!(second.tokens, s.tokens);
        let a = Weights::from_bytes(&std::fs::read(straight.exported()).unwrap()).unwrap();
        let b = Weights::from_bytes(&std::fs::read(resumed.exported()).unwrap()).unwrap();
        let mut worst = 0.0f32;
        for (name, (_, va)) in &a.tensors {
            for (x, y) in va.iter().zip(&b.tensors[name].1) {
                worst = worst.max((x - y).abs());
            }
        }
        assert!(
            worst == 0.0,
            "resumed weights differ from an uninterrupted run by up to {worst}"
        );

        // Another configuration in the same directory is refused, not mixed in.
        let mut other = config.clone();
        other.lr = 1.0;
        assert!(matches!(
            train(
                &other,
                &corpus,
                &resumed,
                Backend::Flex,
                1e9,
                None,
                &mut Quiet
            ),
            Err(TrainError::ConfigMismatch { .. })
        ));
        let _ = std::fs::remove_dir_all(&base);
    }

    /// Without the `gpu` feature, asking for the GPU is a clear error, not a panic.
    #[cfg(not(feature = "gpu"))]
    #[test]
    fn wgpu_without_the_feature_says_how_to_get_it() {
        let e = Backend::Wgpu.device().unwrap_err();
        assert!(e.to_string().contains("--features gpu"), "{e}");
        assert_eq!(Backend::parse("wgpu"), Some(Backend::Wgpu));
        assert_eq!(Backend::parse("tpu"), None);
    }

    /// On a GPU (lavapipe's software Vulkan in CI), burn's forward pass is the plain model's
    /// function and a short run trains, checkpoints and exports.
    #[cfg(feature = "gpu")]
    #[test]
    fn trains_on_wgpu() {
        let _turn = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Backend::Wgpu
            .device()
            .expect("a wgpu adapter (mesa-vulkan-drivers)");
        device.seed(7);
        let config = tiny_config();
        let model = Transformer::new(&config.model, &device);
        let text = &include_bytes!("../tests/data/sample.txt")[..31];
        let mut input = vec![0i64];
        input.extend(text.iter().map(|&b| i64::from(b)));
        let t = input.len();
        let logp: Vec<f32> = model
            .forward(Tensor::from_data(
                TensorData::new(input.clone(), [1, t]),
                &device,
            ))
            .into_data()
            .try_to_vec()
            .unwrap();
        let plain =
            FloatModel::new(&Weights::from_bytes(&model.export().to_bytes()).unwrap()).unwrap();
        let mut s = plain.session();
        let mut worst = 0.0f32;
        for (pos, &tok) in input.iter().enumerate() {
            let row = s.step(tok as u8);
            for v in 0..VOCAB {
                worst = worst.max((row[v] - logp[pos * VOCAB + v]).abs());
            }
        }
        assert!(worst < 1e-3, "largest log-prob difference {worst}");

        let dir = std::env::temp_dir().join(format!("lmzip-wgpu-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ckpt = Checkpoint::new(&dir);
        let s = train(
            &config,
            &corpus(),
            &ckpt,
            Backend::Wgpu,
            1e9,
            None,
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(s.step, config.steps);
        assert!(s
            .curve
            .iter()
            .all(|c| c.2.is_finite() && c.3.is_finite() && c.3 > 0.0));
        let w = Weights::from_bytes(&std::fs::read(ckpt.exported()).unwrap()).unwrap();
        assert!(FloatModel::new(&w).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn schedule_warms_up_then_decays() {
        let c = TrainConfig {
            steps: 100,
            warmup: 10,
            ..tiny_config()
        };
        assert!(learning_rate(&c, 0) < learning_rate(&c, 9));
        assert!((learning_rate(&c, 10) - c.lr).abs() < 1e-9);
        assert!((learning_rate(&c, 100) - 0.1 * c.lr).abs() < 1e-9);
    }
}
