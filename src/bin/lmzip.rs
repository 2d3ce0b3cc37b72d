//! The `lmzip` command-line tool: a thin shell over the library, like the page.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lmzip::bench::{self, BenchResult, Mode};
use lmzip::{codecs, lmz, modality};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `print!` that returns a closed stdout (`lmzip info | head`) as an error instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {
        write!(std::io::stdout(), $($t)*)?
    };
}

/// `println!` as [`out!`] does.
macro_rules! outln {
    ($($t:tt)*) => {
        writeln!(std::io::stdout(), $($t)*)?
    };
}

#[derive(Parser)]
#[command(
    name = "lmzip",
    version,
    about = "Language modeling is compression: lossless compression with a byte-level transformer, beside the classical codecs."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Where the transformer's matrix products run: cpu; gpu (any adapter, software ones
    /// included; an error without one); auto (a hardware GPU if there is one, else the CPU).
    /// The tables, so the files, are the same bits on each.
    #[arg(long, global = true, default_value = "cpu", value_parser = ["cpu", "gpu", "auto"])]
    device: String,
}

/// Puts the models' products on the device `--device` names.
fn select_device(device: &str) -> Res<()> {
    if device == "cpu" {
        return Ok(());
    }
    #[cfg(feature = "gpu-engine")]
    {
        use lmzip::engine::gpu::{Adapters, Gpu};
        let which = if device == "gpu" {
            Adapters::Any
        } else {
            Adapters::Hardware
        };
        match Gpu::new(which) {
            Ok(gpu) => {
                eprintln!("lmzip: the transformer's products run on {}", gpu.name());
                codecs::lm::use_gpu(gpu);
            }
            Err(e) if device == "auto" => eprintln!("lmzip: {e}: using the CPU"),
            Err(e) => return Err(format!("--device gpu: {e}").into()),
        }
        Ok(())
    }
    #[cfg(not(feature = "gpu-engine"))]
    if device == "auto" {
        eprintln!("lmzip: this build has no GPU engine: using the CPU");
        Ok(())
    } else {
        Err("--device gpu: this build has no GPU engine (build with --features gpu-engine)".into())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Compress a file into an .lmz ('-' reads stdin).
    Compress {
        /// Input file, or '-' for stdin.
        input: PathBuf,
        /// Output file ('-' for stdout); default INPUT.lmz, or stdout when reading stdin.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Codec to use; by default the smallest on the file's first 256 KiB of those that
        /// code at least 20 KB/s on one core (mix-200k, mix-200k-multi, cm, brotli, xz, zstd,
        /// bzip2, gzip).
        #[arg(short, long)]
        codec: Option<String>,
        /// Overwrite an existing output file.
        #[arg(short, long)]
        force: bool,
    },
    /// Decompress an .lmz ('-' reads stdin).
    Decompress {
        /// Input .lmz, or '-' for stdin.
        input: PathBuf,
        /// Output file ('-' for stdout); default INPUT without .lmz, or stdout when reading stdin.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite an existing output file.
        #[arg(short, long)]
        force: bool,
        /// Refuse files that declare more original bytes than this (suffixes K, M, G, T: powers
        /// of 1024). Decoding streams to disk, so this guards the disk, not memory.
        #[arg(long, default_value = "64G", value_parser = parse_size)]
        max_size: u64,
    },
    /// Show an .lmz file's header.
    Info {
        /// The .lmz file.
        input: PathBuf,
    },
    /// Train a transformer preset on real text (resumes from its checkpoint).
    #[cfg(feature = "train")]
    Train(TrainArgs),
    /// Export a model: float weights (e.g. models/200k/model.lmzw, from a checkpoint) and the
    /// integer model quantized from them beside it (model.lmzi, what `lm-<name>` codes with).
    Export {
        /// Checkpoint directory of a training run.
        #[arg(long, conflicts_with = "weights", required_unless_present = "weights")]
        dir: Option<PathBuf>,
        /// Or: an exported float weights file, to quantize only.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Output float weights file; the integer model goes beside it as .lmzi.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Continue a text, image or audio file with a codec or model used as a generative model.
    Generate(GenArgs),
    /// Learn a mixing codec's starting state (its prime) on training files: the files run
    /// through it in the paper's 2,048-byte chunks, and what the mixer learned is saved
    /// (models/<name>/mix.prime for mix-<name>, models/cm.prime for cm).
    Prime {
        /// Training files or folders (never the dev sets).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The mixing codec: cm or mix-<model>.
        #[arg(short, long)]
        codec: String,
        /// Output prime file.
        #[arg(short, long)]
        output: PathBuf,
        /// At most this many stream bytes per kind of data (files in order).
        #[arg(long, default_value_t = 1 << 20)]
        max_bytes: usize,
        /// Start from the codec's current prime instead of from scratch.
        #[arg(long)]
        resume: bool,
    },
    /// Measure every codec on files (folders are expanded), whole and chunked.
    Bench {
        /// Files or folders.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// Only these codecs (repeatable). The float analysis codecs (lm-*-float) run only
        /// when named here.
        #[arg(long = "codec")]
        codecs: Vec<String>,
        /// Only this mode: whole or chunked.
        #[arg(long)]
        mode: Option<String>,
        /// Code the chunks of chunked mode on this many threads (speeds of all cores).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// The paper's Table 1: text, image and audio columns (files grouped by kind), raw and
        /// adjusted rates, the paper's figures beside; Markdown, or JSON with --json.
        #[arg(long)]
        paper: bool,
        /// With --paper: mask model inputs as the paper (text b & 0x7F, image/audio b >> 1).
        #[arg(long, requires = "paper")]
        mask: bool,
        /// With --paper: dataset size in bytes for the adjusted rate.
        #[arg(long, default_value_t = 1e9, requires = "paper")]
        dataset_bytes: f64,
        /// With --paper: at most this many stream bytes per kind (files in order).
        #[arg(long, default_value_t = usize::MAX, requires = "paper")]
        max_bytes: usize,
    },
}

/// Options of `lmzip generate`.
#[derive(clap::Args)]
struct GenArgs {
    /// gzip, xz, zstd, brotli, bzip2, or a model (lm-200k; lm-200k-float for the float path).
    #[arg(short, long, default_value = "gzip")]
    codec: String,
    /// The file to continue (text, image or audio).
    #[arg(long)]
    prompt: PathBuf,
    /// Bytes of the prompt's stream to start from (default: half of it, at most 4096; whole
    /// rows for images). The bytes after them are the real continuation for comparison.
    #[arg(long)]
    prompt_bytes: Option<usize>,
    /// Bytes to generate (images: rounded up to whole rows).
    #[arg(short = 'n', long, default_value_t = 256)]
    bytes: usize,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Keep only the k most likely bytes (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Longest context a classical codec sees.
    #[arg(long, default_value_t = 1024)]
    context: usize,
    /// Context offsets averaged per candidate (finer code lengths for classical codecs).
    #[arg(long, default_value_t = 2)]
    views: usize,
    /// Output file (text, .png or .wav by the prompt's kind); default stdout for text.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Options of `lmzip train`.
#[cfg(feature = "train")]
#[derive(clap::Args)]
struct TrainArgs {
    /// Model preset: 200k, 800k or 3m (tiny for tests).
    #[arg(long, default_value = "200k")]
    preset: String,
    /// Training files (never the dev files).
    #[arg(long = "data", default_value = "data/text/train.txt")]
    data: Vec<PathBuf>,
    /// Checkpoint directory; default ~/.cache/lmzip/<preset>-<seq-len>.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Total steps of the schedule.
    #[arg(long, default_value_t = 200_000)]
    steps: u64,
    /// Windows per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Bytes per window.
    #[arg(long, default_value_t = 512)]
    seq_len: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 1000)]
    warmup: u64,
    /// Evaluate every N steps (0: only at the end).
    #[arg(long, default_value_t = 500)]
    eval_every: u64,
    /// Validation windows.
    #[arg(long, default_value_t = 64)]
    eval_windows: usize,
    /// Minutes between checkpoints.
    #[arg(long, default_value_t = 5.0)]
    checkpoint_minutes: f64,
    /// Stop after this many more steps (the schedule still runs to --steps).
    #[arg(long)]
    stop_after: Option<u64>,
    /// Seed for weights and data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads for the tensor kernels.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Tensor backend: `flex` (CPU) or `wgpu` (a GPU; build with `--features gpu`).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Start from these exported weights (e.g. `models/200k/model.lmzw`) instead of random ones,
    /// when the run's own checkpoint is gone; a new schedule begins.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Draw weights of the modalities, e.g. `text=1,image=2,audio=2` (default: equal).
    #[arg(long)]
    mix: Option<String>,
}

#[cfg(feature = "train")]
struct Bar(ProgressBar);

#[cfg(feature = "train")]
impl lmzip::train::Progress for Bar {
    fn step(&mut self, s: &lmzip::train::TrainState, c: &lmzip::train::TrainConfig, bits: f64) {
        self.0.set_position(s.step);
        if s.step.is_multiple_of(10) {
            let rate = s.tokens as f64 / s.seconds.max(1e-9);
            let val = s
                .curve
                .last()
                .map_or(String::from("-"), |v| format!("{:.3}", v.3));
            self.0.set_message(format!(
                "loss {bits:.3} bits/byte, val {val}, {rate:.0} bytes/s, lr {:.2e}",
                lmzip::train::learning_rate(c, s.step)
            ));
        }
    }
    fn eval(&mut self, s: &lmzip::train::TrainState, val: f64) {
        self.0.suspend(|| {
            eprintln!(
                "step {:>7}  tokens {:>12}  train {:.4}  val {:.4} bits/byte  ({:.0} s)",
                s.step,
                s.tokens,
                s.curve.last().map_or(f64::NAN, |c| c.2),
                val,
                s.seconds
            )
        });
    }
}

/// Training allocates and frees tensors of tens of MB at every op; by default glibc hands them
/// back to the kernel each time, and 40 % of training time went to page faults. Keep them: no
/// block is mapped on its own (attention scores reach hundreds of MB, above any mmap
/// threshold), the heap is never trimmed, and all threads share one arena (each thread's own
/// arena is a mapped heap that is trimmed too). Measured on the 3m preset, one and two
/// threads, bytes/s: 2,048-byte windows (batch 4) 193 → 331 and 241 → 442 (perf: 28 % of a
/// step was the kernel clearing fresh pages, now its share fell from 65 to 16 s of a 3-step
/// run); 512-byte windows (batch 16) 913 → 951 and 1,130 → 1,157.
#[cfg(all(feature = "train", target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only tunes the allocator; it is called before the training threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(all(feature = "train", not(all(target_os = "linux", target_env = "gnu"))))]
fn keep_freed_memory() {}

#[cfg(feature = "train")]
fn train_cmd(a: TrainArgs) -> Res<()> {
    use lmzip::train::{self, Checkpoint, Corpus, TrainConfig};
    // Set before burn's thread pool starts.
    std::env::set_var("RAYON_NUM_THREADS", a.threads.to_string());
    keep_freed_memory();
    let mut model = lmzip::model::ModelConfig::preset(&a.preset)
        .ok_or(format!("unknown preset {:?} (200k, 800k, 3m)", a.preset))?;
    model.context = model.context.max(a.seq_len);
    let config = TrainConfig {
        model,
        seq_len: a.seq_len,
        batch: a.batch,
        steps: a.steps,
        lr: a.lr,
        warmup: a.warmup,
        eval_every: a.eval_every,
        eval_windows: a.eval_windows,
        seed: a.seed,
        holdout: 0.01,
        init: a.init,
    };
    let dir = a.dir.unwrap_or_else(|| {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".cache/lmzip")
            .join(format!("{}-{}", a.preset, a.seq_len))
    });
    config.check()?;
    let backend = train::Backend::parse(&a.backend)
        .ok_or(format!("unknown backend {:?} (flex, wgpu)", a.backend))?;
    let mut corpus = Corpus::load(&a.data, config.holdout, config.seq_len)?;
    if let Some(mix) = &a.mix {
        corpus = corpus.with_mix(mix)?;
    }
    eprintln!(
        "training {} ({} parameters) on {} bytes, checkpoints in {}",
        a.preset,
        model.param_count(),
        corpus.train_bytes(),
        dir.display()
    );
    let bar = ProgressBar::new(config.steps);
    bar.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {pos}/{len} ETA {eta} {msg}")
            .expect("valid template"),
    );
    let ckpt = Checkpoint::new(&dir);
    let state = train::train(
        &config,
        &corpus,
        &ckpt,
        backend,
        a.checkpoint_minutes * 60.0,
        a.stop_after,
        &mut Bar(bar.clone()),
    )?;
    bar.finish_and_clear();
    eprintln!(
        "stopped at step {} ({} bytes seen, {:.0} s); weights in {}",
        state.step,
        state.tokens,
        state.seconds,
        ckpt.exported().display()
    );
    Ok(())
}

