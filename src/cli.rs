//! The command line: the only module that knows about the terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::explain::{investigate, Evidence};
use crate::result::{Environment, ResultsFile, ScenarioInfo, StrategyResult, Verdict, SCHEMA};
use crate::scenario::{parse_duration, parse_runtime, FaultsFile, ScenarioFile};
use crate::sim::{self, Progress, RunOptions, Workload};
use crate::strategy::{Env, Kind, Runtime, StrategyId, TraceOp};

/// `println!` that ends the program quietly when stdout is closed (e.g.
/// `quizrace list | head -1`) instead of panicking, as Unix tools do.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("quizrace: error: writing to standard output: {e}");
            std::process::exit(2);
        }
    }};
}

/// Reproduce, prove and measure the race behind a quiz game's outage.
#[derive(Debug, Parser)]
#[command(name = "quizrace", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the strategies: name, kind, runtimes, description.
    List {
        /// Print JSON: [{"name","kind","runtimes","description"}].
        #[arg(long)]
        json: bool,
    },
    /// Run scenarios (or the defaults) and check every strategy.
    Run(Box<RunArgs>),
    /// Explain a strategy, with a counterexample from a real short run.
    Explain {
        /// Strategy name (see `quizrace list`).
        strategy: String,
        #[command(flatten)]
        redis: RedisArgs,
    },
    /// Render results JSON files into one HTML page.
    Report {
        /// Results files written by `quizrace run --json`.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Criterion's output directory (e.g. target/criterion).
        #[arg(long)]
        criterion: Option<PathBuf>,
        /// Directory to write index.html into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Internal: one worker process of `--runtime processes`.
    #[command(name = "__worker", hide = true)]
    Worker,
}

#[derive(Debug, Args)]
struct RedisArgs {
    /// Redis URL (a password in it is never printed).
    #[arg(long, env = "QUIZRACE_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Scenario files (scenarios/*.toml); none runs the defaults.
    scenarios: Vec<PathBuf>,
    /// Strategy to run (repeatable), or `all`; overrides the scenario's list.
    #[arg(long = "strategy", short = 's')]
    strategies: Vec<String>,
    /// Write results (schema quizrace.result.v1) here; a directory when
    /// several scenarios run.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Exit 1 if a correct strategy shows any anomaly.
    #[arg(long)]
    check: bool,
    /// No progress bar and no table (errors and the summary still print).
    #[arg(long, short)]
    quiet: bool,
    /// Shrink every scenario to a few seconds (for CI smoke runs).
    #[arg(long)]
    quick: bool,
    /// Seed of the answer streams.
    #[arg(long)]
    seed: Option<u64>,
    /// Rooms.
    #[arg(long)]
    rooms: Option<u32>,
    /// Players per room.
    #[arg(long)]
    players: Option<u32>,
    /// Questions per room.
    #[arg(long)]
    rounds: Option<u32>,
    /// Workers per process (threads or tasks).
    #[arg(long)]
    workers: Option<u32>,
    /// threads | tokio | tokio-current | processes.
    #[arg(long)]
    runtime: Option<String>,
    /// OS processes for --runtime processes.
    #[arg(long)]
    processes: Option<u32>,
    /// round-robin | hash: how players are spread over processes.
    #[arg(long)]
    balance: Option<String>,
    /// none | yield | spin:N | sleep:DURATION (the race window of read-score-write).
    #[arg(long)]
    scoring_work: Option<String>,
    /// Answer window per round, e.g. 2ms; 0 = a burst at the deadline.
    #[arg(long)]
    window: Option<String>,
    /// Round time limit, e.g. 10s.
    #[arg(long)]
    time_limit: Option<String>,
    /// Sweep a parameter, e.g. workers=1,2,4,8 (repeatable: the product is run).
    #[arg(long = "sweep")]
    sweeps: Vec<String>,
    #[command(flatten)]
    redis: RedisArgs,
    #[command(flatten)]
    faults: FaultArgs,
}

/// Redis fault settings; each overrides the scenario's `[faults]` field.
#[derive(Debug, Args)]
struct FaultArgs {
    /// Time to wait for one Redis reply, e.g. 40ms (default 2s).
    #[arg(long)]
    response_timeout: Option<String>,
    /// Time to open a Redis connection (default 2s).
    #[arg(long)]
    connect_timeout: Option<String>,
    /// Client retries after a Redis timeout or connection error (default 0).
    #[arg(long)]
    retries: Option<u32>,
    /// Pause the Redis server (CLIENT PAUSE) this long after workers start.
    #[arg(long, requires = "pause_for")]
    pause_at: Option<String>,
    /// How long the pause lasts.
    #[arg(long, requires = "pause_at")]
    pause_for: Option<String>,
    /// write (default; Redis >= 6.2) or all.
    #[arg(long)]
    pause_mode: Option<String>,
}

