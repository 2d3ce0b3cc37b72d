//! The training loop: Adam with warm-up and cosine decay, periodic validation and checkpoints.

use super::checkpoint::{self, Checkpoint};
use super::corpus::Corpus;
use super::{io, Backend, Progress, TrainConfig, TrainError, TrainState};
use crate::model::{Transformer, Weights, VOCAB};
use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::time::Instant;

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
    config.check()?;
    let device = backend.device()?.autodiff();
    device.seed(config.seed);
    let model = Transformer::new(&config.model, &device);
    let optim = AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
        .init();
    let (mut model, mut optim, saved) = checkpoint::restore(ckpt, config, model, optim)?;
    let mut state = match saved {
        Some(state) => state,
        None => {
            if let Some(init) = &config.init {
                let bytes =
                    std::fs::read(init).map_err(|e| io(format!("{}: {e}", init.display())))?;
                model = Weights::from_bytes(&bytes)
                    .and_then(|w| model.with_weights(&w))
                    .map_err(|e| TrainError::Init(format!("{}: {e}", init.display())))?;
            }
            TrainState {
                rng: config.seed ^ 0x5EED,
                ..TrainState::default()
            }
        }
    };
    let valid = corpus.validation(config.seq_len, config.eval_windows);
    if state.step == 0 && state.curve.is_empty() && config.init.is_some() {
        // Where a warm start begins, on this run's validation windows (with other data they are
        // not the windows the weights were measured on before); no training loss yet, so the
        // curve's training column repeats it.
        let val = evaluate(&model.valid(), &valid, &device.clone().inner());
        state.curve.push((0, 0, val, val));
        progress.eval(&state, val);
    }

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
        if config.evaluates_at(state.step) {
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
            checkpoint::save(&model, &optim, config, &state, ckpt)?;
            last_save = Instant::now();
            clock = Instant::now();
        }
    }
    checkpoint::save(&model, &optim, config, &state, ckpt)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FloatModel, ModelConfig};

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
        std::fs::write(&f, include_bytes!("../../tests/data/sample.txt")).unwrap();
        Corpus::load(&[f], 0.1, 32).unwrap()
    }

    /// The largest difference between burn's log-probabilities and the plain float model's
    /// (the exported weights stepped byte by byte) over the first 31 bytes of the sample text.
    fn largest_difference_from_plain(model: &Transformer, device: &Device) -> f32 {
        let text = &include_bytes!("../../tests/data/sample.txt")[..31];
        let mut input = vec![0i64];
        input.extend(text.iter().map(|&b| i64::from(b)));
        let t = input.len();
        let logp: Vec<f32> = model
            .forward(Tensor::from_data(
                TensorData::new(input.clone(), [1, t]),
                device,
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
        worst
    }

    #[test]
    fn plain_inference_matches_burn() {
        let _turn = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::flex();
        device.seed(5);
        let config = tiny_config().model;
        let model = Transformer::new(&config, &device);
        let worst = largest_difference_from_plain(&model, &device);
        assert!(worst < 1e-4, "largest log-prob difference {worst}");
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
        let ended = train(
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
        let start = std::fs::read_to_string(warm.log()).unwrap();
        let row: Vec<&str> = start.lines().nth(1).unwrap().split('\t').collect();
        assert_eq!(
            &row[..2],
            ["0", "0"],
            "a warm start is measured before it trains"
        );
        let (_, _, _, last_val) = ended.curve[ended.curve.len() - 1];
        assert_eq!(
            row[3],
            format!("{last_val:.4}"),
            "where the first run ended: {start}"
        );
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
        let worst = largest_difference_from_plain(&model, &device);
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

    /// A short run on a fixed seed learns, as llm.c checks its first steps: validation falls at
    /// every evaluation, from near the uniform 8 bits/byte to well below it, and training loss
    /// with it. `eval_every` 0 evaluates only at the end.
    #[test]
    fn a_short_run_learns() {
        let _turn = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let config = TrainConfig {
            steps: 60,
            batch: 4,
            warmup: 5,
            eval_every: 15,
            eval_windows: 8,
            ..tiny_config()
        };
        let dir = std::env::temp_dir().join(format!("lmzip-train-learns-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = train(
            &config,
            &corpus(),
            &Checkpoint::new(dir.join("a")),
            Backend::Flex,
            1e9,
            None,
            &mut Quiet,
        )
        .unwrap();
        let val: Vec<f64> = s.curve.iter().map(|c| c.3).collect();
        let train_bits: Vec<f64> = s.curve.iter().map(|c| c.2).collect();
        eprintln!("validation {val:?}, training {train_bits:?}");
        assert_eq!(val.len(), 4);
        assert!(val.windows(2).all(|w| w[1] < w[0]), "validation {val:?}");
        assert!(val[0] < 8.0 && val[3] < val[0] - 0.5, "validation {val:?}");
        assert!(train_bits[3] < train_bits[0], "training {train_bits:?}");

        let once = TrainConfig {
            eval_every: 0,
            ..config
        };
        let s = train(
            &once,
            &corpus(),
            &Checkpoint::new(dir.join("b")),
            Backend::Flex,
            1e9,
            None,
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(s.curve.len(), 1);
        assert_eq!(s.curve[0].3, val[3], "the same seed, the same run");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn settings_that_cannot_train_are_refused() {
        let corpus = corpus();
        let dir = std::env::temp_dir().join(format!("lmzip-train-refused-{}", std::process::id()));
        for bad in [
            TrainConfig {
                batch: 0,
                ..tiny_config()
            },
            TrainConfig {
                seq_len: 1,
                ..tiny_config()
            },
            TrainConfig {
                seq_len: 64,
                ..tiny_config()
            },
            TrainConfig {
                lr: 0.0,
                ..tiny_config()
            },
            TrainConfig {
                lr: f64::NAN,
                ..tiny_config()
            },
            TrainConfig {
                holdout: 1.0,
                ..tiny_config()
            },
            TrainConfig {
                eval_windows: 0,
                ..tiny_config()
            },
            TrainConfig {
                steps: 0,
                ..tiny_config()
            },
        ] {
            let err = train(
                &bad,
                &corpus,
                &Checkpoint::new(&dir),
                Backend::Flex,
                1e9,
                None,
                &mut Quiet,
            )
            .unwrap_err();
            assert!(matches!(err, TrainError::Config(_)), "{bad:?}: {err}");
        }
        assert!(!dir.exists(), "nothing written for a refused run");
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
