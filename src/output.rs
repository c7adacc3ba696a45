//! Writing results files: checked before the run, written atomically.
//!
//! `--json PATH` takes:
//!
//! * an existing directory: one file per scenario inside it, named after
//!   the scenario (`-2`, `-3`… when two scenarios share a name);
//! * anything else: one file. One scenario gives a plain results file,
//!   several give a bundle (`{"schema", "runs": [...]}`); both are read by
//!   `quizrace report`.
//!
//! Files are written to a temporary name unique to this process, then
//! renamed, so a crash or a concurrent run never leaves half a file, and a
//! path that is not a regular file (a device, a socket) is never replaced.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use crate::result::{ResultsBundle, ResultsFile, SCHEMA};

/// A results file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The path exists and is neither a regular file nor a directory.
    #[error("--json {0}: exists and is not a regular file or a directory; choose a file path")]
    NotAFile(PathBuf),
    /// `--history PATH` names one file, and several strategies ran.
    #[error(
        "--history {0}: this run has {1} strategy results, and a history file holds one; give an \
         existing directory (one file per strategy), or run one strategy (-s NAME)"
    )]
    OneHistory(PathBuf, usize),
    /// A history file cannot be created or written.
    #[error("--history: cannot write to {path}: {source}")]
    WriteHistory {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file (or its directory) cannot be created or written.
    #[error("--json: cannot write to {path}: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Where `--json` writes, checked before anything runs.
#[derive(Debug)]
pub struct Output {
    path: PathBuf,
    dir: bool,
    names: RefCell<Vec<String>>,
}

impl Output {
    /// Checks `path` now, so that a bad path fails before the run, not after.
    pub fn prepare(path: &Path) -> Result<Output, OutputError> {
        let meta = std::fs::metadata(path);
        let dir = meta.as_ref().is_ok_and(|m| m.is_dir());
        if let Ok(m) = &meta {
            if !dir && !m.is_file() {
                return Err(OutputError::NotAFile(path.to_path_buf()));
            }
        }
        if !dir {
            if let Some(parent) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(write_error(parent))?;
            }
        }
        // Can we create a file there?
        let probe = if dir {
            path.join(format!(".quizrace-probe-{}", std::process::id()))
        } else {
            tmp_name(path)
        };
        std::fs::write(&probe, b"").map_err(write_error(path))?;
        let _ = std::fs::remove_file(&probe);
        Ok(Output {
            path: path.to_path_buf(),
            dir,
            names: RefCell::default(),
        })
    }

    /// Writes one scenario's file now (directory mode), so a later failure
    /// keeps what was finished. Does nothing in file mode.
    pub fn write_one(&self, file: &ResultsFile) -> Result<(), OutputError> {
        if !self.dir {
            return Ok(());
        }
        let mut names = self.names.borrow_mut();
        let base = sanitize(&file.scenario.name);
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                }
            })
            .find(|n| !names.contains(n))
            .expect("an unbounded range always yields a free name");
        names.push(name.clone());
        write_json(&self.path.join(format!("{name}.json")), file)
    }

    /// Writes the single file (file mode); returns where results went.
    pub fn finish(&self, mut files: Vec<ResultsFile>) -> Result<PathBuf, OutputError> {
        if self.dir || files.is_empty() {
            return Ok(self.path.clone());
        }
        if files.len() == 1 {
            write_json(&self.path, &files.remove(0))?;
        } else {
            let bundle = ResultsBundle {
                schema: SCHEMA.to_string(),
                runs: files,
            };
            write_json(&self.path, &bundle)?;
        }
        Ok(self.path.clone())
    }
}

/// `name.tmp-PID-N`, unique per process and call.
fn tmp_name(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(name)
}

/// Writes `value` as pretty JSON to `path` atomically (temporary file, then
/// rename). A full disk is an error, and leaves no temporary file.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), OutputError> {
    let json = serde_json::to_string_pretty(value).expect("results always serialise");
    let tmp = tmp_name(path);
    let written = std::fs::write(&tmp, json).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_error(path)(e));
    }
    Ok(())
}

