//! Writes each fuzz target's seed corpus from real files (`fuzz/corpus/<target>/`): `.lmz` files
//! and raw payloads of every codec on the repository's sample text, image and audio, the sample
//! media under each name the modality target tries, and the shipped model files.

use lmzip::codecs;
use lmzip::fuzzing::{CODECS, NAMES};
use lmzip::modality::{self, Layout};
use std::path::{Path, PathBuf};

fn main() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    lmzip::fuzzing::register_models(&root)?;
    let out = root.join("fuzz/corpus");
    let read = |p: &str| std::fs::read(root.join(p)).map_err(|e| format!("{p}: {e}"));
    let text = read("tests/data/sample.txt")?;
    let image = modality::prepare(&read("tests/data/sample.png")?, "sample.png")
        .map_err(|e| e.to_string())?;
    let audio = modality::prepare(&read("tests/data/sample.wav")?, "sample.wav")
        .map_err(|e| e.to_string())?;
    let Layout::Image { width, .. } = image.layout else {
        return Err("sample.png is not an image".into());
    };
    // Each kind cut to at most `cap` bytes (an image to whole rows), so its decode stays under
    // the target's limit for the codec.
    let cut = |cap: usize| {
        let rows = (cap / width as usize).clamp(1, 32);
        [
            ("text", text[..cap.min(3000)].to_vec(), Layout::Bytes),
            (
                "image",
                image.stream[..rows * width as usize].to_vec(),
                Layout::Image {
                    width,
                    height: rows as u32,
                },
            ),
            (
                "audio",
                audio.stream[..audio.stream.len().min(cap)].to_vec(),
                audio.layout,
            ),
        ]
    };

    let mut n = 0;
    let mut save = |target: &str, name: String, bytes: &[u8]| -> Result<(), String> {
        let dir: PathBuf = out.join(target);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        n += 1;
        std::fs::write(dir.join(name), bytes).map_err(|e| e.to_string())
    };
    for (i, name) in CODECS.iter().enumerate() {
        let kinds = cut(lmzip::fuzzing::limit(name));
        if let Ok(lmz) = lmzip::lmz::compress(&kinds[0].1, name) {
            save("lmz", format!("{name}.lmz"), &lmz)?;
        }
        let Some(codec) = codecs::by_name(name) else {
            continue;
        };
        for (kind, data, layout) in kinds {
            if !codec.accepts(&layout) {
                continue;
            }
            if let Ok(packed) = codec.compress(&data, &layout) {
                let mut seed = vec![i as u8];
                seed.extend_from_slice(&(data.len() as u16).to_le_bytes());
                seed.extend_from_slice(&packed);
                save("payload", format!("{name}-{kind}"), &seed)?;
            }
        }
    }
    let media = std::fs::read_dir(root.join("fuzz/media"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let samples = ["png", "jpg", "flac", "wav", "mp3", "ogg"]
        .map(|e| root.join(format!("tests/data/sample.{e}")))
        .into_iter()
        .chain(media);
    for path in samples {
        let Some(ext) = path.extension().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        let Some(sel) = NAMES.iter().position(|n| n.ends_with(&format!(".{ext}"))) else {
            continue;
        };
        let mut seed = vec![sel as u8];
        seed.extend(std::fs::read(&path).map_err(|e| e.to_string())?);
        save("modality", format!("sample.{ext}"), &seed)?;
    }
    for (sel, file) in [
        (0u8, "models/200k/model.lmzi"),
        (1, "models/200k/model.lmzw"),
        (2, "models/cm.prime"),
    ] {
        let mut seed = vec![sel];
        seed.extend(read(file)?);
        save("model_file", file.replace('/', "_"), &seed)?;
    }
    println!("{n} seeds in {}", out.display());
    Ok(())
}
