//! `sync --once` and `plan` against a cluster: observe, resolve with the cluster's namespaces,
//! fetch, render, plan, then apply or print (effect).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::{ClusterView, Pipeline, pipeline, print_diagnostics};
use crate::cli::{ClusterArgs, Output, RenderArgs};
use crate::k8s::observe::{self, Observed};
use crate::k8s::{Kube, KubeSettings, OnConflict};
use crate::k8s::{lease_state, service_accounts};
use crate::plan::{self, Action, Plan, PlanOptions};
use crate::sink::kube::{KubeSink, Status, SyncReport};
use crate::spec::resolve::Namespaces;

/// Exit code of `plan` when there are changes, for CI gates.
const EXIT_CHANGES: u8 = 2;

async fn connect(args: &ClusterArgs, identity: Option<String>) -> anyhow::Result<Kube> {
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

/// Observe the cluster and run the pipeline against what exists there.
/// (namespace, name) → resourceVersion, shared across syncs.
pub(crate) type Written = std::sync::Arc<tokio::sync::Mutex<BTreeMap<(String, String), String>>>;

/// What a long-running process keeps between syncs; `sync --once` builds a fresh one.
#[derive(Clone)]
pub(crate) struct Engine {
    pub kube: Kube,
    pub vault: Option<crate::credentials::vault::VaultSession>,
    pub cache: Option<std::sync::Arc<tokio::sync::Mutex<crate::credentials::cache::CredentialCache>>>,
    /// resourceVersion of each managed Secret as pullsync last left it, to notice hand edits.
    pub written: Option<Written>,
    /// The install's digest key, once loaded (a long-running process reads it once).
    pub digest_key: Option<crate::render::digest::DigestKey>,
    /// pullsync's own credential files (kubeconfig, git token, webhook secret): never sources.
    pub own_files: Vec<std::path::PathBuf>,
    /// With leader election: asked before every write.
    pub leader: Option<crate::daemon::leader::LeaderGuard>,
}

impl Engine {
    pub async fn connect(args: &ClusterArgs) -> anyhow::Result<Engine> {
        Self::connect_as(args, None).await
    }

    /// `identity` (a replica's name in leader election) goes into the User-Agent.
    pub async fn connect_as(args: &ClusterArgs, identity: Option<String>) -> anyhow::Result<Engine> {
        Ok(Engine {
            leader: None,
            kube: connect(args, identity).await?,
            vault: None,
            cache: None,
            written: None,
            digest_key: None,
            own_files: args.kubeconfig.iter().cloned().collect(),
        })
    }
}

/// Observe the cluster and run the pipeline against what exists there. `Err` holds the
/// diagnostics of invalid specs (nothing may change then).
async fn prepare_with(
    engine: &Engine,
    repo: &Path,
    render: &RenderArgs,
    args: &ClusterArgs,
    read_only: bool,
) -> anyhow::Result<Result<(Observed, Pipeline), Vec<crate::spec::Diagnostic>>> {
    let kube = &engine.kube;
    let observed = observe::observe(kube, &render.instance).await?;
    for (name, ns) in &observed.namespaces {
        if ns.terminating {
            tracing::debug!(namespace = %name, "namespace is terminating; skipped");
        }
    }
    let known: BTreeMap<String, BTreeMap<String, String>> = observed
        .namespaces
        .iter()
        .filter(|(_, ns)| !ns.terminating)
        .map(|(name, ns)| (name.clone(), ns.labels.clone()))
        .collect();
    let own_namespace = args
        .own_namespace
        .clone()
        .unwrap_or_else(|| kube.default_namespace.clone());
    let leases = lease_state::load(kube, &own_namespace, &render.instance).await?;
    let digest_key = match &engine.digest_key {
        Some(key) => Some(key.clone()),
        None => crate::k8s::digest_key::load(kube, &own_namespace, &render.instance, !read_only).await?,
    };
    let view = ClusterView {
        kube: Some(kube.clone()),
        own_namespace: Some(own_namespace),
        namespaces: Namespaces { known: Some(known) },
        leases,
        read_only,
        vault: engine.vault.clone(),
        cache: engine.cache.clone(),
        digest_key,
        own_files: engine.own_files.clone(),
    };
    Ok(pipeline(repo, render, &view).await?.map(|p| (observed, p)))
}

async fn prepare(
    repo: &Path,
    render: &RenderArgs,
    args: &ClusterArgs,
    read_only: bool,
) -> anyhow::Result<Option<(Kube, Observed, Pipeline)>> {
    let engine = Engine::connect(args).await?;
    match prepare_with(&engine, repo, render, args, read_only).await? {
        Ok((observed, p)) => {
            print_diagnostics(&p.diagnostics);
            Ok(Some((engine.kube, observed, p)))
        }
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            eprintln!("nothing was changed: fix the errors above");
            Ok(None)
        }
    }
}

