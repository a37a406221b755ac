//! Table tests of resolution: which (namespace, name) pairs a catalog produces against a set
//! of namespaces, which layer each label comes from, and the diagnostics a user sees.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::spec::load::load_str;

const HEADER: &str = "apiVersion: pullsync.dev/v1alpha1\n";

/// One file of documents; each is given without `apiVersion`.
fn catalog(documents: &[&str]) -> Catalog {
    let text = documents
        .iter()
        .map(|d| format!("{HEADER}{d}"))
        .collect::<Vec<_>>()
        .join("---\n");
    let (catalog, diagnostics) = load_str(Path::new("specs.yaml"), &text);
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "the fixture must load: {diagnostics:?}"
    );
    catalog
}

fn cluster(namespaces: &[(&str, &[(&str, &str)])]) -> Namespaces {
    Namespaces {
        known: Some(
            namespaces
                .iter()
                .map(|(name, labels)| {
                    let labels: BTreeMap<String, String> = labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    (name.to_string(), Arc::new(labels))
                })
                .collect(),
        ),
    }
}

fn keys(desired: &Desired) -> Vec<String> {
    desired
        .secrets
        .keys()
        .map(|(ns, name)| format!("{ns}/{name}"))
        .collect()
}

const CREDENTIAL: &str = "kind: Credential\nmetadata: {name: ngc}\nspec: {file: {path: ngc.json}}\n";

#[test]
fn targets_table() {
    struct Case {
        what: &'static str,
        pull: &'static str,
        namespaces: Option<Namespaces>,
        produced: &'static [&'static str],
        says: &'static [&'static str],
    }
    let ml = || {
        cluster(&[
            ("ml-a", &[("gpu", "true")]),
            ("ml-b", &[("gpu", "true")]),
            ("web", &[]),
        ])
    };
    let cases = [
        Case {
            what: "an explicit list in local mode is taken as written",
            pull: "spec: {namespaces: [ml-a, nowhere], registries: [{server: nvcr.io, credential: ngc}]}",
            namespaces: None,
            produced: &["ml-a/p", "nowhere/p"],
            says: &[],
        },
        Case {
            what: "a selector in local mode matches nothing and says so",
            pull: "spec: {namespaceSelector: {matchLabels: {gpu: 'true'}}, registries: [{server: nvcr.io, credential: ngc}]}",
            namespaces: None,
            produced: &[],
            says: &["namespaceSelector needs a cluster"],
        },
        Case {
            what: "a selector against a cluster picks the labelled namespaces",
            pull: "spec: {namespaceSelector: {matchLabels: {gpu: 'true'}}, registries: [{server: nvcr.io, credential: ngc}]}",
            namespaces: Some(ml()),
            produced: &["ml-a/p", "ml-b/p"],
            says: &[],
        },
        Case {
            what: "matchExpressions NotIn keeps namespaces without the label",
            pull: "spec: {namespaceSelector: {matchExpressions: [{key: gpu, operator: NotIn, values: ['true']}]}, registries: [{server: nvcr.io, credential: ngc}]}",
            namespaces: Some(ml()),
            produced: &["web/p"],
            says: &[],
        },
        Case {
            what: "a listed namespace the cluster lacks is skipped with a warning",
            pull: "spec: {namespaces: [ml-a, gone], registries: [{server: nvcr.io, credential: ngc}]}",
            namespaces: Some(ml()),
            produced: &["ml-a/p"],
            says: &["namespace `gone` does not exist; skipped"],
        },
        Case {
            what: "a list and a selector together are one set, each namespace once",
            pull: "spec: {namespaces: [ml-a, web], namespaceSelector: {matchLabels: {gpu: 'true'}}, registries: [{server: nvcr.io, credential: ngc}]}",
            namespaces: Some(ml()),
            produced: &["ml-a/p", "ml-b/p", "web/p"],
            says: &[],
        },
    ];
    for case in cases {
        let pull = format!("kind: PullSecret\nmetadata: {{name: p}}\n{}\n", case.pull);
        let desired = resolve(
            &catalog(&[CREDENTIAL, &pull]),
            &case.namespaces.unwrap_or_default(),
        );
        assert_eq!(keys(&desired), case.produced, "{}", case.what);
        let said: Vec<String> = desired.diagnostics.iter().map(|d| d.message.clone()).collect();
        assert_eq!(said.len(), case.says.len(), "{}: {said:?}", case.what);
        for (message, expected) in said.iter().zip(case.says) {
            assert!(message.contains(expected), "{}: {message}", case.what);
        }
    }
}

