//! The training data: files read through the modality adapters, a held-back validation tail,
//! and random windows drawn from the rest.

use super::TrainError;
use std::path::PathBuf;

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

    /// `count` windows of `len` bytes from the held-back part, the same at every evaluation, across
    /// resumptions and across seeds (so a run continued with another seed is measured on the
    /// same bytes).
    pub(super) fn validation(&self, len: usize, count: usize) -> Vec<&[u8]> {
        let mut rng = 0xE7A1;
        let n = (self.valid.len() / len.max(1)).max(1);
        (0..count.min(n))
            .map(|_| {
                let i = (next(&mut rng) % n as u64) as usize * len;
                &self.valid[i..(i + len).min(self.valid.len())]
            })
            .filter(|w| w.len() == len)
            .collect()
    }

    /// A random window of `len` bytes: a modality uniformly (when there are several), then a
    /// file weighted by size.
    pub(super) fn sample(&self, len: usize, rng: &mut u64) -> &[u8] {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
