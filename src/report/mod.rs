//! The HTML report: one self-contained page that shows the race, the fixes
//! and what each fix costs.
//!
//! `quizrace report RESULTS.json... [--criterion DIR] --out DIR` calls
//! [`generate`]. The page is built in four stages, one module each, in the
//! same order as the rest of quizrace (measure → record → analyse → render;
//! this module only reads what was recorded):
//!
//! 1. **load** (here): read and validate every results file
//!    ([`ResultsFile::from_json`], schema [`crate::result::SCHEMA`]), and the
//!    criterion output when asked to;
//! 2. **analyse** (`summary`): every result is classified by
//!    [`StrategyResult::class`](crate::result::StrategyResult::class), the
//!    classification `--check` uses, from the flags the run recorded:
//!    exact, expected anomalies (`anomalies_expected`: a racy strategy, or a
//!    correct one outside its guarantee), *unexpected* anomalies (a strategy
//!    broke an invariant it promised: a bug) or inconclusive; `summary`
//!    builds the strategies × scenarios matrix from those classes;
//! 3. **plot** (`plot`): SVG charts drawn with plotters' SVG backend;
//! 4. **render** (`html`): the page template, written with maud, which
//!    HTML-escapes every value it splices in.
//!
//! # What the page shows
//!
//! * a verdict banner: how many strategy results were exact, and which
//!   correct strategy (if any) showed anomalies it should not have;
//! * the correctness matrix, strategies × scenarios: `exact`, or the anomaly
//!   counts, with cells of results flagged `anomalies_expected` (racy
//!   strategies, and correct ones outside their guarantee) marked as
//!   expected;
//! * per scenario: throughput against workers for each strategy (from sweep
//!   points that vary `workers`), record-call latency percentiles
//!   p50/p90/p99/p99.9 on a log scale, `endQuizTime` latency, and
//!   cost against correctness (throughput against p99, coloured by verdict);
//! * the environment (quizrace version, commit, rustc, OS, CPUs, build
//!   profile, the servers used and their versions, seeds), so no figure is without context;
//! * criterion results when a criterion output directory is given.
//!
//! # Self-contained and offline
//!
//! Charts are inline `<svg>` elements and styles are one inline `<style>`
//! block: the page has no scripts and fetches nothing (no fonts, no CDN), so
//! it opens from a CI artifact without a network. plotters is built without
//! its `ttf` feature, so it cannot measure text: it estimates label widths,
//! and the browser lays the `<text>` elements out with its own sans-serif
//! font. Layouts therefore leave generous room around labels.
//!
//! # Criterion format
//!
//! The criterion table reads the files criterion **0.8** writes under its
//! output directory (`target/criterion` by default): for every benchmark,
//! `<id>/new/estimates.json` (fields `mean`, `median`, `std_dev`, optional
//! `slope`, each with `point_estimate` in nanoseconds and a
//! `confidence_interval`) and `<id>/new/benchmark.json` (`group_id`,
//! `function_id`, `value_str`, `throughput`). Criterion 0.4 to 0.8 share this
//! layout; other versions are not supported. `base/` and `change/`
//! directories (saved baselines) are ignored.
//!
//! # Failures
//!
//! Every error is a [`ReportError`] whose message says what failed and how
//! to fix it; the CLI maps all of them to exit code 2. Inputs are fully read
//! and the page fully rendered before anything is written, and the page is
//! written to a temporary file in the output directory and then renamed over
//! `index.html`, so a failed run never leaves a partial report over a good
//! one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::result::ResultsFile;

mod criterion;
mod html;
mod plot;
mod summary;

/// Why a report could not be generated. Each message says what failed and
/// how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No results files were given.
    #[error(
        "no results files given: pass one or more files written by `quizrace run --json PATH`"
    )]
    NoInputs,
    /// A results file could not be read (missing, unreadable, not UTF-8).
    #[error(
        "cannot read results file `{path}`: {source}; check the path, or write it with `quizrace run --json {path}`"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A results file is not valid JSON of schema `quizrace.result.v1`
    /// (including files of another schema version).
    #[error(
        "`{path}` is not a usable results file: {reason}; regenerate it with this quizrace's `quizrace run --json`"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A results file has an empty `results` list: nothing to report.
    #[error(
        "results file `{path}` has an empty `results` list: the run recorded no strategy; re-run the scenario with at least one strategy"
    )]
    EmptyResults {
        /// The file.
        path: PathBuf,
    },
    /// The criterion directory does not exist or cannot be read.
    #[error(
        "cannot read criterion directory `{path}`: {source}; run `cargo bench` first (it writes target/criterion), or leave out --criterion"
    )]
    CriterionDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A criterion file could not be read or parsed.
    #[error(
        "cannot use criterion file `{path}`: {reason}; this report reads criterion 0.8's format: re-run `cargo bench` with this project's criterion, or delete the stale directory"
    )]
    CriterionFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A chart could not be drawn (a bug in the report, not in the input).
    #[error("cannot draw chart `{chart}`: {reason}; please report this as a quizrace bug")]
    Chart {
        /// The chart's title.
        chart: String,
        /// The plotting error.
        reason: String,
    },
    /// The output directory or the page could not be written.
    #[error(
        "cannot write the report to `{path}`: {source}; check that the --out directory is writable and the disk is not full"
    )]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// One loaded results file and the label of its matrix column.
