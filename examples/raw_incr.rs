//! The baseline for `redis-incrby`: a bare INCR loop of N tasks over ONE
//! multiplexed connection (or over C connections, the tasks dealt
//! round-robin, as quizrace deals its handles), with nothing of quizrace's
//! harness around it.
//!
//! `scripts/redis-vs-benchmark.sh` runs it next to `redis-benchmark` and
//! `quizrace run --strategy redis-incrby`, so the simulator's overhead can be
//! read off one run. Set-up (connecting, spawning) happens before the timed
//! region; tasks start together behind a barrier.
//!
//! ```text
//! cargo run --release --example raw_incr -- [URL] [TASKS] [TOTAL_OPS] [CONNECTIONS]
//! ```
//!
//! The URL defaults to `QUIZRACE_REDIS_URL`, then `redis://127.0.0.1:6379`.
//! The one key it uses lives under `quizrace:raw-incr-<pid>-<ns>:` and is
//! deleted at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .or_else(|| std::env::var("QUIZRACE_REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let tasks: usize = args.next().map_or(Ok(50), |s| s.parse())?;
    let total: usize = args.next().map_or(Ok(200_000), |s| s.parse())?;
    let connections: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let per_task = total / tasks.max(1);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = redis::Client::open(url.as_str())
            .map_err(|_| "invalid Redis URL (not shown: it may hold a password)")?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let mut conns = Vec::new();
        for _ in 0..connections.max(1) {
            conns.push(client.get_multiplexed_async_connection_with_config(&config).await?);
        }
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
        let key = Arc::new(format!("quizrace:raw-incr-{}-{stamp:x}:counter", std::process::id()));
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks + 1));
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let mut conn = conns[t % conns.len()].clone();
                let (key, barrier) = (key.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    for _ in 0..per_task {
                        let _: u64 = redis::cmd("INCR").arg(key.as_str()).query_async(&mut conn).await?;
                    }
                    Ok::<_, redis::RedisError>(())
                })
            })
            .collect();
        barrier.wait().await;
        let start = Instant::now();
        for h in handles {
            h.await??;
        }
        let elapsed = start.elapsed();
        let connections = conns.len();
        let mut conn = conns.swap_remove(0);
        let count: u64 = redis::cmd("GET").arg(key.as_str()).query_async(&mut conn).await?;
        let _: u64 = redis::cmd("DEL").arg(key.as_str()).query_async(&mut conn).await?;
        let ops = (per_task * tasks) as f64;
        println!(
            "raw INCR: {tasks} tasks x {per_task} on {} multiplexed connection(s): {:.0} ops/s ({:.3} s; counter {count})",
            connections,
            ops / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