/// Registers every model found in `models/<name>/`: `model.lmzi` as codec `lm-<name>` (integer
/// engine) and `model.lmzw` as `lm-<name>-float` (analysis), looking
/// under $LMZIP_MODELS, ./models, and the source tree this binary was built from. Each loads
/// when a command first needs it.
fn load_models() {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("LMZIP_MODELS") {
        roots.push(dir.into());
    }
    roots.push(PathBuf::from("models"));
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    let mut seen = std::collections::BTreeSet::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        for dir in dirs {
            let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let files = [dir.join("model.lmzi"), dir.join("model.lmzw")];
            if !files.iter().any(|f| f.is_file()) || !seen.insert(name.clone()) {
                continue;
            }
            for file in files.into_iter().filter(|f| f.is_file()) {
                let engine = file.extension().is_some_and(|e| e == "lmzi");
                let names = if engine {
                    vec![format!("lm-{name}"), format!("mix-{name}")]
                } else {
                    vec![format!("lm-{name}{}", codecs::lm::FLOAT_SUFFIX)]
                };
                // The mixing codec's learned starting state, where the model has one (only the
                // integer engine has a mix).
                let prime_path = dir.join("mix.prime");
                let name = name.clone();
                codecs::lm::register_lazy(names, move || {
                    let prime = engine.then(|| std::fs::read(&prime_path).ok()).flatten();
                    let primed = |prime: Option<&[u8]>| {
                        std::fs::read(&file)
                            .map_err(|e| e.to_string())
                            .and_then(|b| {
                                codecs::lm::register_primed(&name, &b, prime)
                                    .map(|_| ())
                                    .map_err(|e| e.to_string())
                            })
                    };
                    let mut done = primed(prime.as_deref());
                    if let (Err(e), Some(_)) = (&done, &prime) {
                        // A prime that does not fit: the model still loads, its mix starts cold.
                        eprintln!("lmzip: skipping {}: {e}", prime_path.display());
                        done = primed(None);
                    }
                    if let Err(e) = done {
                        eprintln!("lmzip: skipping model {}: {e}", file.display());
                    }
                });
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    on_interrupt();
    load_models();
    match select_device(&cli.device).and_then(|()| run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing more to say, as other Unix tools.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lmzip: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// A byte count with an optional binary suffix: `512`, `64K`, `100M`, `2G`.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        Some('T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 4096, 64K, 100M, 2G)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// The input as a stream: a file, or stdin for `-`.
fn open_input(p: &Path) -> Res<Box<dyn Read>> {
    if is_dash(p) {
        Ok(Box::new(std::io::stdin().lock()))
    } else {
        let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
    }
}

/// A progress bar on a terminal (nothing otherwise), of `len` bytes when known.
fn bytes_bar(len: Option<u64>, what: &str) -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(&format!(
                "{{bar:40}} {{bytes}}/{{total_bytes}} {what}, {{bytes_per_sec}}, {{eta}} left"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {{bytes}} {what}, {{bytes_per_sec}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// A reader that keeps a copy of what it reads.
struct Tee<R> {
    inner: R,
    copy: std::fs::File,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Temporary files that Ctrl-C must not leave behind.
static TEMPS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// A temporary file beside an output, removed when dropped (or on Ctrl-C) unless kept.
struct Temp {
    path: PathBuf,
    file: std::fs::File,
}

impl Temp {
    fn beside(target: &Path, suffix: &str) -> Res<Self> {
        let dir = match target.parent() {
            Some(d) if !is_dash(target) && !d.as_os_str().is_empty() => d.to_path_buf(),
            _ if is_dash(target) => std::env::temp_dir(),
            _ => PathBuf::from("."),
        };
        let stem = target.file_name().unwrap_or_default().to_string_lossy();
        remove_stale(&dir, &stem, suffix);
        let path = dir.join(format!(".{stem}.{}{suffix}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        TEMPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.clone());
        Ok(Self { path, file })
    }

    /// Where the payloads wait for the header (its name gone at once where the system allows).
    fn spool(target: &Path) -> Res<Self> {
        let t = Self::beside(target, ".lmzip-spool")?;
        #[cfg(unix)]
        let _ = std::fs::remove_file(&t.path);
        Ok(t)
    }

    fn file(&mut self) -> &mut std::fs::File {
        &mut self.file
    }

    /// Renames the file to `to`: it is done.
    fn keep(self, to: &Path) -> std::io::Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.path, to)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let mut temps = TEMPS.lock().unwrap_or_else(|e| e.into_inner());
        temps.retain(|p| p != &self.path);
    }
}

/// Removes the temporary files for `stem` that a killed run left in `dir` (`kill -9` or a power
/// cut leave no chance to clean up): those whose process is gone. Only where the system says
/// which processes run (`/proc`); elsewhere they stay.
fn remove_stale(dir: &Path, stem: &str, suffix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{stem}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(suffix))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let path = entry.path();
            if std::fs::remove_file(&path).is_ok() {
                eprintln!(
                    "lmzip: removed {}, left by an interrupted run",
                    path.display()
                );
            }
        }
    }
}

/// Removes every temporary file and exits, on Ctrl-C: no half-written output stays.
fn on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        for p in TEMPS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = std::fs::remove_file(p);
        }
        eprintln!("lmzip: interrupted; no output written");
        std::process::exit(130);
    });
}

fn write_output(p: &Path, bytes: &[u8], force: bool) -> Res<()> {
    Target::new(p, force)?.write(|w| Ok(w.write_all(bytes)?))
}

/// Where a command's output goes: a file written beside its name and renamed into place only
/// when complete and checked, or stdout, which gets the bytes only then too (they wait in a
/// temporary file: a pipe cannot take back what turned out wrong).
enum Target {
    Stdout(Temp),
    File(PathBuf, Temp),
}

impl Target {
    fn new(p: &Path, force: bool) -> Res<Self> {
        if is_dash(p) {
            return Ok(Self::Stdout(Temp::spool(p)?));
        }
        if p.exists() && !force {
            return Err(
                format!("{} already exists (use --force to overwrite)", p.display()).into(),
            );
        }
        Ok(Self::File(p.to_path_buf(), Temp::beside(p, ".lmzip-tmp")?))
    }

    /// Runs `f` on the output; a file is kept only if `f` succeeds.
    fn write<T>(self, f: impl FnOnce(&mut dyn Write) -> Res<T>) -> Res<T> {
        match self {
            Self::Stdout(mut temp) => {
                let v = {
                    let mut out = std::io::BufWriter::with_capacity(1 << 20, temp.file());
                    let v = f(&mut out)?;
                    out.flush()?;
                    v
                };
                let file = temp.file();
                file.seek(std::io::SeekFrom::Start(0))?;
                let mut stdout = std::io::stdout().lock();
                std::io::copy(file, &mut stdout)?;
                stdout.flush()?;
                Ok(v)
            }
            Self::File(p, mut temp) => {
                let v = {
                    let mut out = std::io::BufWriter::with_capacity(1 << 20, temp.file());
                    let v = f(&mut out)?;
                    out.flush().map_err(|e| format!("{}: {e}", p.display()))?;
                    v
                };
                temp.keep(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                Ok(v)
            }
        }
    }
}

fn run(cli: Cli) -> Res<()> {
    match cli.command {
        Command::Compress {
            input,
            output,
            codec,
            force,
        } => {
            let out = output.unwrap_or_else(|| {
                if is_dash(&input) {
                    PathBuf::from("-")
                } else {
                    let mut s = input.clone().into_os_string();
                    s.push(".lmz");
                    s.into()
                }
            });
            let mut source = open_input(&input)?;
            let codec =
                match codec {
                    Some(codec) => {
                        lmz::plan(0, &codec)?;
                        codec
                    }
                    None => {
                        // The first 256 KiB decide (and one byte more says whether that is all).
                        let mut head = Vec::new();
                        (&mut source)
                            .take(lmz::TRIAL as u64 + 1)
                            .read_to_end(&mut head)
                            .map_err(|e| format!("{}: {e}", input.display()))?;
                        let whole = head.len() <= lmz::TRIAL;
                        let (codec, _) = lmz::choose_codec(&head[..head.len().min(lmz::TRIAL)])?;
                        eprintln!(
                        "codec: {codec} (the smallest on {} of the fast codecs: {}; -c to choose)",
                        if whole { "this file" } else { "the first 256 KiB" },
                        lmz::fast_codecs().join(", ")
                    );
                        source = Box::new(std::io::Cursor::new(head).chain(source));
                        codec.to_string()
                    }
                };
            let target = Target::new(&out, force)?;
            let mut spool = Temp::spool(&out)?;
            let size = (!is_dash(&input))
                .then(|| std::fs::metadata(&input).ok().map(|m| m.len()))
                .flatten();
            let bar = bytes_bar(size, "coding");
            // Coding that does not make the data smaller stores it: a file is read again, stdin
            // is kept in a temporary file as it is read (a pipe cannot be read twice).
            let mut raw = None;
            if is_dash(&input) {
                let t = Temp::spool(&out)?;
                let copy = t.file.try_clone()?;
                source = Box::new(Tee {
                    inner: source,
                    copy,
                });
                raw = Some(t);
            }
            let path = input.clone();
            let mut reopen = move || -> std::io::Result<Box<dyn Read>> {
                Ok(match &raw {
                    Some(t) => {
                        let mut f = t.file.try_clone()?;
                        f.seek(std::io::SeekFrom::Start(0))?;
                        Box::new(std::io::BufReader::new(f))
                    }
                    None => Box::new(std::fs::File::open(&path)?),
                })
            };
            let reread: Option<&mut dyn FnMut() -> std::io::Result<Box<dyn Read>>> =
                Some(&mut reopen);
            let made = target.write(|w| {
                lmzip::stream::compress(&mut source, &codec, spool.file(), w, reread, &mut |n| {
                    bar.set_position(n)
                })
                .map_err(|e| format!("{}: {e}\n  {}", input.display(), e.advice()).into())
            })?;
            bar.finish_and_clear();
            if !is_dash(&out) {
                eprintln!(
                    "{} → {}: {} → {} bytes ({:.2}%){}",
                    input.display(),
                    out.display(),
                    made.original_len,
                    made.packed_len,
                    100.0 * made.packed_len as f64 / made.original_len.max(1) as f64,
                    if made.codec != codec {
                        format!(", stored: {codec} did not make it smaller")
                    } else {
                        String::new()
                    }
                );
            }
        }
        Command::Decompress {
            input,
            output,
            force,
            max_size,
        } => {
            let out = match output {
                Some(o) => o,
                None if is_dash(&input) => PathBuf::from("-"),
                None => match input.to_str().and_then(|s| s.strip_suffix(".lmz")) {
                    Some(stem) => PathBuf::from(stem),
                    None => input.with_extension("out"),
                },
            };
            let mut source = open_input(&input)?;
            let target = Target::new(&out, force)?;
            let bar = bytes_bar(None, "decoded");
            target.write(|w| {
                lmzip::stream::decompress(&mut source, w, max_size, &mut |n| bar.set_position(n))
                    .map(|_| ())
                    .map_err(|e| format!("{}: {e}\n  {}", input.display(), e.advice()).into())
            })?;
            bar.finish_and_clear();
        }
        Command::Info { input } => {
            // The header alone: a large file is not read through.
            let (h, _, head) = lmzip::stream::read_header(&mut open_input(&input)?)
                .map_err(|e| format!("{}: {e}\n  {}", input.display(), e.advice()))?;
            let h = &h;
            outln!("format      .lmz version {}", h.version);
            outln!("codec       {}", h.codec);
            match &h.model {
                Some(m) => outln!("model       {} (sha256 {})", m.name, m.sha256_hex()),
                None => outln!("model       none"),
            }
            outln!(
                "original    {} bytes (crc32 {:08x})",
                h.original_len,
                h.original_crc
            );
            outln!(
                "chunks      {} of up to {} bytes",
                h.chunk_count(),
                h.chunk_size
            );
            let size = head as u64 + h.payload_len();
            let actual = (!is_dash(&input))
                .then(|| std::fs::metadata(&input).ok().map(|m| m.len()))
                .flatten();
            outln!(
                "size        {size} bytes ({head} header){}",
                match actual {
                    Some(n) if n < size => format!("; the file has only {n}: it is cut short"),
                    Some(n) if n > size =>
                        format!("; the file has {n}: bytes follow the last chunk"),
                    _ => String::new(),
                }
            );
        }
        #[cfg(feature = "train")]
        Command::Train(args) => train_cmd(args)?,
        Command::Export {
            dir,
            weights,
            output,
        } => {
            let src = match (&dir, &weights) {
                (Some(d), _) => d.join("model.lmzw"),
                (None, Some(w)) => w.clone(),
                (None, None) => return Err("give --dir or --weights".into()),
            };
            let bytes = std::fs::read(&src).map_err(|e| format!("{}: {e}", src.display()))?;
            let mut w = lmzip::model::Weights::from_bytes(&bytes)?;
            // The run's window length bounds the context the model can be trusted with
            // (checkpoints of older builds exported the preset's full context).
            let seq_len = dir
                .as_ref()
                .and_then(|d| std::fs::read(d.join("config.json")).ok())
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["seq_len"].as_u64());
            if let Some(n) = seq_len {
                w.limit_context(n as usize);
            }
            if let Some(parent) = output.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let hex = |b: &[u8]| -> String {
                lmzip::model::sha256(b)
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect()
            };
            let float = w.to_bytes();
            if dir.is_some() {
                write_output(&output, &float, true)?;
                eprintln!(
                    "{} → {}: sha256 {}",
                    src.display(),
                    output.display(),
                    hex(&float)
                );
            }
            let int = lmzip::engine::quantize(&w)?.to_bytes();
            let int_path = output.with_extension("lmzi");
            write_output(&int_path, &int, true)?;
            eprintln!(
                "{} parameters → {}: sha256 {}",
                w.config.param_count(),
                int_path.display(),
                hex(&int)
            );
        }
        Command::Generate(args) => generate_cmd(&args)?,
        Command::Prime {
            files,
            codec,
            output,
            max_bytes,
            resume,
        } => prime_cmd(&files, &codec, &output, max_bytes, resume)?,
        Command::Bench {
            files,
            json,
            codecs: only,
            mode,
            threads,
            paper,
            mask,
            dataset_bytes,
            max_bytes,
        } => {
            if paper {
                let opts = lmzip::table1::Options {
                    mask,
                    dataset_bytes,
                    max_bytes,
                    threads,
                };
                paper_cmd(&files, json, &only, &opts)?
            } else {
                bench_cmd(&files, json, &only, mode.as_deref(), threads)?
            }
        }
    }
    Ok(())
}

fn prime_cmd(
    files: &[PathBuf],
    codec: &str,
    output: &Path,
    max_bytes: usize,
    resume: bool,
) -> Res<()> {
    let mix = codecs::mix::find(codec).ok_or(format!(
        "{codec} is not a mixing codec (cm, or mix-<model> for a model in models/)"
    ))?;
    let mut prime = if resume {
        mix.prime().clone()
    } else {
        lmzip::mix::Prime::default()
    };
    let mut used = [0usize; 3];
    for path in expand(files)? {
        let bytes = std::fs::read(&path)?;
        let name = path.to_string_lossy();
        let prepared = modality::prepare(&bytes, &name)?;
        let k = prepared.modality as usize;
        if used[k] >= max_bytes {
            continue;
        }
        let chunks = lmzip::paper::chunks(&prepared.stream, &prepared.layout);
        let bar = ProgressBar::new(chunks.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} chunks ETA {eta}")
                .expect("valid template"),
        );
        bar.set_message(name.to_string());
        for chunk in &chunks {
            if used[k] >= max_bytes {
                break;
            }
            let kind = codecs::mix::kind_of(&chunk.layout);
            let learned = mix.learn(&chunk.bytes, &chunk.layout, prime.get(kind));
            prime.set(kind, learned);
            used[k] += chunk.bytes.len();
            bar.inc(1);
        }
        bar.finish_and_clear();
    }
    if prime.is_empty() {
        return Err("no training bytes: nothing learned".into());
    }
    std::fs::write(output, prime.to_bytes())?;
    eprintln!(
        "{codec}: learned on {} text, {} image and {} audio bytes; prime in {}",
        used[0],
        used[1],
        used[2],
        output.display()
    );
    Ok(())
}

