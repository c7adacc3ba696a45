//! Scenario files (`scenarios/*.toml`): plain data, every field optional with
//! a documented default (see `scenarios/README.md`), unknown keys rejected.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::backend::{Failover, Faults, FaultsError, Pause, PauseMode};
use crate::sim::{Balance, Workload};
use crate::strategy::{nearest, Runtime, ScoringWork, StrategyId};

/// Defaults used when neither the scenario nor the command line says.
pub mod defaults {
    /// Rooms.
    pub const ROOMS: u32 = 500;
    /// Players per room.
    pub const PLAYERS: u32 = 8;
    /// Questions per room.
    pub const ROUNDS: u32 = 10;
    /// Workers per process.
    pub const WORKERS: u32 = 4;
    /// Processes (with `runtime = "processes"`).
    pub const PROCESSES: u32 = 2;
    /// Seed.
    pub const SEED: u64 = 42;
    /// Round time limit.
    pub const TIME_LIMIT: &str = "10s";
}

/// A value that does not parse (a duration, a runtime, a scoring work);
/// the message says what is expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

/// A file that cannot be read as a quizrace input.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Over the size cap.
    #[error("larger than {} MiB: not a quizrace file", .0 >> 20)]
    TooLarge(u64),
    /// Not text.
    #[error("not UTF-8 text")]
    NotUtf8,
}

/// A scenario that cannot be read, parsed or resolved.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file cannot be read.
    #[error("cannot read scenario {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: ReadError,
    },
    /// Not valid scenario TOML (or an unknown key).
    #[error("{}{place}{message}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Syntax {
        /// The file, when there is one.
        file: Option<std::path::PathBuf>,
        /// `line L, column C: `, when known.
        place: String,
        /// What the parser said.
        message: String,
    },
    /// A field's value.
    #[error("{field}: {source}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        source: ValueError,
    },
    /// A value whose message names its field already.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// The `[faults]` table.
    #[error("faults: {0}")]
    Faults(#[from] FaultsError),
}

fn field(field: &'static str) -> impl FnOnce(ValueError) -> ScenarioError {
    move |source| ScenarioError::Field { field, source }
}

/// A scenario as written in a TOML file. `None` means "use the default".
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Display name (default: the file stem).
    pub name: Option<String>,
    /// What the scenario shows, for students.
    pub description: Option<String>,
    /// Strategy names, or `["all"]`.
    pub strategies: Option<Vec<String>>,
    /// Seed of the answer streams.
    pub seed: Option<u64>,
    /// Rooms.
    pub rooms: Option<u32>,
    /// Players per room.
    pub players: Option<u32>,
    /// Questions per room.
    pub rounds: Option<u32>,
    /// Workers per process.
    pub workers: Option<u32>,
    /// `threads`, `tokio`, `tokio-current` or `processes`.
    pub runtime: Option<String>,
    /// OS processes for `runtime = "processes"`.
    pub processes: Option<u32>,
    /// `round-robin` or `hash`.
    pub balance: Option<String>,
    /// `none`, `yield`, `spin:N` or `sleep:DURATION`.
    pub scoring_work: Option<String>,
    /// Answer window, e.g. `"2ms"`; `"0"` is a burst.
    pub window: Option<String>,
    /// Round time limit, e.g. `"10s"`.
    pub time_limit: Option<String>,
    /// Sweeps, e.g. `{ workers = [1, 2, 4, 8] }`.
    pub sweep: Option<std::collections::BTreeMap<String, Vec<u64>>>,
    /// Client timeouts, retries and an injected server pause (for
    /// strategies on a back end).
    pub faults: Option<FaultsFile>,
    /// Redis settings: a cluster, or servers quizrace starts itself.
    pub redis: Option<RedisFile>,
    /// What the scenario promises to show: strategy name to the anomalies
    /// that must appear in its trials (names in [`ANOMALY_NAMES`]), e.g.
    /// `racy-rmw = ["lost_updates"]`. `scripts/tour-check.sh` measures how
    /// often each promise is kept; correct strategies must always be exact.
    pub expect: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// Anomaly names, as in the results file and `[expect]` tables.
pub const ANOMALY_NAMES: &[&str] = &[
    "lost_updates",
    "over_counts",
    "missed_end",
    "duplicate_end",
    "early_end",
    "non_linearizable",
];

/// The `[redis]` section: what the Redis URL is, or which servers
/// quizrace starts itself instead.
///
/// ```toml
/// [redis]
/// cluster = true            # the URL is one node of a Redis Cluster
/// lab = "primary-replica"   # or "cluster": start redis-server(s) from PATH
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RedisFile {
    /// The URL is a node of a Redis Cluster (`--redis-cluster`).
    pub cluster: Option<bool>,
    /// `primary-replica` or `cluster` (`--redis-lab`).
    pub lab: Option<String>,
}

