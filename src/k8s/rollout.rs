//! `kubectl rollout restart`, as pullsync does it (effect): a strategic-merge patch of the pod
//! template's `kubectl.kubernetes.io/restartedAt` annotation (kubectl's
//! `polymorphichelpers.defaultObjectRestarter`), so the workload controller rolls its pods the
//! way it always does (surge, PodDisruptionBudgets) and `kubectl rollout status` follows it.

use serde_json::json;

use super::client::{CallError, Kube, OnConflict};
use crate::spec::model::WorkloadKind;

pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

pub async fn restart(kube: &Kube, namespace: &str, kind: WorkloadKind, name: &str) -> Result<(), CallError> {
    let request = kube::core::request::Request::new(format!(
        "/apis/apps/v1/namespaces/{namespace}/{}",
        kind.resource()
    ));
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: crate::time::format(std::time::SystemTime::now())
    }}}}});
    let params = kube::api::PatchParams {
        field_manager: Some(super::FIELD_MANAGER.into()),
        ..Default::default()
    };
    kube.call(OnConflict::Retry, || {
        request.patch(name, &params, &kube::api::Patch::Strategic(&patch))
    })
    .await
    .map(|_| ())
}
