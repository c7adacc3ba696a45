//! Barrier-started, self-checking timed runs shared by the bench groups.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use quizrace::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Env, Layout, Outcome, Recorder, ScoringWork, StrategyId,
    SyncStrategy,
};

/// A layout whose rounds never complete (so no strategy takes a rare
/// "round ended" path inside the timed loop): one round per room, and a
/// player count no run reaches.
pub(crate) fn layout(rooms: u32) -> Layout {
    Layout {
        rooms,
        rounds: 1,
        players: u32::MAX,
    }
}

/// Worker `w` of `workers` records `n` answers, cycling over the rooms from
/// its own starting room (so with many rooms workers rarely collide, with
/// one room they always do).
#[inline(always)]
fn answers(w: u32, n: u64, rooms: u32, mut f: impl FnMut(Answer)) {
    let mut room = w % rooms;
    for i in 0..n {
        f(Answer {
            room,
            round: 0,
            player: i as u32,
            slot: room,
        });
        room += 1;
        if room == rooms {
            room = 0;
        }
    }
}

/// The expected final count of every room after [`answers`] for all workers.
fn expected(workers: u32, per_worker: &[u64], rooms: u32) -> Vec<u32> {
    let mut counts = vec![0u64; rooms as usize];
    for w in 0..workers {
        let n = per_worker[w as usize];
        let full = n / rooms as u64;
        for c in counts.iter_mut() {
            *c += full;
        }
        let mut room = w % rooms;
        for _ in 0..(n % rooms as u64) {
            counts[room as usize] += 1;
            room = (room + 1) % rooms;
        }
    }
    counts.into_iter().map(|c| c as u32).collect()
}

/// Splits `iters` answers over `workers`.
fn split(iters: u64, workers: u32) -> Vec<u64> {
    (0..workers as u64)
        .map(|w| iters / workers as u64 + u64::from(w < iters % workers as u64))
        .collect()
}

/// Times `iters` answers of strategy `S` over `workers` barrier-started
/// threads and checks the counts. Returns the wall time from the earliest
/// worker start to the latest worker end.
pub(crate) fn time_sync<S: SyncStrategy>(iters: u64, workers: u32, rooms: u32) -> Duration {
    let strategy = S::new(layout(rooms)).expect("set-up");
    let per_worker = split(iters, workers);
    let barrier = Barrier::new(workers as usize);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..workers)
            .map(|w| {
                let mut h = strategy.handle();
                let (barrier, n) = (&barrier, per_worker[w as usize]);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    answers(w, n, rooms, |a| {
                        std::hint::black_box(h.record(a, &ScoringWork::None));
                    });
                    (start, Instant::now())
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    });
    assert_eq!(
        strategy.counts(),
        expected(workers, &per_worker, rooms),
        "lost or extra updates"
    );
    span(&spans)
}

/// Like [`time_sync`] for async strategies: `workers` tasks on `rt`.
/// A strategy on a back end runs in a fresh namespace, removed afterwards.
pub(crate) fn time_async<S: AsyncStrategy>(
    id: StrategyId,
    rt: &tokio::runtime::Runtime,
    env: &Env,
    iters: u64,
    workers: u32,
    rooms: u32,
) -> Duration {
    quizrace::sim::in_namespace(id, env, layout(rooms), |env| {
        Ok(run_async::<S>(rt, env, iters, workers, rooms))
    })
    .expect("a namespace on the back end")
}

fn run_async<S: AsyncStrategy>(
    rt: &tokio::runtime::Runtime,
    env: &Env,
    iters: u64,
    workers: u32,
    rooms: u32,
) -> Duration {
    rt.block_on(async {
        let strategy = S::setup(layout(rooms), env, None).await.expect("set-up");
        let per_worker = split(iters, workers);
        let barrier = Arc::new(tokio::sync::Barrier::new(workers as usize));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let mut h = strategy.handle().await.expect("handle");
            let (barrier, n) = (barrier.clone(), per_worker[w as usize]);
            tasks.push(tokio::spawn(async move {
                let mut planned = Vec::with_capacity(n as usize);
                answers(w, n, rooms, |a| planned.push(a));
                barrier.wait().await;
                let start = Instant::now();
                for a in planned {
                    let out = h.record(a, &ScoringWork::None).await;
                    assert!(matches!(out, Outcome::Ok { .. }), "{out:?}");
                }
                (start, Instant::now())
            }));
        }
        let mut spans = Vec::new();
        for t in tasks {
            spans.push(t.await.unwrap());
        }
        let counts = strategy.counts().await.expect("counts");
        assert_eq!(
            counts,
            expected(workers, &per_worker, rooms),
            "lost or extra updates"
        );
        span(&spans)
    })
}

/// Times `workers` barrier-started threads each running `body(worker, n)`.
pub(crate) fn time_threads(iters: u64, workers: u32, body: impl Fn(u32, u64) + Sync) -> Duration {
    let per_worker = split(iters, workers);
    let barrier = Barrier::new(workers as usize);
    let spans: Vec<_> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..workers)
            .map(|w| {
                let (barrier, body, n) = (&barrier, &body, per_worker[w as usize]);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    body(w, n);
                    (start, Instant::now())
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    });
    span(&spans)
}

fn span(spans: &[(Instant, Instant)]) -> Duration {
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    end - start
}
