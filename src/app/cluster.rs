//! `sync --once` and `plan` against a cluster: observe, resolve with the cluster's namespaces,
//! fetch, render, plan, then apply or print (effect).

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::print_diagnostics;
use crate::cli::Output;
use crate::engine::cluster::{plan_options, prepare};
use crate::engine::config::{ClusterConfig, RenderConfig};
use crate::engine::error::Stop;
use crate::engine::{Applied, Engine, SpecFolder, SyncOutcome};
use crate::plan;
use crate::sink::kube::{KubeSink, Status, SyncReport};
use crate::sink::preview::Preview;
use crate::value::kind::ObjectKind;

/// Exit code of `plan` when there are changes, for CI gates.
const EXIT_CHANGES: u8 = 2;

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
    let engine = Engine::connect(render.clone(), args.clone(), None).await?;
    let show = crate::progress::show_for_terminal(args.progress_interval);
    let reporter = crate::progress::report(engine.context.progress.clone(), show);
    let folder = SpecFolder {
        root: repo,
        revision: None,
    };
    let applied = match engine.sync(folder).await {
        SyncOutcome::Applied(applied) => applied,
        SyncOutcome::Invalid(diagnostics) => {
            print_diagnostics(&diagnostics);
            eprintln!("nothing was changed: fix the errors above");
            return Ok(ExitCode::FAILURE);
        }
        SyncOutcome::Failed(error) => return Err(error.into()),
    };
    drop(reporter);
    print_diagnostics(&applied.diagnostics);
    engine.record(&applied, true, true).await;
    let Applied { revision, report, .. } = &applied;
    print_report(report, revision, output)?;
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
                    .filter(|o| o.kind == ObjectKind::Secret && o.result == s)
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
fn line(preview: &Preview) -> Value {
    json!({"action": preview.action, "namespace": preview.namespace, "name": preview.name, "detail": preview.detail})
}

pub async fn plan(
    repo: &Path,
    render: &RenderConfig,
    args: &ClusterConfig,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let engine = Engine::connect(render.clone(), args.clone(), None).await?;
    let kube = engine.context.cluster()?.clone();
    let (observed, pipeline) = match prepare(&engine.context, repo, render, args, true).await {
        Ok(prepared) => prepared,
        Err(Stop::Invalid(diagnostics)) => {
            print_diagnostics(&diagnostics);
            eprintln!("nothing was changed: fix the errors above");
            return Ok(ExitCode::FAILURE);
        }
        Err(Stop::Failed(error)) => return Err(error.into()),
    };
    print_diagnostics(&pipeline.diagnostics);
    let plan = plan::plan(&pipeline.outcome, &observed, &plan_options(args));
    // The sink's own reads and decisions with its writes switched off.
    let mut sink = KubeSink::new(&kube, &render.instance, args.concurrency);
    sink.progress = engine.context.progress.clone();
    let reporter = crate::progress::report(
        sink.progress.clone(),
        crate::progress::show_for_terminal(args.progress_interval),
    );
    let lines: Vec<Value> = sink
        .preview(&plan, &pipeline.outcome)
        .await?
        .iter()
        .map(line)
        .collect();
    drop(reporter);
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
