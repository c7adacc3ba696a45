//! `redis`: the correct Redis strategies, 50 tasks over the shared
//! connection, when `QUIZRACE_REDIS_URL` names a server; and the same on a
//! Redis Cluster, side by side (`…/cluster`), when
//! `QUIZRACE_REDIS_CLUSTER_URL` names one of its nodes.
//! `redis-incrby-wait` needs a replica and is not benched here (its cost
//! shows in `scenarios/redis-failover.toml`).

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput};
use quizrace::backend::redis::RedisConfig;
use quizrace::strategy::{
    AsyncStrategy, Env, Kind, Replication, StrategyId, SyncStrategy, Visitor,
};

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
    let mut envs = vec![("w50/r1024", env)];
    match std::env::var("QUIZRACE_REDIS_CLUSTER_URL").map(|u| RedisConfig::new(&u)) {
        Ok(Ok(cfg)) => envs.push((
            "w50/r1024/cluster",
            Env::default().with_backend(Arc::new(cfg.with_cluster(true))),
        )),
        Ok(Err(e)) => println!("redis cluster benches skipped: {e}"),
        Err(_) => println!(
            "redis cluster benches skipped: set QUIZRACE_REDIS_CLUSTER_URL to a cluster node's \
             URL to compare"
        ),
    }
    let mut g = c.benchmark_group("redis");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    for id in StrategyId::ALL {
        let info = id.info();
        if info.backend == Some(redis)
            && info.kind == Kind::Correct
            && info.replication != Replication::WaitsForReplica
        {
            // One node and the cluster one after the other, per strategy.
            for (point, env) in &envs {
                id.visit(Point {
                    g: &mut g,
                    rt: &rt,
                    env,
                    point,
                });
            }
        }
    }
    g.finish();
}

struct Point<'a, 'g> {
    g: &'a mut criterion::BenchmarkGroup<'g, criterion::measurement::WallTime>,
    rt: &'a tokio::runtime::Runtime,
    env: &'a Env,
    point: &'static str,
}

impl Visitor for Point<'_, '_> {
    type Output = ();
    fn visit_sync<S: SyncStrategy>(self, _id: StrategyId) {}
    fn visit_async<S: AsyncStrategy>(self, id: StrategyId) {
        let (rt, env) = (self.rt, self.env);
        self.g
            .bench_function(BenchmarkId::new(id.name(), self.point), |b| {
                b.iter_custom(|iters| time_async::<S>(id, rt, env, iters, 50, 1024))
            });
    }
}