/// The `[faults]` section: client settings for strategies on a back end,
/// and an injected fault.
/// Every field is optional; unknown keys are errors.
///
/// ```toml
/// [faults]
/// response_timeout = "40ms"  # default 2s: wait this long for one reply
/// connect_timeout = "1s"     # default 2s
/// retries = 3                # default 0: client retries after a timeout
/// pause_at = "300ms"         # pause the server this long after workers start
/// pause_for = "200ms"        # ... for this long (both or neither)
/// pause_mode = "write"       # default write (hold writes only); or all
/// failover_at = "300ms"      # promote the replica this long after workers start
/// failover_for = "300ms"     # ... and move clients this much later (both or neither)
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsFile {
    /// Time to wait for one reply.
    pub response_timeout: Option<String>,
    /// Time to open a connection.
    pub connect_timeout: Option<String>,
    /// Client retries after a timeout or connection error.
    pub retries: Option<u32>,
    /// When to pause the server, counted from the workers' start.
    pub pause_at: Option<String>,
    /// How long the pause lasts.
    pub pause_for: Option<String>,
    /// `write` or `all`.
    pub pause_mode: Option<String>,
    /// When to promote the replica (the Redis lab's failover).
    pub failover_at: Option<String>,
    /// How long the old primary keeps acknowledging alone.
    pub failover_for: Option<String>,
}

impl FaultsFile {
    /// Fields set in `over` replace those in `self`.
    pub fn overlay(mut self, over: &FaultsFile) -> FaultsFile {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f.clone(); } )* };
        }
        take!(
            response_timeout,
            connect_timeout,
            retries,
            pause_at,
            pause_for,
            pause_mode,
            failover_at,
            failover_for
        );
        self
    }

    /// The typed settings, with defaults filled in and ranges checked.
    pub fn resolve(&self) -> Result<Faults, ScenarioError> {
        let dur = |name: &'static str, v: &Option<String>, default| match v {
            None => Ok(default),
            Some(s) => parse_duration(s).map_err(field(name)),
        };
        let d = Faults::default();
        let mode = match self.pause_mode.as_deref() {
            None | Some("write") => PauseMode::Write,
            Some("all") => PauseMode::All,
            Some(other) => {
                return Err(ScenarioError::Field {
                    field: "faults.pause_mode",
                    source: ValueError(format!("`{other}` is not known; use write or all")),
                })
            }
        };
        let pause = match (&self.pause_at, &self.pause_for) {
            (None, None) => None,
            (Some(_), Some(_)) => Some(Pause {
                at: dur("faults.pause_at", &self.pause_at, Duration::ZERO)?,
                duration: dur("faults.pause_for", &self.pause_for, Duration::ZERO)?,
                mode,
            }),
            _ => {
                return Err(ScenarioError::Field {
                    field: "faults",
                    source: ValueError("set both pause_at and pause_for, or neither".into()),
                })
            }
        };
        let failover = match (&self.failover_at, &self.failover_for) {
            (None, None) => None,
            (Some(_), Some(_)) => Some(Failover {
                at: dur("faults.failover_at", &self.failover_at, Duration::ZERO)?,
                duration: dur("faults.failover_for", &self.failover_for, Duration::ZERO)?,
            }),
            _ => {
                return Err(ScenarioError::Field {
                    field: "faults",
                    source: ValueError("set both failover_at and failover_for, or neither".into()),
                })
            }
        };
        let f = Faults {
            connect_timeout: dur(
                "faults.connect_timeout",
                &self.connect_timeout,
                d.connect_timeout,
            )?,
            response_timeout: dur(
                "faults.response_timeout",
                &self.response_timeout,
                d.response_timeout,
            )?,
            retries: self.retries.unwrap_or(0),
            pause,
            failover,
        };
        f.validate()?;
        Ok(f)
    }
}