#[derive(Debug)]
pub(crate) struct Run {
    /// Where it was read from.
    pub(crate) path: PathBuf,
    /// Column label: the scenario name, made unique when two files share one.
    pub(crate) label: String,
    /// The file's contents.
    pub(crate) file: ResultsFile,
}

/// Reads `inputs` (results files of schema `quizrace.result.v1`) and, when
/// given, the criterion output directory `criterion`, and writes the report
/// to `out_dir/index.html`, creating `out_dir` if needed.
///
/// Returns the path of the written page. On error nothing in `out_dir` is
/// replaced: an existing `index.html` stays as it was.
///
/// # Errors
///
/// See [`ReportError`]: a missing or unreadable file, a file of another
/// schema, an empty results list, a missing criterion directory, or an
/// unwritable output directory.
pub fn generate(
    inputs: &[PathBuf],
    criterion: Option<&Path>,
    out_dir: &Path,
) -> Result<PathBuf, ReportError> {
    let runs = load(inputs)?;
    let benches = match criterion {
        Some(dir) => Some(criterion::load(dir)?),
        None => None,
    };
    let summary = summary::Summary::new(&runs);
    let page = html::render(&runs, &summary, benches.as_ref())?;
    write_atomically(out_dir, "index.html", page.as_bytes())
}

/// Reads and validates every results file, in the order given.
fn load(inputs: &[PathBuf]) -> Result<Vec<Run>, ReportError> {
    if inputs.is_empty() {
        return Err(ReportError::NoInputs);
    }
    let mut runs: Vec<Run> = Vec::with_capacity(inputs.len());
    for path in inputs {
        let text = read_capped(path).map_err(|source| ReportError::Read {
            path: path.clone(),
            source,
        })?;
        let files = ResultsFile::all_from_json(&text).map_err(|e| ReportError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // A bundle (several scenarios in one file) gives one run each.
        for file in files {
            if file.results.is_empty() {
                return Err(ReportError::EmptyResults { path: path.clone() });
            }
            if let Some(reason) = implausible(&file) {
                return Err(ReportError::Invalid {
                    path: path.clone(),
                    reason,
                });
            }
            let label = unique_label(&file.scenario.name, &runs);
            runs.push(Run {
                path: path.clone(),
                label,
                file,
            });
        }
    }
    Ok(runs)
}

/// Results files are kilobytes; this cap keeps `report /dev/zero` from
/// reading until memory runs out.
const MAX_INPUT_BYTES: u64 = 64 << 20;

fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    fs::File::open(path)?
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_INPUT_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {} MiB: not a results file",
                MAX_INPUT_BYTES >> 20
            ),
        ));
    }
    String::from_utf8(buf)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Rates and times no run can produce (NaN, infinities, more than 10^12
/// answers per second): a corrupt or hand-edited file, refused with a reason
/// rather than drawn on a chart axis that cannot hold it.
fn implausible(file: &ResultsFile) -> Option<String> {
    const MAX_RATE: f64 = 1e12;
    file.results.iter().find_map(|r| {
        let ok = |v: f64, max: f64| v.is_finite() && (0.0..=max).contains(&v);
        if !ok(r.answers_per_s, MAX_RATE) {
            Some(format!(
                "strategy `{}`: answers_per_s = {} is not a plausible rate (0 to 1e12)",
                r.strategy, r.answers_per_s
            ))
        } else if !ok(r.elapsed_s, 1e9) {
            Some(format!(
                "strategy `{}`: elapsed_s = {} is not a plausible duration",
                r.strategy, r.elapsed_s
            ))
        } else {
            None
        }
    })
}

/// The scenario name, suffixed ` (2)`, ` (3)`… when earlier files already
/// use it, so matrix columns never merge two different runs.
fn unique_label(name: &str, earlier: &[Run]) -> String {
    let taken = |l: &str| earlier.iter().any(|r| r.label == l);
    if !taken(name) {
        return name.to_string();
    }
    (2..)
        .map(|n| format!("{name} ({n})"))
        .find(|l| !taken(l))
        .expect("an unbounded range always yields a free label")
}

/// Writes `bytes` to `dir/name` through a temporary file in the same
/// directory and a rename. A rename within one directory is atomic on POSIX
/// file systems (and replaces the target on Windows), so readers see either
/// the old page or the new one, never a partial one.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, ReportError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Write { path, source }
    };
    fs::create_dir_all(dir).map_err(write_err(dir))?;
    let target = dir.join(name);
    // The process id keeps two concurrent report runs from sharing a temp file.
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target)
    })();
    if let Err(source) = result {
        // Best effort: the error being returned is the one that matters.
        let _ = fs::remove_file(&tmp);
        return Err(write_err(&target)(source));
    }
    Ok(target)
}
