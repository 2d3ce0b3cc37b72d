//! End-to-end tests of the `lmzip` binary: files, pipes, bench JSON and bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_lmzip");

fn data(name: &str) -> PathBuf {
    // At run time: a binary built in another checkout sharing the build cache is reused as is.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).into())
        .join("tests/data")
        .join(name)
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lmzip-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

#[test]
fn files_roundtrip_with_every_codec() {
    let dir = tmpdir("files");
    for sample in ["sample.txt", "sample.png", "sample.wav"] {
        let original = std::fs::read(data(sample)).unwrap();
        for codec in ["brotli", "gzip", "xz", "zstd", "bzip2", "stored"] {
            let src = dir.join(format!("{codec}-{sample}"));
            std::fs::write(&src, &original).unwrap();
            let s = src.to_str().unwrap();
            let out = run(&["compress", "-c", codec, s], b"");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::remove_file(&src).unwrap();
            let packed = format!("{s}.lmz");
            let out = run(&["decompress", &packed], b"");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(std::fs::read(&src).unwrap(), original, "{codec} {sample}");
        }
    }
}

#[test]
fn pipes_roundtrip_and_refuse_to_overwrite() {
    let original = std::fs::read(data("sample.txt")).unwrap();
    let packed = run(&["compress", "-"], &original);
    assert!(packed.status.success());
    assert!(packed.stdout.len() < original.len() / 2);
    let back = run(&["decompress", "-"], &packed.stdout);
    assert!(back.status.success());
    assert_eq!(back.stdout, original);
    // With no codec named, the smallest of the fast ones is chosen, and said.
    let said = String::from_utf8_lossy(&packed.stderr);
    let chosen = said
        .split("codec: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no codec named in {said:?}"));
    for codec in lmzip::lmz::FAST_CODECS {
        let other = run(&["compress", "-c", codec, "-"], &original);
        assert!(other.status.success());
        assert!(
            packed.stdout.len() <= other.stdout.len(),
            "{chosen} {} vs {codec} {}",
            packed.stdout.len(),
            other.stdout.len()
        );
    }

    let dir = tmpdir("overwrite");
    let src = dir.join("a.txt");
    std::fs::write(&src, b"hello hello hello").unwrap();
    let s = src.to_str().unwrap();
    assert!(run(&["compress", s], b"").status.success());
    let again = run(&["compress", s], b"");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(run(&["compress", "--force", s], b"").status.success());
}