impl ScenarioFile {
    /// Reads a scenario; errors name the file, line and column.
    pub fn load(path: &Path) -> Result<ScenarioFile, ScenarioError> {
        let text = read_capped(path, MAX_FILE_BYTES).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut s = Self::parse(&text).map_err(|e| match e {
            ScenarioError::Syntax { place, message, .. } => ScenarioError::Syntax {
                file: Some(path.to_path_buf()),
                place,
                message,
            },
            other => other,
        })?;
        if s.name.is_none() {
            s.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(s)
    }

    /// Parses scenario TOML.
    pub fn parse(text: &str) -> Result<ScenarioFile, ScenarioError> {
        toml::from_str::<ScenarioFile>(text).map_err(|e| {
            let place = e
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before
                        .rfind('\n')
                        .map_or(before.len(), |i| before.len() - i - 1)
                        + 1;
                    format!("line {line}, column {col}: ")
                })
                .unwrap_or_default();
            ScenarioError::Syntax {
                file: None,
                place,
                message: e.message().to_string(),
            }
        })
    }

    /// Fields set in `over` replace those in `self` (command-line overrides).
    pub fn overlay(mut self, over: &ScenarioFile) -> ScenarioFile {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f.clone(); } )* };
        }
        take!(
            name,
            description,
            strategies,
            seed,
            rooms,
            players,
            rounds,
            workers,
            runtime,
            processes,
            balance,
            scoring_work,
            window,
            time_limit,
            sweep
        );
        if let Some(f) = &over.faults {
            self.faults = Some(self.faults.take().unwrap_or_default().overlay(f));
        }
        if let Some(r) = &over.redis {
            let mut mine = self.redis.take().unwrap_or_default();
            if r.cluster.is_some() {
                mine.cluster = r.cluster;
            }
            if r.lab.is_some() {
                mine.lab = r.lab.clone();
            }
            self.redis = Some(mine);
        }
        self
    }

    /// Whether these (command-line) fields change a scenario's workload, so
    /// that its description and promises may no longer hold.
    pub fn changes_workload(&self) -> bool {
        self.seed.is_some()
            || self.rooms.is_some()
            || self.players.is_some()
            || self.rounds.is_some()
            || self.workers.is_some()
            || self.runtime.is_some()
            || self.processes.is_some()
            || self.balance.is_some()
            || self.scoring_work.is_some()
            || self.window.is_some()
            || self.time_limit.is_some()
            || self.faults.is_some()
    }

    /// The scenario's fault settings (defaults when there is no `[faults]`).
    pub fn faults(&self) -> Result<Faults, ScenarioError> {
        self.faults.clone().unwrap_or_default().resolve()
    }

    /// `threads`, unless a named strategy cannot run there (it awaits, or it
    /// talks to a server): then `tokio`, which runs every strategy.
    fn default_runtime(&self) -> Runtime {
        let needs_async = self
            .strategies
            .iter()
            .flatten()
            .any(|n| StrategyId::from_name(n).is_ok_and(|s| !s.supports(Runtime::Threads)));
        if needs_async {
            Runtime::Tokio
        } else {
            Runtime::Threads
        }
    }

    /// The workload this scenario describes, with defaults filled in.
    pub fn workload(&self) -> Result<Workload, ScenarioError> {
        let runtime = match &self.runtime {
            None => self.default_runtime(),
            Some(r) => parse_runtime(r)?,
        };
        Ok(Workload {
            rooms: self.rooms.unwrap_or(defaults::ROOMS),
            rounds: self.rounds.unwrap_or(defaults::ROUNDS),
            players: self.players.unwrap_or(defaults::PLAYERS),
            workers: self.workers.unwrap_or(defaults::WORKERS),
            processes: self.processes.unwrap_or(if runtime == Runtime::Processes {
                defaults::PROCESSES
            } else {
                1
            }),
            runtime,
            seed: self.seed.unwrap_or(defaults::SEED),
            window: match &self.window {
                None => Duration::ZERO,
                Some(w) => parse_duration(w).map_err(field("window"))?,
            },
            work: match &self.scoring_work {
                None => ScoringWork::None,
                Some(w) => w.parse()?,
            },
            time_limit: parse_duration(self.time_limit.as_deref().unwrap_or(defaults::TIME_LIMIT))
                .map_err(field("time_limit"))?,
            balance: match self.balance.as_deref() {
                None | Some("round-robin") => Balance::RoundRobin,
                Some("hash") => Balance::Hash,
                Some(other) => {
                    return Err(ValueError(format!(
                        "balance `{other}` is not known; use `round-robin` or `hash`"
                    ))
                    .into())
                }
            },
        })
    }
}

/// Scenario files are a few hundred bytes; this cap keeps `run /dev/zero`
/// from reading until memory runs out.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a text file of at most `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> Result<String, ReadError> {
    use std::io::Read as _;
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    String::from_utf8(buf).map_err(|_| ReadError::NotUtf8)
}

