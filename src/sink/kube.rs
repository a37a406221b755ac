//! The cluster sink (effect): carry out a plan against the API with bounded concurrency,
//! record a Warning Event on each object that failed or conflicted, and report every object's
//! result honestly. Successful changes get one summary Event per sync (see
//! [`SyncReport::summary`]), not one each: per-object Events double the writes of a large
//! fan-out and run into the API server's event rate limits.
//!
//! New Secrets are created with POST so an existing Secret of the same name that pullsync
//! does not own fails with AlreadyExists instead of being silently co-owned; it is then
//! reported as a conflict, or taken over with `adopt: true`. Managed Secrets are updated with
//! server-side apply (one field manager, forced: pullsync owns what it writes). Prunes carry a
//! resourceVersion precondition, so a Secret changed since it was observed is not deleted.

use futures::StreamExt;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::core::request::Request;
use serde::Serialize;
use serde_json::Value;

use crate::k8s::client::{CallError, Kube, OnConflict};
use crate::k8s::events::{EventType, Note, emit};
use crate::k8s::service_accounts::{SaOutcome, Write, reconcile};
use crate::k8s::{FIELD_MANAGER, observe};
use crate::plan::{Action, Plan};
use crate::render::{RenderOutcome, Rendered, manifest};
use crate::value::kind::{Change, ObjectKind};

mod report;
pub use report::{Outcome, Status, SyncReport};

mod writes;

impl SyncReport {
    pub fn failures(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o.result,
                    Status::Failed | Status::Conflict | Status::Kept | Status::NotCreated
                )
            })
            .count()
    }

    pub fn count(&self, result: Status) -> usize {
        self.outcomes.iter().filter(|o| o.result == result).count()
    }

    /// One line for the summary Event of a sync that changed something; `None` otherwise.
    pub fn summary(&self, revision: &str) -> Option<String> {
        let secrets = |s: Status| {
            self.outcomes
                .iter()
                .filter(|o| o.kind == ObjectKind::Secret && o.result == s)
                .count()
        };
        let parts: Vec<String> = [
            ("created", secrets(Status::Created)),
            ("updated", secrets(Status::Updated)),
            ("adopted", secrets(Status::Adopted)),
            ("pruned", secrets(Status::Pruned)),
            ("service accounts patched", self.count(Status::Patched)),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
        (!parts.is_empty()).then(|| format!("revision {revision}: {}", parts.join(", ")))
    }
}

/// Who holds an existing Secret of a name pullsync would create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Labelled as this instance's: a race with our own earlier write.
    Ours,
    /// Someone else's, and the spec says `adopt: true`.
    Adoptable,
    /// Someone else's: a conflict, left alone.
    Foreign,
}

/// A registry and an in-memory digest of a login to it.
type LoginKey = (String, [u8; 32]);
type LoginCheck = std::sync::Arc<tokio::sync::OnceCell<Result<(), String>>>;

pub struct KubeSink<'a> {
    pub kube: &'a Kube,
    pub instance: &'a str,
    pub concurrency: usize,
    /// Filled by writes as they answer; moved into the report.
    pub versions: std::sync::Mutex<std::collections::BTreeMap<(String, String), String>>,
    /// With leader election: no write starts once leadership has run out.
    pub leader: Option<crate::k8s::leader::LeaderGuard>,
    /// Registry hosts `verify` reaches over plain HTTP.
    pub plain_http: Vec<String>,
    /// The daemon's watch-fed copy, told of each write so the next sync waits for it.
    pub informer: Option<crate::k8s::informer::Informer>,
    /// Counts the actions carried out (or previewed), for the progress reporter.
    pub progress: crate::progress::Progress,
    /// One login check per (registry, credential) per sync, however many namespaces share
    /// it; keyed by an in-memory digest of the login, never kept or shown. One cell per key:
    /// writes sharing a login wait for its one check, writes of other logins do not wait.
    verified: std::sync::Mutex<std::collections::HashMap<LoginKey, LoginCheck>>,
}

impl<'a> KubeSink<'a> {
    pub fn new(kube: &'a Kube, instance: &'a str, concurrency: usize) -> Self {
        KubeSink {
            kube,
            instance,
            concurrency,
            versions: Default::default(),
            leader: None,
            progress: Default::default(),
            plain_http: Vec::new(),
            informer: None,
            verified: Default::default(),
        }
    }

    fn remember(&self, rendered: &Rendered, response: &WriteAnswer) {
        if let Some(rv) = response.metadata.resource_version.as_deref() {
            if let Some(informer) = &self.informer {
                informer.expect_written(&rendered.namespace, &rendered.name, rv);
            }
            self.versions.lock().unwrap_or_else(|e| e.into_inner()).insert(
                (rendered.namespace.clone(), rendered.name.clone()),
                rv.to_string(),
            );
        }
    }
}

/// What pullsync reads of a write's answer: the new resourceVersion (serde skips the rest of
/// the object without building it).
#[derive(Debug, Default, serde::Deserialize)]
struct WriteAnswer {
    #[serde(default)]
    metadata: WriteAnswerMeta,
}

