//! Layering precedence: object > namespace Defaults > cluster Defaults, key by key, with the
//! layer each value came from recorded.

mod support;

use pullsync::spec::resolve::{self, Layer, Namespaces};
use support::{HEADER, write};

fn defaults(name: &str, namespace: Option<&str>, body: &str) -> String {
    let ns = namespace.map(|n| format!(", namespace: {n}")).unwrap_or_default();
    format!("{HEADER}kind: Defaults\nmetadata: {{name: {name}{ns}}}\nspec:\n{body}---\n")
}

const CREDENTIAL: &str = "apiVersion: pullsync.dev/v1alpha1\nkind: Credential\nmetadata: {name: c}\nspec:\n  file: {path: /run/secrets/c}\n---\n";

fn pull_secret(body: &str) -> String {
    format!(
        "{HEADER}kind: PullSecret\nmetadata: {{name: p}}\nspec:\n  namespaces: [ml-team, other]\n  registries: [{{server: nvcr.io, credential: c}}]\n{body}"
    )
}

struct Case {
    name: &'static str,
    cluster: &'static str,
    namespace: &'static str,
    object: &'static str,
    /// (namespace, "labels"|"annotations"|"rotation", key, expected value or None, expected layer)
    expect: &'static [(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
    )],
}

fn layer_name(layer: &Layer) -> &'static str {
    match layer {
        Layer::Builtin => "builtin",
        Layer::Cluster { .. } => "cluster",
        Layer::Namespace { .. } => "namespace",
        Layer::Object { .. } => "object",
    }
}

