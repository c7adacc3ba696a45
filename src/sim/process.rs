//! The `processes` runtime: real child processes of quizrace, the story's two
//! servers.
//!
//! The parent writes each child a spec (one JSON line on stdin, so a
//! password in a back end's URL never shows in `ps`). Each child sets up its
//! strategy and says so (`quizrace-ready` on stderr); once every child is
//! ready the parent sends them all one go line (`go <start> <stop>` on
//! stdin) with a start instant a few milliseconds ahead on the shared clock,
//! so they start together with no fixed grace period. Children play their
//! share of the players and print their raw observations (JSON on stdout).
//! The parent merges them; shared counters are read, and shared state
//! removed, by [`super::run_trial`] in the parent.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{run_share, Clock, RawRun, RunOptions, SimError, Workload};
use crate::backend::{Env, EnvSpec};
use crate::strategy::StrategyId;

/// The hidden subcommand that runs one worker process.
pub const WORKER_SUBCOMMAND: &str = "__worker";

/// What a child process is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChildSpec {
    /// Strategy name.
    pub strategy: String,
    /// The whole workload; the child plays only its share.
    pub workload: Workload,
    /// This child's index.
    pub process: u32,
    /// The parent's clock, so timestamps share one axis.
    pub clock: Clock,
    /// When to start playing, on that clock.
    pub start_at_ns: u64,
    /// When to stop submitting, on that clock (0: only the rounds' limits).
    #[serde(default)]
    pub stop_at_ns: u64,
    /// The back ends and the run's namespace (with any password: sent over
    /// a pipe, never argv).
    pub env: EnvSpec,
}

/// How long children may take to start and set up (connect to a server,
/// allocate) before the run gives up on them.
const SETUP_BUDGET: Duration = Duration::from_secs(30);

/// How far ahead of the go message the common start instant lies: time for
/// every child to read it and start its workers.
const GO_MARGIN: Duration = Duration::from_millis(3);

/// About how long worker processes take from being started to playing
/// (exec, set-up, the go message), measured on a 2-core VM: what a fault's
/// timing allows for on the `processes` runtime.
pub(crate) const TYPICAL_STARTUP: Duration = Duration::from_millis(30);

/// The line a child writes to stderr once it is set up.
const READY: &str = "quizrace-ready";

/// Started worker processes, their stdin kept open for the go message.
struct Spawned {
    children: Vec<std::process::Child>,
    stdins: Vec<Option<std::process::ChildStdin>>,
    clock: Clock,
}

fn spawn(id: StrategyId, w: &Workload, opts: &RunOptions) -> Result<Spawned, SimError> {
    let exe = match &opts.worker_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| SimError::Os {
            what: "finding the quizrace executable to start worker processes".into(),
            source: e,
        })?,
    };
    let count = w.effective_processes();
    let clock = Clock::start();
    let mut children = Vec::new();
    let mut stdins = Vec::new();
    for index in 0..count {
        // The start and stop instants come with the go message.
        let spec = ChildSpec {
            strategy: id.name().to_string(),
            workload: w.clone(),
            process: index,
            clock,
            start_at_ns: 0,
            stop_at_ns: 0,
            env: opts.env.to_spec(),
        };
        let mut cmd = Command::new(&exe);
        cmd.arg(WORKER_SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| SimError::Os {
            what: format!("starting worker process {index} ({})", exe.display()),
            source: e,
        })?;
        register_child(child.id());
        let mut json = serde_json::to_vec(&spec).expect("specs always serialise");
        json.push(b'\n');
        let mut stdin = child.stdin.take();
        if let Some(pipe) = &mut stdin {
            // A child that died at once shows up below with its stderr.
            let _ = pipe.write_all(&json);
        }
        stdins.push(stdin);
        children.push(child);
    }
    Ok(Spawned {
        children,
        stdins,
        clock,
    })
}

