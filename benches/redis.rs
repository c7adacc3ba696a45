//! `redis`: the correct Redis strategies, 50 tasks over the shared
//! connection, when `QUIZRACE_REDIS_URL` names a server.

use criterion::{BenchmarkId, Criterion, Throughput};
use quizrace::strategy::{AsyncStrategy, Env, Kind, StrategyId, SyncStrategy, Visitor};

use crate::harness::time_async;

pub(crate) fn bench(c: &mut Criterion) {
    let Ok(url) = std::env::var("QUIZRACE_REDIS_URL") else {
        println!(
            "redis benches skipped: set QUIZRACE_REDIS_URL=redis://127.0.0.1:PORT to run them"
        );
        return;
    };
    let redis = &quizrace::backend::redis::FAMILY;
    let env = match quizrace::backend::configure(&[(redis, url)], &[]) {
        Ok(env) => env,
        Err(e) => {
            println!("redis benches skipped: {e}");
            return;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("redis");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    for id in StrategyId::ALL {
        if id.info().backend == Some(redis) && id.info().kind == Kind::Correct {
            id.visit(Point {
                g: &mut g,
                rt: &rt,
                env: &env,
            });
        }
    }
    g.finish();
}

struct Point<'a, 'g> {
    g: &'a mut criterion::BenchmarkGroup<'g, criterion::measurement::WallTime>,
    rt: &'a tokio::runtime::Runtime,
    env: &'a Env,
}

impl Visitor for Point<'_, '_> {
    type Output = ();
    fn visit_sync<S: SyncStrategy>(self, _id: StrategyId) {}
    fn visit_async<S: AsyncStrategy>(self, id: StrategyId) {
        let (rt, env) = (self.rt, self.env);
        self.g
            .bench_function(BenchmarkId::new(id.name(), "w50/r1024"), |b| {
                b.iter_custom(|iters| time_async::<S>(id, rt, env, iters, 50, 1024))
            });
    }
}
