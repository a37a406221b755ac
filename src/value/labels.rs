//! The labels and annotation keys pullsync stamps on what it writes, and reads back to know
//! what it owns.

pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "pullsync";
/// The ownership label: pullsync only ever changes objects that carry it with its instance id.
pub const LABEL_INSTANCE: &str = "pullsync.dev/instance";
pub const ANNOTATION_SPEC: &str = "pullsync.dev/spec";
pub const ANNOTATION_REVISION: &str = "pullsync.dev/revision";
pub const ANNOTATION_CONTENT_HASH: &str = "pullsync.dev/content-hash";
pub const ANNOTATION_CREDENTIALS: &str = "pullsync.dev/credentials";
/// The ServiceAccounts a pull secret was added to, so a later sync can take it out again.
pub const ANNOTATION_SERVICE_ACCOUNTS: &str = "pullsync.dev/service-accounts";
pub const DOCKER_CONFIG_JSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
pub const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";

/// The selector for this instance's objects.
pub fn ownership_selector(instance: &str) -> String {
    format!("{LABEL_MANAGED_BY}={MANAGED_BY_VALUE},{LABEL_INSTANCE}={instance}")
}
