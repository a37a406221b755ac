//! One sync of the daemon and what it tells: /status, metrics, Events (the loop in mod.rs decides when).

use super::*;

/// What one sync learnt about the specs it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Specs {
    Valid,
    Invalid,
    /// The sync failed before it could tell (the API server, the lease book).
    Unknown,
}

/// Which revision a sync runs, as the status sees it.
pub(super) struct Which {
    /// These are the last good specs, run while the newest revision is refused.
    pub(super) behind_invalid: bool,
    /// Why the newest commit may not run at all (its signature); nothing is synced then.
    pub(super) untrusted: Option<String>,
}

/// Where an applied sync leaves what the webhooks answer from.
pub(super) struct Served<'a> {
    pub pulls: &'a crate::admission::server::SharedIndex,
    pub provided: &'a crate::provider::server::SharedProviderIndex,
}

/// One sync of the specs at `repo`. `behind_invalid`: these are the last good specs, run
/// while the newest revision is invalid; `/status` keeps showing the invalid one as current.
pub(super) async fn one_sync(
    engine: &Engine,
    folder: SpecFolder<'_>,
    status: &http::Shared,
    cache: &Arc<Mutex<CredentialCache>>,
    served: Served<'_>,
    which: Which,
) -> Specs {
    let Which {
        behind_invalid,
        untrusted,
    } = which;
    let (context, render) = (&engine.context, &engine.render);
    let Some(kube) = context.kube.as_ref() else {
        return Specs::Unknown;
    };
    let now = SystemTime::now();
    let started = std::time::Instant::now();
    // An untrusted commit is refused like an invalid one: nothing of it runs, the last good
    // revision keeps running, `/status`, the Event and `pullsync wait` say why.
    let result = match &untrusted {
        Some(why) => SyncOutcome::Invalid(vec![
            crate::spec::Diagnostic::error(
                crate::spec::diag::Position {
                    file: "(commit signature)".into(),
                    line: 1,
                    column: 1,
                },
                why.clone(),
            )
            .help("sign it with a key listed in --allowed-signers (git commit -S with gpg.format=ssh)"),
        ]),
        None => engine.sync(folder).await,
    };
    let took = started.elapsed();
    let specs = match &result {
        SyncOutcome::Applied(_) => Specs::Valid,
        SyncOutcome::Invalid(_) => Specs::Invalid,
        SyncOutcome::Failed(_) => Specs::Unknown,
    };
    // An invalid revision is named by the folder's digest when no commit names it: walked on a
    // blocking thread, before the status lock (so /readyz and /metrics never wait on a walk).
    let invalid_revision = match (&result, folder.revision.or(render.revision.as_deref())) {
        (SyncOutcome::Invalid(_), Some(revision)) => revision.to_string(),
        (SyncOutcome::Invalid(_), None) => {
            let repo = folder.root.to_path_buf();
            tokio::task::spawn_blocking(move || fingerprint(&repo))
                .await
                .ok()
                .flatten()
                .map(|f| format!("local-{}", &f[..12.min(f.len())]))
                .unwrap_or_default()
        }
        _ => String::new(),
    };
    let mut rejected_event: Option<(String, String)> = None;
    let mut sync_events = None;
    let mut s = status.write().await;
    s.last_sync = Some(crate::time::format(now));
    if !behind_invalid {
        s.signature_rejected = untrusted.is_some();
    }
    match result {
        SyncOutcome::Failed(error) => {
            tracing::error!(%error, kind = error.label(), "sync failed");
            *s.syncs.entry("error".into()).or_default() += 1;
            context.metrics.sync_done("error", took);
        }
        SyncOutcome::Invalid(diagnostics) => {
            let revision = invalid_revision;
            if !s.invalid || s.current_revision.as_deref() != Some(revision.as_str()) {
                for d in &diagnostics {
                    tracing::error!(diagnostic = %d, "invalid specs: keeping the last good revision");
                }
                // Once per rejected revision, an Event beside the daemon for `kubectl get events`.
                let namespace = context.pullsync_namespace().to_string();
                let first = diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                let message = format!(
                    "revision {revision} rejected ({} error(s)); the last good revision keeps running. First: {}",
                    diagnostics.iter().filter(|d| d.is_error()).count(),
                    first.lines().next().unwrap_or_default()
                );
                rejected_event = Some((namespace, message));
            }
            s.invalid = true;
            s.diagnostics = diagnostics.iter().map(ToString::to_string).collect();
            s.current_revision = Some(revision.clone());
            s.remember_rejected(revision);
            *s.syncs.entry("invalid".into()).or_default() += 1;
            context.metrics.sync_done("invalid", took);
        }
        SyncOutcome::Applied(applied) => {
            let Applied {
                revision,
                report,
                diagnostics: warnings,
                pulls: applied_pulls,
                provided,
            } = &applied;
            // Behind an invalid revision the last good one keeps running: so does its index.
            *served.pulls.write().unwrap_or_else(|e| e.into_inner()) = applied_pulls.clone();
            *served.provided.write().unwrap_or_else(|e| e.into_inner()) = provided.clone();
            if let Some(status) = s.provider.as_mut() {
                let (namespaces, credentials) = provided.counts();
                status.revision = provided.revision.clone();
                status.namespaces = namespaces;
                status.credentials = credentials;
            }
            // The refusal is a Warning Event when it starts or changes, not on every sync.
            let newly_refused = report.prune_refused.is_some() && report.prune_refused != s.prune_refused;
            if let Some(refused) = &report.prune_refused {
                tracing::warn!(%refused, "prunes refused");
            }
            s.prune_refused = report.prune_refused.clone();
            let newly_rejected =
                !report.tenancy_rejected.is_empty() && report.tenancy_rejected != s.tenancy_rejected;
            s.tenancy_rejected = report.tenancy_rejected.clone();
            if !behind_invalid {
                s.invalid = false;
                s.diagnostics = warnings.iter().map(ToString::to_string).collect();
                s.current_revision = Some(revision.clone());
            }
            s.last_good_revision = Some(revision.clone());
            let complete = report.failures() == 0 && report.prune_refused.is_none();
            let mut namespaces: Vec<String> = report
                .outcomes
                .iter()
                .filter(|o| o.kind == ObjectKind::Secret)
                .map(|o| o.namespace.clone())
                .collect();
            namespaces.sort();
            namespaces.dedup();
            s.remember_applied(AppliedRevision {
                revision: revision.clone(),
                namespaces,
                complete,
                rejected: report.tenancy_rejected_in.clone(),
            });
            for o in &report.outcomes {
                if o.result != Outcome::Unchanged {
                    let result = serde_json::to_value(&o.result)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default();
                    *s.actions.entry(result.clone()).or_default() += 1;
                    if o.kind == ObjectKind::Secret {
                        s.secrets.insert(format!("{}/{}", o.namespace, o.name), result);
                    }
                } else if o.kind == ObjectKind::Secret {
                    s.secrets
                        .entry(format!("{}/{}", o.namespace, o.name))
                        .or_insert_with(|| "unchanged".into());
                }
            }
            let result = if complete { "success" } else { "failed" };
            *s.syncs.entry(result.into()).or_default() += 1;
            context.metrics.sync_done(result, took);
            sync_events = Some((applied, newly_refused, newly_rejected));
            if complete {
                s.last_successful_sync = Some(crate::time::format(now));
                s.last_sync_unix = now
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs());
            }
        }
    }
    let cache = cache.lock().await;
    s.credentials = cache
        .entries
        .iter()
        .map(|(name, c)| {
            let due = crate::schedule::due_of(c);
            let failing = cache.failing.get(name);
            (
                name.clone(),
                CredentialStatus {
                    source: cache.sources.get(name).copied().unwrap_or_default().to_string(),
                    version: c.value.version.clone(),
                    expires_at: c.value.expires_at.map(crate::time::format),
                    renew_at: Some(crate::time::format(failing.map_or(due.at, |f| f.retry_at))),
                    renew_adjusted: due.clamp,
                    last_error: c.last_error.clone(),
                    failures: failing.map_or(0, |f| f.failures),
                },
            )
        })
        .collect();
    for (name, f) in &cache.failing {
        s.credentials
            .entry(name.clone())
            .or_insert_with(|| CredentialStatus {
                source: cache.sources.get(name).copied().unwrap_or_default().to_string(),
                renew_at: Some(crate::time::format(f.retry_at)),
                last_error: Some(f.error.clone()),
                failures: f.failures,
                ..CredentialStatus::default()
            });
    }
    drop(cache);
    drop(s);
    // Outside the status lock: readers of /status never wait for the API server.
    if let Some((applied, newly_refused, newly_rejected)) = sync_events {
        engine.record(&applied, newly_refused, newly_rejected).await;
    }
    if let Some((namespace, message)) = rejected_event {
        let note = crate::k8s::events::Note {
            namespace: &namespace,
            kind: crate::value::kind::ObjectKind::Namespace,
            name: &namespace,
            event_type: crate::k8s::events::EventType::Warning,
            reason: "InvalidSpecs",
            message: &message,
        };
        crate::k8s::events::emit(kube, &render.instance, &note).await;
    }
    // The sync's intents, bodies and plan are gone now: hand their pages back (a 100,000-Secret
    // sync held hundreds of MiB the process kept until the next one). Off the runtime: it
    // walks every arena.
    let _ = tokio::task::spawn_blocking(crate::memory::release_free_pages).await;
    specs
}
