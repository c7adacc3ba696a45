//! Shuttle models of the async strategies, which loom cannot run.
//!
//! Shuttle runs every task on one OS thread and chooses which runnable task
//! goes next at each `.await`: exactly the "single-threaded schedule" under
//! which `async-rmw` must still lose an update. Schedulers are seeded, so a
//! failure is reproducible; we also check that a failing schedule replays to
//! the same failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use quizrace::strategy::{
    locks::TokioMutex, racy::AsyncRmw, AsyncRecorder, AsyncStrategy, Env, Layout, Outcome,
    ScoringWork,
};
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{Config, FailurePersistence, Runner};

const PLAYERS: u32 = 3;

/// Three tasks each record one answer of the same room-round, awaiting a
/// yield while scoring; then the invariants are checked.
fn scenario<S: AsyncStrategy>() {
    shuttle::future::block_on(async {
        let layout = Layout {
            rooms: 1,
            rounds: 1,
            players: PLAYERS,
        };
        let s = S::setup(layout, &Env::default(), None).await.unwrap();
        let mut tasks = Vec::new();
        for player in 0..PLAYERS {
            let mut h = s.handle().await.unwrap();
            tasks.push(shuttle::future::spawn(async move {
                h.record(layout.answer(0, 0, player), &ScoringWork::Yield)
                    .await
            }));
        }
        let mut fires = 0;
        for t in tasks {
            if t.await.unwrap() == (Outcome::Ok { ended: true }) {
                fires += 1;
            }
        }
        let count = s.counts().await.unwrap()[0];
        assert_eq!(count, PLAYERS, "lost update: count {count} of {PLAYERS}");
        assert_eq!(fires, 1, "endQuizTime fired {fires} times");
    });
}

fn config(dir: Option<PathBuf>) -> Config {
    let mut c = Config::new();
    c.failure_persistence = match dir {
        Some(d) => FailurePersistence::File(Some(d)),
        None => FailurePersistence::None,
    };
    c
}

fn random<S: AsyncStrategy>(seed: u64, dir: Option<PathBuf>) {
    Runner::new(RandomScheduler::new_from_seed(seed, 500), config(dir)).run(scenario::<S>);
}

fn pct<S: AsyncStrategy>(seed: u64) {
    Runner::new(PctScheduler::new_from_seed(seed, 3, 500), config(None)).run(scenario::<S>);
}

fn panics(f: impl FnOnce()) -> Option<String> {
    catch_unwind(AssertUnwindSafe(f)).err().map(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn async_rmw_is_caught_single_threaded() {
    for seed in [1, 2, 3] {
        let msg = panics(|| random::<AsyncRmw>(seed, None))
            .unwrap_or_else(|| panic!("random scheduler (seed {seed}) missed async-rmw's race"));
        assert!(msg.contains("lost update"), "unexpected failure: {msg}");
        let msg = panics(|| pct::<AsyncRmw>(seed))
            .unwrap_or_else(|| panic!("PCT scheduler (seed {seed}) missed async-rmw's race"));
        assert!(msg.contains("lost update"), "unexpected failure: {msg}");
    }
}

#[test]
fn async_rmw_failure_replays() {
    let dir = std::env::temp_dir().join(format!("quizrace-shuttle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(panics(|| random::<AsyncRmw>(7, Some(dir.clone()))).is_some());
    let schedule = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .next()
        .expect("shuttle persisted the failing schedule");
    let msg = panics(|| shuttle::replay_from_file(scenario::<AsyncRmw>, &schedule))
        .expect("the failing schedule fails again when replayed");
    assert!(msg.contains("lost update"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tokio_mutex_is_correct() {
    for seed in [1, 2, 3] {
        random::<TokioMutex>(seed, None);
        pct::<TokioMutex>(seed);
    }
}
