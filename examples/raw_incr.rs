//! The baseline for `redis-incrby`: a bare INCR loop of N tasks over ONE
//! multiplexed connection (or over C connections, the tasks dealt
//! round-robin), with nothing of quizrace's harness around it.
//!
//! With the layout `per-core` (fifth argument) the loop runs as quizrace's
//! `tokio` runtime runs a Redis strategy: one thread per connection, each
//! with a current-thread runtime of its own driving its connection and its
//! share of the tasks, so no command or reply crosses threads.
//!
//! `scripts/redis-vs-benchmark.sh` runs it next to `redis-benchmark` and
//! `quizrace run --strategy redis-incrby`, so the simulator's overhead can be
//! read off one run. Set-up (connecting, spawning) happens before the timed
//! region; tasks start together behind a barrier.
//!
//! ```text
//! cargo run --release --example raw_incr -- [URL] [TASKS] [TOTAL_OPS] [CONNECTIONS] [multi|per-core]
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
    let per_core = match args.next().as_deref() {
        None | Some("multi") => false,
        Some("per-core") => true,
        Some(other) => return Err(format!("layout {other:?}: expected multi or per-core").into()),
    };
    let per_task = total / tasks.max(1);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let key = Arc::new(format!(
        "quizrace:raw-incr-{}-{stamp:x}:counter",
        std::process::id()
    ));
    if per_core {
        return per_core_loop(&url, tasks, per_task, connections.max(1), &key);
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = redis::Client::open(url.as_str())
            .map_err(|_| "invalid Redis URL (not shown: it may hold a password)")?;
        let mut conns = Vec::new();
        for _ in 0..connections.max(1) {
            conns.push(
                client
                    .get_multiplexed_async_connection_with_config(&config())
                    .await?,
            );
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks + 1));
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let conn = conns[t % conns.len()].clone();
                let (key, barrier) = (key.clone(), barrier.clone());
                tokio::spawn(incr_loop(conn, key, barrier, per_task))
            })
            .collect();
        barrier.wait().await;
        let start = Instant::now();
        for h in handles {
            h.await??;
        }
        let elapsed = start.elapsed();
        let connections = conns.len();
        let count = read_and_delete(&client, &key).await?;
        report(
            tasks,
            per_task,
            &format!("{connections} multiplexed connection(s)"),
            elapsed,
            count,
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

/// The connection settings of both layouts.
fn config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
}

/// One task's loop: wait for the start, then `n` INCRs of `key`.
async fn incr_loop(
    mut conn: redis::aio::MultiplexedConnection,
    key: Arc<String>,
    barrier: Arc<tokio::sync::Barrier>,
    n: usize,
) -> redis::RedisResult<()> {
    barrier.wait().await;
    for _ in 0..n {
        let _: u64 = redis::cmd("INCR")
            .arg(key.as_str())
            .query_async(&mut conn)
            .await?;
    }
    Ok(())
}

/// One thread per connection, each running a current-thread runtime with
/// its connection and every `threads`-th task; a barrier shared by all
/// runtimes releases the tasks together, once every thread has connected
/// (a thread that could not connect ends the program with its error).
fn per_core_loop(
    url: &str,
    tasks: usize,
    per_task: usize,
    threads: usize,
    key: &Arc<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = redis::Client::open(url)
        .map_err(|_| "invalid Redis URL (not shown: it may hold a password)")?;
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks + 1));
    let (connected_tx, connected) = std::sync::mpsc::channel::<Result<(), String>>();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (client, key, barrier) = (client.clone(), key.clone(), barrier.clone());
            let connected = connected_tx.clone();
            let mine = (t..tasks).step_by(threads).count();
            std::thread::spawn(move || -> Result<(), String> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async move {
                    let conn = client
                        .get_multiplexed_async_connection_with_config(&config())
                        .await
                        .map_err(|e| e.to_string());
                    let _ = connected.send(conn.as_ref().map(|_| ()).map_err(Clone::clone));
                    let conn = conn?;
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..mine {
                        let (key, barrier) = (key.clone(), barrier.clone());
                        set.spawn(incr_loop(conn.clone(), key, barrier, per_task));
                    }
                    while let Some(done) = set.join_next().await {
                        done.map_err(|e| e.to_string())?
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
        })
        .collect();
    drop(connected_tx);
    for _ in 0..threads {
        connected
            .recv()
            .map_err(|_| "a worker thread ended before connecting")??;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(barrier.wait());
    let start = Instant::now();
    for w in workers {
        w.join().map_err(|_| "a worker thread panicked")??;
    }
    let elapsed = start.elapsed();
    let count = rt.block_on(read_and_delete(&client, key))?;
    report(
        tasks,
        per_task,
        &format!("{threads} threads, a current-thread runtime and connection each"),
        elapsed,
        count,
    );
    Ok(())
}

/// The counter's final value; the key is deleted.
async fn read_and_delete(client: &redis::Client, key: &str) -> redis::RedisResult<u64> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    let count: u64 = redis::cmd("GET").arg(key).query_async(&mut conn).await?;
    let _: u64 = redis::cmd("DEL").arg(key).query_async(&mut conn).await?;
    Ok(count)
}

fn report(tasks: usize, per_task: usize, layout: &str, elapsed: Duration, count: u64) {
    let ops = (per_task * tasks) as f64;
    println!(
        "raw INCR: {tasks} tasks x {per_task} on {layout}: {:.0} ops/s ({:.3} s; counter {count})",
        ops / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}
