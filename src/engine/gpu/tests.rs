//! The GPU engine against the CPU engine, on whatever adapter `wgpu` finds (lavapipe in CI).

use super::{Adapters, Gpu};
use crate::coder::FreqTable;
use crate::engine::forward::{IntModel, Products};
use crate::engine::IntWeights;
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn model() -> IntModel {
    let bytes = std::fs::read(crate::repo_root().join("models/200k/model.lmzi")).unwrap();
    IntModel::new(&IntWeights::from_bytes(&bytes).unwrap()).unwrap()
}

fn freqs(t: &FreqTable) -> Vec<u32> {
    (0..t.len()).map(|s| t.freq(s)).collect()
}

/// lavapipe is installed by `scripts/setup.sh`; without any adapter this fails loudly.
fn gpu() -> Arc<Gpu> {
    Gpu::new(Adapters::Any).expect("a Vulkan adapter (lavapipe: mesa-vulkan-drivers)")
}

#[test]
fn gpu_products_equal_the_cpu_kernels_on_every_map() {
    let (m, g) = (model(), gpu());
    let gm = g.load(&m);
    let mut x = 7u64;
    for lin in m.linears() {
        for rows in [1usize, 3, 64] {
            let xs: Vec<i16> = (0..rows * lin.n_in)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    // Every i16, the extremes too: the int8 split must hold for all.
                    match x >> 60 {
                        0 => i16::MAX,
                        1 => i16::MIN,
                        _ => (x >> 40) as i16,
                    }
                })
                .collect();
            let mut want = vec![0; rows * lin.n_out()];
            let mut got = vec![1; rows * lin.n_out()];
            lin.products(&xs, rows, &mut want);
            (&gm).linear(lin, &xs, rows, &mut got);
            assert_eq!(got, want, "map {} × {rows} rows", lin.id);
        }
    }
    assert!(!gm.fell_back(), "every product ran on {}", g.name());
    eprintln!("products checked on {}", g.name());
}

#[test]
fn gpu_windows_and_lanes_give_the_golden_tables() {
    let (m, g) = (model(), gpu());
    let gm = g.load(&m);
    let text = std::fs::read(crate::repo_root().join("tests/data/sample.txt")).unwrap();
    let mut tokens = vec![0u8];
    tokens.extend_from_slice(&text[..511]);
    let (mut cpu, mut on_gpu) = (Vec::new(), Vec::new());
    m.window_tables(&tokens, &mut |t| cpu.push(freqs(&t)));
    gm.window_tables_from(&m, &tokens, 0, &mut |t| on_gpu.push(freqs(&t)));
    assert_eq!(on_gpu.len(), 512);
    assert!(on_gpu == cpu, "window tables differ on {}", g.name());
    // The committed fingerprint: what `table_hash` gives stepping a session.
    let golden =
        std::fs::read_to_string(crate::repo_root().join("tests/data/engine-golden.txt")).unwrap();
    let hex: String = gm
        .table_hash(&m, &text[..512])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, golden.trim());
    // Two lanes in lockstep, one a step behind, as decoding runs them.
    let mut lanes = gm.lanes(&m, 2);
    let mut got = [Vec::new(), Vec::new()];
    for i in 0..=40 {
        let (ids, toks): (Vec<usize>, Vec<u8>) = if i == 0 {
            (vec![0], vec![tokens[0]])
        } else if i == 40 {
            (vec![1], vec![tokens[39]])
        } else {
            (vec![0, 1], vec![tokens[i], tokens[i - 1]])
        };
        lanes.step(&ids, &toks, &mut |lane, t| got[lane].push(freqs(&t)));
    }
    assert!(
        got[0] == cpu[..40] && got[1] == cpu[..40],
        "lane tables differ"
    );
    assert!(!gm.fell_back());
}

/// The wider models too (heads of 32, 8 heads for lm-3m): a window of dev text and a slid
/// one (context first), as the coder runs them, attention included.
#[test]
fn every_shipped_model_gives_the_cpu_tables_on_the_gpu() {
    let g = gpu();
    let text = std::fs::read(crate::repo_root().join("tests/data/sample.txt")).unwrap();
    for name in ["200k", "800k", "3m"] {
        let path = crate::repo_root().join(format!("models/{name}/model.lmzi"));
        let m =
            IntModel::new(&IntWeights::from_bytes(&std::fs::read(path).unwrap()).unwrap()).unwrap();
        let gm = g.load(&m);
        let w = m.config().context;
        for (start, from) in [(0, 0), (w - w / 8, w / 8)] {
            let tokens = &text[start..start + w];
            let (mut cpu, mut on_gpu) = (Vec::new(), Vec::new());
            m.window_tables_from(tokens, from, &mut |t| cpu.push(freqs(&t)));
            gm.window_tables_from(&m, tokens, from, &mut |t| on_gpu.push(freqs(&t)));
            assert_eq!(on_gpu.len(), w - from);
            assert!(on_gpu == cpu, "lm-{name} window at {start} differs");
        }
        assert!(!gm.fell_back(), "lm-{name} ran on {}", g.name());
    }
}

/// A device that reports an error costs speed, not bytes: the CPU redoes the work.
#[test]
fn a_failing_gpu_falls_back_to_the_same_tables() {
    let (m, g) = (model(), gpu());
    let gm = g.load(&m);
    let text = std::fs::read(crate::repo_root().join("tests/data/sample.txt")).unwrap();
    let tokens = &text[..300];
    let (mut cpu, mut on_gpu) = (Vec::new(), Vec::new());
    m.window_tables(tokens, &mut |t| cpu.push(freqs(&t)));
    g.failed.store(true, Ordering::Relaxed);
    gm.window_tables_from(&m, tokens, 0, &mut |t| on_gpu.push(freqs(&t)));
    assert!(gm.fell_back(), "the failure was noticed");
    assert!(on_gpu == cpu);
}
