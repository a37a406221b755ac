//! The Helm chart (`deploy/helm/pullsync`): `helm lint` and `helm template` with default and
//! non-default values; every rendered object round-trips through its `k8s-openapi` type with
//! nothing lost (a misspelt or misplaced field would be); the pod is hardened; the RBAC is
//! exactly `deploy/`'s; and the rendered `args` are accepted by the binary itself.

mod support;

use std::process::Command;

use serde_json::Value;
use support::manifests::{check_types, find, manifest_roles, rules};

const CHART: &str = "deploy/helm/pullsync";

fn helm(args: &[&str]) -> (bool, String) {
    let out = Command::new("helm").args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn template(values: &[&str]) -> Vec<Value> {
    let mut args = vec!["template", "pullsync", CHART, "--namespace", "pullsync-system"];
    args.extend(values);
    let (ok, text) = helm(&args);
    assert!(ok, "{text}");
    text.split("\n---")
        .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

#[test]
fn default_values_render_a_hardened_least_privilege_install() {
    support::require("helm");
    let (ok, text) = helm(&[
        "lint",
        CHART,
        "--set",
        "git.url=https://git.example.com/specs.git",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = helm(&["template", "x", CHART]);
    assert!(!ok && text.contains("git.url is required"), "{text}");

    let objects = template(&["--set", "git.url=https://git.example.com/specs.git"]);
    check_types(&objects);
    let deployment = find(&objects, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(find(&objects, "PodDisruptionBudget").len(), 1);

    // The chart's RBAC is deploy/base/rbac.yaml's, rule for rule.
    let chart: Vec<_> = find(&objects, "ClusterRole")
        .into_iter()
        .chain(find(&objects, "Role"))
        .map(rules)
        .collect();
    let deploy: Vec<_> = manifest_roles("deploy/base/rbac.yaml")
        .iter()
        .map(rules)
        .collect();
    assert_eq!(chart, deploy);

    // The binary accepts the rendered arguments (it gets as far as the cluster connection).
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(support::bin())
        .args(&args)
        .args(["--kubeconfig", "/nonexistent/kubeconfig", "--git-cache"])
        .arg(work.path().join("cache"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(2),
        "clap refused the chart's args: {stderr}"
    );
    assert!(
        !stderr.contains("unexpected argument") && !stderr.contains("invalid value"),
        "{stderr}"
    );
}

#[test]
fn every_option_renders_valid_objects() {
    support::require("helm");
    let work = tempfile::tempdir().unwrap();
    let values = support::write(
        work.path(),
        "values.yaml",
        "git: {url: 'ssh://git@git.example.com/platform/specs.git', ref: refs/tags/v1, path: specs, sshSecret: {name: deploy-key}}\nwebhook: {secretName: hook}\nageIdentity: {secretName: age}\nvault: {address: 'https://vault.example.com:8200', auth: jwt, role: pullsync, caSecret: {name: vault-ca}}\ntenants: {configMap: tenants, platformPaths: ['platform/**'], strict: true}\nsigning: {verify: both, allowedSignersConfigMap: signers}\nfileSourceRoots: [{name: robots, secretName: robots, mountPath: /var/run/pullsync/robots}]\ncluster: {name: gpu-east, labels: {tier: prod}}\nrbac: {scope: namespaced, namespaces: [team-a, team-b]}\nserviceMonitor: {enabled: true}\nnetworkPolicy: {enabled: true, from: [{namespaceSelector: {matchLabels: {name: monitoring}}}]}\nreplicaCount: 3\nlogFormat: text\n",
    );
    let (ok, text) = helm(&["lint", CHART, "-f", values.to_str().unwrap()]);
    assert!(ok, "{text}");
    let objects = template(&["-f", values.to_str().unwrap()]);
    check_types(&objects);
    assert_eq!(find(&objects, "ServiceMonitor").len(), 1);
    assert_eq!(find(&objects, "NetworkPolicy").len(), 1);
    assert!(
        find(&objects, "ClusterRoleBinding").is_empty(),
        "namespaced: no cluster-wide binding"
    );
    let bindings: Vec<&str> = find(&objects, "RoleBinding")
        .iter()
        .map(|b| b["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(bindings, ["team-a", "team-b", "pullsync-system"]);
    let chart: Vec<_> = find(&objects, "ClusterRole")
        .into_iter()
        .chain(find(&objects, "Role"))
        .map(rules)
        .collect();
    let deploy: Vec<_> = manifest_roles("deploy/overlays/namespaced/rbac.yaml")
        .iter()
        .map(rules)
        .collect();
    assert_eq!(
        chart, deploy,
        "the chart's namespaced RBAC is deploy/overlays/namespaced/rbac.yaml's"
    );
    let args =
        find(&objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    for expected in [
        "--verify-commits=both",
        "--tenants=/var/run/pullsync/tenants",
        "--namespaces=team-a,team-b",
        "--strict-tenancy",
        "--cluster-label=tier=prod",
    ] {
        assert!(args.contains(expected), "{expected} in {args}");
    }
    // The schema refuses what the chart cannot honour.
    let (ok, text) = helm(&[
        "template",
        "x",
        CHART,
        "--set",
        "git.url=https://x/y.git",
        "--set",
        "signing.verify=sometimes",
    ]);
    assert!(!ok && text.contains("signing.verify"), "{text}");
}

/// The chart's rendered ServiceAccount and RBAC, applied to a real kube-apiserver, are all a
/// running pullsync needs: a leader-elected daemon creates, repairs and prunes with no request
/// refused.
#[test]
fn the_charts_rbac_on_a_real_api_server_is_enough_to_run() {
    use support::controlplane::{ControlPlane, Options, Rbac};
    support::require("helm");
    let work = tempfile::tempdir().unwrap();
    let rbac: Vec<String> = template(&["--set", "git.url=https://git.example.com/specs.git"])
        .into_iter()
        .filter(|o| {
            let kind = o["kind"].as_str().unwrap_or_default();
            kind == "ServiceAccount" || kind.ends_with("Role") || kind.ends_with("RoleBinding")
        })
        .map(|o| o.to_string())
        .collect();
    assert_eq!(
        rbac.len(),
        5,
        "a ServiceAccount, two roles, two bindings: {rbac:?}"
    );
    let manifest = support::write(work.path(), "chart-rbac.yaml", rbac.join("\n---\n"));
    let server = ControlPlane::start_with(Options {
        rbac: Rbac::Manifests(vec![manifest]),
        ..Options::default()
    });
    server.create_namespace("team-a", &[]);
    let repo = work.path().join("repo");
    let spec = |keys: &str| {
        format!(
            "{}kind: Secret\nmetadata: {{name: env}}\nspec:\n  namespaces: [team-a]\n  data: {{{keys}}}\n",
            support::HEADER
        )
    };
    support::write(&repo, "specs.yaml", spec("A: {value: one}"));
    let election = [
        "--leader-election",
        "--lease-duration",
        "3s",
        "--identity",
        "chart",
    ];
    let daemon = support::daemon::Daemon::start(&server.kubeconfig(), &repo, &election);
    support::eventually("created", || server.get("secrets", "team-a", "env").is_some());
    server.delete("secrets", "team-a", "env");
    support::eventually("repaired", || server.get("secrets", "team-a", "env").is_some());
    support::write(&repo, "specs.yaml", spec("B: {value: two}"));
    support::eventually("the dropped key removed", || {
        let data = &server.get("secrets", "team-a", "env").unwrap()["data"];
        data.get("A").is_none() && data.get("B").is_some()
    });
    support::eventually("leading", || daemon.status()["leader"] == true);
    drop(daemon);
    let refused: Vec<String> = server
        .log()
        .iter()
        .filter(|l| l.status == 403)
        .map(|l| format!("{} {}", l.verb, l.path))
        .collect();
    assert_eq!(
        refused,
        Vec::<String>::new(),
        "nothing the chart grants was missing"
    );
}

#[test]
fn the_alert_rules_and_the_dashboard_are_the_files_they_come_from() {
    support::require("helm");
    let objects = template(&[
        "--set",
        "git.url=https://git.example.com/specs.git",
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "prometheusRule.labels.release=kube-prometheus-stack",
        "--set",
        "grafanaDashboard.enabled=true",
        "--set",
        "grafanaDashboard.namespace=monitoring",
        "--set",
        "grafanaDashboard.folder=Platform",
    ]);
    check_types(&objects);
    let rule = find(&objects, "PrometheusRule")[0];
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus-stack");
    let file: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(format!("{CHART}/files/alerts.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        rule["spec"]["groups"], file["groups"],
        "the PrometheusRule is the rules file"
    );
    // Go templates in annotations reach Prometheus untouched (Helm does not expand them).
    assert!(rule.to_string().contains("{{ $labels.credential }}"));

    let dashboard = find(&objects, "ConfigMap")[0];
    assert_eq!(dashboard["metadata"]["namespace"], "monitoring");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(dashboard["metadata"]["annotations"]["grafana_folder"], "Platform");
    let shipped: Value = serde_json::from_str(dashboard["data"]["pullsync.json"].as_str().unwrap()).unwrap();
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{CHART}/files/dashboard.json")).unwrap())
            .unwrap();
    assert_eq!(shipped, file, "the ConfigMap carries the dashboard file");

    let off = template(&["--set", "git.url=https://git.example.com/specs.git"]);
    assert!(find(&off, "PrometheusRule").is_empty() && find(&off, "ConfigMap").is_empty());
}

#[test]
fn the_admission_webhook_is_wired_to_the_pod_service_and_certificate() {
    support::require("helm");
    let (ok, text) = helm(&[
        "template",
        "pullsync",
        CHART,
        "--set",
        "git.url=https://git.example.com/specs.git",
        "--set",
        "admission.enabled=true",
    ]);
    assert!(
        !ok && text.contains("admission.enabled needs admission.tls.secretName"),
        "{text}"
    );

    for values in [
        vec![
            "--set",
            "admission.tls.secretName=pullsync-admission-tls",
            "--set",
            "admission.tls.caBundle=Q0E=",
        ],
        vec![
            "--set",
            "admission.certManager.enabled=true",
            "--set",
            "admission.certManager.issuerRef.name=ca",
        ],
    ] {
        let mut args = vec![
            "--set",
            "git.url=https://git.example.com/specs.git",
            "--set",
            "admission.enabled=true",
        ];
        args.extend(values);
        let objects = template(&args);
        check_types(&objects);
        let hook = &find(&objects, "ValidatingWebhookConfiguration")[0]["webhooks"][0];
        assert_eq!(hook["failurePolicy"], "Ignore", "fail open by default");
        assert_eq!(hook["timeoutSeconds"], 3);
        assert_eq!(hook["clientConfig"]["service"]["path"], "/admission/pods");
        let excluded = hook["namespaceSelector"]["matchExpressions"][0]["values"]
            .as_array()
            .unwrap();
        assert!(
            excluded.iter().any(|n| n == "kube-system") && excluded.iter().any(|n| n == "pullsync-system")
        );
        let service = find(&objects, "Service")[0];
        let port = service["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "admission")
            .unwrap();
        assert_eq!(port["port"], 443);
        assert_eq!(
            hook["clientConfig"]["service"]["name"],
            service["metadata"]["name"]
        );
        let pod = &find(&objects, "Deployment")[0]["spec"]["template"]["spec"];
        let args: Vec<&str> = pod["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&"--admission-listen=0.0.0.0:8443"), "{args:?}");
        assert!(
            args.contains(&"--admission-anonymous-registry=registry.k8s.io"),
            "{args:?}"
        );
        let secret = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "admission-tls")
            .unwrap();
        let certificate = find(&objects, "Certificate");
        match certificate.first() {
            Some(c) => {
                assert_eq!(secret["secret"]["secretName"], c["spec"]["secretName"]);
                assert!(find(&objects, "ValidatingWebhookConfiguration")[0]["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].is_string());
            }
            None => {
                assert_eq!(secret["secret"]["secretName"], "pullsync-admission-tls");
                assert_eq!(hook["clientConfig"]["caBundle"], "Q0E=");
            }
        }
        // The binary takes the rendered flags.
        let mut run: Vec<&str> = args.clone();
        run.retain(|a| a.starts_with("--admission"));
        let out = support::pullsync(&["run", "--help"], None, None);
        assert_eq!(out.code, 0);
        for flag in &run {
            let name = flag.split('=').next().unwrap();
            assert!(out.stdout.contains(name), "{name} is a flag of `pullsync run`");
        }
    }
}

#[test]
fn the_credential_provider_endpoint_and_node_installer_are_wired() {
    support::require("helm");
    let base = [
        "--set",
        "git.url=https://git.example.com/specs.git",
        "--set",
        "credentialProvider.enabled=true",
    ];
    let (ok, text) = helm(&[&["template", "pullsync", CHART][..], &base[..]].concat());
    assert!(
        !ok && text.contains("credentialProvider.enabled needs credentialProvider.tls.secretName"),
        "{text}"
    );
    let tls = ["--set", "credentialProvider.tls.secretName=provider-tls"];
    let (ok, text) = helm(&[&["template", "pullsync", CHART][..], &base[..], &tls[..]].concat());
    assert!(!ok && text.contains("nodeInstaller needs matchImages"), "{text}");

    let images = [
        "--set",
        "credentialProvider.nodeInstaller.matchImages={nvcr.io,*.azurecr.io}",
    ];
    let cert = [
        "--set",
        "credentialProvider.certManager.enabled=true",
        "--set",
        "credentialProvider.certManager.issuerRef.name=ca",
    ];
    let objects = template(&[&base[..], &cert[..], &images[..]].concat());
    check_types(&objects);
    // The endpoint: the Deployment listens where the Service points, with the certificate
    // cert-manager issues for the Service's name.
    let pod = &find(&objects, "Deployment")[0]["spec"]["template"]["spec"];
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--provider-listen=0.0.0.0:8444"), "{args:?}");
    let service = find(&objects, "Service")[0];
    let port = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "provider")
        .unwrap();
    assert_eq!(port["port"], 8444);
    let certificate = find(&objects, "Certificate")[0];
    let host = format!(
        "{}.pullsync-system.svc",
        service["metadata"]["name"].as_str().unwrap()
    );
    assert!(
        certificate["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == host.as_str()),
        "{certificate}"
    );
    // The TokenReview rule is deploy/overlays/credential-provider's, rule for rule.
    let chart: Vec<_> = find(&objects, "ClusterRole")
        .into_iter()
        .filter(|r| r["metadata"]["name"].as_str().unwrap().ends_with("-provider"))
        .map(rules)
        .collect();
    let deploy: Vec<_> = manifest_roles("deploy/overlays/credential-provider/rbac.yaml")
        .iter()
        .map(rules)
        .collect();
    assert_eq!(chart, deploy);

    // The node installer: no API access, only ca.crt of the endpoint's Secret; its arguments,
    // with the Service variable expanded as the kubelet does and the host folders moved here,
    // install a plugin and a config naming the Service's host.
    let daemonset = find(&objects, "DaemonSet")[0];
    let node_pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(node_pod["automountServiceAccountToken"], false);
    let tls_volume = node_pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "provider-tls")
        .unwrap();
    assert_eq!(
        tls_volume["secret"]["secretName"],
        certificate["spec"]["secretName"]
    );
    assert_eq!(
        tls_volume["secret"]["items"],
        serde_json::json!([{"key": "ca.crt", "path": "ca.crt"}])
    );
    let work = tempfile::tempdir().unwrap();
    let ca = support::write(
        work.path(),
        "tls/ca.crt",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    let var = format!(
        "$({}_SERVICE_HOST)",
        service["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_uppercase()
            .replace('-', "_")
    );
    let args: Vec<String> = node_pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .filter(|a| *a != "--wait")
        .map(|a| {
            a.replace(&var, "10.96.0.12")
                .replace("/host/", &format!("{}/host/", work.path().display()))
                .replace("/var/run/pullsync/provider-tls/ca.crt", ca.to_str().unwrap())
        })
        .collect();
    let out = Command::new(support::bin()).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(work.path().join("host/bin/pullsync").is_file());
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(work.path().join("host/config/pullsync-credential-provider.json")).unwrap(),
    )
    .unwrap();
    let provider = &config["providers"][0];
    assert_eq!(
        provider["matchImages"],
        serde_json::json!(["nvcr.io", "*.azurecr.io"])
    );
    assert_eq!(
        provider["tokenAttributes"]["serviceAccountTokenAudience"],
        "pullsync"
    );
    let plugin_args = provider["args"].to_string();
    assert!(
        plugin_args.contains(&format!("https://{host}:8444")) && plugin_args.contains("10.96.0.12"),
        "{plugin_args}"
    );
    assert!(
        plugin_args.contains("/etc/kubernetes/credential-provider/pullsync-ca.crt"),
        "the CA as the node sees it: {plugin_args}"
    );
}
