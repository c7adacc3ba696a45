//! The progress bar of long runs (on stderr, for people at a terminal).

use std::time::Duration;

use quizrace::sim::Progress;

/// Drives an indicatif bar from a [`Progress`] counter, shown only for runs
/// that last more than a second.
pub(crate) struct ProgressThread {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ProgressThread {
    pub(crate) fn start(label: String, total: u64, progress: Progress) -> ProgressThread {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                    let b = indicatif::ProgressBar::new(total);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            // The ETA is the current trial's: every trial restarts the bar.
                            "{msg} [{bar:30}] {human_pos}/{human_len} answers, trial ETA {eta}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b.set_message(label.clone());
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    // Every trial submits the same plan: the counter's
                    // quotient is the trial, its remainder the position.
                    let done = progress.get();
                    let total = total.max(1);
                    b.set_message(format!("{label} trial {}", done / total + 1));
                    b.set_position(done % total);
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        ProgressThread {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for ProgressThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
