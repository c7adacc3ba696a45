//! The `quizrace` binary: parses the command line, runs it, and chooses the
//! exit code (0 done, 1 `--check` failed: a broken guarantee or an inconclusive
//! result, 2 bad input or environment, 130 interrupted).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match quizrace::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version are successes; usage errors are bad input.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match quizrace::cli::main(cli) {
        Ok(quizrace::cli::Exit::Done) => ExitCode::SUCCESS,
        Ok(quizrace::cli::Exit::CheckFailed) => {
            eprintln!(
                "quizrace: --check failed: a correct strategy showed anomalies, or a result was \
                 inconclusive (see above)"
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("quizrace: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
