//! Intents × credential values → Secret objects (pure).
//!
//! A rendered Secret carries the user's layered labels and annotations, pullsync's ownership
//! label and instance, the spec location, the source revision and a content hash (a keyed
//! digest of the data, never the data: see [`digest`]), so later syncs can tell an unchanged
//! secret without reading it.

pub mod dockerconfig;
pub mod manifest;

use std::collections::BTreeMap;

use crate::spec::Catalog;
use crate::spec::resolve::{DataIntent, Desired, IntentBody, Layer, Payload};
use crate::value::credential::Values;
use crate::value::secret::SecretValue;
use crate::value::vec_map::VecMap;

pub use crate::value::digest;
pub use crate::value::digest::content_hash;
pub use crate::value::labels::*;

/// What every rendered object is stamped with.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// Git commit, or `local-<digest>` of the spec folder.
    pub revision: String,
    /// Lets two pullsync installs share a cluster without touching each other's objects.
    pub instance: String,
    /// Keys every digest written into metadata.
    pub key: digest::DigestKey,
}

#[derive(Debug, Clone)]
pub struct Rendered {
    pub namespace: String,
    /// Everything but the namespace, shared by every namespace whose intent shares its body
    /// (rendered once for all of them).
    pub body: std::sync::Arc<RenderedBody>,
}

impl std::ops::Deref for Rendered {
    type Target = RenderedBody;

    fn deref(&self) -> &RenderedBody {
        &self.body
    }
}

/// What a [`Rendered`] Secret holds, whichever namespace it is in.
#[derive(Debug, Clone)]
pub struct RenderedBody {
    pub name: String,
    pub secret_type: String,
    /// Sorted vectors, not `BTreeMap`s: a few keys each, and one body per Secret of a
    /// 100,000-document repository (#24).
    pub data: VecMap<String, SecretValue>,
    pub labels: VecMap<String, String>,
    pub annotations: VecMap<String, String>,
    /// `labels/KEY` or `annotations/KEY` → the layer that set it.
    pub provenance: VecMap<String, Layer>,
    pub spec_ref: String,
    /// Registries in spec order, for `auth.json` files.
    pub registries: Vec<String>,
    /// ServiceAccounts whose `imagePullSecrets` list this secret.
    pub service_accounts: Vec<String>,
    /// Take over an existing unmanaged Secret of the same name.
    pub adopt: bool,
    /// Prove the registries accept the credential before writing changed data.
    pub verify: bool,
    /// Workloads to restart when the data changes.
    pub rollout_restart: Vec<crate::spec::model::RolloutTarget>,
}

/// A secret that could not be rendered this time; whatever exists for it must be kept.
#[derive(Debug, Clone)]
pub struct RenderFailure {
    pub namespace: String,
    pub name: String,
    pub spec_ref: String,
    pub reason: String,
    pub service_accounts: Vec<String>,
}

#[derive(Debug, Default)]
pub struct RenderOutcome {
    pub rendered: Vec<Rendered>,
    pub failed: Vec<RenderFailure>,
    /// `file#Kind/name` of specs rejected by tenancy → why: the Secrets they wrote before are
    /// kept, not pruned.
    pub held: std::collections::BTreeMap<String, String>,
}

pub fn render<E: std::fmt::Display>(
    desired: &Desired,
    catalog: &Catalog,
    values: &Values<E>,
    context: &RenderContext,
) -> RenderOutcome {
    let mut outcome = RenderOutcome::default();
    // Intents sharing a body render alike: each body is rendered once (a 10,000-namespace
    // fan-out formats and digests one Docker config, not 10,000).
    let mut bodies: std::collections::HashMap<
        *const IntentBody,
        Result<std::sync::Arc<RenderedBody>, String>,
    > = Default::default();
    for intent in desired.secrets.values() {
        let body = bodies
            .entry(std::sync::Arc::as_ptr(&intent.body))
            .or_insert_with(|| render_body(intent, catalog, values, context).map(std::sync::Arc::new))
            .clone();
        match body {
            Ok(body) => outcome.rendered.push(Rendered {
                namespace: intent.namespace.clone(),
                body,
            }),
            Err(reason) => outcome.failed.push(RenderFailure {
                namespace: intent.namespace.clone(),
                name: intent.name.clone(),
                spec_ref: intent.spec_ref.clone(),
                reason,
                service_accounts: intent.service_accounts.clone(),
            }),
        }
    }
    outcome
}

fn credential_field<E: std::fmt::Display>(
    catalog: &Catalog,
    values: &Values<E>,
    credential: &str,
    field: &str,
) -> Result<SecretValue, String> {
    if let Some(error) = values.failed.get(credential) {
        return Err(format!("credential `{credential}` is unavailable: {error}"));
    }
    let (Some(spec), Some(value)) = (catalog.credential(credential), values.ok.get(credential)) else {
        return Err(format!("credential `{credential}` was not fetched"));
    };
    let secret = spec
        .spec
        .field(value, field)
        .map_err(|e| format!("credential `{credential}`: {e}"))?;
    if secret.is_empty() {
        return Err(format!(
            "credential `{credential}`: field `{field}` is empty; an empty secret is never written"
        ));
    }
    Ok(secret)
}