/// Makes the child die when this process dies, however it dies (`kill -9`
/// included): a worker process must never outlive its parent and keep
/// writing. Linux's parent-death signal is tied to the *thread* that
/// spawned the child; `run_parent` spawns and then waits on the same
/// thread, so that thread outlives its children.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: getpid(2) has no preconditions and cannot fail.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure runs in the forked child before exec and only
        // makes async-signal-safe calls (prctl, getppid, _exit).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

pub(crate) fn run_parent(
    id: StrategyId,
    w: &Workload,
    opts: &RunOptions,
) -> Result<RawRun, SimError> {
    let spawned = spawn(id, w, opts)?;
    let mut merged = RawRun::default();
    for raw in collect(spawned, w, opts)? {
        merged.merge(raw);
    }
    Ok(merged)
}

/// Prefix of the progress lines children write to stderr.
const PROGRESS: &str = "quizrace-progress ";

/// Waits until every child is set up and sends them the go message, then
/// waits for every child (killing all of them if the run overruns its time
/// limits), reads their results, and forwards their progress.
fn collect(spawned: Spawned, w: &Workload, opts: &RunOptions) -> Result<Vec<RawRun>, SimError> {
    use std::io::BufRead;
    let Spawned {
        children,
        mut stdins,
        clock,
    } = spawned;
    let count = children.len() as u32;
    // Each round may take its whole time limit; beyond that plus slack, a
    // child is stuck (e.g. a strategy that hangs) and is killed.
    let mut budget = w.time_limit.saturating_mul(w.rounds) + Duration::from_secs(30);
    if opts.stop_at_ns > 0 {
        // The run's own deadline, plus slack for one call in flight.
        budget = budget.min(Duration::from_nanos(opts.stop_at_ns) + Duration::from_secs(30));
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<bool>();
    // A child's stdout ends when it exits (or is killed): its reader says
    // which child, so the parent reaps each one the moment it is done.
    let (ended_tx, ended_rx) = std::sync::mpsc::channel::<usize>();
    let mut readers = Vec::new();
    let mut running = Vec::new();
    for (index, mut child) in children.into_iter().enumerate() {
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let progress = opts.progress.clone();
        let ready = ready_tx.clone();
        let ended = ended_tx.clone();
        // Pipes are drained on their own threads so a chatty child never
        // blocks on a full pipe while we wait for another one.
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut s) = stdout {
                let _ = s.read_to_end(&mut buf);
            }
            let _ = ended.send(index);
            buf
        });
        let err = std::thread::spawn(move || {
            let mut tail: Vec<String> = Vec::new();
            let mut seen = 0u64;
            let mut said_ready = false;
            if let Some(s) = stderr {
                for line in std::io::BufReader::new(s).lines().map_while(Result::ok) {
                    if line == READY && !said_ready {
                        said_ready = true;
                        let _ = ready.send(true);
                    } else if let Some(n) = line.strip_prefix(PROGRESS).and_then(|n| n.parse().ok())
                    {
                        progress.add(u64::saturating_sub(n, seen));
                        seen = n;
                    } else {
                        tail.push(line);
                        if tail.len() > 5 {
                            tail.remove(0);
                        }
                    }
                }
            }
            if !said_ready {
                // Ended (or closed stderr) before it was set up.
                let _ = ready.send(false);
            }
            tail.join(" | ")
        });
        readers.push((out, err));
        running.push(Some(child));
    }
    drop(ready_tx);
    drop(ended_tx);
    // Every child set up: one go message for all. A child that ended
    // before it was ready, or set-up that overruns its budget, sends no go:
    // closing stdin ends the children that wait for it, and their errors
    // are reported below.
    let setup_deadline = std::time::Instant::now() + SETUP_BUDGET;
    let mut ready = 0;
    while ready < count {
        let left = setup_deadline.saturating_duration_since(std::time::Instant::now());
        match ready_rx.recv_timeout(left) {
            Ok(true) => ready += 1,
            Ok(false) | Err(_) => break,
        }
    }
    if ready == count {
        let start_at = clock.now() + GO_MARGIN.as_nanos() as u64;
        let stop_at = if opts.stop_at_ns == 0 {
            0
        } else {
            start_at.saturating_add(opts.stop_at_ns)
        };
        let go = format!("go {start_at} {stop_at}\n");
        for pipe in stdins.iter_mut().flatten() {
            let _ = pipe.write_all(go.as_bytes());
        }
    } else if ready_rx.try_recv().is_err() && std::time::Instant::now() >= setup_deadline {
        // Stuck in set-up: stop them all.
        for child in running.iter_mut().flatten() {
            let _ = child.kill();
        }
    }
    stdins.clear();
    let deadline = std::time::Instant::now() + budget;
    let mut statuses = vec![None; running.len()];
    // Children whose stdout has closed: they have exited or are exiting (a
    // child never closes stdout early), so they are polled until reaped.
    let mut closed = vec![false; running.len()];
    let mut overran = false;
    while statuses.iter().any(Option::is_none) {
        for (i, slot) in running.iter_mut().enumerate() {
            if let (true, Some(child)) = (closed[i], slot.as_mut()) {
                if let Ok(Some(status)) = child.try_wait() {
                    unregister_child(child.id());
                    statuses[i] = Some(status);
                    *slot = None;
                }
            }
        }
        if statuses.iter().all(Option::is_some) {
            break;
        }
        if std::time::Instant::now() > deadline && !overran {
            overran = true;
            for child in running.iter_mut().flatten() {
                let _ = child.kill();
            }
        }
        let exiting = (0..running.len()).any(|i| closed[i] && running[i].is_some());
        let wait = if exiting || overran {
            Duration::from_millis(1)
        } else {
            deadline.saturating_duration_since(std::time::Instant::now())
        };
        match ended_rx.recv_timeout(wait) {
            Ok(i) => closed[i] = true,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            // Every reader is done (one that panicked sent nothing): poll
            // whoever is left.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                closed.iter_mut().for_each(|c| *c = true);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    // The children are done, so parsing their results (megabytes of JSON
    // when the run keeps a history) takes no CPU from a run still being
    // timed; one thread per child.
    let outputs: Vec<(Result<RawRun, String>, String)> = std::thread::scope(|scope| {
        let parsing: Vec<_> = readers
            .into_iter()
            .map(|(out, err)| {
                scope.spawn(move || {
                    let parsed = match out.join() {
                        Ok(stdout) => {
                            serde_json::from_slice::<RawRun>(&stdout).map_err(|e| e.to_string())
                        }
                        Err(_) => Err("its reader thread panicked".into()),
                    };
                    (parsed, err.join().unwrap_or_default())
                })
            })
            .collect();
        parsing
            .into_iter()
            .map(|p| {
                p.join()
                    .unwrap_or_else(|_| (Err("parsing panicked".into()), String::new()))
            })
            .collect()
    });
    let mut raws = Vec::with_capacity(outputs.len());
    let mut first_error = None;
    for (index, ((parsed, tail), status)) in outputs.into_iter().zip(statuses).enumerate() {
        let index = index as u32;
        let status = status.expect("every child was reaped");
        let fail = |status: String, stderr: String| SimError::ChildFailed {
            index,
            count,
            status,
            stderr: if stderr.is_empty() {
                "no message".into()
            } else {
                stderr
            },
        };
        if overran && !status.success() {
            first_error.get_or_insert(fail(
                format!("killed after {budget:?}"),
                format!("the run overran rounds x time_limit; {tail}"),
            ));
            continue;
        }
        if !status.success() {
            first_error.get_or_insert(fail(status.to_string(), tail));
            continue;
        }
        match parsed {
            Ok(raw) => raws.push(raw),
            Err(e) => {
                first_error.get_or_insert(fail(
                    "bad output".into(),
                    format!("could not read its results ({e})"),
                ));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(raws),
    }
}

/// Runs `id` on `w`'s processes and returns each process's own observations
/// (used by `explain local-map` to show what each server counted).
pub fn run_each(id: StrategyId, w: &Workload, opts: &RunOptions) -> Result<Vec<RawRun>, SimError> {
    let spawned = spawn(id, w, opts)?;
    collect(spawned, w, opts)
}

/// Worker processes alive right now, so Ctrl-C can stop them before the
/// parent removes the run's shared state (else they would write more).
static CHILDREN: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn children() -> std::sync::MutexGuard<'static, Vec<u32>> {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner())
}

fn register_child(pid: u32) {
    children().push(pid);
}

fn unregister_child(pid: u32) {
    children().retain(|&p| p != pid);
}

/// Kills every worker process still running (for Ctrl-C): returns how many.
pub fn kill_children() -> usize {
    let pids = children().clone();
    for &pid in &pids {
        #[cfg(unix)]
        // SAFETY: kill(2) has no memory-safety preconditions. The pid is a
        // child this process started; it leaves the list right after it is
        // reaped, so only in that instant could the pid have been reused.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
    pids.len()
}

/// Entry point of a worker process: reads a [`ChildSpec`] from stdin, plays
/// its share, and returns the JSON to print on stdout.
pub fn child_main() -> Result<String, SimError> {
    // The spec is the first line; the go message follows once this
    // process is set up ([`handshake`]).
    let mut input = String::new();
    std::io::stdin()
        .read_line(&mut input)
        .map_err(|e| SimError::BadSpec(format!("reading the worker spec from stdin: {e}")))?;
    let spec: ChildSpec =
        serde_json::from_str(&input).map_err(|e| SimError::BadSpec(format!("bad spec: {e}")))?;
    let id = StrategyId::from_name(&spec.strategy).map_err(|e| SimError::BadSpec(e.to_string()))?;
    // A hand-fed spec is input like any other: the same limits as `run`.
    spec.workload.validate()?;
    id.check_runtime(spec.workload.runtime)?;
    if spec.process >= spec.workload.effective_processes() {
        return Err(SimError::BadSpec(format!(
            "process {} of {}",
            spec.process,
            spec.workload.effective_processes()
        )));
    }
    let env = Env::from_spec(spec.env).map_err(|e| SimError::BadSpec(e.to_string()))?;
    let opts = RunOptions {
        env,
        handshake: true,
        ..RunOptions::default()
    };
    // Report progress to the parent on stderr while playing, every 100 ms;
    // the end of the run wakes the reporter at once (its channel closes).
    let (done, wake) = std::sync::mpsc::channel::<()>();
    let reporter = {
        let progress = opts.progress.clone();
        std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                wake.recv_timeout(Duration::from_millis(100))
            {
                eprintln!("{PROGRESS}{}", progress.get());
            }
        })
    };
    let raw = run_share(id, &spec.workload, spec.process, spec.clock, &opts);
    drop(done);
    let _ = reporter.join();
    Ok(serde_json::to_string(&raw?).expect("raw observations always serialise"))
}

/// In a worker process, once set up: tells the parent (`quizrace-ready` on
/// stderr) and waits for its go message (`go <start> <stop>` on stdin), the
/// instants on the run's clock at which to start and stop.
pub(crate) fn handshake() -> Result<(u64, u64), SimError> {
    eprintln!("{READY}");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| SimError::BadSpec(format!("waiting for the go message: {e}")))?;
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("go"), Some(start), Some(stop)) => match (start.parse(), stop.parse()) {
            (Ok(start), Ok(stop)) => Ok((start, stop)),
            _ => Err(SimError::BadSpec(format!(
                "bad go message `{}`",
                line.trim()
            ))),
        },
        _ if line.is_empty() => Err(SimError::BadSpec(
            "the parent sent no go message (another worker process failed to start)".into(),
        )),
        _ => Err(SimError::BadSpec(format!(
            "bad go message `{}`",
            line.trim()
        ))),
    }
}

/// A one-thread tokio runtime for `quizrace explain`'s async traces.
pub fn runtime_for_explain() -> Result<tokio::runtime::Runtime, SimError> {
    super::tokio_rt::build_runtime(crate::strategy::Runtime::TokioCurrent)
}