/// One sync with a long-lived engine: apply, settle leases, and return the report.
pub(crate) async fn sync_with(
    engine: &Engine,
    repo: &Path,
    render: &RenderArgs,
    args: &ClusterArgs,
) -> anyhow::Result<Result<(String, SyncReport, Vec<crate::spec::Diagnostic>), Vec<crate::spec::Diagnostic>>>
{
    let (mut observed, pipeline) = match prepare_with(engine, repo, render, args, false).await? {
        Ok(ok) => ok,
        Err(diagnostics) => return Ok(Err(diagnostics)),
    };
    if let Some(written) = &engine.written {
        let written = written.lock().await;
        observed.drifted = observed
            .managed
            .iter()
            .filter(|(key, live)| written.get(*key).is_some_and(|rv| rv != &live.resource_version))
            .map(|(key, _)| key.clone())
            .collect();
    }
    save_leases_early(&engine.kube, args, render, &pipeline).await?;
    let plan = plan::plan(&pipeline.outcome, &observed, &options(args));
    let mut sink = KubeSink::new(&engine.kube, &render.instance, args.concurrency);
    sink.leader = engine.leader.clone();
    let report = sink.execute(&plan, &pipeline.outcome).await;
    finish_leases(&engine.kube, args, render, &pipeline, &report).await?;
    if let Some(written) = &engine.written {
        // What our own writes answered; for the rest, the version we last left (a drift that
        // was not repaired this time — a failed or skipped write — must stay a drift); only a
        // Secret seen for the first time is taken as found.
        let mut before = written.lock().await;
        let mut versions: BTreeMap<(String, String), String> = observed
            .managed
            .into_iter()
            .map(|(k, v)| {
                let rv = before.remove(&k).unwrap_or(v.resource_version);
                (k, rv)
            })
            .collect();
        drop(before);
        versions.extend(report.written_versions.clone());
        for o in report
            .outcomes
            .iter()
            .filter(|o| o.kind == "Secret" && o.result == Status::Pruned)
        {
            versions.remove(&(o.namespace.clone(), o.name.clone()));
        }
        *written.lock().await = versions;
    }
    Ok(Ok((
        pipeline.revision.clone(),
        report,
        pipeline.diagnostics.clone(),
    )))
}

fn own_namespace(kube: &Kube, args: &ClusterArgs) -> String {
    args.own_namespace
        .clone()
        .unwrap_or_else(|| kube.default_namespace.clone())
}

/// One summary Event beside pullsync for a sync that changed something, and a Warning Event
/// when prunes were refused (`warn_prune`: the daemon says so once per refusal, not per sync).
pub(crate) async fn record_sync(
    kube: &Kube,
    args: &ClusterArgs,
    instance: &str,
    revision: &str,
    report: &SyncReport,
    warn_prune: bool,
) {
    use crate::k8s::events::{EventType, Note, emit};
    let namespace = own_namespace(kube, args);
    let mut notes = Vec::new();
    if let Some(summary) = report.summary(revision) {
        notes.push((EventType::Normal, "Synced", summary));
    }
    if let Some(refused) = report.prune_refused.as_ref().filter(|_| warn_prune) {
        tracing::warn!(%refused, "prunes refused");
        notes.push((EventType::Warning, "PruneRefused", refused.clone()));
    }
    for (event_type, reason, message) in &notes {
        let note = Note {
            namespace: &namespace,
            kind: "Namespace",
            name: &namespace,
            event_type: *event_type,
            reason,
            message,
        };
        emit(kube, instance, &note).await;
    }
}

fn options(args: &ClusterArgs) -> PlanOptions {
    PlanOptions {
        max_prune_ratio: args.max_prune_ratio,
        allow_mass_prune: args.allow_mass_prune,
    }
}

