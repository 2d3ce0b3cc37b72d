//! The `lmzip` command-line tool: a thin shell over the library, like the page.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lmzip::bench::{self, BenchResult, Mode};
use lmzip::{codecs, container, lmz, modality};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lmzip",
    version,
    about = "Language modeling is compression: lossless compression with a byte-level transformer, beside the classical codecs."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Codec to use.
        #[arg(short, long, default_value = lmz::DEFAULT_CODEC)]
        codec: String,
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
    },
    /// Show an .lmz file's header.
    Info {
        /// The .lmz file.
        input: PathBuf,
    },
    /// Measure every codec on files (folders are expanded), whole and chunked.
    Bench {
        /// Files or folders.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// Only these codecs (repeatable).
        #[arg(long = "codec")]
        codecs: Vec<String>,
        /// Only this mode: whole or chunked.
        #[arg(long)]
        mode: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
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

fn read_input(p: &Path) -> Res<Vec<u8>> {
    if is_dash(p) {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()).into())
    }
}

fn write_output(p: &Path, bytes: &[u8], force: bool) -> Res<()> {
    if is_dash(p) {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()?;
        return Ok(());
    }
    if p.exists() && !force {
        return Err(format!("{} already exists (use --force to overwrite)", p.display()).into());
    }
    // Write beside the target and rename, so a failure never leaves half a file.
    let tmp = p.with_extension("lmzip-tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, p)?;
    Ok(())
}

fn run(cli: Cli) -> Res<()> {
    match cli.command {
        Command::Compress {
            input,
            output,
            codec,
            force,
        } => {
            let data = read_input(&input)?;
            let packed = lmz::compress(&data, &codec)?;
            let out = output.unwrap_or_else(|| {
                if is_dash(&input) {
                    PathBuf::from("-")
                } else {
                    let mut s = input.clone().into_os_string();
                    s.push(".lmz");
                    s.into()
                }
            });
            write_output(&out, &packed, force)?;
            if !is_dash(&out) {
                eprintln!(
                    "{} → {}: {} → {} bytes ({:.2}%)",
                    input.display(),
                    out.display(),
                    data.len(),
                    packed.len(),
                    100.0 * packed.len() as f64 / data.len().max(1) as f64
                );
            }
        }
        Command::Decompress {
            input,
            output,
            force,
        } => {
            let packed = read_input(&input)?;
            let data = lmz::decompress(&packed)?;
            let out = match output {
                Some(o) => o,
                None if is_dash(&input) => PathBuf::from("-"),
                None => match input.to_str().and_then(|s| s.strip_suffix(".lmz")) {
                    Some(stem) => PathBuf::from(stem),
                    None => input.with_extension("out"),
                },
            };
            write_output(&out, &data, force)?;
        }
        Command::Info { input } => {
            let bytes = read_input(&input)?;
            let c = container::read(&bytes)?;
            let h = &c.header;
            println!("format      .lmz version {}", container::VERSION);
            println!("codec       {}", h.codec);
            match &h.model {
                Some(m) => println!("model       {} (sha256 {})", m.name, m.sha256_hex()),
                None => println!("model       none"),
            }
            println!(
                "original    {} bytes (crc32 {:08x})",
                h.original_len, h.original_crc
            );
            println!(
                "chunks      {} of up to {} bytes",
                h.chunk_count(),
                h.chunk_size
            );
            println!(
                "size        {} bytes ({} header)",
                bytes.len(),
                container::header_size(h)
            );
        }
        Command::Bench {
            files,
            json,
            codecs: only,
            mode,
        } => bench_cmd(&files, json, &only, mode.as_deref())?,
    }
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

fn bench_cmd(files: &[PathBuf], json: bool, only: &[String], mode: Option<&str>) -> Res<()> {
    let modes = match mode {
        None => vec![Mode::Whole, Mode::Chunked],
        Some(m) => vec![Mode::parse(m).ok_or(format!("unknown mode {m:?} (whole or chunked)"))?],
    };
    for name in only {
        if codecs::by_name(name).is_none() {
            return Err(format!("unknown codec {name:?}").into());
        }
    }
    let selected: Vec<&dyn codecs::Codec> = codecs::classical()
        .iter()
        .copied()
        .filter(|c| only.is_empty() || only.iter().any(|n| n == c.name()))
        .collect();
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
                let r = bench::measure(prep, name, *codec, m, &mut |f| {
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
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", bench::table(&rows));
        if !summary.is_empty() {
            println!();
            print!("{}", bench::table(&summary));
        }
        let failed = rows.iter().filter(|r| !r.roundtrip).count();
        if failed > 0 {
            return Err(format!("{failed} round trips failed").into());
        }
    }
    Ok(())
}

fn short(name: &str) -> String {
    Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string())
}
