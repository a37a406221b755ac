//! What the cluster sink would do with a plan, without writing (`plan`): the same reads and
//! decisions as [`KubeSink::execute`] — who owns an existing Secret of a name to create, what
//! a ServiceAccount's merged list would be — with every write switched off. Nothing is asked
//! of a registry and no Event is recorded.

use crate::k8s::client::CallError;
use crate::k8s::service_accounts::{SaOutcome, Write, reconcile};
use crate::plan::{Action, Plan};
use crate::render::RenderOutcome;
use crate::sink::kube::{Found, KubeSink};

/// One change `plan` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// `create`, `adopt`, `conflict`, `update`, `prune`, `restart` or `patch-sa`.
    pub action: &'static str,
    pub namespace: String,
    pub name: String,
    pub detail: String,
}

impl KubeSink<'_> {
    /// The changes `execute` would make for `plan`, in the plan's order.
    pub async fn preview(&self, plan: &Plan, outcome: &RenderOutcome) -> Result<Vec<Preview>, CallError> {
        let mut out = Vec::new();
        self.progress.begin("planning", plan.actions.len() as u64);
        for action in &plan.actions {
            self.progress.step();
            let (namespace, name) = action.target();
            let line = |action: &'static str, detail: String| Preview {
                action,
                namespace: namespace.to_string(),
                name: name.to_string(),
                detail,
            };
            match action {
                Action::Create { index, .. } => {
                    out.push(match self.found(&outcome.rendered[*index]).await? {
                        None => line("create", String::new()),
                        Some(Found::Ours) => line("update", "found on create".into()),
                        Some(Found::Adoptable) => line("adopt", "exists unmanaged; adopt: true".into()),
                        Some(Found::Foreign) => line(
                            "conflict",
                            "exists and is not managed by pullsync; left alone".into(),
                        ),
                    })
                }
                Action::Update { changes, .. } => out.push(line(
                    "update",
                    changes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
                )),
                Action::Prune { .. } => out.push(line("prune", "no spec asks for it".into())),
                Action::RolloutRestart { kind, secret, .. } => out.push(line(
                    "restart",
                    format!("{kind:?}, after Secret {secret} changes"),
                )),
                Action::PatchServiceAccount { wanted, .. } => {
                    let would =
                        reconcile(self.kube, namespace, name, self.instance, wanted, Write::DryRun).await?;
                    if let SaOutcome::Patched { added, removed } = would {
                        out.push(line(
                            "patch-sa",
                            format!("add [{}], remove [{}]", added.join(", "), removed.join(", ")),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }
}
