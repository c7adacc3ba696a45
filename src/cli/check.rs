//! `quizrace check HISTORY.jsonl`.

use std::io::BufReader;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use quizrace::history;

use super::table::{thousands, Style};
use super::Exit;

/// Room-rounds that are not linearizable printed at most; the rest are
/// counted.
const SHOWN: usize = 20;

/// `quizrace check PATH`: one line per room-round that is not linearizable
/// (at most [`SHOWN`]), then a summary. Exit 0 when every room-round is
/// linearizable, 1 when one is not, 2 when the file cannot be read (with
/// the line at fault).
pub(crate) fn check(path: &Path) -> Result<Exit> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let h = history::read(BufReader::new(file)).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let report = history::check(&h, SHOWN);
    let style = Style::detect();
    for r in &report.violations {
        outln!(
            "room-round {}: {}: {}",
            r.room_round,
            style.red(r.violation.kind().as_str()),
            r.violation.explanation()
        );
    }
    let more = report.not_linearizable - report.violations.len();
    if more > 0 {
        outln!("… and {} more", thousands(more as u64));
    }
    let rounds = plural(report.rounds, "room-round");
    let ops = plural(report.ops, "operation");
    if report.is_linearizable() {
        outln!("{rounds}, {ops}: linearizable");
        Ok(Exit::Done)
    } else {
        let verb = if report.not_linearizable == 1 {
            "is"
        } else {
            "are"
        };
        outln!(
            "{} of {rounds} {verb} not linearizable ({ops})",
            thousands(report.not_linearizable as u64)
        );
        Ok(Exit::NotLinearizable)
    }
}

/// `1 room-round`, `12,000 room-rounds`.
fn plural(n: usize, noun: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {noun}{s}", thousands(n as u64))
}
