//! `quizrace explain`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use quizrace::backend;
use quizrace::explain::{investigate, timeline_run, Evidence};
use quizrace::strategy::{Replication, StrategyId, TraceOp};

use super::args::BackendArgs;
use super::table::{ns, reflow, si, thousands, width, wrap, Style};
use super::Exit;

/// `quizrace explain STRATEGY`: the catalogue's explanation, then what a
/// short real run shows.
pub(crate) fn explain(name: &str, svg: Option<&Path>, backends: &BackendArgs) -> Result<Exit> {
    let id = StrategyId::from_name(name)?;
    let info = id.info();
    let style = Style::detect();
    outln!(
        "{}  ({})\n",
        style.bold(info.name),
        style.kind(info.kind, 0)
    );
    outln!("{}\n", reflow(info.explanation.trim_end(), width()));
    let needed: Vec<_> = info.backend.into_iter().collect();
    let given: Vec<_> = backends
        .urls
        .iter()
        .filter(|(f, _)| needed.contains(f))
        .cloned()
        .collect();
    let mut env = backend::configure(&given, &needed)?;
    // Its short runs create keys, tables or worker processes: Ctrl-C and
    // SIGTERM must clean those up as `run` does.
    if info.backend.is_some() || info.demo == quizrace::strategy::Demo::Partition {
        super::interrupt::install()?;
    }
    // A strategy that waits for a replica, without a URL of the user's:
    // a primary and a replica of quizrace's own (the Redis lab).
    let _lab = if info.replication == Replication::WaitsForReplica && given.is_empty() {
        env = backend::redis::apply_options(
            env,
            backend::redis::Options {
                cluster: false,
                lab: Some(backend::redis::LabKind::PrimaryReplica),
            },
        )?;
        let (prepared, guards) = backend::prepare(&env)?;
        env = prepared;
        guards
    } else {
        Vec::new()
    };
    outln!("{}", style.bold("What a real run shows"));
    let evidence = match investigate(id, &env) {
        Ok(e) => e,
        // No server to run on: the explanation stands; say how to see a run.
        Err(e) if info.backend.is_some() && unreachable(&e) => {
            let why = e.to_string();
            let (family, url) = info
                .backend
                .and_then(|f| Some((f, env.backend(f)?.redacted_url())))
                .map_or(("the", String::new()), |(f, u)| (f.display, u));
            let flag = info.backend.map_or("", |f| f.url_flag);
            outln!(
                "{}",
                wrap(&format!(
                    "No {family} server answered at {url}: start one, or pass --{flag} URL, to \
                     see a real run."
                ))
            );
            eprintln!("quizrace: {why}");
            return Ok(Exit::Unavailable);
        }
        Err(e) => return Err(e.into()),
    };
    match evidence {
        Evidence::Counterexample {
            setup,
            attempts,
            timeline,
            culprits,
            summary,
        } => {
            outln!(
                "{}\n",
                wrap(&format!(
                    "Setup: {setup}; reproduced on attempt {attempts}."
                ))
            );
            outln!("  order  worker  room  operation");
            for (i, e) in timeline.iter().enumerate() {
                let op = match e.op {
                    TraceOp::Read(v) => format!("read  count = {v}"),
                    TraceOp::Write(v) => format!("write count = {v}"),
                    TraceOp::Increment(v) => format!("increment -> {v}"),
                    TraceOp::Check(v) => format!("check: count = {v}"),
                    TraceOp::Fire => "emit endQuizTime".to_string(),
                };
                let line = format!("  {:>5}  {:>6}  {:>4}  {op}", e.seq + 1, e.worker, e.slot);
                if culprits.contains(&i) {
                    outln!("{}", style.red(&format!("{line}   <--")));
                } else {
                    outln!("{line}");
                }
            }
            outln!("\n{}", wrap(&format!("{summary}.")));
        }
        Evidence::Partitioned {
            players,
            counts,
            fires,
        } => {
            outln!(
                "{}",
                wrap(&format!(
                    "Setup: one room of {players} players, answers spread round-robin over 2 \
                     processes."
                ))
            );
            for (i, c) in counts.iter().enumerate() {
                outln!("  process {i}: scoringMap[room] = {c} of {players}");
            }
            outln!(
                "\n{}",
                wrap(&format!(
                    "endQuizTime {}: neither process ever sees {players} answers, so the room \
                     hangs.",
                    match fires {
                        0 => "never fired".to_string(),
                        1 => "fired once".to_string(),
                        n => format!("fired {n} times"),
                    }
                ))
            );
        }
        Evidence::Confirmed { setup, result } => {
            outln!(
                "{}",
                wrap(&format!(
                    "A run just now ({setup}): {} answers, verdict {}, {} answers/s, record call \
                     p50 {} and p99 {}.",
                    thousands(result.answers),
                    style.verdict(&result),
                    si(result.answers_per_s),
                    ns(result.latency_ns.p50),
                    ns(result.latency_ns.p99)
                ))
            );
        }
        Evidence::NotReproduced { setup } => {
            outln!(
                "{}",
                wrap(&format!(
                    "The race did not show in this short run ({setup}). Races are \
                     timing-dependent; try `quizrace run --strategy {name} --scoring-work yield`."
                ))
            );
        }
    }
    if let Some(path) = svg {
        let result = timeline_run(id, &env)?;
        let Some(t) = &result.timeline else {
            bail!("the run kept no history to draw");
        };
        let title = format!(
            "{name}: room-round {} ({}), one lane per worker",
            t.slot,
            match t.why.as_str() {
                "first" => "no anomaly in this run",
                why => why,
            }
        );
        std::fs::write(path, quizrace::timeline::svg(t, &title))
            .with_context(|| format!("--svg: cannot write {}", path.display()))?;
        outln!(
            "\nTimeline of room-round {} ({}): {}",
            t.slot,
            t.why,
            path.display()
        );
    }
    Ok(Exit::Done)
}

/// Whether a short run failed because its server could not be reached (the
/// back ends' messages for a refused or failed connection).
fn unreachable(e: &quizrace::sim::SimError) -> bool {
    let msg = e.to_string();
    [
        "connecting failed",
        "the connection failed",
        "connection refused",
        "Connection refused",
    ]
    .iter()
    .any(|m| msg.contains(m))
}
