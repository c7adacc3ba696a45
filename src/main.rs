//! The `quizrace` binary: the terminal around the library. It parses the
//! command line (`cli`), prints tables and progress, handles Ctrl-C, and
//! chooses the exit code (0 done, 1 `--check` failed: a broken guarantee or
//! an inconclusive result, or `check` found a history that is not
//! linearizable; 2 bad input or environment, 130 interrupted).
//! Planning, running and checking live in the library (`quizrace::plan`,
//! `quizrace::suite`).

use std::process::ExitCode;

use clap::Parser;

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

mod cli;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version are successes; usage errors are bad input.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli::main(cli) {
        Ok(cli::Exit::Done) => ExitCode::SUCCESS,
        Ok(cli::Exit::CheckFailed) => {
            eprintln!(
                "quizrace: --check failed: a correct strategy showed anomalies, or a result was \
                 inconclusive (see above)"
            );
            ExitCode::from(1)
        }
        // The summary line on standard output already says why.
        Ok(cli::Exit::NotLinearizable | cli::Exit::GoalMissed) => ExitCode::from(1),
        Ok(cli::Exit::Unavailable) => ExitCode::from(2),
        Err(e) => {
            eprintln!("quizrace: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
