//! Ctrl-C and SIGTERM.

use anyhow::{Context, Result};
use quizrace::backend::interrupt;
use quizrace::format::plural;
use quizrace::sim;

/// On Ctrl-C or SIGTERM: stop workers (and worker processes), remove what
/// the runs in progress created on their back ends, say so, and exit 130
/// (the shell's code for SIGINT).
pub(crate) fn install() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the Ctrl-C handler")?;
    // Registered here, before any run starts, so no Ctrl-C is missed
    // (`tokio::signal::ctrl_c()` would only register when first polled).
    // SIGTERM (`kill`, a service manager, a CI timeout) gets the same clean
    // stop as Ctrl-C.
    #[cfg(unix)]
    let (mut sigint, mut sigterm) = rt
        .block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .context("installing the Ctrl-C handler")?;
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            #[cfg(unix)]
            let got = rt.block_on(async {
                tokio::select! {
                    s = sigint.recv() => s.is_some(),
                    s = sigterm.recv() => s.is_some(),
                }
            });
            #[cfg(not(unix))]
            let got = rt.block_on(tokio::signal::ctrl_c()).is_ok();
            if !got {
                return;
            }
            eprintln!("\nquizrace: interrupted: stopping workers and cleaning up this run");
            interrupt::mark_interrupted();
            let killed = sim::process::kill_children();
            // One line saying what was cleaned up, then what could not be.
            let mut done = Vec::new();
            if killed > 0 {
                done.push(format!(
                    "stopped {}",
                    plural(killed as u64, "worker process")
                ));
            }
            let mut failed = Vec::new();
            for c in interrupt::interrupt_cleanup() {
                match c.result {
                    Ok(n) => done.push(format!("removed {} ({n} deleted)", c.what)),
                    Err(e) => failed.push(format!(
                        "quizrace: could not remove {} ({e}); remove them with {}",
                        c.what, c.manual
                    )),
                }
            }
            if done.is_empty() {
                eprintln!("quizrace: interrupted: nothing to clean up");
            } else {
                eprintln!("quizrace: interrupted: {}", done.join("; "));
            }
            for f in failed {
                eprintln!("{f}");
            }
            eprintln!(
                "quizrace: the scenario in progress was not written (with --json DIR, scenarios \
                 that had finished are there)"
            );
            std::process::exit(130);
        })
        .context("starting the Ctrl-C handler thread")?;
    Ok(())
}
