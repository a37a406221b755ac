//! `pullsync run`: the long-running loop (effect). It only wires the pieces together: a
//! trigger (the spec folder changed, a managed Secret or a namespace changed, a credential is
//! due, the periodic resync) leads to one sync of the whole desired state — cheap when nothing
//! changed — written only while this replica holds the leader lease.

pub mod error;
mod folder_watch;
pub mod http;
pub mod status;
pub mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Mutex, RwLock, mpsc};
use tokio_util::sync::CancellationToken;

pub use error::StartDaemonError;

use crate::engine::config::{ClusterConfig, RenderConfig};
use crate::engine::{Applied, Engine, SpecFolder, SyncOutcome};
use crate::k8s::leader;
use crate::repo::Snapshot;
use crate::schedule::cache::CredentialCache;
use crate::sink::kube::Status as Outcome;
use crate::value::kind::ObjectKind;
use status::{AppliedRevision, CredentialStatus, Status};

mod sync;
use sync::{Specs, Which, one_sync};

/// Triggers queued at once; more are redundant (one sync covers them all).
const TRIGGER_QUEUE: usize = 16;
/// Quiet time after a trigger, so a burst of watch events makes one sync.
const DEBOUNCE: Duration = Duration::from_millis(250);
/// How long shutdown waits for the lease release and the HTTP server (Kubernetes' default
/// termination grace period is 30 s; this stays well inside it).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The credential provider's own TokenReview budget (beside the sync's --qps).
const PROVIDER_QPS: f64 = 200.0;
const PROVIDER_BURST: u32 = 400;
const PROVIDER_CONCURRENCY: usize = 32;
/// How soon a follower tries again to build its admission index after a failed build.
const FOLLOWER_RETRY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The spec folder; with `git`, the folder is the checkout and this is ignored.
    pub repo: PathBuf,
    pub git: Option<crate::repo::GitSource>,
    /// File holding the push-webhook secret.
    pub webhook_secret: Option<PathBuf>,
    /// The pod admission webhook, when asked for.
    pub admission: Option<crate::admission::server::AdmissionOptions>,
    /// The credential endpoint of `pullsync credential-provider`, when asked for.
    pub provider: Option<crate::provider::server::ProviderOptions>,
    pub listen: SocketAddr,
    pub resync: Duration,
    pub poll: Duration,
    pub leader_election: bool,
    pub lease: leader::LeaseTiming,
    pub identity: String,
}

#[derive(Debug, Clone, Copy)]
enum Trigger {
    Specs,
    Cluster,
}

/// The spec folder's digest, to notice a new revision (e.g. from a git-sync sidecar).
fn fingerprint(repo: &std::path::Path) -> Option<String> {
    crate::spec::load::fingerprint(repo)
}

