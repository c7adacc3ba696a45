//! `quizrace explain`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use quizrace::backend;
use quizrace::explain::{investigate, timeline_run, Evidence};
use quizrace::sched;
use quizrace::strategy::{Replication, Runtime, ScoringWork, StrategyId};

use super::args::BackendArgs;
use super::table::{ns, reflow, si, thousands, width, wrap, Style};
use super::Exit;

/// `--seed` and the settings of the replayed run.
#[derive(Debug)]
pub(crate) struct Replay {
    pub(crate) seed: u64,
    pub(crate) runtime: Option<String>,
    pub(crate) scoring_work: String,
    pub(crate) players: u32,
}

/// `quizrace explain STRATEGY`: the catalogue's explanation, then what a
/// short real run shows (or, with `--seed`, one replayable interleaving).
pub(crate) fn explain(
    name: &str,
    svg: Option<&Path>,
    replay: Option<Replay>,
    backends: &BackendArgs,
) -> Result<Exit> {
    let id = StrategyId::from_name(name)?;
    // Check the replay's settings before printing anything.
    let replay = replay.map(|r| settle_replay(id, r)).transpose()?;
    let info = id.info();
    let style = Style::detect();
    outln!(
        "{}  ({})\n",
        style.bold(info.name),
        style.kind(info.kind, 0)
    );
    outln!("{}\n", reflow(info.explanation.trim_end(), width()));
    let mut env = backends.env_for(id)?;
    // Its short runs create keys, tables or worker processes: Ctrl-C and
    // SIGTERM must clean those up as `run` does.
    if info.backend.is_some() || info.demo == quizrace::strategy::Demo::Partition {
        super::interrupt::install()?;
    }
    // A strategy that waits for a replica, without a URL of the user's:
    // a primary and a replica of quizrace's own (the Redis lab).
    let _lab = if info.replication == Replication::WaitsForReplica && !backends.gives(id) {
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
    if let Some(setup) = replay {
        seeded(&setup, &env, &style)?;
        return Ok(Exit::Done);
    }
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
                let op = e.op;
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

/// The validated settings of a `--seed` replay.
struct Seeded {
    seed: u64,
    setup: sched::Setup,
}

fn settle_replay(id: StrategyId, r: Replay) -> Result<Seeded> {
    if !sched::schedulable(id) {
        bail!(
            "--seed replays strategies whose every step is traced; {} is not one of them: {}",
            id.name(),
            sched::schedulable_names()
        );
    }
    let runtime = match &r.runtime {
        Some(s) => quizrace::scenario::parse_runtime(s)?,
        None if id.supports(Runtime::Threads) => Runtime::Threads,
        None => Runtime::Tokio,
    };
    if !id.supports(runtime) {
        let runtimes: Vec<_> = id.info().runtimes.iter().map(|r| r.as_str()).collect();
        bail!(
            "{} does not run on {runtime}; it runs on {}",
            id.name(),
            runtimes.join(", ")
        );
    }
    if !(1..=8).contains(&r.players) {
        bail!("--players: 1 to 8 in a replay, not {}", r.players);
    }
    let work: ScoringWork = r.scoring_work.parse()?;
    Ok(Seeded {
        seed: r.seed,
        setup: sched::Setup {
            strategy: id,
            workers: r.players as usize,
            runtime,
            work,
        },
    })
}

/// One interleaving, chosen by the seed: at every step a seeded generator
/// picks a worker that has not finished; a pick that must wait (a lock
/// held by another, a task that cannot run before the running one awaits)
/// is shown as such, and the pick goes to one that can run.
fn seeded(s: &Seeded, env: &backend::Env, style: &Style) -> Result<()> {
    let setup = &s.setup;
    outln!(
        "{}",
        style.bold(&format!(
            "One interleaving, replayed (seed {}: the same steps every time)",
            s.seed
        ))
    );
    outln!(
        "Setup: one room of {} players, one worker each, on {}, scoring work = {}.\n",
        setup.workers,
        setup.runtime,
        work_name(&setup.work)
    );
    let mut rng = sched::Seeded::new(s.seed);
    let mut notes: Vec<(usize, usize, String)> = Vec::new();
    let replay = sched::run(setup, env, &mut |view, refused| {
        if let Some(r) = refused {
            let why = match r.why {
                Some(sched::Blocked::Lock { .. }) => "(waits for the lock)".to_string(),
                Some(sched::Blocked::Cooperative { running }) => {
                    format!("(waits for task {})", running + 1)
                }
                _ => "(cannot move)".to_string(),
            };
            notes.push((view.events.len(), r.worker, why));
            return rng.choose(view);
        }
        let unfinished: Vec<usize> = (0..view.workers.len())
            .filter(|&w| view.workers[w].next.is_some())
            .collect();
        match rng.pick(&unfinished) {
            Some(w) => sched::Choice::Go(w),
            None => sched::Choice::Quit,
        }
    })?;
    outln!(
        "{}\n",
        sched::lanes_with_notes(&replay.events, setup.workers, &notes)
    );
    let counts: Vec<String> = replay.counts.iter().map(u32::to_string).collect();
    outln!(
        "Count: {} of {} players; endQuizTime fired {} time{}.",
        counts.join(" and "),
        replay.players,
        replay.fires(),
        if replay.fires() == 1 { "" } else { "s" }
    );
    let anomalies = replay.anomalies();
    if anomalies.is_empty() {
        let waits = notes.len();
        outln!(
            "This interleaving kept the invariant{}.",
            if waits > 0 {
                format!(
                    ": {waits} time{} a worker had to wait, and the contention was serialised",
                    if waits == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    } else {
        for a in &anomalies {
            outln!("  {}", style.red(a));
        }
    }
    outln!(
        "Moves: {} (replay it with `quizrace play` where this strategy is a level, or another \
         seed for another interleaving).",
        sched::moves(&replay)
    );
    Ok(())
}

fn work_name(w: &ScoringWork) -> String {
    match w {
        ScoringWork::None => "none".into(),
        ScoringWork::Yield => "yield".into(),
        ScoringWork::Spin(n) => format!("spin:{n}"),
        ScoringWork::Sleep(d) => format!("sleep:{d:?}"),
    }
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
