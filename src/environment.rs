//! Where a run happened, so that no figure is without context.

use crate::backend::Env;
use crate::result::Environment;

/// Facts about this build and machine, and the servers `env` points at
/// (asked now, each within a second; a server that does not answer is left
/// out rather than holding the results back).
pub fn capture(env: &Env) -> Environment {
    Environment {
        quizrace: env!("CARGO_PKG_VERSION").to_string(),
        rustc: env!("QUIZRACE_RUSTC").to_string(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        git: env!("QUIZRACE_GIT").to_string(),
        servers: env.backends().iter().filter_map(|b| b.server()).collect(),
        legacy_server_version: None,
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_string(),
        clock: crate::sim::Clock::start().source(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_process_run_lists_no_server() {
        let e = capture(&Env::default());
        assert!(e.servers.is_empty());
        assert!(e.cpus >= 1);
        assert!(e.rustc.starts_with("rustc"), "{}", e.rustc);
    }
}