pub async fn run(
    options: RunOptions,
    render: RenderConfig,
    cluster: ClusterConfig,
) -> Result<std::process::ExitCode, StartDaemonError> {
    // Configuration is checked before anything connects: a bad flag fails at once.
    let webhook_key = match &options.webhook_secret {
        Some(file) => Some(Arc::new(webhook_secret(file)?)),
        None => None,
    };
    let identity = options.leader_election.then(|| options.identity.clone());
    // The one context every sync of this process runs with: sessions, caches, the watch-fed
    // copy and the versions written are kept in it between syncs.
    let mut engine = Engine::connect(render.clone(), cluster.clone(), identity).await?;
    let context = &mut engine.context;
    let kube = context.cluster()?.clone();
    context.own_files.extend(options.webhook_secret.iter().cloned());
    if let Some(git) = &options.git {
        context
            .own_files
            .extend(git.auth.token_file.iter().chain(&git.auth.ssh_key).cloned());
    }
    // The daemon checks its Vault flags at start.
    context.vault = crate::engine::pipeline::vault_session(&render).map_err(StartDaemonError::Engine)?;
    let own_namespace = context.pullsync_namespace().to_string();
    context.digest_key = crate::k8s::digest_key::load(&kube, &own_namespace, &render.instance, true)
        .await
        .map_err(|source| StartDaemonError::DigestKey {
            namespace: own_namespace.clone(),
            source,
        })?;
    let cache = Arc::new(Mutex::new(CredentialCache::default()));
    context.cache = Some(cache.clone());
    context.load_cache = Some(Default::default());
    context.written = Some(Arc::new(Mutex::new(Default::default())));
    let status: http::Shared = Arc::new(RwLock::new(Status::default()));
    // A first sync of thousands of namespaces says how far it is in the log.
    let _progress = crate::progress::report(
        context.progress.clone(),
        crate::progress::Show::Log(cluster.progress_interval),
    );
    let (fetch_tx, mut fetch_rx) = mpsc::channel::<()>(1);
    let webhook = webhook_key.map(|key| (key, fetch_tx.clone()));
    // One token every task obeys: SIGTERM (or Ctrl-C) cancels it, the sync in progress is
    // abandoned before its next write, the watches, pollers and server stop, the lease goes.
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(StartDaemonError::Signals)?;
        async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
                () = shutdown.cancelled() => {}
            }
            shutdown.cancel();
        }
    });
    let (bound, server) = http::serve(
        options.listen,
        http::AppState {
            status: status.clone(),
            metrics: context.metrics.clone(),
            webhook,
            deliveries: Default::default(),
        },
        shutdown.clone(),
    )
    .await?;
    tracing::info!(listen = %bound, "serving /healthz /readyz /status /metrics");
    // The admission webhook answers from what the last applied sync left here.
    let pulls: crate::admission::server::SharedIndex = Default::default();
    // The credential provider answers from what the leader's last applied sync left here.
    let provided: crate::provider::server::SharedProviderIndex = Default::default();
    let provider_server = match &options.provider {
        Some(provider) => {
            let (bound, handle) = crate::provider::server::serve(
                provider,
                provided.clone(),
                // TokenReviews are reads the API server answers from its authenticator: a
                // node pulling for a hundred pods at once must not wait behind the sync's
                // --qps budget, nor use it up.
                kube.with_limits(PROVIDER_QPS, PROVIDER_BURST, PROVIDER_CONCURRENCY),
                context.metrics.clone(),
                shutdown.clone(),
            )
            .await?;
            tracing::info!(listen = %bound, audience = %provider.audience, "serving the image credential provider endpoint");
            status.write().await.provider = Some(Default::default());
            Some(handle)
        }
        None => None,
    };
    let admission_server = match &options.admission {
        Some(admission) => {
            let (bound, handle) = crate::admission::server::serve(
                admission,
                pulls.clone(),
                Some(kube.clone()),
                context.metrics.clone(),
                shutdown.clone(),
            )
            .await?;
            tracing::info!(listen = %bound, mode = ?admission.mode, "serving the pod admission webhook");
            Some(handle)
        }
        None => None,
    };

    let mut elector_task = None;
    let guard = if options.leader_election {
        let elector = leader::Elector::new(
            kube.clone(),
            own_namespace.clone(),
            format!("pullsync-{}", render.instance),
            options.identity.clone(),
            options.lease,
        );
        let guard = elector.guard.clone();
        elector_task = Some(tokio::spawn(elector.run(shutdown.clone())));
        guard
    } else {
        leader::LeaderGuard::always()
    };
    // Every write checks the guard: leadership lost mid-sync stops the writes at once.
    context.leader = Some(guard.clone());

    let (tx, mut rx) = mpsc::channel::<Trigger>(TRIGGER_QUEUE);
    // The watches keep the cluster copy a sync plans against, and any change pullsync did not
    // make itself — drift, a deletion by hand, a new or relabelled namespace — triggers a sync.
    context.informer = Some(crate::k8s::informer::Informer::start(
        &kube,
        &render.instance,
        &cluster.namespaces,
        Arc::new({
            let tx = tx.clone();
            move || {
                let _ = tx.try_send(Trigger::Cluster);
            }
        }),
        &shutdown,
    ));
    // The newest snapshot of the Git remote; each sync takes its own reference to one.
    let current: Arc<std::sync::Mutex<Option<Arc<Snapshot>>>> = Default::default();
    if let Some(source) = options.git.clone() {
        crate::repo::clear_snapshots(&source);
        // The first checkout happens before the first sync; later ones on poll or webhook.
        let first = tokio::task::spawn_blocking({
            let source = source.clone();
            move || crate::repo::sync(&source, None)
        })
        .await
        .map_err(StartDaemonError::FetchTask)??
        .ok_or(StartDaemonError::NoCommit)?;
        tracing::info!(commit = %first.commit, "checked out");
        *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(first));
        let (tx, current, poll, stop) = (tx.clone(), current.clone(), options.poll, shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = fetch_rx.recv() => tracing::info!("webhook: fetching now"),
                    () = stop.cancelled() => return,
                }
                let source = source.clone();
                let known = current
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .map(|s| s.fetched.clone());
                match tokio::task::spawn_blocking(move || crate::repo::sync(&source, known.as_deref())).await
                {
                    Ok(Ok(Some(snapshot))) => {
                        tracing::info!(commit = %snapshot.commit, untrusted = snapshot.untrusted.as_deref().unwrap_or(""), signed_by = snapshot.signed_by.as_deref().unwrap_or(""), "new commit");
                        // The old snapshot goes when the last sync reading it lets go.
                        *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(snapshot));
                        let _ = tx.try_send(Trigger::Specs);
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "git fetch failed; keeping the last checkout"),
                    Err(error) => tracing::warn!(%error, "git fetch task failed"),
                }
            }
        });
    } else {
        drop(fetch_rx);
        folder_watch::spawn(options.repo.clone(), options.poll, tx.clone(), shutdown.clone());
    }

    let mut last_sync = SystemTime::UNIX_EPOCH;
    // The last snapshot whose specs were valid, and a commit known to be invalid: while the
    // newest commit is invalid, the last good one keeps running (its credentials still rotate).
    let mut last_good: Option<Arc<Snapshot>> = None;
    let mut known_invalid: Option<String> = None;
    // A follower's admission index: rebuilt when the revision changes and every --resync; a
    // failed build (the watched copy not ready yet, invalid specs) is tried again after
    // FOLLOWER_RETRY, not at every retry period.
    let mut follower_index: Option<(Option<String>, std::time::Instant, bool)> = None;
    loop {
        let is_leader = guard.holds();
        status.write().await.leader = is_leader;
        // Only the leader fetches credentials: a follower must not keep answering with values
        // the leader may have rotated since.
        if !is_leader {
            let mut index = provided.write().unwrap_or_else(|e| e.into_inner());
            if index.ready {
                *index = Default::default();
            }
        }
        let snapshot = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !is_leader && options.admission.is_some() {
            let revision = snapshot.as_ref().map(|s| s.commit.clone());
            let stale = follower_index.as_ref().is_none_or(|(r, at, built)| {
                let every = if *built {
                    options.resync
                } else {
                    options.resync.min(FOLLOWER_RETRY)
                };
                *r != revision || at.elapsed() >= every
            });
            if stale {
                let root = snapshot.as_ref().map_or(options.repo.clone(), |s| s.root.clone());
                let folder = SpecFolder {
                    root: &root,
                    revision: revision.as_deref(),
                };
                // The last good index keeps answering while a new one cannot be built.
                let built = match engine.pull_index(folder).await {
                    Some(index) => {
                        *pulls.write().unwrap_or_else(|e| e.into_inner()) = index;
                        true
                    }
                    None => false,
                };
                follower_index = Some((revision, std::time::Instant::now(), built));
            }
        }
        if is_leader {
            // Wall time for the schedule (credential expiries are wall-clock instants, and the
            // wait derived from them is slept on tokio's monotonic clock, capped by --resync);
            // the monotonic clock for how long the sync took.
            last_sync = SystemTime::now();
            let started = std::time::Instant::now();
            let run = |target: Option<&Arc<Snapshot>>, behind_invalid: bool| {
                let untrusted = target.and_then(|s| s.untrusted.clone());
                let (root, revision) = match target {
                    Some(s) => (s.root.clone(), Some(s.commit.clone())),
                    None => (options.repo.clone(), None),
                };
                let (engine, status, cache) = (&engine, &status, &cache);
                let served = sync::Served {
                    pulls: &pulls,
                    provided: &provided,
                };
                async move {
                    let folder = SpecFolder {
                        root: &root,
                        revision: revision.as_deref(),
                    };
                    one_sync(
                        engine,
                        folder,
                        status,
                        cache,
                        served,
                        Which {
                            behind_invalid,
                            untrusted,
                        },
                    )
                    .await
                }
            };
            let newest_invalid = snapshot
                .as_ref()
                .is_some_and(|s| known_invalid.as_deref() == Some(s.fetched.as_str()));
            let step = async {
                if newest_invalid && last_good.is_some() {
                    run(last_good.as_ref(), true).await;
                } else {
                    match run(snapshot.as_ref(), false).await {
                        Specs::Valid => {
                            last_good = snapshot.clone();
                            known_invalid = None;
                        }
                        Specs::Invalid => {
                            known_invalid = snapshot.as_ref().map(|s| s.fetched.clone());
                            if last_good.is_some() {
                                run(last_good.as_ref(), true).await;
                            }
                        }
                        Specs::Unknown => {}
                    }
                }
            };
            // Dropping the sync stops it at its next await: no write starts after the signal,
            // and a write in flight either landed or did not (each is one request).
            let finished = tokio::select! {
                () = step => true,
                () = shutdown.cancelled() => false,
            };
            if !finished {
                tracing::info!("shutdown: abandoned the sync in progress");
                break;
            }
            tracing::debug!(ms = started.elapsed().as_millis() as u64, "sync finished");
        }
        // Sleep until a trigger, the next credential due, or the resync period.
        let due = crate::schedule::next_wake(&*cache.lock().await, last_sync, options.resync);
        let until_due = due
            .map(|t| t.duration_since(SystemTime::now()).unwrap_or_default())
            .unwrap_or(options.resync);
        // A follower checks often, so a new leader starts at once.
        let wait = if is_leader {
            options.resync.min(until_due)
        } else {
            options.lease.retry_period
        };
        tokio::select! {
            trigger = rx.recv() => {
                tokio::time::sleep(DEBOUNCE).await;
                while rx.try_recv().is_ok() {}
                tracing::debug!(?trigger, "triggered");
            }
            _ = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => break,
        }
    }
    shutdown.cancel();
    // Bounded: a shutdown must not hang on an API server that does not answer.
    if let Some(task) = elector_task {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, task).await;
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, server).await;
    if let Some(admission) = admission_server {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, admission).await;
    }
    if let Some(provider) = provider_server {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, provider).await;
    }
    tracing::info!("stopped");
    Ok(std::process::ExitCode::SUCCESS)
}

/// The webhook secret from its file; an empty one would accept anyone's signature.
fn webhook_secret(file: &std::path::Path) -> Result<Vec<u8>, StartDaemonError> {
    let text = crate::bounded::read_text(file, crate::bounded::MAX_SMALL_FILE).map_err(|source| {
        StartDaemonError::ReadWebhookSecret {
            path: file.to_path_buf(),
            source,
        }
    })?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(StartDaemonError::EmptyWebhookSecret {
            path: file.to_path_buf(),
        });
    }
    Ok(secret.as_bytes().to_vec())
}
