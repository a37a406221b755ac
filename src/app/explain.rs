//! `pullsync explain IMAGE`: load pull secrets from files or from the specs, then ask the
//! keyring (effect: reads files and, with `--repo`, credential sources).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::{Value, json};

use super::{Resolved, check_and_resolve, print_diagnostics};
use crate::cli::Output;
use crate::credentials::{self, age_file};
use crate::engine::context::Context;
use crate::engine::error::Stop;
use crate::image::explain::{Explanation, Via, explain_with_provider};
use crate::image::keyring::{Entry, Keyring};
use crate::spec::resolve::Payload;

/// Where the candidate pull secrets come from.
pub enum Candidates {
    Files(Vec<PathBuf>),
    Repo {
        dir: PathBuf,
        namespace: String,
        age_identity: Option<PathBuf>,
    },
}

pub async fn run(image: &str, candidates: &Candidates, output: Output) -> anyhow::Result<ExitCode> {
    let mut keyring = Keyring::default();
    // What pullsync's credential provider would answer a pod there (`delivery: provider|both`).
    let mut provided = Keyring::default();
    let mut warnings = Vec::new();
    match candidates {
        Candidates::Files(files) => {
            for file in files {
                match load_file(file) {
                    Ok((entries, file_warnings)) => {
                        warnings.extend(file_warnings);
                        keyring.add(entries);
                    }
                    Err(why) => {
                        // A mistyped path must fail a CI gate, not pass with a warning.
                        let message =
                            format!("{}: {why}; the kubelet would not use this secret", file.display());
                        match output {
                            Output::Json => println!("{}", json!({"image": image, "error": message})),
                            Output::Text => eprintln!("error: {message}"),
                        }
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
        }
        Candidates::Repo {
            dir,
            namespace,
            age_identity,
        } => {
            let Resolved { checked, desired, .. } = match check_and_resolve(
                dir,
                &crate::spec::resolve::Namespaces::default(),
                &crate::spec::tenancy::TenancySettings::default(),
                &crate::spec::fleet::ClusterIdentity::default(),
            ) {
                Ok(resolved) => resolved,
                Err(Stop::Failed(error)) => return Err(error.into()),
                Err(Stop::Invalid(diagnostics)) => {
                    print_diagnostics(&diagnostics);
                    return Ok(ExitCode::FAILURE);
                }
            };
            let catalog = &checked.catalog;
            let context = Context {
                age_identities: age_identity
                    .as_deref()
                    .map(age_file::Identities::load)
                    .transpose()?
                    .map(std::sync::Arc::new),
                files: crate::credentials::file_policy::FilePolicy::new(&[], false, age_identity.clone()),
                ..Context::default()
            };
            // A pod lists its pull secrets itself; the specs have no order, so name order is used.
            let intents: Vec<_> = desired
                .secrets
                .values()
                .filter(|s| &s.namespace == namespace)
                .collect();
            // Only age files are read here (with --age-identity): explaining an image must not
            // call Vault or a cloud, and usernames known from the spec need no fetch at all.
            let needed: BTreeSet<&str> = intents
                .iter()
                .flat_map(|s| s.credentials())
                .filter(|c| {
                    catalog
                        .credential(c)
                        .is_some_and(|o| o.spec.age_file.is_some() && known_username(&o.spec).is_none())
                })
                .collect();
            let values = credentials::fetch_all(catalog, &needed, &context.sources()).await;
            for intent in &intents {
                let Payload::Pull(registries) = &intent.payload else {
                    continue;
                };
                let entries = registries.iter().map(|r| {
                    let username = catalog
                        .credential(&r.credential)
                        .and_then(|spec| {
                            let fetched = values.ok.get(&r.credential);
                            let literal = known_username(&spec.spec);
                            literal.or_else(|| fetched.and_then(|v| spec.spec.field(v, "username").ok()).map(|s| s.expose().to_string()))
                        })
                        .unwrap_or_default();
                    if username.is_empty() {
                        let how = match catalog.credential(&r.credential) {
                            Some(c) if c.spec.age_file.is_some() => "pass --age-identity",
                            _ => "explain reads only ageFile sources",
                        };
                        warnings.push(format!(
                            "{namespace}/{}: the username of credential `{}` is unknown without fetching it ({how})",
                            intent.name, r.credential
                        ));
                    }
                    Entry {
                        source: format!("{namespace}/{}", intent.name),
                        server: r.server.clone(),
                        username,
                        credential: Some(r.credential.clone()),
                    }
                });
                let entries: Vec<Entry> = entries.collect();
                if intent.delivery.provided() {
                    let accounts = if intent.service_accounts.is_empty() {
                        String::new()
                    } else {
                        format!(", ServiceAccounts {} only", intent.service_accounts.join(", "))
                    };
                    provided.add(entries.iter().cloned().map(|mut e| {
                        e.source = format!("PullSecret {}{accounts}", intent.name);
                        e
                    }));
                }
                if intent.delivery.writes_secret() {
                    keyring.add(entries);
                }
            }
            if intents.is_empty() {
                warnings.push(format!("the specs put no secrets into namespace `{namespace}`"));
            }
        }
    }
    let explanation = match explain_with_provider(image, &keyring, &provided, warnings) {
        Ok(explanation) => explanation,
        Err(error) => {
            match output {
                Output::Json => println!("{}", json!({"image": image, "error": error.to_string()})),
                Output::Text => eprintln!(
                    "error: `{}` is not a valid image reference: {error}",
                    crate::image::reference::clip(image)
                ),
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&explanation)?),
        Output::Text => print!("{}", text(&explanation)),
    }
    Ok(ExitCode::SUCCESS)
}

fn text(e: &Explanation) -> String {
    let r = &e.reference;
    let mut out = format!("image:     {}\n", e.image);
    out.push_str(&format!("reference: domain {}, path {}", r.domain, r.path));
    if let Some(tag) = &r.tag {
        out.push_str(&format!(", tag {tag}"));
    }
    if let Some(digest) = &r.digest {
        out.push_str(&format!(", digest {digest}"));
    }
    out.push_str(&format!("\nlookup:    {}\n", e.lookup));
    if e.matches.is_empty() {
        out.push_str("matches:   none\n");
    } else {
        out.push_str("matches, in the order the kubelet tries them:\n");
        for (i, m) in e.matches.iter().enumerate() {
            let credential = m
                .credential
                .as_deref()
                .map(|c| format!(", credential {c}"))
                .unwrap_or_default();
            let from = match m.via {
                Via::PullSecret => format!("from {}", m.source),
                Via::CredentialProvider => format!("from the kubelet's credential provider ({})", m.source),
            };
            out.push_str(&format!(
                "  {}. {} {from} (username {}{credential})\n",
                i + 1,
                m.server,
                m.username
            ));
        }
    }
    if !e.near_misses.is_empty() {
        out.push_str("near misses:\n");
        for n in &e.near_misses {
            out.push_str(&format!("  - {} from {}: {}\n", n.server, n.source, n.reason));
        }
    }
    for w in &e.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// A docker config or Secret manifest larger than this is not one a kubelet is given.
const MAX_CONFIG_FILE: u64 = 4 * 1024 * 1024;
/// More registries than any real pull secret holds; the kubelet would try them all per pull.
const MAX_ENTRIES: usize = 10_000;

/// Read a docker config document or a Secret manifest (YAML or JSON) into keyring entries.
fn load_file(path: &Path) -> Result<(Vec<Entry>, Vec<String>), String> {
    let text = crate::bounded::read_text(path, MAX_CONFIG_FILE).map_err(|e| format!("cannot read: {e}"))?;
    parse_config(&text, &path.display().to_string())
}

/// A docker config document or a Secret manifest (YAML or JSON) as keyring entries, as the
/// kubelet reads it; `source` names it in messages.
pub fn parse_config(text: &str, source: &str) -> Result<(Vec<Entry>, Vec<String>), String> {
    let source = source.to_string();
    let doc: Value = serde_json::from_str(text)
        .or_else(|_| serde_saphyr::from_str(text))
        .map_err(|_| "neither JSON nor YAML".to_string())?;
    let mut warnings = Vec::new();
    let config = if doc.get("kind").and_then(Value::as_str) == Some("Secret") {
        secret_config(&doc)?
    } else {
        doc
    };
    let auths = match config.get("auths").and_then(Value::as_object) {
        Some(auths) => auths.clone(),
        None => {
            let looks_unwrapped = config
                .as_object()
                .is_some_and(|o| !o.is_empty() && o.keys().all(|k| k.contains(['.', ':'])));
            if looks_unwrapped {
                warnings.push(format!(
                    "{source}: no `auths` wrapper: the kubelet reads `.dockerconfigjson` as {{\"auths\": {{...}}}} and finds no credentials here; wrap the registries in \"auths\""
                ));
                return Ok((Vec::new(), warnings));
            }
            return Err("no `auths` map: this is not a docker config".into());
        }
    };
    if auths.len() > MAX_ENTRIES {
        return Err(format!(
            "has {} registry entries (at most {MAX_ENTRIES} are read)",
            auths.len()
        ));
    }
    let mut entries = Vec::new();
    for (server, entry) in &auths {
        let username = username_of(entry).map_err(|why| format!("registry `{server}`: {why}"))?;
        entries.push(Entry {
            source: source.clone(),
            server: server.clone(),
            username,
            credential: None,
        });
    }
    Ok((entries, warnings))
}

/// The docker config inside a Secret manifest of type dockerconfigjson (or legacy dockercfg).
fn secret_config(doc: &Value) -> Result<Value, String> {
    let kind = doc.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    let (key, legacy) = match kind {
        "kubernetes.io/dockerconfigjson" => (".dockerconfigjson", false),
        "kubernetes.io/dockercfg" => (".dockercfg", true),
        other => {
            return Err(format!(
                "a Secret of type `{other}` is not a pull secret (the kubelet needs kubernetes.io/dockerconfigjson)"
            ));
        }
    };
    let raw = if let Some(encoded) = doc.pointer(&format!("/data/{key}")).and_then(Value::as_str) {
        STANDARD
            .decode(encoded.trim())
            .map_err(|_| format!("data.{key} is not base64"))?
    } else if let Some(plain) = doc.pointer(&format!("/stringData/{key}")).and_then(Value::as_str) {
        plain.as_bytes().to_vec()
    } else {
        return Err(format!("the Secret has no `{key}`"));
    };
    let config: Value = serde_json::from_slice(&raw).map_err(|_| format!("{key} is not JSON"))?;
    Ok(if legacy { json!({"auths": config}) } else { config })
}

/// `DockerConfigEntry.UnmarshalJSON`: `auth`, when present, wins over `username`/`password`;
/// padded or unpadded base64; it must hold `user:password`. Never returns the password.
fn username_of(entry: &Value) -> Result<String, String> {
    let auth = entry.get("auth").and_then(Value::as_str).unwrap_or_default();
    if auth.is_empty() {
        return Ok(entry
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string());
    }
    let decoded = if auth.trim().ends_with('=') {
        STANDARD.decode(auth)
    } else {
        STANDARD_NO_PAD.decode(auth)
    }
    .map_err(|_| "`auth` is not base64; the kubelet rejects the whole secret".to_string())?;
    let text = String::from_utf8_lossy(&decoded);
    match text.split_once(':') {
        Some((user, _)) => Ok(user.to_string()),
        None => {
            Err("`auth` does not decode to username:password; the kubelet rejects the whole secret".into())
        }
    }
}

/// A username the spec alone decides: a literal, a preset, or a token exchange's convention.
fn known_username(spec: &crate::spec::model::CredentialSpec) -> Option<String> {
    use crate::credentials::oauth::{ACR_USERNAME, GCP_USERNAME};
    spec.username
        .clone()
        .or(spec.username_preset.map(|p| p.username().to_string()))
        .or(spec.ecr.as_ref().map(|_| "AWS".to_string()))
        .or(spec.gcp_access_token.as_ref().map(|_| GCP_USERNAME.to_string()))
        .or(spec.acr_token.as_ref().map(|_| ACR_USERNAME.to_string()))
}
