//! `quizrace run`: plan (library), run (library), and show it here.

use std::io::IsTerminal;

use anyhow::{bail, Result};
use quizrace::output::{HistoryOutput, Output};
use quizrace::plan::{self, fmt_point, Point, ScenarioPlan};
use quizrace::result::{ResultsFile, StrategyResult};
use quizrace::sim::Progress;
use quizrace::strategy::Runtime;
use quizrace::suite::{self, Observer, SuiteError, TrialPolicy};

use super::args::RunArgs;
use super::progress::ProgressThread;
use super::table::{plural, print_promises, print_summary, Style, Table};
use super::{interrupt, Exit};

/// Prints tables and progress as the suite runs, and writes each finished
/// scenario into a results directory.
struct Terminal<'a> {
    policy: &'a TrialPolicy,
    quiet: bool,
    show_progress: bool,
    style: Style,
    output: Option<&'a Output>,
    history: Option<&'a HistoryOutput>,
    /// The first `--history` write that failed, reported when the scenario ends.
    history_error: Option<quizrace::output::OutputError>,
    table: Option<Table>,
    bar: Option<ProgressThread>,
}

impl Observer for Terminal<'_> {
    fn scenario_started(&mut self, plan: &ScenarioPlan) {
        let table = Table::new(plan);
        if !self.quiet {
            table.header(plan, self.policy, &self.style);
        }
        self.table = Some(table);
    }

    fn point_started(
        &mut self,
        plan: &ScenarioPlan,
        point: &Point,
        progress: &Progress,
        answers_per_trial: u64,
    ) {
        if !self.show_progress {
            return;
        }
        let label = if point.is_empty() {
            plural(plan.entries.len() as u64, "strategy")
        } else {
            fmt_point(point)
        };
        self.bar = Some(ProgressThread::start(
            label,
            answers_per_trial,
            progress.clone(),
        ));
    }

    fn point_finished(&mut self) {
        self.bar = None;
    }

    fn result(&mut self, plan: &ScenarioPlan, label: &str, r: &StrategyResult) {
        if let (false, Some(t)) = (self.quiet, &self.table) {
            t.row(label, r, &self.style);
        }
        let Some(h) = self.history else {
            return;
        };
        if r.first_history.is_empty() && r.answers > 0 {
            eprintln!(
                "quizrace: {label}: no history to write (a trial keeps one only up to 2,000,000 \
                 answers)"
            );
            return;
        }
        let w = &plan.workload;
        let header = serde_json::json!({
            "scenario": plan.name,
            "strategy": r.strategy,
            "label": label,
            "runtime": r.runtime,
            "rooms": w.rooms,
            "players": w.players,
            "rounds": w.rounds,
            "workers": w.workers,
            "processes": w.effective_processes(),
            "seed": w.seed,
            "trial": 1,
            "times": "ns on the run's clock",
        });
        let serde_json::Value::Object(header) = header else {
            unreachable!("a JSON object literal")
        };
        match h.write(&plan.name, label, header, &r.first_history) {
            Ok(path) if !self.quiet => outln!("history: {}", path.display()),
            Ok(_) => {}
            Err(e) => {
                self.history_error.get_or_insert(e);
            }
        }
    }

    fn scenario_finished(
        &mut self,
        _plan: &ScenarioPlan,
        labelled: &[(String, StrategyResult)],
        file: &ResultsFile,
    ) -> Result<(), SuiteError> {
        if let (false, Some(t)) = (self.quiet, &self.table) {
            t.legend();
        }
        print_summary(labelled, &self.style, self.quiet);
        print_promises(&file.promises, &self.style);
        if let Some(out) = self.output {
            out.write_one(file)?;
        }
        if let Some(e) = self.history_error.take() {
            return Err(e.into());
        }
        Ok(())
    }
}

pub(crate) fn run(args: RunArgs) -> Result<Exit> {
    let policy = args.policy()?;
    // Resolve and validate everything before running anything.
    let plans = plan::plan(&args.request()?)?;
    for w in plans.iter().flat_map(|p| &p.warnings) {
        eprintln!("quizrace: warning: {w}");
    }
    let output = args.json.as_deref().map(Output::prepare).transpose()?;
    let results: usize = plans.iter().map(|p| p.entries.len() * p.points.len()).sum();
    let history = args
        .history
        .as_deref()
        .map(|p| HistoryOutput::prepare(p, results))
        .transpose()?;
    // Worker processes and server state need a clean stop on Ctrl-C or SIGTERM.
    if plans.iter().any(|p| {
        p.entries
            .iter()
            .any(|e| e.id.networked() || e.runtime == Runtime::Processes)
    }) {
        interrupt::install()?;
    }
    let mut terminal = Terminal {
        policy: &policy,
        quiet: args.quiet,
        // The bar draws on stderr; it is for people watching a terminal.
        show_progress: !args.quiet
            && std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal(),
        style: Style::detect(),
        output: output.as_ref(),
        history: history.as_ref(),
        history_error: None,
        table: None,
        bar: None,
    };
    let outcome = match suite::run_suite(&plans, &policy, &mut terminal) {
        Ok(outcome) => outcome,
        Err(SuiteError::Interrupted) => {
            // The handler thread is cleaning up and will exit the process;
            // the run's partial result is moot.
            loop {
                std::thread::park();
            }
        }
        Err(SuiteError::Strategy {
            scenario,
            strategy,
            source,
            finished,
        }) => {
            // Scenarios that finished are kept in a bundle file too.
            if let (Some(out), false) = (&output, finished.is_empty()) {
                let _ = out.finish(finished);
            }
            return Err(anyhow::Error::new(source)
                .context(format!("scenario `{scenario}`, strategy `{strategy}`")));
        }
        Err(e) => return Err(e.into()),
    };
    let passed = {
        let results: Vec<_> = outcome.files.iter().flat_map(|f| &f.results).collect();
        let strategies: std::collections::BTreeSet<_> =
            results.iter().map(|r| r.strategy.as_str()).collect();
        Some(format!(
            "check passed: {} in {} ({}): no anomaly in a correct strategy, none inconclusive",
            plural(strategies.len() as u64, "strategy"),
            plural(plans.len() as u64, "scenario"),
            plural(results.len() as u64, "result")
        ))
    };
    if let Some(out) = &output {
        let path = out.finish(outcome.files)?;
        if !args.quiet {
            outln!("\nresults: {}", path.display());
        }
    }
    if outcome.restarted {
        bail!(
            "the server restarted during the run (see above): what it forgot is the server's \
             data loss, so the results say nothing about the strategies"
        );
    }
    if outcome.rejected {
        bail!(
            "the server rejected answers (its error is above): the results say nothing about \
             the strategies until the server accepts writes"
        );
    }
    if outcome.failed_trials > 0 {
        bail!(
            "{} could not complete (see the errors above); the results of the trials that \
             did complete were kept",
            plural(u64::from(outcome.failed_trials), "trial")
        );
    }
    if args.check && outcome.check_failed {
        return Ok(Exit::CheckFailed);
    }
    if let (true, true, Some(line)) = (args.check, args.quiet, passed) {
        // Quiet, and nothing to report: one line says the check ran.
        outln!("{line}");
    }
    Ok(Exit::Done)
}