fn expand(files: &[PathBuf]) -> Res<Vec<PathBuf>> {
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(f)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            inner.sort();
            out.extend(inner);
        } else if f.is_file() {
            out.push(f.clone());
        } else {
            return Err(format!("{}: no such file or folder", f.display()).into());
        }
    }
    Ok(out)
}

fn generate_cmd(a: &GenArgs) -> Res<()> {
    let bytes = std::fs::read(&a.prompt).map_err(|e| format!("{}: {e}", a.prompt.display()))?;
    let name = a.prompt.display().to_string();
    let prep = modality::prepare(&bytes, &name).map_err(|e| format!("{name}: {e}"))?;
    let opts = lmzip::generate::Options {
        codec: a.codec.clone(),
        prompt_bytes: a.prompt_bytes,
        bytes: a.bytes,
        seed: a.seed,
        temperature: a.temperature,
        top_k: a.top_k,
        context: a.context,
        views: a.views,
    };
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent}% ETA {eta}",
        )
        .expect("valid template"),
    );
    let c = lmzip::generate::continue_file(&prep, &opts, &mut |f| {
        bar.set_position((f * 1000.0) as u64)
    })?;
    bar.finish_and_clear();
    eprintln!(
        "{}: {} bytes after a {}-byte prompt in {:.2} s ({:.0} bytes/s)",
        c.codec,
        c.sample.len(),
        c.prompt_bytes,
        c.seconds,
        c.sample.len() as f64 / c.seconds.max(1e-9)
    );
    if let (Some(j), Some(s)) = (&c.judge, c.bits_sample) {
        let real = c.bits_real.map_or("-".into(), |r| format!("{r:.3}"));
        eprintln!("{j} bits/byte: {s:.3} on the sample, {real} on the real continuation");
    }
    let out = a.output.clone().unwrap_or_else(|| match c.ext {
        "txt" => PathBuf::from("-"),
        ext => PathBuf::from(format!("generated.{ext}")),
    });
    write_output(&out, &c.file, true)?;
    if !is_dash(&out) {
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

fn selected_codecs(only: &[String]) -> Res<Vec<&'static dyn codecs::Codec>> {
    let mut named = Vec::with_capacity(only.len());
    for name in only {
        named.push(codecs::by_name(name).ok_or(format!("unknown codec {name:?}"))?);
    }
    if !named.is_empty() {
        // In the full list's order (classical codecs, models, mixes), each once, loading only
        // the named codecs' models.
        let classical = codecs::classical();
        let rank = |c: &&dyn codecs::Codec| {
            let name = c.name();
            match classical.iter().position(|k| k.name() == name) {
                Some(i) => (0, i, name),
                None if codecs::lm::find(name).is_some() => (1, 0, name),
                None => (2, 0, name),
            }
        };
        named.sort_by_key(rank);
        named.dedup_by_key(|c| c.name());
        return Ok(named);
    }
    Ok(codecs::all()
        .into_iter()
        .filter(|c| !c.name().ends_with(codecs::lm::FLOAT_SUFFIX))
        .collect())
}