#[test]
fn bad_lmz_files_get_clear_errors() {
    let original = std::fs::read(data("sample.txt")).unwrap();
    let packed = run(&["compress", "-"], &original).stdout;
    let mut flipped = packed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x10;
    // What went wrong, then what to do about it.
    let cases: [(&[u8], &str, &str); 5] = [
        (&[], "empty", "get the whole file again"),
        (b"hello, not lmz", "not an .lmz", "lmzip compress"),
        (
            &packed[..packed.len() / 2],
            "truncated",
            "get the whole file again",
        ),
        (&flipped, "corrupted", "intact copy"),
        (&original, "not an .lmz", "lmzip compress"),
    ];
    for (input, expect, advice) in cases {
        let out = run(&["decompress", "-"], input);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "no bytes on failure");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "expected {expect:?} in {err:?}");
        assert!(err.contains(advice), "expected {advice:?} in {err:?}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn bench_json_has_the_stable_schema_and_every_codec() {
    let out = run(
        &[
            "bench",
            "--json",
            data("sample.txt").to_str().unwrap(),
            data("sample.png").to_str().unwrap(),
            data("sample.wav").to_str().unwrap(),
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = doc["results"].as_array().unwrap();
    let expect = [("text", 5usize), ("image", 8), ("audio", 6)];
    // Model codecs (lm-*, mix-*) join when models/ holds exported weights; count the classical
    // ones, and cm (the mixing coder without a model), which is always there.
    for (kind, codecs) in expect {
        let of_kind = |r: &&serde_json::Value| r["modality"] == kind;
        let codec = |r: &&serde_json::Value| r["codec"].as_str().unwrap().to_string();
        let n = rows
            .iter()
            .filter(of_kind)
            .filter(|r| {
                let c = codec(r);
                !c.starts_with("lm-") && !c.starts_with("mix-") && c != "cm"
            })
            .count();
        assert_eq!(n, codecs * 2, "{kind}");
        let cm = rows.iter().filter(of_kind).filter(|r| codec(r) == "cm");
        assert_eq!(cm.count(), 2, "{kind}: cm whole and chunked");
    }
    for r in rows {
        for key in [
            "file",
            "modality",
            "bytes",
            "codec",
            "mode",
            "compressed_bytes",
            "rate",
            "bits_per_byte",
            "roundtrip",
            "encode_seconds",
            "decode_seconds",
        ] {
            assert!(!r[key].is_null(), "missing {key} in {r}");
        }
        assert_eq!(r["roundtrip"], true);
        let (m, n) = (
            r["compressed_bytes"].as_f64().unwrap(),
            r["bytes"].as_f64().unwrap(),
        );
        assert!((r["rate"].as_f64().unwrap() - m / n).abs() < 1e-12);
        assert!((r["bits_per_byte"].as_f64().unwrap() - 8.0 * m / n).abs() < 1e-9);
    }
    // Real speech: FLAC beats every general-purpose codec, as on the paper's LibriSpeech.
    let audio = |codec: &str| {
        rows.iter()
            .find(|r| r["modality"] == "audio" && r["codec"] == codec && r["mode"] == "whole")
            .unwrap()["compressed_bytes"]
            .as_u64()
            .unwrap()
    };
    for other in ["gzip", "xz", "zstd", "brotli", "bzip2"] {
        assert!(audio("flac") < audio(other), "flac vs {other}");
    }
}

#[test]
fn a_fake_image_is_a_clear_error() {
    let dir = tmpdir("fake");
    let fake = dir.join("cat.png");
    std::fs::write(&fake, b"definitely not a PNG").unwrap();
    let out = run(&["bench", fake.to_str().unwrap()], b"");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a readable image"), "{err}");
}

/// `lmzip train` killed with SIGKILL mid-run resumes from its last checkpoint.
#[cfg(feature = "train")]
#[test]
fn a_killed_training_run_resumes_from_its_checkpoint() {
    let dir = tmpdir("train");
    let ckpt = dir.join("ckpt");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "train",
            "--preset",
            "tiny",
            "--seq-len",
            "32",
            "--batch",
            "2",
            "--steps",
            "100000",
            "--eval-every",
            "5",
            "--eval-windows",
            "2",
            "--checkpoint-minutes",
            "0",
            "--data",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(data("sample.txt").to_string_lossy().into_owned());
        v.push("--dir".into());
        v.push(ckpt.to_string_lossy().into_owned());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut child = Command::new(BIN)
        .args(args(&[]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = ckpt.join("resume").join("state.json");
    // The checkpoint folder is swapped by renames, so a read can miss it for an instant.
    let step_of = |p: &Path| -> Option<u64> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
        v["step"].as_u64()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while step_of(&state).unwrap_or(0) < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint within 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Killed between the two renames of a swap, the whole set is in resume.old/.
    let killed_at = step_of(&state)
        .or_else(|| step_of(&ckpt.join("resume.old").join("state.json")))
        .expect("a checkpoint survives the kill");
    let out = run(
        &args(&["--stop-after", "4"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        step_of(&state),
        Some(killed_at + 4),
        "resumed from the checkpoint, not from scratch"
    );
    // The exported weights load as a codec.
    let weights = std::fs::read(ckpt.join("model.lmzw")).unwrap();
    assert!(lmzip::model::Weights::from_bytes(&weights).is_ok());
}

/// A model folder whose `mix.prime` does not load still gives its model and a cold mix, and says
/// which file it skipped (when a command first needs that model).
#[test]
fn a_bad_prime_leaves_the_model_and_a_cold_mix() {
    let dir = tmpdir("bad-prime");
    let models = dir.join("models/alt");
    std::fs::create_dir_all(&models).unwrap();
    let shipped = data("../../models/200k/model.lmzi");
    std::fs::copy(shipped, models.join("model.lmzi")).unwrap();
    std::fs::write(models.join("mix.prime"), b"not a prime").unwrap();
    let input = std::fs::read(data("sample.txt")).unwrap();
    let sample = &input[..1000];
    let lmzip = |args: &[&str], stdin: &[u8]| {
        Command::new(BIN)
            .args(args)
            .env("LMZIP_MODELS", dir.join("models"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(stdin)?;
                child.wait_with_output()
            })
            .unwrap()
    };
    // A command that needs no model loads none, so says nothing of it.
    let out = lmzip(&["compress", "-c", "gzip", "-"], sample);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("mix.prime"), "{err}");
    for codec in ["lm-alt", "mix-alt"] {
        let out = lmzip(&["compress", "-c", codec, "-"], sample);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{codec}: {err}");
        assert!(
            err.contains("mix.prime"),
            "{codec}: the skipped prime is named: {err}"
        );
        let back = lmzip(&["decompress", "-"], &out.stdout);
        assert!(back.status.success(), "{codec}");
        assert_eq!(back.stdout, sample, "{codec}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Temporary files that a killed run left beside the output (kill -9 allows no clean-up) are
/// removed by the next run to the same output; one of a running process is left alone.
#[cfg(target_os = "linux")]
#[test]
fn temporary_files_of_a_killed_run_are_removed() {
    let dir = tmpdir("stale");
    let input = dir.join("in.txt");
    std::fs::write(&input, b"some text to compress, some text to compress").unwrap();
    let out = dir.join("in.txt.lmz");
    // No process has this id (above Linux's pid_max).
    let stale = dir.join(".in.txt.lmz.999999999.lmzip-tmp");
    let live = dir.join(format!(".in.txt.lmz.{}.lmzip-tmp", std::process::id()));
    let other = dir.join(".notes.txt.999999999.lmzip-tmp");
    for f in [&stale, &live, &other] {
        std::fs::write(f, b"half-written").unwrap();
    }
    let r = run(
        &[
            "compress",
            "-c",
            "gzip",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        b"",
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(!stale.exists(), "the killed run's file is gone");
    assert!(err.contains("left by an interrupted run"), "{err}");
    assert!(live.exists(), "a running process's file stays");
    assert!(other.exists(), "another output's file stays");
    assert!(out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn info_names_the_files_version_and_a_closed_pipe_is_no_panic() {
    let legacy = data("legacy-v1-lm-200k.lmz");
    let out = run(&["info", legacy.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(".lmz version 1"), "{text}");
    // A reader that stops at once (`lmzip info f | head -0`): a quiet exit, not a panic.
    let mut child = Command::new(BIN)
        .args(["info", legacy.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
}

/// The same `.lmz` bytes from the CPU and the GPU engine (lavapipe here), and each decodes on
/// the other: `lm-200k` (encoding windows, lockstep decoding) and `mix-200k` (its prior).
#[cfg(feature = "gpu-engine")]
#[test]
fn gpu_and_cpu_files_are_the_same_and_cross_decode() {
    let dir = tmpdir("gpu");
    // 4 KiB: several windows and two chunks, in seconds on a software adapter.
    let original = std::fs::read(data("sample.txt")).unwrap()[..4096].to_vec();
    let src = dir.join("t.txt");
    std::fs::write(&src, &original).unwrap();
    let s = src.to_str().unwrap();
    for codec in ["lm-200k", "mix-200k"] {
        let mut made = Vec::new();
        for device in ["cpu", "gpu"] {
            let packed = dir.join(format!("{codec}-{device}.lmz"));
            let p = packed.to_str().unwrap();
            let out = run(
                &[
                    "compress", "-f", "-c", codec, "--device", device, s, "-o", p,
                ],
                b"",
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{codec} on {device}: {err}");
            if device == "gpu" {
                assert!(err.contains("products run on"), "{err}");
            }
            made.push(std::fs::read(&packed).unwrap());
        }
        assert!(made[0] == made[1], "{codec}: CPU and GPU files differ");
        for (device, other) in [("cpu", "gpu"), ("gpu", "cpu")] {
            let packed = dir.join(format!("{codec}-{other}.lmz"));
            let back = dir.join(format!("{codec}-{other}-on-{device}.txt"));
            let out = run(
                &[
                    "decompress",
                    "-f",
                    "--device",
                    device,
                    packed.to_str().unwrap(),
                    "-o",
                    back.to_str().unwrap(),
                ],
                b"",
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                std::fs::read(&back).unwrap(),
                original,
                "{codec} {other} → {device}"
            );
        }
    }
}

/// A build without the GPU engine says so for `--device gpu`, and `auto` falls back.
#[cfg(not(feature = "gpu-engine"))]
#[test]
fn device_gpu_without_the_engine_is_a_clear_error() {
    let out = run(&["info", "--device", "gpu", "nothing.lmz"], b"");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no GPU engine"), "{err}");
}
