//! A local spec folder, watched (effect): inotify (through `notify`) wakes the daemon as soon
//! as a file changes, debounced; the folder's digest decides whether anything really changed,
//! so editors' temporary files and `touch` cost nothing. git-sync swaps a symbolic link to a
//! new checkout: the link's folder is watched too, and the new target is watched when the link
//! moves. A slow poll (`--poll-interval`) stays as the fallback for what inotify misses
//! (network filesystems, a full event queue).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Trigger;

/// Events arriving within this window make one check.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Until `stop` is cancelled. The fingerprint (a walk of the folder) runs off the runtime.
pub fn spawn(repo: PathBuf, poll: Duration, tx: mpsc::Sender<Trigger>, stop: CancellationToken) {
    let (events_tx, mut events) = mpsc::channel::<()>(64);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = events_tx.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => Some(w),
        Err(error) => {
            tracing::warn!(%error, "cannot watch the spec folder; polling only");
            None
        }
    };
    let mut target = canonical(&repo);
    if let Some(w) = watcher.as_mut() {
        watch(w, &repo, target.as_deref());
    }
    tokio::spawn(async move {
        let mut last = fingerprint(&repo).await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                Some(()) = events.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while events.try_recv().is_ok() {}
                }
                () = stop.cancelled() => return,
            }
            let now_target = canonical(&repo);
            if now_target != target {
                if let (Some(w), Some(old)) = (watcher.as_mut(), target.as_ref()) {
                    let _ = w.unwatch(old);
                }
                target = now_target;
                if let Some(w) = watcher.as_mut() {
                    watch(w, &repo, target.as_deref());
                }
            }
            let now = fingerprint(&repo).await;
            if now != last {
                last = now;
                let _ = tx.try_send(Trigger::Specs);
            }
        }
    });
}

/// The folder's fingerprint, walked on a blocking thread.
async fn fingerprint(repo: &Path) -> Option<String> {
    let repo = repo.to_path_buf();
    tokio::task::spawn_blocking(move || super::fingerprint(&repo))
        .await
        .unwrap_or(None)
}

fn canonical(repo: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(repo).ok()
}

/// The folder (through its link, recursively) and the folder holding the link.
fn watch(watcher: &mut notify::RecommendedWatcher, repo: &Path, target: Option<&Path>) {
    if let Some(target) = target
        && let Err(error) = watcher.watch(target, RecursiveMode::Recursive)
    {
        tracing::warn!(%error, folder = %target.display(), "cannot watch the spec folder; polling only");
    }
    if let Some(parent) = repo.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = watcher.watch(parent, RecursiveMode::NonRecursive);
    }
}
