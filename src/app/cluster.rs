//! `sync --once` and `plan` against a cluster: observe, resolve with the cluster's namespaces,
//! fetch, render, plan, then apply or print (effect).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::print_diagnostics;
use crate::cli::Output;
use crate::engine::cluster::{finish_leases, plan_options, record_sync, save_leases_early};
use crate::engine::config::{ClusterConfig, RenderConfig};
use crate::engine::pipeline::Pipeline;
use crate::k8s::observe::Observed;
use crate::k8s::service_accounts;
use crate::k8s::{Kube, OnConflict};
use crate::plan::{self, Action, Plan};
use crate::sink::kube::{KubeSink, Status, SyncReport};

/// Exit code of `plan` when there are changes, for CI gates.
const EXIT_CHANGES: u8 = 2;

async fn prepare(
    repo: &Path,
    render: &RenderConfig,
    args: &ClusterConfig,
    read_only: bool,
) -> anyhow::Result<Option<(Kube, Observed, Pipeline)>> {
    let context = crate::engine::connect(args, None).await?;
    let kube = context.cluster()?.clone();
    match crate::engine::cluster::prepare(&context, repo, render, args, read_only).await? {
        Ok((observed, p)) => {
            print_diagnostics(&p.diagnostics);
            Ok(Some((kube, observed, p)))
        }
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            eprintln!("nothing was changed: fix the errors above");
            Ok(None)
        }
    }
}

pub async fn sync(
    once: bool,
    repo: &Path,
    render: &RenderConfig,
    args: &ClusterConfig,
    output: Output,
) -> anyhow::Result<ExitCode> {
    if !once {
        anyhow::bail!("`sync` needs --once; for the long-running daemon use `pullsync run`");
    }
    let Some((kube, observed, pipeline)) = prepare(repo, render, args, false).await? else {
        return Ok(ExitCode::FAILURE);
    };
    save_leases_early(render, &pipeline).await?;
    let plan = plan::plan(&pipeline.outcome, &observed, &plan_options(args));
    let mut sink = KubeSink::new(&kube, &render.instance, args.concurrency);
    sink.plain_http = args.registry_plain_http.clone();
    let mut report = sink.execute(&plan, &pipeline.outcome).await;
    report.tenancy_rejected = pipeline.tenancy_rejected();
    finish_leases(render, &pipeline, &report).await?;
    record_sync(
        &pipeline.context,
        &render.instance,
        &pipeline.revision,
        &report,
        true,
        true,
    )
    .await;
    print_report(&report, &pipeline.revision, output)?;
    if let Some(refused) = &report.prune_refused {
        eprintln!("error: {refused}");
    }
    if !report.tenancy_rejected.is_empty() {
        eprintln!(
            "error: {} object(s) rejected by tenancy (see above); the rest was applied",
            report.tenancy_rejected.len()
        );
    }
    let ok = report.failures() == 0 && report.prune_refused.is_none() && report.tenancy_rejected.is_empty();
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
                "revision {revision}: {} created, {} updated, {} adopted, {} unchanged, {} pruned, {} conflicts, {} failed, {} kept, {} not created; {} service accounts patched",
                secrets(Status::Created),
                secrets(Status::Updated),
                secrets(Status::Adopted),
                secrets(Status::Unchanged),
                secrets(Status::Pruned),
                secrets(Status::Conflict),
                secrets(Status::Failed),
                secrets(Status::Kept),
                secrets(Status::NotCreated),
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
            Action::RolloutRestart { kind, secret, .. } => lines.push(line(
                "restart",
                target,
                &format!("{kind:?}, after Secret {secret} changes"),
            )),
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
    render: &RenderConfig,
    args: &ClusterConfig,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let Some((kube, observed, pipeline)) = prepare(repo, render, args, true).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let plan = plan::plan(&pipeline.outcome, &observed, &plan_options(args));
    let lines = probe(&kube, &plan, &pipeline, &render.instance).await?;
    let changes = lines.iter().any(|l| l["action"] != "conflict");
    match output {
        Output::Json => {
            let kept: Vec<_> = plan
                .kept
                .iter()
                .map(|h| json!({"namespace": h.namespace, "name": h.name, "reason": h.reason, "exists": h.exists}))
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
            for held in &plan.kept {
                let verb = if held.exists { "keep" } else { "not created" };
                println!(
                    "{verb} {}/{} (not rendered: {})",
                    held.namespace, held.name, held.reason
                );
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
