//! The one sync engine (effect), shared by `render`, `sync --once`, `plan` and `run`:
//!
//! ```text
//! specs ─ pipeline: load → validate → resolve → fetch credentials → render ─┐
//! cluster ─ observe ───────────────────────────────────────────────────────┴─ plan → execute → record
//! ```
//!
//! [`Engine`] owns what lives between syncs (clients, the credential cache, the watch-fed
//! copy, the versions it wrote, its leadership) and [`Engine::sync`] is the one way a revision
//! reaches a cluster: `sync --once` calls it once, the daemon on every trigger. `app/` is
//! command glue around it; the daemon calls it and never imports `app`.

pub mod cluster;
pub mod config;
pub mod context;
pub mod error;
pub mod pipeline;

use std::path::Path;

pub use cluster::connect;
pub use error::{Applied, EngineError, SyncOutcome};

use config::{ClusterConfig, RenderConfig};
use context::Context;

/// One revision of specs as a sync reads it.
#[derive(Debug, Clone, Copy)]
pub struct SpecFolder<'a> {
    pub root: &'a Path,
    /// The commit it was checked out from; `None`: named by a digest of the folder.
    pub revision: Option<&'a str>,
}

/// The long-lived state of syncs against one cluster, and the flags they run with.
pub struct Engine {
    pub context: Context,
    pub render: RenderConfig,
    pub cluster: ClusterConfig,
}

impl Engine {
    /// An engine connected to the cluster the flags name; `identity` (a replica's name in
    /// leader election) goes into the User-Agent.
    pub async fn connect(
        render: RenderConfig,
        cluster: ClusterConfig,
        identity: Option<String>,
    ) -> Result<Engine, EngineError> {
        let context = connect(&cluster, identity).await?;
        Ok(Engine {
            context,
            render,
            cluster,
        })
    }

    /// Observe, resolve, fetch, render, plan and apply one revision.
    pub async fn sync(&self, folder: SpecFolder<'_>) -> SyncOutcome {
        let render = self.render_for(folder);
        cluster::sync(&self.context, folder.root, &render, &self.cluster)
            .await
            .into()
    }

    /// The Events of an applied sync beside pullsync (a summary when something changed; a
    /// Warning for refused prunes and tenancy rejections when asked).
    pub async fn record(&self, applied: &Applied, warn_prune: bool, warn_rejected: bool) {
        cluster::record_sync(
            &self.context,
            &self.render.instance,
            &applied.revision,
            &applied.report,
            warn_prune,
            warn_rejected,
        )
        .await;
    }

    /// What a revision keeps in each namespace, resolved against the watch-fed copy without
    /// fetching or writing anything: a follower answers admission reviews from it while the
    /// leader syncs. `None` when the copy is not ready or the specs are invalid.
    pub async fn pull_index(
        &self,
        folder: SpecFolder<'_>,
    ) -> Option<std::sync::Arc<crate::admission::index::PullIndex>> {
        let informer = self.context.informer.as_ref()?;
        let observed = informer.observed(std::time::Duration::from_secs(1)).await?;
        let known: std::collections::BTreeMap<String, crate::value::intern::SharedMap> = observed
            .namespaces
            .iter()
            .filter(|(_, ns)| !ns.terminating)
            .map(|(name, ns)| (name.clone(), ns.labels.clone()))
            .collect();
        let namespaces = crate::spec::resolve::Namespaces { known: Some(known) };
        let resolved = pipeline::check_and_resolve_blocking(
            folder.root,
            &namespaces,
            &self.render.tenancy,
            &self.render.cluster,
            self.context.load_cache.clone(),
        )
        .await
        .ok()?;
        Some(std::sync::Arc::new(crate::admission::index::PullIndex::build(
            &resolved.desired,
            namespaces.known.as_ref(),
        )))
    }

    fn render_for(&self, folder: SpecFolder<'_>) -> RenderConfig {
        let mut render = self.render.clone();
        if let Some(revision) = folder.revision {
            render.revision = Some(revision.to_string());
        }
        render
    }
}
