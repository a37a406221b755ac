//! A watch-fed copy of what a sync observes (effect, informer-style): namespaces with their
//! labels and phase, and the metadata of this instance's managed Secrets. A long-running
//! process reads this copy instead of listing every managed Secret and namespace on each
//! sync; the same watches tell it when something changed that it did not change itself.
//!
//! Our own writes race their watch events, and a sync that planned against a copy which has not
//! yet seen the previous sync's writes would write the same thing again. So every write's answer
//! is registered as an expectation (the "controller expectations" of kube-controller-manager's
//! ReplicaSet controller), and [`Informer::observed`] waits, bounded, until the copy has caught up
//! with all of them. When it does not, the caller lists as a one-shot command does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::Notify;

use super::Kube;
use super::observe::{ManagedSecret, NamespaceInfo, Observed, SecretMeta, owned_keys_of, ownership_selector};
use crate::value::intern::Interner;

mod convert;
use convert::{decode, managed_secret, namespace_info};

/// Events between two purges of the interners.
const PURGE_EVERY: usize = 1024;

type Key = (String, String);

/// Called on every change pullsync did not make itself (a hand edit, a deletion, a new or
/// relabelled namespace, a relist after a broken watch).
pub type OnChange = Arc<dyn Fn() + Send + Sync>;

/// A write of ours, as the copy should come to show it: this resourceVersion, or gone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expectation {
    resource_version: Option<String>,
    /// When it was registered, to know whether a later relist already covers it.
    seq: u64,
}

/// A relist in progress: when it started and what it has listed so far.
struct Relist<T> {
    started: u64,
    listed: BTreeMap<String, T>,
}

#[derive(Default)]
struct State {
    /// Shared with the syncs that read them; changed copy-on-write.
    namespaces: Arc<BTreeMap<String, NamespaceInfo>>,
    managed: Arc<BTreeMap<Key, ManagedSecret>>,
    /// One copy of each distinct metadata and label set (a fan-out's Secrets share theirs).
    metas: Interner<SecretMeta>,
    labels: Interner<BTreeMap<String, String>>,
    /// Events since the interners last forgot unused values.
    since_purge: usize,
    /// Each watch stream (`namespaces`, `secrets`, `secrets/NS`) → whether its first list is
    /// complete; the copy is usable once all are.
    synced: BTreeMap<String, bool>,
    /// Streams whose last attempt failed (cleared by their next event).
    failing: std::collections::BTreeSet<String>,
    namespace_relist: Option<Relist<NamespaceInfo>>,
    secret_relists: BTreeMap<String, Relist<ManagedSecret>>,
    pending: BTreeMap<Key, Expectation>,
    seq: u64,
}

/// What a watch stream delivered, decoded (kube-runtime's `watcher::Event`, minus the type).
#[derive(Debug, Clone)]
enum Seen<T> {
    /// A (re)list starts.
    Init,
    Listed(String, T),
    /// The list is complete: what it did not list is gone.
    Done,
    Applied(String, T),
    Deleted(String),
}

/// `namespace/name` → the (namespace, name) key; a Secret's names hold no `/`.
fn split(id: &str) -> Key {
    let (ns, name) = id.split_once('/').unwrap_or(("", id));
    (ns.to_string(), name.to_string())
}