fn paper_cmd(
    files: &[PathBuf],
    json: bool,
    only: &[String],
    opts: &lmzip::table1::Options,
) -> Res<()> {
    let selected = selected_codecs(only)?;
    let mut sets: Vec<(modality::Modality, Vec<modality::Prepared>)> = Vec::new();
    for p in expand(files)? {
        let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let name = p.display().to_string();
        let prep = modality::prepare(&bytes, &name).map_err(|e| format!("{name}: {e}"))?;
        match sets.iter_mut().find(|(m, _)| *m == prep.modality) {
            Some((_, v)) => v.push(prep),
            None => sets.push((prep.modality, vec![prep])),
        }
    }
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let cells = lmzip::table1::run(&sets, &selected, opts, &mut |s| {
        bar.set_message(s.to_string())
    })?;
    bar.finish_and_clear();
    if json {
        let doc = serde_json::json!({
            "cells": cells,
            "markdown": lmzip::table1::markdown(&cells, opts),
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        out!("{}", lmzip::table1::markdown(&cells, opts));
    }
    if cells.iter().any(|c| !c.roundtrip) {
        return Err("a round trip failed".into());
    }
    Ok(())
}

fn bench_cmd(
    files: &[PathBuf],
    json: bool,
    only: &[String],
    mode: Option<&str>,
    threads: usize,
) -> Res<()> {
    let modes = match mode {
        None => vec![Mode::Whole, Mode::Chunked],
        Some(m) => vec![Mode::parse(m).ok_or(format!("unknown mode {m:?} (whole or chunked)"))?],
    };
    let selected = selected_codecs(only)?;
    let paths = expand(files)?;
    let mut prepared = Vec::new();
    let mut total_work = 0u64;
    for p in &paths {
        let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let name = p.display().to_string();
        let prep = modality::prepare(&bytes, &name).map_err(|e| format!("{name}: {e}"))?;
        let jobs = selected.iter().filter(|c| c.accepts(&prep.layout)).count() * modes.len();
        total_work += (prep.stream.len() * jobs) as u64;
        prepared.push((name, prep));
    }
    let bar = ProgressBar::new(total_work.max(1));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent}% ETA {eta} {msg}",
        )
        .expect("valid template"),
    );
    let mut rows: Vec<BenchResult> = Vec::new();
    let mut done = 0u64;
    for (name, prep) in &prepared {
        for codec in &selected {
            if !codec.accepts(&prep.layout) {
                continue;
            }
            for &m in &modes {
                bar.set_message(format!("{} {} {}", short(name), codec.name(), m.as_str()));
                let len = prep.stream.len() as u64;
                let base = done;
                let r = bench::measure_threads(prep, name, *codec, m, threads, &mut |f| {
                    bar.set_position(base + (f * len as f64) as u64)
                })?;
                done += len;
                bar.set_position(done);
                rows.push(r);
            }
        }
    }
    bar.finish_and_clear();
    // With several files of a kind, add one summed row per codec and mode.
    let mut summary = Vec::new();
    for kind in [
        modality::Modality::Text,
        modality::Modality::Image,
        modality::Modality::Audio,
    ] {
        let of_kind: Vec<BenchResult> = rows
            .iter()
            .filter(|r| r.modality == kind.as_str())
            .cloned()
            .collect();
        let files = prepared.iter().filter(|(_, p)| p.modality == kind).count();
        if files > 1 {
            summary.extend(bench::aggregate(
                &of_kind,
                &format!("all {files} {} files", kind.as_str()),
            ));
        }
    }
    if json {
        let doc = serde_json::json!({ "results": rows, "totals": summary });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        out!("{}", bench::table(&rows));
        if !summary.is_empty() {
            outln!();
            out!("{}", bench::table(&summary));
        }
    }
    // The document (or table) is printed either way; a failed round trip still fails the run.
    let failed = rows.iter().filter(|r| !r.roundtrip).count();
    if failed > 0 {
        return Err(format!("{failed} round trips failed").into());
    }
    Ok(())
}

fn short(name: &str) -> String {
    Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string())
}