#[derive(Debug, Default, serde::Deserialize)]
struct WriteAnswerMeta {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

fn secrets_path(namespace: &str) -> Request {
    Request::new(format!("/api/v1/namespaces/{namespace}/secrets"))
}

/// The kind of object an action writes.
fn kind_of(action: &Action) -> ObjectKind {
    match action {
        Action::PatchServiceAccount { .. } => ObjectKind::ServiceAccount,
        Action::RolloutRestart { kind, .. } => match kind {
            crate::spec::model::WorkloadKind::Deployment => ObjectKind::Deployment,
            crate::spec::model::WorkloadKind::StatefulSet => ObjectKind::StatefulSet,
            crate::spec::model::WorkloadKind::DaemonSet => ObjectKind::DaemonSet,
        },
        _ => ObjectKind::Secret,
    }
}

impl KubeSink<'_> {
    pub async fn execute(&self, plan: &Plan, outcome: &RenderOutcome) -> SyncReport {
        let mut report = SyncReport {
            prune_refused: plan.prune_refused.clone(),
            ..SyncReport::default()
        };
        for (ns, name) in &plan.unchanged {
            report.outcomes.push(Outcome {
                kind: ObjectKind::Secret,
                namespace: ns.clone(),
                name: name.clone(),
                result: Status::Unchanged,
                detail: String::new(),
            });
        }
        for held in &plan.kept {
            report.outcomes.push(Outcome {
                kind: ObjectKind::Secret,
                namespace: held.namespace.clone(),
                name: held.name.clone(),
                result: if held.exists {
                    Status::Kept
                } else {
                    Status::NotCreated
                },
                detail: held.reason.clone(),
            });
        }
        // Secrets first, then ServiceAccounts, so an account never names a Secret that is not
        // there yet; restarts last, and only after their Secret's new data was written.
        let batch =
            |pick: fn(&Action) -> bool| plan.actions.iter().filter(move |a| pick(a)).collect::<Vec<_>>();
        let secrets = batch(|a| {
            !matches!(
                a,
                Action::PatchServiceAccount { .. } | Action::RolloutRestart { .. }
            )
        });
        let accounts = batch(|a| matches!(a, Action::PatchServiceAccount { .. }));
        let restarts = batch(|a| matches!(a, Action::RolloutRestart { .. }));
        self.progress.begin("applying", plan.actions.len() as u64);
        for batch in [secrets, accounts] {
            let results: Vec<Outcome> = futures::stream::iter(batch)
                .map(|action| self.one(action, outcome))
                .buffer_unordered(self.concurrency.max(1))
                .collect()
                .await;
            report.outcomes.extend(results);
        }
        let written: std::collections::BTreeSet<(&str, &str)> = report
            .outcomes
            .iter()
            .filter(|o| o.kind == ObjectKind::Secret && o.result == Status::Updated)
            .map(|o| (o.namespace.as_str(), o.name.as_str()))
            .collect();
        let restarts: Vec<&Action> = restarts
            .into_iter()
            .filter(|a| matches!(a, Action::RolloutRestart { namespace, secret, .. } if written.contains(&(namespace.as_str(), secret.as_str()))))
            .collect();
        let results: Vec<Outcome> = futures::stream::iter(restarts)
            .map(|action| self.one(action, outcome))
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        report.outcomes.extend(results);
        report.written_versions =
            std::mem::take(&mut *self.versions.lock().unwrap_or_else(|e| e.into_inner()));
        report
            .outcomes
            .sort_by(|a, b| (&a.namespace, &a.name, a.kind).cmp(&(&b.namespace, &b.name, b.kind)));
        report
    }

    async fn one(&self, action: &Action, outcome: &RenderOutcome) -> Outcome {
        use tracing::Instrument;
        let (namespace, name) = action.target();
        // `.instrument`, not a guard held across `.await`: concurrent writes interleave, and a
        // guard would lend one object's fields to another's log lines.
        let span = tracing::info_span!("apply", %namespace, object = %name);
        let done = self.one_inner(action, outcome).instrument(span).await;
        self.progress.step();
        done
    }

