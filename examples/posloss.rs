// Temporary measurement: engine bits per byte by position inside 512-byte windows.
use lmzip::{codecs::lm, modality, paper};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = &args[1];
    let bytes = std::fs::read(format!("models/{model}/model.lmzi")).unwrap();
    let codec = lm::register(model, &bytes).unwrap();
    let limit: usize = args[2].parse().unwrap();
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for a in &args[3..] {
        let p = std::path::PathBuf::from(a);
        if p.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            v.sort();
            files.extend(v);
        } else {
            files.push(p);
        }
    }
    let mut sum = vec![0f64; 8];
    let mut cnt = vec![0usize; 8];
    let mut done = 0;
    'outer: for f in files {
        let raw = std::fs::read(&f).unwrap();
        let p = modality::prepare(&raw, &f.to_string_lossy()).unwrap();
        for c in paper::chunks(&p.stream, &p.layout) {
            for w in c.bytes.chunks(512) {
                let mut s = codec.predictor_session();
                let mut prev = 0u8;
                for (i, &b) in w.iter().enumerate() {
                    let pr = s.step(prev);
                    sum[i / 64] += -pr[b as usize].log2();
                    cnt[i / 64] += 1;
                    prev = b;
                }
                done += w.len();
                if done >= limit {
                    break 'outer;
                }
            }
        }
    }
    let tot: f64 = sum.iter().sum();
    let n: usize = cnt.iter().sum();
    print!("{model}: all {:.3}", tot / n as f64);
    for i in 0..8 {
        print!(
            " | {}-{}: {:.3}",
            i * 64,
            i * 64 + 63,
            sum[i] / cnt[i].max(1) as f64
        );
    }
    let half: f64 = sum[4..].iter().sum::<f64>() / cnt[4..].iter().sum::<usize>() as f64;
    println!(" | 256+: {half:.3}");
}
