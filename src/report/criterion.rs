//! Reading criterion 0.8's saved results (`target/criterion` by default).
//!
//! Criterion saves, for each benchmark, a directory named after the
//! benchmark id with a `new/` sub-directory holding the latest run:
//! `estimates.json` (statistics, in nanoseconds per iteration) and
//! `benchmark.json` (the id: group, function, parameter, throughput). Only
//! the fields the report shows are declared, so extra fields are ignored.
//! `base/`, `change/` and named baselines are other runs, and `report/` is
//! criterion's own HTML: all are skipped.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ReportError;

/// One benchmark's latest figures.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bench {
    /// Benchmark group (the id's first part).
    pub(crate) group: String,
    /// Function within the group, if any.
    pub(crate) function: Option<String>,
    /// Parameter value, if any.
    pub(crate) parameter: Option<String>,
    /// Mean time per iteration, ns.
    pub(crate) mean_ns: f64,
    /// Bounds of the mean's confidence interval, ns.
    pub(crate) mean_ci_ns: (f64, f64),
    /// Median time per iteration, ns.
    pub(crate) median_ns: f64,
    /// Declared work per iteration, if the benchmark set a throughput.
    pub(crate) throughput: Option<Throughput>,
}

/// Work per iteration, as declared with criterion's `Throughput`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Throughput {
    /// Elements (here: answers) per iteration.
    Elements(u64),
    /// Bytes per iteration.
    Bytes(u64),
    /// Bits per iteration.
    Bits(u64),
}

impl Throughput {
    /// The rate at `ns_per_iter`, with its unit: `(per_second, unit)`.
    pub(crate) fn per_second(self, ns_per_iter: f64) -> (f64, &'static str) {
        let (n, unit) = match self {
            Throughput::Elements(n) => (n, "elem/s"),
            Throughput::Bytes(n) => (n, "B/s"),
            Throughput::Bits(n) => (n, "bit/s"),
        };
        (n as f64 / (ns_per_iter * 1e-9), unit)
    }
}

/// What was found under the criterion directory.
#[derive(Clone, Debug)]
pub(crate) struct Benches {
    /// The directory, for the page.
    pub(crate) dir: PathBuf,
    /// Benchmarks sorted by group, function, parameter.
    pub(crate) benches: Vec<Bench>,
}

#[derive(Deserialize)]
struct RawEstimate {
    point_estimate: f64,
    confidence_interval: RawInterval,
}

#[derive(Deserialize)]
struct RawInterval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct RawEstimates {
    mean: RawEstimate,
    median: RawEstimate,
}

#[derive(Deserialize)]
struct RawId {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    #[serde(default)]
    throughput: Option<RawThroughput>,
}

/// Criterion's `Throughput` enum, as serde writes it (externally tagged).
#[derive(Deserialize)]
enum RawThroughput {
    Bits(u64),
    Bytes(u64),
    BytesDecimal(u64),
    Elements(u64),
    ElementsAndBytes { elements: u64 },
}

/// Walks `dir` for `*/new/estimates.json` and reads each benchmark.
pub(crate) fn load(dir: &Path) -> Result<Benches, ReportError> {
    let dir_err = |source| ReportError::CriterionDir {
        path: dir.to_path_buf(),
        source,
    };
    if !fs::metadata(dir).map_err(dir_err)?.is_dir() {
        return Err(dir_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a directory",
        )));
    }
    let mut found = Vec::new();
    find_new_dirs(dir, &mut found).map_err(dir_err)?;
    let mut benches = found
        .iter()
        .map(|new_dir| read_bench(dir, new_dir))
        .collect::<Result<Vec<_>, _>>()?;
    benches.sort_by(|a, b| {
        (&a.group, &a.function, &a.parameter).cmp(&(&b.group, &b.function, &b.parameter))
    });
    Ok(Benches {
        dir: dir.to_path_buf(),
        benches,
    })
}

/// Collects every `new/` directory that holds an `estimates.json`.
fn find_new_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        let name = entry.file_name();
        if name == "new" {
            if path.join("estimates.json").is_file() {
                out.push(path);
            }
        } else if name != "report" && name != "base" && name != "change" {
            find_new_dirs(&path, out)?;
        }
    }
    Ok(())
}

fn read_bench(root: &Path, new_dir: &Path) -> Result<Bench, ReportError> {
    let estimates_path = new_dir.join("estimates.json");
    let est: RawEstimates = read_json(&estimates_path)?;
    let id_path = new_dir.join("benchmark.json");
    let (group, function, parameter, throughput) = if id_path.is_file() {
        let id: RawId = read_json(&id_path)?;
        let throughput = id.throughput.map(|t| match t {
            RawThroughput::Bits(n) => Throughput::Bits(n),
            RawThroughput::Bytes(n) | RawThroughput::BytesDecimal(n) => Throughput::Bytes(n),
            RawThroughput::Elements(n) | RawThroughput::ElementsAndBytes { elements: n } => {
                Throughput::Elements(n)
            }
        });
        (id.group_id, id.function_id, id.value_str, throughput)
    } else {
        // Without benchmark.json, the directory path is the best id we have.
        let rel = new_dir
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        (rel, None, None, None)
    };
    Ok(Bench {
        group,
        function,
        parameter,
        mean_ns: est.mean.point_estimate,
        mean_ci_ns: (
            est.mean.confidence_interval.lower_bound,
            est.mean.confidence_interval.upper_bound,
        ),
        median_ns: est.median.point_estimate,
        throughput,
    })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let err = |reason: String| ReportError::CriterionFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| err(format!("unexpected content: {e}")))
}
