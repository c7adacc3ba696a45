//! `sql`: the correct PostgreSQL and MariaDB strategies, 50 tasks over each
//! strategy's connection pool, when `QUIZRACE_PG_URL` / `QUIZRACE_MYSQL_URL`
//! name a server (each run in a namespace of its own, its tables dropped).

use criterion::{BenchmarkId, Criterion, Throughput};
use quizrace::backend::{mysql, postgres, Family};
use quizrace::strategy::{AsyncStrategy, Env, Kind, StrategyId, SyncStrategy, Visitor};

use crate::harness::time_async;

pub(crate) fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("sql");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    for family in [&postgres::FAMILY, &mysql::FAMILY] {
        let Ok(url) = std::env::var(family.url_env) else {
            println!(
                "sql benches for {} skipped: set {} to run them",
                family.display, family.url_env
            );
            continue;
        };
        let env = match quizrace::backend::configure(&[(family, url)], &[]) {
            Ok(env) => env,
            Err(e) => {
                println!("sql benches for {} skipped: {e}", family.display);
                continue;
            }
        };
        for id in StrategyId::ALL {
            let i = id.info();
            if i.backend.is_some_and(|f: &Family| f == family) && i.kind == Kind::Correct {
                id.visit(Point {
                    g: &mut g,
                    rt: &rt,
                    env: &env,
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