impl FaultArgs {
    fn overlay(&self) -> Option<FaultsFile> {
        let f = FaultsFile {
            response_timeout: self.response_timeout.clone(),
            connect_timeout: self.connect_timeout.clone(),
            retries: self.retries,
            pause_at: self.pause_at.clone(),
            pause_for: self.pause_for.clone(),
            pause_mode: self.pause_mode.clone(),
        };
        let any = f.response_timeout.is_some()
            || f.connect_timeout.is_some()
            || f.retries.is_some()
            || f.pause_at.is_some()
            || f.pause_for.is_some()
            || f.pause_mode.is_some();
        any.then_some(f)
    }
}

/// How the process should end.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (anomalies of racy strategies are results, not errors).
    Done,
    /// 1: `--check` and a correct strategy showed an anomaly.
    CheckFailed,
}

/// Runs the parsed command line.
pub fn main(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::List { json } => list(json),
        Command::Run(args) => run(*args),
        Command::Explain { strategy, redis } => explain(&strategy, &redis),
        Command::Report {
            results,
            criterion,
            out,
        } => {
            let page = crate::report::generate(&results, criterion.as_deref(), &out)?;
            outln!("wrote {}", page.display());
            Ok(Exit::Done)
        }
        Command::Worker => match sim::process::child_main() {
            Ok(json) => {
                outln!("{json}");
                Ok(Exit::Done)
            }
            Err(e) => bail!(e),
        },
    }
}

