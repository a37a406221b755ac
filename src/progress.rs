//! How far long work is (a first sync of thousands of namespaces, a `plan` that reads each
//! object): the sink counts, a reporter says it — a log line every few seconds, or a progress
//! bar when a person watches a terminal. Counts only, never a name or a value.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Counters shared by whoever works and whoever reports (clones share them).
#[derive(Clone, Default)]
pub struct Progress(Arc<Inner>);

#[derive(Default)]
struct Inner {
    done: AtomicU64,
    total: AtomicU64,
    phase: std::sync::Mutex<&'static str>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (phase, done, total) = self.now();
        write!(f, "Progress({phase} {done}/{total})")
    }
}

impl Progress {
    /// A new phase of `total` steps begins (`applying`, `planning`).
    pub fn begin(&self, phase: &'static str, total: u64) {
        *self.0.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
        self.0.done.store(0, Ordering::Relaxed);
        self.0.total.store(total, Ordering::Relaxed);
    }

    pub fn step(&self) {
        self.0.done.fetch_add(1, Ordering::Relaxed);
    }

    /// (phase, done, total).
    pub fn now(&self) -> (&'static str, u64, u64) {
        let phase = *self.0.phase.lock().unwrap_or_else(|e| e.into_inner());
        (
            phase,
            self.0.done.load(Ordering::Relaxed),
            self.0.total.load(Ordering::Relaxed),
        )
    }
}

/// How a reporter shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// An `info` line every interval while a phase is unfinished (daemons, CI logs).
    Log(Duration),
    /// A bar on stderr, redrawn as steps land (an interactive terminal).
    Bar,
}

/// Reports until dropped.
pub struct Reporter {
    stop: CancellationToken,
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A bar on an interactive stderr (and `TERM` not `dumb`), else log lines every `every`.
pub fn show_for_terminal(every: Duration) -> Show {
    use std::io::IsTerminal;
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    if std::io::stderr().is_terminal() && !dumb {
        Show::Bar
    } else {
        Show::Log(every)
    }
}

/// Start reporting `progress` (on the current tokio runtime).
pub fn report(progress: Progress, show: Show) -> Reporter {
    let stop = CancellationToken::new();
    let token = stop.clone();
    match show {
        Show::Log(every) => {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await; // the first tick is at once; the first line comes after `every`
                loop {
                    tokio::select! {
                        () = token.cancelled() => return,
                        _ = tick.tick() => {}
                    }
                    let (phase, done, total) = progress.now();
                    if total > 0 && done < total {
                        tracing::info!(phase = %phase, done, total, "progress");
                    }
                }
            });
        }
        Show::Bar => {
            tokio::spawn(async move {
                let bar =
                    indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
                let style =
                    indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta} left)")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> ");
                bar.set_style(style);
                loop {
                    let (phase, done, total) = progress.now();
                    if total > 0 {
                        bar.set_message(phase);
                        bar.set_length(total);
                        bar.set_position(done);
                    }
                    tokio::select! {
                        () = token.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
                bar.finish_and_clear();
            });
        }
    }
    Reporter { stop }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_phase_starts_from_zero() {
        let progress = Progress::default();
        let worker = progress.clone();
        worker.begin("applying", 3);
        worker.step();
        worker.step();
        assert_eq!(progress.now(), ("applying", 2, 3));
        worker.begin("planning", 10);
        assert_eq!(progress.now(), ("planning", 0, 10));
    }
}
