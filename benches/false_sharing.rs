//! `false_sharing`: each worker increments only its own counter, so nothing
//! is logically shared. Packed side by side, the counters share a cache line
//! and the cores still fight over it; padded (`CachePadded`, 128 bytes on
//! x86-64 because the adjacent-line prefetcher pairs lines) they do not.

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput};
use crossbeam_utils::CachePadded;

use crate::harness::time_threads;

pub(crate) fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("false_sharing");
    g.throughput(Throughput::Elements(1));
    for workers in [1u32, 2, 4] {
        let packed: Vec<AtomicU64> = (0..workers).map(|_| AtomicU64::new(0)).collect();
        g.bench_function(BenchmarkId::new("packed", workers), |b| {
            b.iter_custom(|iters| {
                time_threads(iters, workers, |w, n| {
                    let c = &packed[w as usize];
                    for _ in 0..n {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
        });
        let padded: Vec<CachePadded<AtomicU64>> = (0..workers)
            .map(|_| CachePadded::new(AtomicU64::new(0)))
            .collect();
        g.bench_function(BenchmarkId::new("padded", workers), |b| {
            b.iter_custom(|iters| {
                time_threads(iters, workers, |w, n| {
                    let c = &padded[w as usize];
                    for _ in 0..n {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
        });
    }
    g.finish();
}