fn list(json: bool) -> Result<Exit> {
    if json {
        let items: Vec<_> = StrategyId::ALL
            .iter()
            .map(|s| {
                let i = s.info();
                serde_json::json!({
                    "name": i.name,
                    "kind": i.kind.as_str(),
                    "runtimes": i.runtimes.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                    "description": i.description,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(Exit::Done);
    }
    let style = Style::detect();
    outln!(
        "{:<18} {:<22} {:<36} description",
        "name",
        "kind",
        "runtimes"
    );
    for s in StrategyId::ALL {
        let i = s.info();
        let rts: Vec<_> = i.runtimes.iter().map(|r| r.as_str()).collect();
        outln!(
            "{:<18} {} {:<36} {}",
            i.name,
            style.kind(i.kind, 22),
            rts.join(","),
            i.description
        );
    }
    Ok(Exit::Done)
}

/// One scenario to run, resolved from its file and the overrides.
struct Planned {
    file: ScenarioFile,
    /// Redis settings with this scenario's faults applied.
    env: Env,
    workload: Workload,
    strategies: Vec<StrategyId>,
    points: Vec<BTreeMap<String, u64>>,
}

fn run(args: RunArgs) -> Result<Exit> {
    let env = redis_env(&args.redis)?;
    let overrides = ScenarioFile {
        strategies: (!args.strategies.is_empty()).then(|| args.strategies.clone()),
        seed: args.seed,
        rooms: args.rooms,
        players: args.players,
        rounds: args.rounds,
        workers: args.workers,
        runtime: args.runtime.clone(),
        processes: args.processes,
        balance: args.balance.clone(),
        scoring_work: args.scoring_work.clone(),
        window: args.window.clone(),
        time_limit: args.time_limit.clone(),
        faults: args.faults.overlay(),
        ..ScenarioFile::default()
    };
    let files: Vec<ScenarioFile> = if args.scenarios.is_empty() {
        vec![ScenarioFile {
            name: Some("default".into()),
            ..ScenarioFile::default()
        }]
    } else {
        args.scenarios
            .iter()
            .map(|p| ScenarioFile::load(p))
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?
    };
    // Resolve and validate everything before running anything.
    let sweep_flags = parse_sweeps(&args.sweeps)?;
    let mut planned = Vec::new();
    for f in files {
        let file = f.overlay(&overrides);
        let name = file.name.clone().unwrap_or_default();
        let ctx = |e: String| anyhow::anyhow!("scenario `{name}`: {e}");
        let mut workload = file.workload().map_err(ctx)?;
        if args.quick {
            shrink(&mut workload);
        }
        let strategies = file
            .strategies(
                workload.runtime,
                env.redis.is_some() && args.redis.redis_url.is_some(),
            )
            .map_err(ctx)?;
        for s in &strategies {
            s.check_runtime(workload.runtime)
                .map_err(|e| ctx(e.to_string()))?;
        }
        let mut sweeps = file.sweep.clone().unwrap_or_default();
        sweeps.extend(sweep_flags.clone());
        let points = expand(&sweeps).map_err(ctx)?;
        for p in &points {
            apply(&mut workload.clone(), p)
                .validate()
                .map_err(|e| ctx(e.to_string()))?;
        }
        let faults = file.faults().map_err(ctx)?;
        let env = crate::strategy::redis::with_faults(&env, &faults).map_err(ctx)?;
        planned.push(Planned {
            env,
            file,
            workload,
            strategies,
            points,
        });
    }
    if planned.len() > 1 {
        if let Some(dir) = &args.json {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the results directory {}", dir.display()))?;
        }
    }
    if planned
        .iter()
        .any(|p| p.strategies.iter().any(|s| s.info().needs_redis))
    {
        install_interrupt_handler()?;
    }
    let style = Style::detect();
    // The bar draws on stderr; it is for people watching a terminal.
    let show_progress =
        !args.quiet && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let mut check_failed = false;
    let many = planned.len() > 1;
    for p in planned {
        let name = p.file.name.clone().unwrap_or_else(|| "default".into());
        let mut results = Vec::new();
        if !args.quiet {
            print_header(&name, &p, &style);
        }
        for point in &p.points {
            let w = apply(&mut p.workload.clone(), point);
            for &id in &p.strategies {
                let progress = Progress::default();
                let opts = RunOptions {
                    env: p.env.clone(),
                    progress: progress.clone(),
                    ..RunOptions::default()
                };
                let label = if point.is_empty() {
                    id.name().to_string()
                } else {
                    format!("{} {}", id.name(), fmt_point(point))
                };
                let bar = show_progress
                    .then(|| ProgressThread::start(label, w.total_answers(), progress));
                let r = sim::run(id, &w, &opts);
                drop(bar);
                if crate::strategy::redis::interrupted() {
                    // Ctrl-C: the handler thread is cleaning up and will exit
                    // the process; the run's partial result or error is moot.
                    loop {
                        std::thread::park();
                    }
                }
                let mut r = r.with_context(|| format!("scenario `{name}`, strategy `{id}`"))?;
                r.point = point.clone();
                if !args.quiet {
                    print_row(&r, point, &style);
                }
                if r.breaks_its_guarantee() {
                    check_failed = true;
                }
                results.push(r);
            }
        }
        print_summary(&results, &style);
        if let Some(path) = &args.json {
            let path = if many {
                path.join(format!("{}.json", sanitize(&name)))
            } else {
                path.clone()
            };
            write_results(&path, &name, &p, &results)?;
        }
    }
    Ok(if args.check && check_failed {
        Exit::CheckFailed
    } else {
        Exit::Done
    })
}

/// On Ctrl-C: stop workers (and worker processes), delete the Redis keys of
/// the run in progress, say so, and exit 130 (the shell's code for SIGINT).
fn install_interrupt_handler() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the Ctrl-C handler")?;
    // Registered here, before any run starts, so no Ctrl-C is missed
    // (`tokio::signal::ctrl_c()` would only register when first polled).
    #[cfg(unix)]
    let mut sigint = rt
        .block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        })
        .context("installing the Ctrl-C handler")?;
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            #[cfg(unix)]
            let got = rt.block_on(sigint.recv()).is_some();
            #[cfg(not(unix))]
            let got = rt.block_on(tokio::signal::ctrl_c()).is_ok();
            if !got {
                return;
            }
            eprintln!("\nquizrace: interrupted (Ctrl-C): stopping workers and deleting this run's Redis keys");
            let killed = sim::process::kill_children();
            if killed > 0 {
                eprintln!("quizrace: stopped {killed} worker processes");
            }
            for c in crate::strategy::redis::interrupt_cleanup() {
                match c.result {
                    Ok(n) => eprintln!("quizrace: deleted {n} keys under {}*", c.prefix),
                    Err(e) => eprintln!(
                        "quizrace: could not delete the keys under {}* ({e}); delete them with \
                         redis-cli --scan --pattern '{}*' | xargs redis-cli unlink",
                        c.prefix, c.prefix
                    ),
                }
            }
            eprintln!("quizrace: run interrupted; no results were written");
            std::process::exit(130);
        })
        .context("starting the Ctrl-C handler thread")?;
    Ok(())
}