/// The username and password one registry entry renders with (also what the credential
/// provider answers, so a Secret and the provider never disagree).
pub fn login_of<E: std::fmt::Display>(
    catalog: &Catalog,
    values: &Values<E>,
    entry: &crate::spec::resolve::RegistryIntent,
) -> Result<(SecretValue, SecretValue), String> {
    Ok((
        credential_field(catalog, values, &entry.credential, "username")?,
        credential_field(catalog, values, &entry.credential, "password")?,
    ))
}

fn render_body<E: std::fmt::Display>(
    intent: &IntentBody,
    catalog: &Catalog,
    values: &Values<E>,
    context: &RenderContext,
) -> Result<RenderedBody, String> {
    let mut data = BTreeMap::new();
    let mut registries = Vec::new();
    let secret_type = match &intent.payload {
        Payload::Pull(entries) => {
            let mut creds = Vec::new();
            for entry in entries {
                let (username, password) = login_of(catalog, values, entry)?;
                creds.push((entry, username, password));
            }
            let logins: Vec<dockerconfig::Login<'_>> = creds
                .iter()
                .map(|(entry, username, password)| dockerconfig::Login {
                    server: &entry.server,
                    username,
                    password,
                    email: entry.email.as_deref(),
                })
                .collect();
            data.insert(DOCKER_CONFIG_JSON_KEY.to_string(), dockerconfig::render(&logins));
            registries = entries.iter().map(|e| e.server.clone()).collect();
            DOCKER_CONFIG_JSON_TYPE.to_string()
        }
        Payload::Opaque {
            secret_type,
            data: sources,
        } => {
            for (key, source) in sources {
                let value = match source {
                    DataIntent::Credential { credential, field } => {
                        credential_field(catalog, values, credential, field)?
                    }
                    DataIntent::Literal(text) => SecretValue::new(text.clone()),
                };
                data.insert(key.clone(), value);
            }
            secret_type.clone()
        }
    };
    let mut provenance = BTreeMap::new();
    let mut labels = BTreeMap::new();
    for (key, layered) in &intent.labels {
        labels.insert(key.clone(), layered.value.clone());
        provenance.insert(format!("labels/{key}"), layered.from.clone());
    }
    let mut annotations = BTreeMap::new();
    for (key, layered) in &intent.annotations {
        annotations.insert(key.clone(), layered.value.clone());
        provenance.insert(format!("annotations/{key}"), layered.from.clone());
    }
    let versions: Vec<String> = intent
        .credentials()
        .iter()
        .filter_map(|c| {
            values
                .ok
                .get(*c)
                .map(|v| format!("{c}@{}", shown_version(&context.key, c, &v.version)))
        })
        .collect();
    let builtin_labels = [
        (LABEL_MANAGED_BY, MANAGED_BY_VALUE.to_string()),
        (LABEL_INSTANCE, context.instance.clone()),
    ];
    let builtin_annotations = [
        (ANNOTATION_SPEC, intent.spec_ref.clone()),
        (ANNOTATION_REVISION, context.revision.clone()),
        (
            ANNOTATION_CONTENT_HASH,
            content_hash(&context.key, &secret_type, &data),
        ),
        (ANNOTATION_CREDENTIALS, versions.join(",")),
        (ANNOTATION_SERVICE_ACCOUNTS, intent.service_accounts.join(",")),
    ];
    for (key, value) in builtin_labels {
        labels.insert(key.to_string(), value);
        provenance.insert(format!("labels/{key}"), Layer::Builtin);
    }
    for (key, value) in builtin_annotations {
        if !value.is_empty() {
            annotations.insert(key.to_string(), value);
            provenance.insert(format!("annotations/{key}"), Layer::Builtin);
        }
    }
    Ok(RenderedBody {
        name: intent.name.clone(),
        secret_type,
        data: data.into_iter().collect(),
        labels: labels.into_iter().collect(),
        annotations: annotations.into_iter().collect(),
        provenance: provenance.into_iter().collect(),
        spec_ref: intent.spec_ref.clone(),
        registries,
        service_accounts: intent.service_accounts.clone(),
        rollout_restart: intent.rollout_restart.clone(),
        verify: intent.verify,
        adopt: intent.adopt,
    })
}

/// A credential's version as metadata shows it: a source's own counter (`v3`, a KV version)
/// as it is; anything else may be a digest of the material, so a keyed digest of it.
fn shown_version(key: &digest::DigestKey, credential: &str, version: &str) -> String {
    let is_counter = version
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if is_counter {
        version.to_string()
    } else {
        key.digest([credential.as_bytes(), version.as_bytes()])[..16].to_string()
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