impl State {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A stream is failing: what it shows may be stale for as long as it keeps failing (a
    /// watch refused for good never relists), so a sync lists instead of trusting it.
    fn degraded(&self) -> bool {
        !self.failing.is_empty()
    }

    fn ready(&self) -> bool {
        !self.synced.is_empty() && self.synced.values().all(|s| *s) && self.pending.is_empty()
    }

    /// A namespace event; whether it is a change worth a sync.
    fn namespace_seen(&mut self, seen: Seen<NamespaceInfo>) -> bool {
        match seen {
            Seen::Init => {
                let started = self.next_seq();
                self.namespace_relist = Some(Relist {
                    started,
                    listed: BTreeMap::new(),
                });
                false
            }
            Seen::Listed(name, info) => {
                let info = self.intern_namespace(info);
                if let Some(relist) = &mut self.namespace_relist {
                    relist.listed.insert(name, info);
                }
                false
            }
            Seen::Done => {
                let Some(relist) = self.namespace_relist.take() else {
                    return false;
                };
                self.namespaces = Arc::new(relist.listed);
                self.purge();
                let first = !std::mem::replace(self.synced.entry("namespaces".into()).or_default(), true);
                !first
            }
            Seen::Applied(name, info) => {
                if self.namespaces.get(&name) == Some(&info) {
                    return false;
                }
                let info = self.intern_namespace(info);
                Arc::make_mut(&mut self.namespaces).insert(name, info);
                true
            }
            Seen::Deleted(name) => {
                self.namespaces.contains_key(&name)
                    && Arc::make_mut(&mut self.namespaces).remove(&name).is_some()
            }
        }
    }

    /// A managed-Secret event of `stream` (covering `scope`: one namespace, or all); whether
    /// it is a change pullsync did not make.
    fn secret_seen(&mut self, stream: &str, scope: Option<&str>, seen: Seen<ManagedSecret>) -> bool {
        match seen {
            Seen::Init => {
                let started = self.next_seq();
                self.secret_relists.insert(
                    stream.to_string(),
                    Relist {
                        started,
                        listed: BTreeMap::new(),
                    },
                );
                false
            }
            Seen::Listed(id, secret) => {
                let secret = self.intern_secret(secret);
                if let Some(relist) = self.secret_relists.get_mut(stream) {
                    relist.listed.insert(id, secret);
                }
                false
            }
            Seen::Done => {
                let Some(relist) = self.secret_relists.remove(stream) else {
                    return false;
                };
                let in_scope = |key: &Key| scope.is_none_or(|ns| key.0 == ns);
                let managed = Arc::make_mut(&mut self.managed);
                managed.retain(|key, _| !in_scope(key));
                managed.extend(relist.listed.into_iter().map(|(id, s)| (split(&id), s)));
                self.purge();
                // A list that started after a write answered shows that write, or what came
                // after it: either way the copy is as new as the expectation.
                let managed = &self.managed;
                self.pending.retain(|key, expected| {
                    !in_scope(key) || (expected.seq > relist.started && !Self::met(managed, key, expected))
                });
                let first = !std::mem::replace(self.synced.entry(stream.to_string()).or_default(), true);
                !first
            }
            Seen::Applied(id, secret) => {
                let key = split(&id);
                let ours = self
                    .pending
                    .get(&key)
                    .is_some_and(|e| e.resource_version.as_deref() == Some(secret.resource_version.as_str()));
                if ours {
                    self.pending.remove(&key);
                }
                let secret = self.intern_secret(secret);
                Arc::make_mut(&mut self.managed).insert(key, secret);
                self.count_event();
                !ours
            }
            Seen::Deleted(id) => {
                let key = split(&id);
                if self.managed.contains_key(&key) {
                    Arc::make_mut(&mut self.managed).remove(&key);
                }
                self.count_event();
                // Watch events arrive in order: a deletion comes after any write of ours it
                // follows, so nothing more is to be waited for on this Secret.
                let ours = self
                    .pending
                    .remove(&key)
                    .is_some_and(|e| e.resource_version.is_none());
                !ours
            }
        }
    }

    fn intern_secret(&mut self, secret: ManagedSecret) -> ManagedSecret {
        ManagedSecret {
            resource_version: secret.resource_version,
            meta: self.metas.intern(Arc::unwrap_or_clone(secret.meta)),
        }
    }

    fn intern_namespace(&mut self, info: NamespaceInfo) -> NamespaceInfo {
        NamespaceInfo {
            labels: self.labels.intern(Arc::unwrap_or_clone(info.labels)),
            terminating: info.terminating,
        }
    }

    fn count_event(&mut self) {
        self.since_purge += 1;
        if self.since_purge >= PURGE_EVERY {
            self.purge();
        }
    }

    fn purge(&mut self) {
        self.since_purge = 0;
        self.metas.purge();
        self.labels.purge();
    }

    fn rebase(&mut self, listed: &BTreeMap<Key, ManagedSecret>) {
        let keys: Vec<Key> = self.pending.keys().cloned().collect();
        for key in keys {
            let resource_version = listed.get(&key).map(|s| s.resource_version.clone());
            self.expect(key, resource_version);
        }
    }

    fn met(managed: &BTreeMap<Key, ManagedSecret>, key: &Key, expected: &Expectation) -> bool {
        managed.get(key).map(|s| &s.resource_version) == expected.resource_version.as_ref()
    }

    fn expect(&mut self, key: Key, resource_version: Option<String>) {
        let expected = Expectation {
            resource_version,
            seq: self.next_seq(),
        };
        if Self::met(&self.managed, &key, &expected) {
            self.pending.remove(&key);
        } else {
            self.pending.insert(key, expected);
        }
    }

    fn snapshot(&self) -> Observed {
        Observed {
            namespaces: self.namespaces.clone(),
            managed: self.managed.clone(),
            drifted: Default::default(),
        }
    }
}

/// The watch-fed copy; cheap to clone (shared).
#[derive(Clone)]
pub struct Informer {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    /// Namespaced mode: the namespaces are the listed ones, as [`super::observe::observe`] takes them.
    fixed_namespaces: Option<Arc<BTreeMap<String, NamespaceInfo>>>,
}

impl std::fmt::Debug for Informer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Informer").finish_non_exhaustive()
    }
}

