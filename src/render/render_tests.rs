//! Table tests of rendering: intents and credential values in, Secrets (or failures that keep
//! what exists) out. Values here are canaries: a failure's reason must never carry one.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::spec::resolve::{Namespaces, resolve};
use crate::value::credential::CredentialValue;

const CANARY: &str = "canary-render-5f1e";

fn catalog(extra: &str) -> Catalog {
    let text = format!(
        "apiVersion: pullsync.dev/v1alpha1\nkind: Credential\nmetadata: {{name: ngc}}\nspec: {{file: {{path: /run/ngc.json}}, usernamePreset: ngc, fields: {{password: api_key}}}}\n---\n{extra}"
    );
    let (catalog, diagnostics) = crate::spec::load::load_str(Path::new("specs.yaml"), &text);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    catalog
}

fn values(fields: &[(&str, &str)], version: &str) -> Values<String> {
    let mut values = Values::default();
    values.ok.insert(
        "ngc".into(),
        CredentialValue {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), SecretValue::new(*v)))
                .collect(),
            version: version.into(),
            expires_at: None,
            origin: "file /run/ngc.json".into(),
        },
    );
    values
}

fn context() -> RenderContext {
    RenderContext {
        revision: "abc123".into(),
        instance: "default".into(),
        key: digest::DigestKey::from_bytes(&[7; 32]).unwrap(),
    }
}

const PULL: &str = "apiVersion: pullsync.dev/v1alpha1\nkind: PullSecret\nmetadata: {name: ngc-pull}\nspec: {namespaces: [a, b], registries: [{server: nvcr.io, credential: ngc}]}\n";
const OPAQUE: &str = "apiVersion: pullsync.dev/v1alpha1\nkind: Secret\nmetadata: {name: ngc-key}\nspec: {namespaces: [a], data: {NGC_API_KEY: {credential: ngc, field: password}, MODE: {value: batch}}}\n";

fn run(extra: &str, values: &Values<String>) -> RenderOutcome {
    let catalog = catalog(extra);
    let desired = resolve(&catalog, &Namespaces::default());
    render(&desired, &catalog, values, &context())
}

#[test]
fn outcomes_table() {
    struct Case {
        what: &'static str,
        spec: &'static str,
        values: Values<String>,
        rendered: usize,
        failed: &'static [&'static str],
    }
    let failed = || {
        let mut v: Values<String> = Values::default();
        v.failed.insert("ngc".into(), "vault answered 503".into());
        v
    };
    let cases = [
        Case {
            what: "a pull secret per listed namespace",
            spec: PULL,
            values: values(&[("api_key", CANARY)], "v3"),
            rendered: 2,
            failed: &[],
        },
        Case {
            what: "a failed credential fails every Secret that needs it, with the source's words",
            spec: PULL,
            values: failed(),
            rendered: 0,
            failed: &["credential `ngc` is unavailable: vault answered 503"; 2],
        },
        Case {
            what: "an empty field is never written",
            spec: OPAQUE,
            values: values(&[("api_key", "")], "v3"),
            rendered: 0,
            failed: &["credential `ngc`: field `password` is empty; an empty secret is never written"],
        },
        Case {
            what: "a credential not fetched at all",
            spec: OPAQUE,
            values: Values::default(),
            rendered: 0,
            failed: &["credential `ngc` was not fetched"],
        },
    ];
    for case in cases {
        let outcome = run(case.spec, &case.values);
        assert_eq!(outcome.rendered.len(), case.rendered, "{}", case.what);
        let reasons: Vec<&str> = outcome.failed.iter().map(|f| f.reason.as_str()).collect();
        assert_eq!(reasons, case.failed, "{}", case.what);
        assert!(reasons.iter().all(|r| !r.contains(CANARY)), "{}", case.what);
    }
}

#[test]
fn a_pull_secret_has_the_auths_wrapper_the_preset_username_and_pullsync_metadata() {
    let outcome = run(PULL, &values(&[("api_key", CANARY)], "v3"));
    let secret = &outcome.rendered[0];
    assert_eq!(secret.secret_type, DOCKER_CONFIG_JSON_TYPE);
    let config: serde_json::Value =
        serde_json::from_str(secret.data[DOCKER_CONFIG_JSON_KEY].expose()).unwrap();
    let entry = &config["auths"]["nvcr.io"];
    assert_eq!(entry["username"], "$oauthtoken", "usernamePreset: ngc");
    assert_eq!(entry["password"], CANARY);
    assert_eq!(secret.labels[LABEL_MANAGED_BY], MANAGED_BY_VALUE);
    assert_eq!(secret.annotations[ANNOTATION_REVISION], "abc123");
    assert_eq!(
        secret.annotations[ANNOTATION_CREDENTIALS], "ngc@v3",
        "a counter is shown as it is"
    );
    assert_eq!(
        secret.provenance[&format!("labels/{LABEL_MANAGED_BY}")],
        Layer::Builtin
    );
    let metadata = format!("{:?}{:?}", secret.labels, secret.annotations);
    assert!(!metadata.contains(CANARY), "metadata never carries the value");
}

#[test]
fn namespaces_sharing_an_intent_body_share_one_rendered_body() {
    let outcome = run(PULL, &values(&[("api_key", CANARY)], "v3"));
    let (a, b) = (&outcome.rendered[0], &outcome.rendered[1]);
    assert_eq!((a.namespace.as_str(), b.namespace.as_str()), ("a", "b"));
    assert!(std::sync::Arc::ptr_eq(&a.body, &b.body), "rendered once for both");
}

#[test]
fn the_content_hash_follows_the_data_and_only_the_data() {
    let hash = |password: &str, version: &str| {
        let outcome = run(OPAQUE, &values(&[("api_key", password)], version));
        outcome.rendered[0].annotations[ANNOTATION_CONTENT_HASH].clone()
    };
    assert_eq!(
        hash("one", "v1"),
        hash("one", "v2"),
        "a new version with the same data"
    );
    assert_ne!(hash("one", "v1"), hash("two", "v1"), "new data, new hash");
    assert!(!hash(CANARY, "v1").contains(CANARY));
}

#[test]
fn a_version_that_may_be_a_digest_of_the_material_is_shown_keyed() {
    let material_digest = "sha256-0123456789abcdef";
    let outcome = run(OPAQUE, &values(&[("api_key", "x")], material_digest));
    let shown = &outcome.rendered[0].annotations[ANNOTATION_CREDENTIALS];
    assert!(shown.starts_with("ngc@"), "{shown}");
    assert!(!shown.contains(material_digest), "{shown}");
    let data: BTreeMap<&str, &str> = outcome.rendered[0]
        .data
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    assert_eq!(data, BTreeMap::from([("MODE", "batch"), ("NGC_API_KEY", "x")]));
}