/// Where `--history` writes: one file, or one file per result in an
/// existing directory (`<scenario>-<label>.jsonl`).
#[derive(Debug)]
pub struct HistoryOutput {
    path: PathBuf,
    dir: bool,
}

impl HistoryOutput {
    /// Checks the path before anything runs: `results` is how many
    /// strategy results the run will produce.
    pub fn prepare(path: &Path, results: usize) -> Result<HistoryOutput, OutputError> {
        let dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
        if !dir && results > 1 {
            return Err(OutputError::OneHistory(path.to_path_buf(), results));
        }
        Ok(HistoryOutput {
            path: path.to_path_buf(),
            dir,
        })
    }

    /// Writes one result's history: a header line (`header`, with the
    /// schema added), then one line per operation, as `docs/history.md`
    /// describes; atomically (temporary file, then rename).
    pub fn write(
        &self,
        scenario: &str,
        label: &str,
        mut header: serde_json::Map<String, serde_json::Value>,
        ops: &[crate::sim::HistOp],
    ) -> Result<PathBuf, OutputError> {
        use std::io::Write;
        let path = if self.dir {
            self.path
                .join(format!("{}-{}.jsonl", sanitize(scenario), sanitize(label)))
        } else {
            self.path.clone()
        };
        header.insert(
            "schema".into(),
            serde_json::Value::from(crate::history::SCHEMA),
        );
        let tmp = tmp_name(&path);
        let written = (|| {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            serde_json::to_writer(&mut f, &header)?;
            f.write_all(b"\n")?;
            for op in ops {
                let response = (op.fate != 3).then_some(op.invoke_ns + op.took_ns as u64);
                let value = (op.value != 0).then_some(op.value);
                writeln!(
                    f,
                    "{{\"room_round\":{},\"worker\":{},\"player\":{},\"planned_ns\":{},\
                     \"invoke_ns\":{},\"response_ns\":{},\"value\":{},\"outcome\":\"{}\",\
                     \"fired\":{}}}",
                    op.slot,
                    op.worker,
                    op.player,
                    op.invoke_ns - op.late_ns as u64,
                    op.invoke_ns,
                    response.map_or("null".to_string(), |r| r.to_string()),
                    value.map_or("null".to_string(), |v| v.to_string()),
                    op.outcome(),
                    op.fired
                )?;
            }
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(source) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(OutputError::WriteHistory { path, source });
        }
        Ok(path)
    }
}

/// A scenario name made safe as a file name.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> ResultsFile {
        let mut f: ResultsFile = serde_json::from_value(serde_json::json!({
            "schema": SCHEMA,
            "scenario": {"name": "x", "seed": 1, "rooms": 1, "players": 1, "rounds": 1,
                         "runtime": "threads", "workers": 1, "processes": 1},
            "environment": {"quizrace": "0", "rustc": "r", "os": "o", "cpus": 1, "git": "g"},
            "results": []
        }))
        .unwrap();
        f.scenario.name = name.into();
        f
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "quizrace-output-{tag}-{}-{}",
            std::process::id(),
            crate::backend::new_namespace()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_directory_gets_one_file_per_scenario_and_names_never_collide() {
        let d = temp_dir("dir");
        let out = Output::prepare(&d).unwrap();
        for name in ["a b", "a b", "c"] {
            out.write_one(&file(name)).unwrap();
        }
        let mut names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a_b-2.json", "a_b.json", "c.json"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_path_gets_a_bundle_and_no_temporary_file_is_left() {
        let d = temp_dir("file");
        let path = d.join("sub/x.json");
        let out = Output::prepare(&path).unwrap();
        out.finish(vec![file("a"), file("b")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(ResultsFile::all_from_json(&text).unwrap().len(), 2);
        assert_eq!(std::fs::read_dir(d.join("sub")).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn special_files_are_refused_and_temporary_names_are_unique() {
        assert!(matches!(
            Output::prepare(Path::new("/dev/null")),
            Err(OutputError::NotAFile(_))
        ));
        let p = Path::new("/tmp/x.json");
        assert_ne!(tmp_name(p), tmp_name(p));
    }
}