pub async fn sync(
    once: bool,
    repo: &Path,
    render: &RenderArgs,
    args: &ClusterArgs,
    output: Output,
) -> anyhow::Result<ExitCode> {
    if !once {
        anyhow::bail!("`sync` needs --once; for the long-running daemon use `pullsync run`");
    }
    let Some((kube, observed, pipeline)) = prepare(repo, render, args, false).await? else {
        return Ok(ExitCode::FAILURE);
    };
    save_leases_early(&kube, args, render, &pipeline).await?;
    let plan = plan::plan(&pipeline.outcome, &observed, &options(args));
    let sink = KubeSink::new(&kube, &render.instance, args.concurrency);
    let report = sink.execute(&plan, &pipeline.outcome).await;
    finish_leases(&kube, args, render, &pipeline, &report).await?;
    record_sync(&kube, args, &render.instance, &pipeline.revision, &report, true).await;
    print_report(&report, &pipeline.revision, output)?;
    if let Some(refused) = &report.prune_refused {
        eprintln!("error: {refused}");
    }
    let ok = report.failures() == 0 && report.prune_refused.is_none();
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Persist newly issued leases before applying anything: a crash mid-apply must not make the
/// next run issue a still-valid dynamic credential a second time.
async fn save_leases_early(
    kube: &Kube,
    args: &ClusterArgs,
    render: &RenderArgs,
    pipeline: &Pipeline,
) -> anyhow::Result<()> {
    let book = pipeline.context.leases.lock().await;
    let own_namespace = args
        .own_namespace
        .clone()
        .unwrap_or_else(|| kube.default_namespace.clone());
    let stored = pipeline
        .persisted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    lease_state::save(kube, &own_namespace, &render.instance, &book, &stored).await?;
    *pipeline.persisted.lock().unwrap_or_else(|e| e.into_inner()) = book.clone();
    Ok(())
}

/// Revoke replaced leases whose secrets were all rewritten, then persist the lease book.
async fn finish_leases(
    kube: &Kube,
    args: &ClusterArgs,
    render: &RenderArgs,
    pipeline: &Pipeline,
    report: &SyncReport,
) -> anyhow::Result<()> {
    let mut book = pipeline.context.leases.lock().await;
    if let Some(vault) = &pipeline.context.vault {
        let done: Vec<String> = book
            .retired
            .keys()
            .filter(|credential| {
                pipeline.users.get(*credential).is_none_or(|users| {
                    users.iter().all(|(ns, name)| {
                        report.outcomes.iter().any(|o| {
                            o.kind == "Secret"
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
    let own_namespace = args
        .own_namespace
        .clone()
        .unwrap_or_else(|| kube.default_namespace.clone());
    let stored = pipeline
        .persisted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    lease_state::save(kube, &own_namespace, &render.instance, &book, &stored).await?;
    *pipeline.persisted.lock().unwrap_or_else(|e| e.into_inner()) = book.clone();
    Ok(())
}

fn print_report(report: &SyncReport, revision: &str, output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"revision": revision, "report": report}))?
        ),
        Output::Text => {
            for o in report.outcomes.iter().filter(|o| o.result != Status::Unchanged) {
                let result = serde_json::to_value(&o.result)?
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let detail = if o.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", o.detail)
                };
                println!("{result} {} {}/{}{detail}", o.kind, o.namespace, o.name);
            }
            let secrets = |s: Status| {
                report
                    .outcomes
                    .iter()
                    .filter(|o| o.kind == "Secret" && o.result == s)
                    .count()
            };
            println!(
                "revision {revision}: {} created, {} updated, {} adopted, {} unchanged, {} pruned, {} conflicts, {} failed, {} kept; {} service accounts patched",
                secrets(Status::Created),
                secrets(Status::Updated),
                secrets(Status::Adopted),
                secrets(Status::Unchanged),
                secrets(Status::Pruned),
                secrets(Status::Conflict),
                secrets(Status::Failed),
                secrets(Status::Kept),
                report.count(Status::Patched),
            );
        }
    }
    Ok(())
}

/// One line of `plan` output.
fn line(kind: &str, target: (&str, &str), detail: &str) -> Value {
    json!({"action": kind, "namespace": target.0, "name": target.1, "detail": detail})
}

/// Resolve what `plan` cannot know without asking: who owns an existing Secret of a name we
/// would create, and whether a ServiceAccount needs a change at all. Reads only.
async fn probe(kube: &Kube, plan: &Plan, pipeline: &Pipeline, instance: &str) -> anyhow::Result<Vec<Value>> {
    let mut lines = Vec::new();
    for action in &plan.actions {
        let target = action.target();
        match action {
            Action::Create { index, .. } => {
                let rendered = &pipeline.outcome.rendered[*index];
                let request =
                    kube::core::request::Request::new(format!("/api/v1/namespaces/{}/secrets", target.0));
                match kube
                    .call(OnConflict::Retry, || {
                        request.get_metadata(target.1, &Default::default())
                    })
                    .await
                {
                    Err(e) if e.is_not_found() => lines.push(line("create", target, "")),
                    Err(e) => return Err(e.into()),
                    Ok(_) if rendered.adopt => {
                        lines.push(line("adopt", target, "exists unmanaged; adopt: true"))
                    }
                    Ok(_) => lines.push(line(
                        "conflict",
                        target,
                        "exists and is not managed by pullsync; left alone",
                    )),
                }
            }
            Action::Update { changes, .. } => lines.push(line("update", target, &changes.join(", "))),
            Action::Prune { .. } => lines.push(line("prune", target, "no spec asks for it")),
            Action::PatchServiceAccount { wanted, .. } => {
                let request = kube::core::request::Request::new(format!(
                    "/api/v1/namespaces/{}/serviceaccounts",
                    target.0
                ));
                let live = match kube
                    .call(OnConflict::Retry, || request.get(target.1, &Default::default()))
                    .await
                {
                    Ok(v) => v,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                };
                let current: Vec<String> = live["imagePullSecrets"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e["name"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let key = service_accounts::added_annotation(instance);
                let before: BTreeSet<String> = live["metadata"]["annotations"][key.as_str()]
                    .as_str()
                    .map(|s| s.split(',').filter(|n| !n.is_empty()).map(String::from).collect())
                    .unwrap_or_default();
                if let Some((list, _)) = service_accounts::merge(&current, &before, wanted) {
                    let added: Vec<_> = list.iter().filter(|n| !current.contains(n)).cloned().collect();
                    let removed: Vec<_> = current.iter().filter(|n| !list.contains(n)).cloned().collect();
                    lines.push(line(
                        "patch-sa",
                        target,
                        &format!("add [{}], remove [{}]", added.join(", "), removed.join(", ")),
                    ));
                }
            }
        }
    }
    Ok(lines)
}

pub async fn plan(
    repo: &Path,
    render: &RenderArgs,
    args: &ClusterArgs,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let Some((kube, observed, pipeline)) = prepare(repo, render, args, true).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let plan = plan::plan(&pipeline.outcome, &observed, &options(args));
    let lines = probe(&kube, &plan, &pipeline, &render.instance).await?;
    let changes = lines.iter().any(|l| l["action"] != "conflict");
    match output {
        Output::Json => {
            let kept: Vec<_> = plan
                .kept
                .iter()
                .map(|(ns, n, why)| json!({"namespace": ns, "name": n, "reason": why}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({"revision": pipeline.revision, "actions": lines, "unchanged": plan.unchanged.len(), "kept": kept, "pruneRefused": plan.prune_refused})
                )?
            );
        }
        Output::Text => {
            for l in &lines {
                let detail = l["detail"]
                    .as_str()
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                println!(
                    "{} {}/{}{detail}",
                    l["action"].as_str().unwrap_or_default(),
                    l["namespace"].as_str().unwrap_or_default(),
                    l["name"].as_str().unwrap_or_default()
                );
            }
            for (ns, name, why) in &plan.kept {
                println!("keep {ns}/{name} (not rendered: {why})");
            }
            println!(
                "revision {}: {} change(s), {} unchanged",
                pipeline.revision,
                lines.len(),
                plan.unchanged.len()
            );
        }
    }
    if let Some(refused) = &plan.prune_refused {
        eprintln!("error: {refused}");
        return Ok(ExitCode::FAILURE);
    }
    if !plan.kept.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(if changes {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}
