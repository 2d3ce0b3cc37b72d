//! Independent chunks on several threads natively; in order, one at a time, in wasm (the page
//! spreads chunks over Web Workers instead).

/// The cores available (1 in wasm).
pub fn cores() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::thread::available_parallelism().map_or(1, |t| t.get())
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// `[f(0), …, f(n−1)]`, computed on up to `threads` threads.
pub fn map<R: Send>(n: usize, threads: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let threads = threads.min(n);
        if threads > 1 {
            use std::sync::atomic::{AtomicUsize, Ordering};
            let next = AtomicUsize::new(0);
            let mut parts: Vec<(usize, R)> = std::thread::scope(|s| {
                let workers: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| {
                            let mut done = Vec::new();
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                if i >= n {
                                    return done;
                                }
                                done.push((i, f(i)));
                            }
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            });
            parts.sort_by_key(|(i, _)| *i);
            return parts.into_iter().map(|(_, r)| r).collect();
        }
    }
    let _ = threads;
    (0..n).map(f).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_on_any_thread_count() {
        for threads in [1, 2, 5] {
            assert_eq!(
                super::map(7, threads, |i| i * i),
                vec![0, 1, 4, 9, 16, 25, 36]
            );
        }
        assert!(super::map(0, 3, |i| i).is_empty());
    }
}