    async fn one_inner(&self, action: &Action, outcome: &RenderOutcome) -> Outcome {
        let (namespace, name) = action.target();
        if self.leader.as_ref().is_some_and(|g| !g.holds()) {
            return Outcome {
                kind: kind_of(action),
                namespace: namespace.to_string(),
                name: name.to_string(),
                result: Status::Skipped,
                detail: "not written: this replica is no longer the leader".into(),
            };
        }
        let data_changes = match action {
            Action::Create { index, .. } => Some(*index),
            Action::Update { index, changes, .. } if changes.contains(&Change::Data) => Some(*index),
            _ => None,
        };
        if let Some(index) = data_changes
            && outcome.rendered[index].verify
            && let Err(reason) = self.verify(&outcome.rendered[index]).await
        {
            let detail = format!("not written: {reason}; the previous Secret stays");
            tracing::error!(kind = kind_of(action).as_str(), %detail, "verification failed");
            self.record(kind_of(action), namespace, name, &Status::Failed, &detail)
                .await;
            return Outcome {
                kind: kind_of(action),
                namespace: namespace.to_string(),
                name: name.to_string(),
                result: Status::Failed,
                detail,
            };
        }
        let started = std::time::Instant::now();
        let result = match action {
            Action::Create { index, .. } => self.create(&outcome.rendered[*index]).await,
            Action::Update {
                index,
                changes,
                remove,
                ..
            } => {
                let rendered = &outcome.rendered[*index];
                match self.apply(rendered).await {
                    Ok(()) if remove.is_empty() => Ok(()),
                    Ok(()) => self.remove_created(rendered, remove).await,
                    Err(e) => Err(e),
                }
                .map(|_| {
                    (
                        Status::Updated,
                        format!(
                            "changed: {}",
                            changes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })
            }
            Action::Prune { resource_version, .. } => self.prune(namespace, name, resource_version).await,
            Action::PatchServiceAccount { wanted, .. } => self.service_account(namespace, name, wanted).await,
            Action::RolloutRestart { kind, secret, .. } => {
                match crate::k8s::rollout::restart(self.kube, namespace, *kind, name).await {
                    Ok(()) => Ok((Status::Restarted, format!("Secret {secret} changed"))),
                    // Nothing to restart is not a failure of the sync: said, and left.
                    Err(e) if e.is_not_found() => {
                        Ok((Status::Skipped, format!("no {kind:?} {name} to restart")))
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let kind = kind_of(action);
        self.kube.metrics.applied(action.verb(), started.elapsed());
        let (result, detail) = result.unwrap_or_else(|e| (Status::Failed, e.to_string()));
        match &result {
            Status::Failed => tracing::error!(kind = kind.as_str(), %detail, "failed"),
            Status::Conflict => tracing::warn!(kind = kind.as_str(), %detail, "conflict"),
            // Per object at debug only: a 10,000-namespace rotation is one summary, not 10,000
            // log lines (failures and conflicts above are always logged).
            _ => tracing::debug!(kind = kind.as_str(), result = ?result, "done"),
        }
        self.record(kind, namespace, name, &result, &detail).await;
        Outcome {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            result,
            detail,
        }
    }

    /// A Warning Event on the object for what needs a person: a conflict or a failure.
    async fn record(&self, kind: ObjectKind, namespace: &str, name: &str, result: &Status, detail: &str) {
        let reason = match result {
            Status::Conflict => "Conflict",
            Status::Failed => "Failed",
            _ => return,
        };
        let note = Note {
            namespace,
            kind,
            name,
            event_type: EventType::Warning,
            reason,
            message: detail,
        };
        emit(self.kube, self.instance, &note).await;
    }

    /// Every registry of a pull secret accepts its login (memoized per sync).
    async fn verify(&self, rendered: &Rendered) -> Result<(), String> {
        use sha2::Digest;
        let Some(config) = rendered.data.get(".dockerconfigjson") else {
            return Ok(());
        };
        for (server, user, password) in crate::sink::login::logins(config.expose()) {
            let digest: [u8; 32] = sha2::Sha256::digest(format!("{user}\0{password}").as_bytes()).into();
            let key = (server.clone(), digest);
            // The writes run concurrently: 32 Secrets sharing one credential must make one
            // login, not 32 at once, and a slow registry must not hold up another's check.
            let cell = self
                .verified
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(key)
                .or_default()
                .clone();
            cell.get_or_init(|| async {
                crate::sink::login::verify(&server, &user, &password, &self.plain_http)
                    .await
                    .map_err(|e| format!("the credential does not log in: {e}"))
            })
            .await
            .clone()?;
        }
        Ok(())
    }

    /// Whose the Secret of a rendered name is, if one exists (a read; `plan` asks the same).
    pub(crate) async fn found(&self, rendered: &Rendered) -> Result<Option<Found>, CallError> {
        let request = secrets_path(&rendered.namespace);
        let live = match self
            .kube
            .call(OnConflict::Retry, || {
                request.get_metadata(&rendered.name, &Default::default())
            })
            .await
        {
            Ok(live) => live,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let selector = observe::ownership_selector(self.instance);
        let ours = selector.split(',').all(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            live.pointer("/metadata/labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                == Some(v)
        });
        Ok(Some(match (ours, rendered.adopt) {
            (true, _) => Found::Ours,
            (false, true) => Found::Adoptable,
            (false, false) => Found::Foreign,
        }))
    }

    async fn service_account(
        &self,
        namespace: &str,
        name: &str,
        wanted: &std::collections::BTreeSet<String>,
    ) -> Result<(Status, String), CallError> {
        Ok(
            match reconcile(self.kube, namespace, name, self.instance, wanted, Write::Patch).await? {
                SaOutcome::Unchanged => (Status::Unchanged, String::new()),
                SaOutcome::Missing => (
                    Status::Skipped,
                    format!("serviceaccount {name} does not exist in {namespace}"),
                ),
                SaOutcome::Patched { added, removed } => (
                    Status::Patched,
                    format!(
                        "imagePullSecrets: added [{}], removed [{}]",
                        added.join(", "),
                        removed.join(", ")
                    ),
                ),
            },
        )
    }
}