/// What `quizrace run` shows without a scenario file.
const DEFAULT_DESCRIPTION: &str = "\
The default run: every in-process strategy, sync ones on OS threads and
async-only ones (async-rmw, tokio-mutex) as tokio tasks. Each answer's
scoring yields between reading and writing the count (an await point, like
the story's async scoring call), so racy-rmw and async-rmw lose updates,
check-then-act ends rounds twice, and every correct strategy stays exact.
Locks held across the scoring pay for it in throughput.";

impl ScenarioFile {
    /// The workload `quizrace run` uses without a scenario file: chosen so
    /// that the three in-process races show in every invocation on a
    /// 2-core machine (`tests/cli.rs` checks it), in a few seconds.
    pub fn builtin_default() -> ScenarioFile {
        let expect = [
            ("racy-rmw", "lost_updates"),
            ("check-then-act", "duplicate_end"),
            ("async-rmw", "lost_updates"),
        ]
        .into_iter()
        .map(|(s, a)| (s.to_string(), vec![a.to_string()]))
        .collect();
        ScenarioFile {
            name: Some("default".into()),
            description: Some(DEFAULT_DESCRIPTION.into()),
            rooms: Some(200),
            players: Some(8),
            rounds: Some(10),
            workers: Some(4),
            scoring_work: Some("yield".into()),
            expect: Some(expect),
            ..ScenarioFile::default()
        }
    }
}

/// Parses a runtime name.
pub fn parse_runtime(s: &str) -> Result<Runtime, ValueError> {
    Runtime::ALL
        .iter()
        .copied()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            let hint = nearest(s, Runtime::ALL.iter().map(|r| r.as_str()))
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            ValueError(format!(
                "runtime `{s}` is not known{hint}; use threads, tokio, tokio-current or processes"
            ))
        })
}

/// Parses `0`, `250ns`, `50us`, `2ms`, `1.5s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            ValueError(format!(
                "`{s}` needs a unit: ns, us, ms, s or m (e.g. 50us)"
            ))
        })?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| ValueError(format!("`{s}` is not a duration (e.g. 50us, 2ms, 1s)")))?;
    let ns = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        _ => {
            return Err(ValueError(format!(
                "unit `{unit}` in `{s}` is not one of ns, us, ms, s, m"
            )))
        }
    };
    let total = n * ns;
    if !total.is_finite() || total > 3600e9 {
        return Err(ValueError(format!("`{s}` is over the limit of one hour")));
    }
    Ok(Duration::from_nanos(total as u64))
}

impl FromStr for ScoringWork {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let usage = "use none, yield, spin:N or sleep:DURATION (e.g. sleep:50us)";
        match s.split_once(':') {
            None if s == "none" => Ok(ScoringWork::None),
            None if s == "yield" => Ok(ScoringWork::Yield),
            Some(("spin", n)) => {
                let n: u32 = n.parse().map_err(|_| {
                    ValueError(format!("scoring work `{s}`: `{n}` is not a count; {usage}"))
                })?;
                if n > 100_000_000 {
                    return Err(ValueError(format!(
                        "scoring work `{s}`: at most 100000000 spins"
                    )));
                }
                Ok(ScoringWork::Spin(n))
            }
            Some(("sleep", d)) => {
                let d = parse_duration(d)
                    .map_err(|e| ValueError(format!("scoring work `{s}`: {e}")))?;
                if d > Duration::from_secs(1) {
                    return Err(ValueError(format!(
                        "`{s}`: sleeps over 1s per answer would never finish"
                    )));
                }
                Ok(ScoringWork::Sleep(d))
            }
            _ => Err(ValueError(format!(
                "scoring work `{s}` is not known; {usage}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("50us").unwrap(), Duration::from_micros(50));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn scoring_work() {
        assert_eq!(
            "spin:10".parse::<ScoringWork>().unwrap(),
            ScoringWork::Spin(10)
        );
        assert_eq!(
            "sleep:50us".parse::<ScoringWork>().unwrap(),
            ScoringWork::Sleep(Duration::from_micros(50))
        );
        assert!("nap:3".parse::<ScoringWork>().is_err());
    }

    #[test]
    fn unknown_keys_and_bad_toml_name_the_place() {
        let e = ScenarioFile::parse("rooms = 3\nplayrs = 4\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("playrs"), "{e}");
        let e = ScenarioFile::parse("rooms = = 3").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn faults_section() {
        let s = ScenarioFile::parse(
            "[faults]\nresponse_timeout = \"40ms\"\nretries = 2\npause_at = \"1s\"\npause_for = \"200ms\"\n",
        )
        .unwrap();
        let f = s.faults().unwrap();
        assert_eq!(f.response_timeout, Duration::from_millis(40));
        assert_eq!(f.retries, 2);
        assert_eq!(f.pause.unwrap().mode, PauseMode::Write);
        let e = ScenarioFile::parse("[faults]\nretris = 2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("retris"), "{e}");
        let half = ScenarioFile::parse("[faults]\npause_at = \"1s\"\n").unwrap();
        assert!(half.faults().unwrap_err().to_string().contains("pause_for"));
        assert!(ScenarioFile::default().faults().unwrap().is_default());
    }
}