fn redis_env(args: &RedisArgs) -> Result<Env> {
    crate::strategy::redis::env_from_url(args.redis_url.as_deref()).map_err(anyhow::Error::msg)
}

/// Caps a workload at ~100k answers for quick runs, keeping its shape
/// (rooms, players and runtime stay; rounds, then rooms, shrink).
fn shrink(w: &mut Workload) {
    const BUDGET: u64 = 100_000;
    while w.total_answers() > BUDGET && w.rounds > 1 {
        w.rounds = (w.rounds / 2).max(1);
    }
    while w.total_answers() > BUDGET && w.rooms > 1 {
        w.rooms = (w.rooms / 2).max(1);
    }
    w.time_limit = w.time_limit.min(Duration::from_secs(5));
}

const SWEEPABLE: &[&str] = &["workers", "rooms", "players", "rounds", "processes"];

fn parse_sweeps(flags: &[String]) -> Result<BTreeMap<String, Vec<u64>>> {
    let mut out = BTreeMap::new();
    for f in flags {
        let (k, v) = f.split_once('=').with_context(|| {
            format!("--sweep `{f}`: write KEY=V1,V2,... (e.g. workers=1,2,4,8)")
        })?;
        let values = v
            .split(',')
            .map(|x| x.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--sweep `{f}`: values must be whole numbers"))?;
        out.insert(k.trim().to_string(), values);
    }
    Ok(out)
}

/// The cartesian product of the sweeps (one empty point without sweeps).
fn expand(sweeps: &BTreeMap<String, Vec<u64>>) -> Result<Vec<BTreeMap<String, u64>>, String> {
    let mut points = vec![BTreeMap::new()];
    for (k, values) in sweeps {
        if !SWEEPABLE.contains(&k.as_str()) {
            return Err(format!(
                "cannot sweep `{k}`; sweepable: {}",
                SWEEPABLE.join(", ")
            ));
        }
        if values.is_empty() || values.iter().any(|&v| v == 0 || v > u32::MAX as u64) {
            return Err(format!(
                "sweep `{k}` needs values between 1 and {}",
                u32::MAX
            ));
        }
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |&v| {
                    let mut p = p.clone();
                    p.insert(k.clone(), v);
                    p
                })
            })
            .collect();
    }
    if points.len() > 1_000 {
        return Err(format!(
            "{} sweep points is too many (limit 1000)",
            points.len()
        ));
    }
    Ok(points)
}

fn apply(w: &mut Workload, point: &BTreeMap<String, u64>) -> Workload {
    for (k, &v) in point {
        let v = v as u32;
        match k.as_str() {
            "workers" => w.workers = v,
            "rooms" => w.rooms = v,
            "players" => w.players = v,
            "rounds" => w.rounds = v,
            "processes" => w.processes = v,
            _ => {}
        }
    }
    w.clone()
}

