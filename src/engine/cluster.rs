//! One sync against a cluster (effect), the same for `sync --once`, `plan` and the daemon:
//! observe what exists, run the pipeline against it, plan, execute through the sink, settle
//! the dynamic-credential lease book, and record what happened. The daemon keeps one
//! [`Context`] between syncs; a one-shot command builds a fresh one.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{Applied, EngineError, Stop};
use super::pipeline::{Pipeline, pipeline};
use crate::credentials::vault::lease_state;
use crate::engine::config::{ClusterConfig, RenderConfig};
use crate::engine::context::Context;
use crate::k8s::observe::{self, Observed};
use crate::k8s::{Kube, KubeSettings};
use crate::plan::{self, PlanOptions};
use crate::sink::kube::{KubeSink, Status, SyncReport};
use crate::spec::resolve::Namespaces;
use crate::value::kind::ObjectKind;

/// How long a sync waits for the watch-fed copy to show the previous sync's writes before
/// it lists instead.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(10);

async fn connect_kube(args: &ClusterConfig, identity: Option<String>) -> Result<Kube, EngineError> {
    let settings = KubeSettings {
        kubeconfig: args.kubeconfig.clone(),
        qps: args.qps,
        burst: args.burst,
        concurrency: args.concurrency,
        max_attempts: args.max_attempts,
        identity,
    };
    Ok(Kube::connect(&settings).await?)
}

/// A context connected to the cluster the flags name; `identity` (a replica's name in leader
/// election) goes into the User-Agent.
pub async fn connect(args: &ClusterConfig, identity: Option<String>) -> Result<Context, EngineError> {
    let kube = connect_kube(args, identity).await?;
    Ok(Context {
        own_namespace: Some(resolve_own_namespace(&kube, args)),
        metrics: kube.metrics.clone(),
        kube: Some(kube),
        own_files: args.kubeconfig.iter().cloned().collect(),
        plain_http: args.registry_plain_http.clone(),
        ..Context::default()
    })
}

/// Observe the cluster and run the pipeline against what exists there. `Err` holds the
/// diagnostics of invalid specs (nothing may change then).
pub async fn prepare(
    context: &Context,
    repo: &Path,
    render: &RenderConfig,
    args: &ClusterConfig,
    read_only: bool,
) -> Result<(Observed, Pipeline), Stop> {
    let kube = context.cluster()?;
    let started = std::time::Instant::now();
    let scope = observe::Scope::of(&args.namespaces);
    let cached = match &context.informer {
        Some(informer) => informer.observed(CATCH_UP).await,
        None => None,
    };
    let from_cache = cached.is_some();
    let observed = match cached {
        Some(observed) => observed,
        None => {
            let listed = observe::observe(kube, &render.instance, scope)
                .await
                .map_err(EngineError::ObserveCluster)?;
            if let Some(informer) = &context.informer {
                informer.listed(&listed);
            }
            listed
        }
    };
    let observe_ms = started.elapsed().as_millis() as u64;
    for (name, ns) in observed.namespaces.iter() {
        if ns.terminating {
            tracing::debug!(namespace = %name, "namespace is terminating; skipped");
        }
    }
    let known: BTreeMap<String, crate::value::intern::SharedMap> = observed
        .namespaces
        .iter()
        .filter(|(_, ns)| !ns.terminating)
        .map(|(name, ns)| (name.clone(), ns.labels.clone()))
        .collect();
    let own_namespace = context.pullsync_namespace().to_string();
    let leases = lease_state::load(kube, &own_namespace, &render.instance).await?;
    let digest_key = match &context.digest_key {
        Some(key) => Some(key.clone()),
        None => crate::k8s::digest_key::load(kube, &own_namespace, &render.instance, !read_only)
            .await
            .map_err(EngineError::LoadDigestKey)?,
    };
    let mut context = context.clone();
    context.own_namespace = Some(own_namespace);
    context.namespaces = Namespaces { known: Some(known) };
    context.leases = std::sync::Arc::new(tokio::sync::Mutex::new(leases));
    context.read_only = read_only;
    context.digest_key = digest_key;
    let before_pipeline = started.elapsed();
    let result = pipeline(repo, render, &context).await;
    tracing::debug!(
        from_cache,
        observe_ms,
        state_ms = (before_pipeline.as_millis() as u64).saturating_sub(observe_ms),
        pipeline_ms = (started.elapsed() - before_pipeline).as_millis() as u64,
        "prepared"
    );
    result.map(|p| (observed, p))
}

