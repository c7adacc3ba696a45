//! `harness`: what the simulator's own worker loop costs per answer
//! (timestamps, stores, latency) with a strategy that does nothing: the
//! floor under every in-process figure the `run` table reports.

use criterion::{Criterion, Throughput};

pub(crate) fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("harness");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bookkeeping-noop", |b| {
        b.iter_custom(|iters| {
            // One room-round per call; large calls in pieces that fit a u32.
            let mut left = iters;
            let mut total = std::time::Duration::ZERO;
            while left > 0 {
                let n = left.min(10_000_000) as u32;
                total += quizrace::sim::bookkeeping(n);
                left -= n as u64;
            }
            total
        })
    });
    g.bench_function("clock-read", |b| {
        let clock = quizrace::sim::Clock::start();
        b.iter(|| clock.now())
    });
    #[cfg(target_arch = "x86_64")]
    g.bench_function("rdtsc-unordered", |b| {
        // SAFETY: rdtsc exists on every x86-64 CPU and has no preconditions.
        b.iter(|| unsafe { core::arch::x86_64::_rdtsc() })
    });
    g.finish();
}