impl Informer {
    /// Start the watches: managed Secrets by label (metadata only) — cluster-wide, or one per
    /// namespace of `scope` (namespaced RBAC) — and namespaces (cluster-wide only). A failing
    /// watch is retried with kube-rs's default backoff (exponential, jittered, capped) and each
    /// error is logged.
    /// The watches end when `stop` is cancelled (shutdown).
    pub fn start(
        kube: &Kube,
        instance: &str,
        scope: &[String],
        on_change: OnChange,
        stop: &CancellationToken,
    ) -> Informer {
        let client = kube.client();
        let config = watcher::Config::default().labels(&ownership_selector(instance));
        let mut state = State::default();
        // `Api<PartialObjectMeta<_>>` asks for metadata only: Secret data never crosses the
        // wire for this.
        let mut streams: Vec<(String, kube::Api<PartialObjectMeta<Secret>>, Option<String>)> = Vec::new();
        if scope.is_empty() {
            streams.push(("secrets".into(), kube::Api::all(client.clone()), None));
            state.synced.insert("namespaces".into(), false);
        } else {
            for ns in scope {
                streams.push((
                    format!("secrets/{ns}"),
                    kube::Api::namespaced(client.clone(), ns),
                    Some(ns.clone()),
                ));
            }
        }
        for (name, _, _) in &streams {
            state.synced.insert(name.clone(), false);
        }
        let informer = Informer {
            state: Arc::new(Mutex::new(state)),
            changed: Arc::new(Notify::new()),
            fixed_namespaces: (!scope.is_empty()).then(|| {
                scope
                    .iter()
                    .map(|ns| (ns.clone(), NamespaceInfo::default()))
                    .collect::<BTreeMap<_, _>>()
                    .into()
            }),
        };
        for (name, api, ns) in streams {
            let stream = watcher(api, config.clone()).default_backoff();
            informer.follow(
                name.clone(),
                stream,
                on_change.clone(),
                stop,
                move |state, event| state.secret_seen(&name, ns.as_deref(), decode(event, managed_secret)),
            );
        }
        if scope.is_empty() {
            let api: kube::Api<PartialObjectMeta<Namespace>> = kube::Api::all(client);
            let stream = watcher(api, watcher::Config::default()).default_backoff();
            informer.follow("namespaces".into(), stream, on_change, stop, |state, event| {
                state.namespace_seen(decode(event, namespace_info))
            });
        }
        informer
    }

    /// Feed one watch stream into the copy: `seen` applies an event and says whether it was a
    /// change pullsync did not make; a failing stream is marked (syncs list meanwhile) and
    /// logged, and kube-runtime's backoff paces its retries.
    fn follow<K: Send + 'static>(
        &self,
        name: String,
        stream: impl futures::Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
        on_change: OnChange,
        stop: &CancellationToken,
        seen: impl Fn(&mut State, watcher::Event<K>) -> bool + Send + 'static,
    ) {
        let informer = self.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = tokio::select! {
                event = stream.next() => event,
                () = stop.cancelled() => None,
            } {
                match event {
                    Ok(event) => {
                        let changed = informer.update(|state| {
                            state.failing.remove(&name);
                            seen(state, event)
                        });
                        if changed {
                            on_change();
                        }
                    }
                    Err(error) => {
                        informer.update(|state| state.failing.insert(name.clone()));
                        tracing::warn!(watch = %name, %error, "watch failed; retrying with backoff");
                    }
                }
            }
        });
    }

    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_waiters();
        out
    }

    /// A list the caller made instead of reading the copy: the copy has caught up once it shows
    /// what this list shows for each Secret still awaited (watch events arrive in order, so it
    /// passes through that version on its way to any later one). An expectation the list has
    /// already overtaken — someone changed the Secret right after our write — is settled
    /// instead of being waited for forever.
    pub fn listed(&self, observed: &Observed) {
        self.update(|s| s.rebase(&observed.managed));
    }

    /// One of our writes answered with this resourceVersion.
    pub fn expect_written(&self, namespace: &str, name: &str, resource_version: &str) {
        self.update(|s| {
            s.expect(
                (namespace.to_string(), name.to_string()),
                Some(resource_version.to_string()),
            )
        });
    }

    /// One of our deletions succeeded.
    pub fn expect_deleted(&self, namespace: &str, name: &str) {
        self.update(|s| s.expect((namespace.to_string(), name.to_string()), None));
    }

    /// The copy, once every watch has listed and every write of ours has come back through it;
    /// `None` after `wait` or while a watch fails (the caller lists instead, then hands the
    /// list to [`Informer::listed`]).
    pub async fn observed(&self, wait: Duration) -> Option<Observed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if state.ready() {
                    let mut observed = state.snapshot();
                    if let Some(fixed) = &self.fixed_namespaces {
                        observed.namespaces = fixed.clone();
                    }
                    return Some(observed);
                }
                if state.degraded() {
                    tracing::debug!(failing = ?state.failing, "a watch is failing; listing instead");
                    return None;
                }
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(
                        unconfirmed_writes = state.pending.len(),
                        synced = state.synced.values().all(|s| *s),
                        "the watch-fed copy did not catch up; listing instead"
                    );
                    return None;
                }
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

#[cfg(test)]
#[path = "informer_tests.rs"]
mod tests;
