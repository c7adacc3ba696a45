//! `record`: the cost of one answer for every correct in-process strategy,
//! against the hardware baselines measured in the same group.

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput};
use quizrace::strategy::{AsyncStrategy, Env, Kind, StrategyId, SyncStrategy, Visitor};

use crate::harness::{time_async, time_sync, time_threads};

const WORKERS: [u32; 4] = [1, 2, 4, 8];
const ROOMS: [u32; 2] = [1, 1024];

pub(crate) fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for &workers in &WORKERS {
        for &rooms in &ROOMS {
            let param = format!("w{workers}/r{rooms}");
            // Baseline: a bare fetch_add on one counter per room, nothing else.
            let counters: Vec<AtomicU64> = (0..rooms).map(|_| AtomicU64::new(0)).collect();
            g.bench_function(BenchmarkId::new("baseline-fetch-add", &param), |b| {
                b.iter_custom(|iters| {
                    time_threads(iters, workers, |w, n| {
                        let mut room = (w % rooms) as usize;
                        for _ in 0..n {
                            counters[room].fetch_add(1, Ordering::AcqRel);
                            room += 1;
                            if room == rooms as usize {
                                room = 0;
                            }
                        }
                    })
                })
            });
            // Baseline: a bare arc-swap rcu on one pointer per room (what
            // snapshot's immutable per-room scores build on).
            let pointers: Vec<arc_swap::ArcSwap<u32>> = (0..rooms)
                .map(|_| arc_swap::ArcSwap::from_pointee(0))
                .collect();
            g.bench_function(BenchmarkId::new("baseline-arcswap-rcu", &param), |b| {
                b.iter_custom(|iters| {
                    time_threads(iters, workers, |w, n| {
                        let mut room = (w % rooms) as usize;
                        for _ in 0..n {
                            pointers[room].rcu(|v| **v + 1);
                            room += 1;
                            if room == rooms as usize {
                                room = 0;
                            }
                        }
                    })
                })
            });
            // Baseline: an uncontended plain increment (per-thread, no atomics).
            g.bench_function(BenchmarkId::new("baseline-plain", &param), |b| {
                b.iter_custom(|iters| {
                    time_threads(iters, workers, |_, n| {
                        let mut x = 0u64;
                        for _ in 0..n {
                            x = std::hint::black_box(x + 1);
                        }
                        assert_eq!(x, n);
                    })
                })
            });
            for id in StrategyId::ALL {
                let info = id.info();
                if info.kind != Kind::Correct || info.backend.is_some() {
                    continue;
                }
                id.visit(Point {
                    g: &mut g,
                    rt: &rt,
                    workers,
                    rooms,
                    param: &param,
                });
            }
        }
    }
    g.finish();
}

struct Point<'a, 'g> {
    g: &'a mut criterion::BenchmarkGroup<'g, criterion::measurement::WallTime>,
    rt: &'a tokio::runtime::Runtime,
    workers: u32,
    rooms: u32,
    param: &'a str,
}

impl Visitor for Point<'_, '_> {
    type Output = ();
    fn visit_sync<S: SyncStrategy>(self, id: StrategyId) {
        let (workers, rooms) = (self.workers, self.rooms);
        self.g
            .bench_function(BenchmarkId::new(id.name(), self.param), |b| {
                b.iter_custom(|iters| time_sync::<S>(iters, workers, rooms))
            });
    }
    fn visit_async<S: AsyncStrategy>(self, id: StrategyId) {
        let (workers, rooms, rt) = (self.workers, self.rooms, self.rt);
        let env = Env::default();
        self.g
            .bench_function(BenchmarkId::new(id.name(), self.param), |b| {
                b.iter_custom(|iters| time_async::<S>(id, rt, &env, iters, workers, rooms))
            });
    }
}