/// One sync: observe, run the pipeline, plan, apply, settle leases, and return the report.
/// A long-lived context (the daemon's) also checks and remembers the versions it wrote.
pub async fn sync(
    context: &Context,
    repo: &Path,
    render: &RenderConfig,
    args: &ClusterConfig,
) -> Result<Applied, Stop> {
    let started = std::time::Instant::now();
    let kube = context.cluster()?;
    let (mut observed, pipeline) = prepare(context, repo, render, args, false).await?;
    let prepared = started.elapsed();
    if let Some(written) = &context.written {
        let unknown: std::collections::BTreeSet<(String, String)> = {
            let written = written.lock().await;
            observed.drifted = observed
                .managed
                .iter()
                .filter(|(key, live)| written.get(*key).is_some_and(|rv| rv != &live.resource_version))
                .map(|(key, _)| key.clone())
                .collect();
            observed
                .managed
                .keys()
                .filter(|key| !written.contains_key(*key))
                .cloned()
                .collect()
        };
        // Secrets this process has no version of (its first sync, a takeover): check their
        // data once against their content hash, so an edit made before we watched is repaired.
        if let (false, Some(key)) = (unknown.is_empty(), &context.digest_key) {
            let edited = observe::edited_before_us(
                kube,
                &render.instance,
                observe::Scope::of(&args.namespaces),
                key,
                &unknown,
            )
            .await
            .map_err(EngineError::CheckEdited)?;
            for id in &edited {
                tracing::info!(namespace = %id.0, secret = %id.1, "edited before this replica was watching; applied again");
            }
            observed.drifted.extend(edited);
        }
    }
    save_leases_early(render, &pipeline).await?;
    let plan = plan::plan(&pipeline.outcome, &observed, &plan_options(args));
    let mut sink = KubeSink::new(kube, &render.instance, args.concurrency);
    sink.progress = context.progress.clone();
    sink.leader = context.leader.clone();
    sink.informer = context.informer.clone();
    sink.plain_http = args.registry_plain_http.clone();
    let before_execute = started.elapsed();
    let mut report = sink.execute(&plan, &pipeline.outcome).await;
    report.tenancy_rejected = pipeline.tenancy_rejected();
    report.tenancy_rejected_in = pipeline.tenancy_rejected_in();
    let executed = started.elapsed() - before_execute;
    finish_leases(render, &pipeline, &report).await?;
    // Where a sync's time goes, for operators and the benchmark.
    tracing::info!(
        observe_and_render_ms = prepared.as_millis() as u64,
        plan_ms = (before_execute - prepared).as_millis() as u64,
        execute_ms = executed.as_millis() as u64,
        actions = plan.actions.len(),
        "sync phases"
    );
    if let Some(written) = &context.written {
        // What our own writes answered; for the rest, the version we last left (a drift that
        // was not repaired this time — a failed or skipped write — must stay a drift); only a
        // Secret seen for the first time is taken as found.
        let mut before = written.lock().await;
        let mut versions: BTreeMap<(String, String), String> = observed
            .managed
            .iter()
            .map(|(k, v)| {
                let rv = before.remove(k).unwrap_or_else(|| v.resource_version.clone());
                (k.clone(), rv)
            })
            .collect();
        drop(before);
        versions.extend(report.written_versions.clone());
        for o in report
            .outcomes
            .iter()
            .filter(|o| o.kind == ObjectKind::Secret && o.result == Status::Pruned)
        {
            versions.remove(&(o.namespace.clone(), o.name.clone()));
        }
        *written.lock().await = versions;
    }
    Ok(Applied {
        revision: pipeline.revision.clone(),
        report,
        pulls: pipeline.pulls.clone(),
        provided: pipeline.provided.clone(),
        diagnostics: pipeline.diagnostics.clone(),
    })
}