#[test]
fn precedence_table() {
    let cases = [
        Case {
            name: "cluster only",
            cluster: "  labels: {team: platform}\n",
            namespace: "",
            object: "",
            expect: &[
                ("ml-team", "labels", "team", Some("platform"), "cluster"),
                ("other", "labels", "team", Some("platform"), "cluster"),
            ],
        },
        Case {
            name: "namespace beats cluster, only in its namespace",
            cluster: "  labels: {team: platform}\n",
            namespace: "  labels: {team: ml}\n",
            object: "",
            expect: &[
                ("ml-team", "labels", "team", Some("ml"), "namespace"),
                ("other", "labels", "team", Some("platform"), "cluster"),
            ],
        },
        Case {
            name: "object beats namespace and cluster",
            cluster: "  labels: {team: platform}\n",
            namespace: "  labels: {team: ml}\n",
            object: "  labels: {team: svc}\n",
            expect: &[
                ("ml-team", "labels", "team", Some("svc"), "object"),
                ("other", "labels", "team", Some("svc"), "object"),
            ],
        },
        Case {
            name: "maps merge key by key",
            cluster: "  annotations: {a: cluster, b: cluster, c: cluster}\n",
            namespace: "  annotations: {b: namespace}\n",
            object: "  annotations: {c: object}\n",
            expect: &[
                ("ml-team", "annotations", "a", Some("cluster"), "cluster"),
                ("ml-team", "annotations", "b", Some("namespace"), "namespace"),
                ("ml-team", "annotations", "c", Some("object"), "object"),
                ("other", "annotations", "b", Some("cluster"), "cluster"),
            ],
        },
        Case {
            name: "rotation fields layer separately",
            cluster: "  rotation: {refreshInterval: 1h, renewBefore: 30m}\n",
            namespace: "  rotation: {renewBefore: 10m}\n",
            object: "  rotation: {schedule: \"0 3 * * *\"}\n",
            expect: &[
                ("ml-team", "rotation", "refreshInterval", Some("1h"), "cluster"),
                ("ml-team", "rotation", "renewBefore", Some("10m"), "namespace"),
                ("ml-team", "rotation", "schedule", Some("0 3 * * *"), "object"),
                ("other", "rotation", "renewBefore", Some("30m"), "cluster"),
            ],
        },
        Case {
            name: "Argo CD annotation on by default",
            cluster: "",
            namespace: "",
            object: "",
            expect: &[(
                "ml-team",
                "annotations",
                "argocd.argoproj.io/compare-options",
                Some("IgnoreExtraneous"),
                "builtin",
            )],
        },
        Case {
            name: "Argo CD annotation off in a namespace, back on by the object",
            cluster: "  argocdIgnoreExtraneous: true\n",
            namespace: "  argocdIgnoreExtraneous: false\n",
            object: "",
            expect: &[
                (
                    "ml-team",
                    "annotations",
                    "argocd.argoproj.io/compare-options",
                    None,
                    "-",
                ),
                (
                    "other",
                    "annotations",
                    "argocd.argoproj.io/compare-options",
                    Some("IgnoreExtraneous"),
                    "cluster",
                ),
            ],
        },
        Case {
            name: "Argo CD annotation value overridden in Defaults",
            cluster: "  annotations: {argocd.argoproj.io/compare-options: \"IgnoreExtraneous,ServerSideDiff=true\"}\n",
            namespace: "",
            object: "",
            expect: &[(
                "ml-team",
                "annotations",
                "argocd.argoproj.io/compare-options",
                Some("IgnoreExtraneous,ServerSideDiff=true"),
                "cluster",
            )],
        },
        Case {
            name: "Argo CD tracking label never copied",
            cluster: "  labels: {app.kubernetes.io/instance: platform-app}\n",
            namespace: "",
            object: "  annotations: {argocd.argoproj.io/tracking-id: \"x:/Secret:y/z\"}\n",
            expect: &[
                ("ml-team", "labels", "app.kubernetes.io/instance", None, "-"),
                (
                    "ml-team",
                    "annotations",
                    "argocd.argoproj.io/tracking-id",
                    None,
                    "-",
                ),
            ],
        },
    ];
    for case in cases {
        let work = tempfile::tempdir().unwrap();
        let mut text = CREDENTIAL.to_string();
        if !case.cluster.is_empty() {
            text.push_str(&defaults("cluster", None, case.cluster));
        }
        if !case.namespace.is_empty() {
            text.push_str(&defaults("ml-team", Some("ml-team"), case.namespace));
        }
        text.push_str(&pull_secret(case.object));
        write(work.path(), "specs.yaml", &text);
        let checked =
            pullsync::spec::check(work.path()).unwrap_or_else(|e| panic!("case {}: {e:?}", case.name));
        let desired = resolve::resolve(&checked.catalog, &Namespaces::default());
        for (ns, map, key, value, layer) in case.expect {
            let intent = &desired.secrets[&(ns.to_string(), "p".to_string())];
            let map = match *map {
                "labels" => &intent.labels,
                "annotations" => &intent.annotations,
                _ => &intent.rotation,
            };
            let got = map.get(*key);
            assert_eq!(
                got.map(|l| l.value.as_str()),
                *value,
                "case {}: {ns} {key}",
                case.name
            );
            if let Some(got) = got {
                assert_eq!(layer_name(&got.from), *layer, "case {}: {ns} {key}", case.name);
            }
        }
    }
}

#[test]
fn provenance_points_at_the_line_that_set_the_value() {
    let work = tempfile::tempdir().unwrap();
    let text = format!(
        "{CREDENTIAL}{}{}",
        defaults("cluster", None, "  labels:\n    team: platform\n"),
        pull_secret("")
    );
    write(work.path(), "specs.yaml", &text);
    let checked = pullsync::spec::check(work.path()).unwrap();
    let desired = resolve::resolve(&checked.catalog, &Namespaces::default());
    let intent = &desired.secrets[&("ml-team".to_string(), "p".to_string())];
    let Layer::Cluster { defaults, at } = &intent.labels["team"].from else {
        panic!("not from the cluster layer")
    };
    assert_eq!(defaults, "cluster");
    assert_eq!(
        (at.file.to_str().unwrap(), at.line, at.column),
        ("specs.yaml", 12, 5)
    );
}