#[test]
fn labels_layer_object_over_namespace_over_cluster() {
    let catalog = catalog(&[
        CREDENTIAL,
        "kind: Defaults\nmetadata: {name: cluster}\nspec: {labels: {owner: platform, tier: cluster}, rotation: {refreshInterval: 15m}}\n",
        "kind: Defaults\nmetadata: {name: ml, namespace: ml-a}\nspec: {labels: {tier: namespace, cost: ml}}\n",
        "kind: PullSecret\nmetadata: {name: p}\nspec: {namespaces: [ml-a, web], labels: {cost: object}, registries: [{server: nvcr.io, credential: ngc}]}\n",
    ]);
    let desired = resolve(&catalog, &Namespaces::default());
    let label = |ns: &str, key: &str| {
        let intent = &desired.secrets[&(ns.to_string(), "p".to_string())];
        let layered = &intent.labels[key];
        let layer = match &layered.from {
            Layer::Builtin => "builtin",
            Layer::Cluster { .. } => "cluster",
            Layer::Namespace { .. } => "namespace",
            Layer::Object { .. } => "object",
        };
        (layered.value.clone(), layer)
    };
    let table = [
        ("ml-a", "owner", "platform", "cluster"),
        ("ml-a", "tier", "namespace", "namespace"),
        ("ml-a", "cost", "object", "object"),
        ("web", "owner", "platform", "cluster"),
        ("web", "tier", "cluster", "cluster"),
        ("web", "cost", "object", "object"),
    ];
    for (ns, key, value, layer) in table {
        assert_eq!(label(ns, key), (value.to_string(), layer), "{ns} {key}");
    }
    let web = &desired.secrets[&("web".to_string(), "p".to_string())];
    assert_eq!(
        web.rotation["refreshInterval"].value, "15m",
        "rotation layers too"
    );
    // The line a value came from is the one that set it, for `render --explain`.
    match &web.labels["owner"].from {
        Layer::Cluster { at, defaults } => {
            assert_eq!(defaults, "cluster");
            assert_eq!(at.line, 9, "the cluster Defaults' labels line: {at:?}");
        }
        other => panic!("owner from {other:?}"),
    }
}

#[test]
fn argocd_annotation_is_builtin_unless_turned_off_and_tracking_keys_are_dropped() {
    let on = catalog(&[
        CREDENTIAL,
        "kind: PullSecret\nmetadata: {name: p}\nspec: {namespaces: [a], labels: {app.kubernetes.io/instance: argo-app}, registries: [{server: nvcr.io, credential: ngc}]}\n",
    ]);
    let desired = resolve(&on, &Namespaces::default());
    let intent = &desired.secrets[&("a".to_string(), "p".to_string())];
    assert_eq!(
        intent.annotations[ARGOCD_COMPARE_OPTIONS].value,
        ARGOCD_IGNORE_EXTRANEOUS
    );
    assert!(
        !intent.labels.contains_key("app.kubernetes.io/instance"),
        "Argo CD's tracking label would make Argo CD prune the generated Secret"
    );
    let off = catalog(&[
        CREDENTIAL,
        "kind: PullSecret\nmetadata: {name: p}\nspec: {namespaces: [a], argocdIgnoreExtraneous: false, registries: [{server: nvcr.io, credential: ngc}]}\n",
    ]);
    let desired = resolve(&off, &Namespaces::default());
    let intent = &desired.secrets[&("a".to_string(), "p".to_string())];
    assert!(!intent.annotations.contains_key(ARGOCD_COMPARE_OPTIONS));
}

#[test]
fn two_specs_for_one_name_collide_unless_tenancy_rejected_one() {
    let catalog = catalog(&[
        CREDENTIAL,
        "kind: PullSecret\nmetadata: {name: p}\nspec: {namespaces: [a], registries: [{server: nvcr.io, credential: ngc}]}\n",
        "kind: Secret\nmetadata: {name: p}\nspec: {namespaces: [a, b], data: {token: {credential: ngc, field: password}}}\n",
    ]);
    let desired = resolve(&catalog, &Namespaces::default());
    assert_eq!(keys(&desired), ["a/p", "b/p"]);
    assert_eq!(desired.diagnostics.len(), 1, "{:?}", desired.diagnostics);
    assert!(desired.diagnostics[0].is_error());
    assert!(
        desired.diagnostics[0]
            .message
            .contains("Secret `p` in namespace `a` is also produced by specs.yaml#PullSecret/p"),
        "{}",
        desired.diagnostics[0].message
    );
    // Tenancy rejected the first: the second takes the name and nothing is an error.
    let mut unsettled = resolve_unsettled(&catalog, &Namespaces::default());
    let first = unsettled.secrets[&("a".to_string(), "p".to_string())]
        .spec_ref
        .clone();
    settle_collisions(&mut unsettled, &[first.as_str()].into());
    assert!(unsettled.diagnostics.is_empty(), "{:?}", unsettled.diagnostics);
    let winner = &unsettled.secrets[&("a".to_string(), "p".to_string())];
    assert!(
        matches!(winner.payload, Payload::Opaque { .. }),
        "the Secret spec won"
    );
}

#[test]
fn namespaces_sharing_defaults_share_one_body() {
    let catalog = catalog(&[
        CREDENTIAL,
        "kind: PullSecret\nmetadata: {name: p}\nspec: {namespaceSelector: {matchLabels: {gpu: 'true'}}, registries: [{server: nvcr.io, credential: ngc}]}\n",
    ]);
    let many: Vec<(String, Vec<(&str, &str)>)> = (0..100)
        .map(|i| (format!("ns-{i}"), vec![("gpu", "true")]))
        .collect();
    let many: Vec<(&str, &[(&str, &str)])> = many.iter().map(|(n, l)| (n.as_str(), l.as_slice())).collect();
    let desired = resolve(&catalog, &cluster(&many));
    assert_eq!(desired.secrets.len(), 100);
    let first = &desired.secrets.values().next().unwrap().body;
    assert!(
        desired.secrets.values().all(|s| Arc::ptr_eq(&s.body, first)),
        "one body for 100 namespaces without Defaults of their own"
    );
}