fn resolve_own_namespace(kube: &Kube, args: &ClusterConfig) -> String {
    args.own_namespace
        .clone()
        .unwrap_or_else(|| kube.default_namespace.clone())
}

/// One summary Event beside pullsync for a sync that changed something, and a Warning Event
/// when prunes were refused (`warn_prune`: the daemon says so once per refusal, not per sync).
pub async fn record_sync(
    context: &Context,
    instance: &str,
    revision: &str,
    report: &SyncReport,
    warn_prune: bool,
    warn_rejected: bool,
) {
    use crate::k8s::events::{EventType, Note, emit};
    let Some(kube) = context.kube.as_ref() else {
        return;
    };
    let namespace = context.pullsync_namespace();
    let mut notes = Vec::new();
    if let Some(summary) = report.summary(revision) {
        notes.push((EventType::Normal, "Synced", summary));
    }
    if let Some(refused) = report.prune_refused.as_ref().filter(|_| warn_prune) {
        tracing::warn!(%refused, "prunes refused");
        notes.push((EventType::Warning, "PruneRefused", refused.clone()));
    }
    if let Some(first) = report.tenancy_rejected.first().filter(|_| warn_rejected) {
        let message = format!(
            "{} object(s) of revision {revision} rejected by tenancy; the rest applied. First: {}",
            report.tenancy_rejected.len(),
            first.lines().next().unwrap_or_default()
        );
        notes.push((EventType::Warning, "TenancyRejected", message));
    }
    for (event_type, reason, message) in &notes {
        let note = Note {
            namespace,
            kind: crate::value::kind::ObjectKind::Namespace,
            name: namespace,
            event_type: *event_type,
            reason,
            message,
        };
        emit(kube, instance, &note).await;
    }
}

pub fn plan_options(args: &ClusterConfig) -> PlanOptions {
    PlanOptions {
        max_prune_ratio: args.max_prune_ratio,
        allow_mass_prune: args.allow_mass_prune,
    }
}

/// Write the lease book if it differs from the copy last loaded or written, and remember it.
async fn persist_leases(
    render: &RenderConfig,
    pipeline: &Pipeline,
    book: &crate::credentials::vault::dynamic::LeaseBook,
) -> Result<(), EngineError> {
    let stored = pipeline
        .persisted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let context = &pipeline.context;
    lease_state::save(
        context.cluster()?,
        context.pullsync_namespace(),
        &render.instance,
        book,
        &stored,
    )
    .await
    .map_err(EngineError::SaveLeaseBook)?;
    *pipeline.persisted.lock().unwrap_or_else(|e| e.into_inner()) = book.clone();
    Ok(())
}

/// Persist newly issued leases before applying anything: a crash mid-apply must not make the
/// next run issue a still-valid dynamic credential a second time.
pub async fn save_leases_early(render: &RenderConfig, pipeline: &Pipeline) -> Result<(), EngineError> {
    let book = pipeline.context.leases.lock().await;
    persist_leases(render, pipeline, &book).await
}

/// Revoke replaced leases whose secrets were all rewritten, then persist the lease book.
pub async fn finish_leases(
    render: &RenderConfig,
    pipeline: &Pipeline,
    report: &SyncReport,
) -> Result<(), EngineError> {
    let mut book = pipeline.context.leases.lock().await;
    if let Some(vault) = &pipeline.context.vault {
        let done: Vec<String> = book
            .retired
            .keys()
            .filter(|credential| {
                pipeline.users.get(*credential).is_none_or(|users| {
                    users.iter().all(|(ns, name)| {
                        report.outcomes.iter().any(|o| {
                            o.kind == ObjectKind::Secret
                                && &o.namespace == ns
                                && &o.name == name
                                && matches!(
                                    o.result,
                                    Status::Created | Status::Updated | Status::Adopted | Status::Unchanged
                                )
                        })
                    })
                })
            })
            .cloned()
            .collect();
        crate::credentials::vault::dynamic::revoke_retired(vault, &mut book, &done).await;
    }
    for event in &book.events {
        tracing::info!(lease = %event, "vault lease");
    }
    persist_leases(render, pipeline, &book).await
}
