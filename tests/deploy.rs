//! The kustomize install (`deploy/base`, `overlays/namespaced`, `overlays/with-git-sync`,
//! `overlays/credential-provider`),
//! rendered by `kubectl kustomize`: every object round-trips through `k8s-openapi`; the base is
//! the Helm chart's defaults (same RBAC, same pod hardening, same arguments); the overlays do
//! what they say; the Argo CD manifests parse.

mod support;

use std::process::Command;

use serde_json::Value;
use support::manifests::{check_types, documents, find, manifest_roles, rules};

fn kustomize(dir: &str) -> Vec<Value> {
    support::require("kubectl");
    let out = Command::new("kubectl").args(["kustomize", dir]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    documents(&String::from_utf8(out.stdout).unwrap())
        .into_iter()
        .filter(|o| o["kind"] != "Namespace")
        .collect()
}

fn container(objects: &[Value]) -> Value {
    find(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0].clone()
}

fn args(objects: &[Value]) -> Vec<String> {
    let mut args: Vec<String> = container(objects)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    args.sort();
    args
}

#[test]
fn the_base_is_the_charts_defaults() {
    support::require("helm");
    let base = kustomize("deploy/base");
    check_types(&base);
    let out = Command::new("helm")
        .args([
            "template",
            "pullsync",
            "deploy/helm/pullsync",
            "--namespace",
            "pullsync-system",
            "--set",
            "git.url=https://git.example.com/platform/pull-secrets.git",
            "--set",
            "ageIdentity.secretName=pullsync-age-identity",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let chart = documents(&String::from_utf8(out.stdout).unwrap());
    let kinds = |objects: &[Value]| {
        let mut k: Vec<String> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    assert_eq!(kinds(&base), kinds(&chart));
    assert_eq!(args(&base), args(&chart));
    for key in ["securityContext", "readinessProbe", "livenessProbe", "resources"] {
        assert_eq!(container(&base)[key], container(&chart)[key], "{key}");
    }
    let roles = |objects: &[Value]| -> Vec<_> {
        find(objects, "ClusterRole")
            .into_iter()
            .chain(find(objects, "Role"))
            .map(rules)
            .collect()
    };
    assert_eq!(roles(&base), roles(&chart));
}

#[test]
fn the_overlays_do_what_they_say() {
    let namespaced = kustomize("deploy/overlays/namespaced");
    check_types(&namespaced);
    assert!(
        find(&namespaced, "ClusterRoleBinding").is_empty(),
        "no cluster-wide grant"
    );
    let roles: Vec<_> = find(&namespaced, "ClusterRole")
        .into_iter()
        .chain(find(&namespaced, "Role"))
        .map(rules)
        .collect();
    let rbac: Vec<_> = manifest_roles("deploy/overlays/namespaced/rbac.yaml")
        .iter()
        .map(rules)
        .collect();
    assert_eq!(roles, rbac);
    assert!(args(&namespaced).contains(&"--namespaces=team-a,team-b".to_string()));

    let git_sync = kustomize("deploy/overlays/with-git-sync");
    check_types(&git_sync);
    let pod = &find(&git_sync, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][1]["name"], "git-sync");
    assert!(args(&git_sync).contains(&"--repo=/git/specs/current".to_string()));
    assert!(!args(&git_sync).iter().any(|a| a.starts_with("--git-url")));

    let provider = kustomize("deploy/overlays/credential-provider");
    check_types(&provider);
    assert!(args(&provider).contains(&"--provider-listen=0.0.0.0:8444".to_string()));
    let roles: Vec<_> = find(&provider, "ClusterRole")
        .into_iter()
        .filter(|r| r["metadata"]["name"] == "pullsync-provider")
        .map(rules)
        .collect();
    let rbac: Vec<_> = manifest_roles("deploy/overlays/credential-provider/rbac.yaml")
        .iter()
        .map(rules)
        .collect();
    assert_eq!(roles, rbac);
    let node = &find(&provider, "DaemonSet")[0]["spec"]["template"]["spec"];
    assert_eq!(node["automountServiceAccountToken"], false);
    assert_eq!(node["containers"][0]["args"][0], "install-credential-provider");
}

#[test]
fn the_argo_cd_manifests_parse() {
    use k8s_openapi::api::batch::v1::Job;
    let text = std::fs::read_to_string("examples/argocd/presync-wait.yaml").unwrap();
    let jobs: Vec<Value> = documents(&text)
        .into_iter()
        .filter(|o| o["kind"] == "Job")
        .collect();
    assert!(!jobs.is_empty());
    for job in &jobs {
        support::manifests::round_trips::<Job>(job);
        assert!(job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync");
    }
    let app = std::fs::read_to_string("examples/argocd/application.yaml").unwrap();
    let app = &documents(&app)[0];
    assert_eq!(app["kind"], "Application");
    assert_eq!(app["spec"]["source"]["path"], "deploy/helm/pullsync");
    assert!(app["spec"]["source"]["helm"]["valuesObject"]["git"]["url"].is_string());
}