fn fmt_point(p: &BTreeMap<String, u64>) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_results(path: &Path, name: &str, p: &Planned, results: &[StrategyResult]) -> Result<()> {
    let w = &p.workload;
    // Redis facts (version, faults) only when a Redis strategy ran.
    let redis_ran = results
        .iter()
        .any(|r| StrategyId::from_name(&r.strategy).is_ok_and(|s| s.info().needs_redis));
    let no_redis = Env::default();
    let env = if redis_ran { &p.env } else { &no_redis };
    let file = ResultsFile {
        schema: SCHEMA.to_string(),
        scenario: ScenarioInfo {
            name: name.to_string(),
            seed: w.seed,
            rooms: w.rooms,
            players: w.players,
            rounds: w.rounds,
            runtime: w.runtime.as_str().to_string(),
            workers: w.workers,
            processes: w.effective_processes(),
            description: p.file.description.clone().unwrap_or_default(),
            scoring_work: w.work.to_string(),
            window_us: w.window.as_micros() as u64,
            faults: crate::strategy::redis::faults_json(env),
        },
        environment: environment(env),
        results: results.to_vec(),
    };
    let json = serde_json::to_string_pretty(&file)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Write then rename, so a crash never leaves half a file behind.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Facts about this build and machine.
pub fn environment(env: &Env) -> Environment {
    Environment {
        quizrace: env!("CARGO_PKG_VERSION").to_string(),
        rustc: env!("QUIZRACE_RUSTC").to_string(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        git: env!("QUIZRACE_GIT").to_string(),
        redis: crate::strategy::redis::server_version(env),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_string(),
    }
}

fn explain(name: &str, redis: &RedisArgs) -> Result<Exit> {
    let id = StrategyId::from_name(name)?;
    let info = id.info();
    let style = Style::detect();
    outln!(
        "{}  ({})\n",
        style.bold(info.name),
        style.kind(info.kind, 0)
    );
    outln!("{}\n", info.explanation);
    let env = if info.needs_redis {
        redis_env(redis)?
    } else {
        Env::default()
    };
    outln!("{}", style.bold("What a real run shows"));
    match investigate(id, &env)? {
        Evidence::Counterexample {
            setup,
            attempts,
            timeline,
            culprits,
            summary,
        } => {
            outln!("Setup: {setup}; reproduced on attempt {attempts}.\n");
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
            outln!("\n{summary}.");
        }
        Evidence::Partitioned {
            players,
            counts,
            fires,
        } => {
            outln!(
                "Setup: one room of {players} players, answers spread round-robin over 2 processes."
            );
            for (i, c) in counts.iter().enumerate() {
                outln!("  process {i}: scoringMap[room] = {c} of {players}");
            }
            outln!(
                "\nendQuizTime fired {fires} times: neither process ever sees {players} answers, so the room hangs."
            );
        }
        Evidence::Confirmed { setup, result } => {
            outln!(
                "A run just now ({setup}): {} answers, verdict {}, {} answers/s, p99 {}.",
                thousands(result.answers),
                style.verdict(result.verdict, false),
                thousands(result.answers_per_s as u64),
                ns(result.latency_ns.p99)
            );
        }
        Evidence::NotReproduced { setup } => {
            outln!("The race did not show in this short run ({setup}). Races are timing-dependent; try `quizrace run --strategy {name} --scoring-work yield`.");
        }
    }
    Ok(Exit::Done)
}

// ---- terminal output ----

struct Style {
    color: bool,
}

impl Style {
    fn detect() -> Style {
        Style {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal(),
        }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn kind(&self, k: Kind, width: usize) -> String {
        let s = format!("{:<width$}", k.as_str());
        match k {
            Kind::Correct => self.paint("32", &s),
            _ => self.paint("33", &s),
        }
    }
    fn verdict(&self, v: Verdict, expected: bool) -> String {
        match v {
            Verdict::Exact => self.paint("32", "exact    "),
            Verdict::Anomalies if expected => self.paint("33", "anomalies"),
            Verdict::Anomalies => self.paint("1;31", "ANOMALIES"),
        }
    }
}

fn print_header(name: &str, p: &Planned, style: &Style) {
    let w = &p.workload;
    outln!(
        "\n{}  {} rooms x {} players x {} rounds = {} answers | {} | {} workers{} | scoring {} | window {} | seed {}",
        style.bold(name),
        thousands(w.rooms as u64),
        w.players,
        w.rounds,
        thousands(w.total_answers()),
        w.runtime,
        w.workers,
        if w.runtime == Runtime::Processes {
            format!(" x {} processes", w.effective_processes())
        } else {
            String::new()
        },
        w.work,
        if w.window.is_zero() { "burst".to_string() } else { format!("{:?}", w.window) },
        w.seed
    );
    if let Some(d) = &p.file.description {
        outln!("{}", d.trim());
    }
    if let Some(f) = p
        .env
        .redis
        .as_ref()
        .map(|r| &r.faults)
        .filter(|f| !f.is_default())
    {
        if p.strategies.iter().any(|s| s.info().needs_redis) {
            let pause = f.pause.map_or(String::new(), |p| {
                format!(
                    "; CLIENT PAUSE {:?} {} at {:?}",
                    p.duration,
                    p.mode.as_str(),
                    p.at
                )
            });
            outln!(
                "faults: Redis response timeout {:?}, connect timeout {:?}, {} retries{pause}",
                f.response_timeout,
                f.connect_timeout,
                f.retries
            );
        }
    }
    outln!(
        "{:<26} {:<9} {:>13} {:>9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "strategy",
        "verdict",
        "answers/s",
        "p50",
        "p99",
        "end p99",
        "lost",
        "over",
        "missed",
        "dup",
        "early"
    );
}

fn print_row(r: &StrategyResult, point: &BTreeMap<String, u64>, style: &Style) {
    let a = &r.anomalies;
    let name = if point.is_empty() {
        r.strategy.clone()
    } else {
        format!("{} {}", r.strategy, fmt_point(point))
    };
    let cell = |v: u64| {
        if v == 0 {
            format!("{:>8}", 0)
        } else {
            style.red(&format!("{:>8}", thousands(v)))
        }
    };
    outln!(
        "{:<26} {} {:>13} {:>9} {:>9} {:>10} {} {} {} {} {}",
        name,
        style.verdict(r.verdict, r.anomalies_expected),
        thousands(r.answers_per_s as u64),
        ns(r.latency_ns.p50),
        ns(r.latency_ns.p99),
        ns(r.end_latency_ns.p99),
        cell(a.lost_updates),
        cell(a.over_counts),
        cell(a.missed_end),
        cell(a.duplicate_end),
        cell(a.early_end),
    );
}

fn print_summary(results: &[StrategyResult], style: &Style) {
    for r in results {
        let a = &r.anomalies;
        if a.is_exact() && r.outcomes.failed + r.outcomes.unknown == 0 && r.timed_out == 0 {
            continue;
        }
        let mut parts = Vec::new();
        if r.timed_out > 0 {
            parts.push(format!(
                "{} of {} rounds hit the time limit with answers still unsubmitted \
                 (the run was slower than --time-limit; those rounds are not judged)",
                thousands(r.timed_out),
                thousands(r.room_rounds)
            ));
        }
        if a.lost_updates > 0 {
            parts.push(format!(
                "lost {} of {} answers",
                thousands(a.lost_updates),
                thousands(r.answers)
            ));
        }
        if a.over_counts > 0 {
            parts.push(format!(
                "counted {} answers twice",
                thousands(a.over_counts)
            ));
        }
        if a.missed_end > 0 {
            parts.push(format!(
                "{} of {} rounds never ended the quiz",
                thousands(a.missed_end),
                thousands(r.room_rounds)
            ));
        }
        if a.duplicate_end > 0 {
            parts.push(format!(
                "{} rounds ended twice or more",
                thousands(a.duplicate_end)
            ));
        }
        if a.early_end > 0 {
            parts.push(format!(
                "{} rounds ended before every answer was in",
                thousands(a.early_end)
            ));
        }
        let o = &r.outcomes;
        if o.failed + o.unknown > 0 {
            parts.push(format!(
                "{} answers failed and {} had an unknown outcome ({} retries; count bounds violated in {} rounds)",
                thousands(o.failed),
                thousands(o.unknown),
                thousands(o.retries),
                thousands(o.bounds_violations)
            ));
        }
        let point = if r.point.is_empty() {
            String::new()
        } else {
            format!(" [{}]", fmt_point(&r.point))
        };
        let note = if r.anomalies_expected || a.is_exact() {
            ""
        } else if o.failed + o.unknown + o.retries > 0 {
            // Anomalies under faults are not necessarily the strategy's: a
            // restarted server without persistence forgets acknowledged
            // answers, and a call whose every attempt timed out loses its
            // end decision with the reply.
            " (faults hit this run: a restarted server may forget acknowledged answers, and an answer whose every attempt timed out loses its end decision)"
        } else {
            " (a correct strategy broke its guarantee: a bug, unless its server lost data)"
        };
        let line = format!("{}{point} {}{note}", r.strategy, parts.join("; "));
        outln!(
            "{}",
            if note.is_empty() {
                line
            } else {
                style.red(&line)
            }
        );
    }
}

/// Formats an integer with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ns(v: u64) -> String {
    match v {
        0 => "-".into(),
        v if v < 10_000 => format!("{v}ns"),
        v if v < 10_000_000 => format!("{:.1}us", v as f64 / 1e3),
        v => format!("{:.1}ms", v as f64 / 1e6),
    }
}

/// Drives an indicatif bar from a [`Progress`] counter, shown only for runs
/// that last more than a second.
struct ProgressThread {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ProgressThread {
    fn start(label: String, total: u64, progress: Progress) -> ProgressThread {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                    let b = indicatif::ProgressBar::new(total);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{msg:>26} [{bar:30}] {pos}/{len} answers ({eta})",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b.set_message(label.clone());
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_position(progress.get());
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        ProgressThread {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for ProgressThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[allow(dead_code)]
fn _assert_parsers_linked() {
    let _ = parse_duration;
    let _ = parse_runtime;
}
