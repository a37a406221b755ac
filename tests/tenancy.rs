//! Tenant isolation end to end: three tenants share one spec repository and one pullsync;
//! each tries every forbidden move in the same commit as its legitimate objects. Real
//! OpenBao (one JWT role per tenant, so Vault's own policy draws the same line), the test API
//! server's request log for what was written.

mod support;

use std::path::Path;

use serde_json::json;
use support::openbao::{OpenBao, signed_jwt};
use support::{HEADER, Run, pullsync, write};

const TENANTS: &str = "\
kind: Tenant
metadata: {name: team-a}
spec:
  paths: [teams/a]
  namespaces: [a-prod]
  credentials: [platform-registry]
  serviceAccounts: [default]
  vault: {role: tenant-a, pathPrefixes: [secret/teams/a]}
---
kind: Tenant
metadata: {name: team-b}
spec:
  paths: [teams/b/**]
  namespaceSelector: {matchLabels: {tenant: b}}
  vault: {role: tenant-b, pathPrefixes: [secret/teams/b/]}
---
kind: Tenant
metadata: {name: team-c}
spec:
  paths: [teams/c]
  namespaces: [c-prod]
";

const PLATFORM: &str = "\
kind: Credential
metadata: {name: platform-registry}
spec:
  vault: {kv: {mount: secret, path: platform/registry}}
  username: robot
  fields: {password: token}
";

const TEAM_A: &str = "\
kind: Credential
metadata: {name: a-hf}
spec:
  vault: {kv: {mount: secret, path: teams/a/hf}}
---
kind: Secret
metadata: {name: a-hf-token}
spec:
  namespaces: [a-prod]
  data: {HF_TOKEN: {credential: a-hf, field: token}}
---
kind: PullSecret
metadata: {name: a-pull}
spec:
  namespaces: [a-prod]
  registries: [{server: registry.example.com, credential: platform-registry}]
  serviceAccounts: [default]
---
kind: Secret
metadata: {name: a-into-b}
spec:
  namespaces: [b-prod]
  data: {x: {value: \"1\"}}
---
kind: PullSecret
metadata: {name: a-by-selector}
spec:
  namespaceSelector: {matchLabels: {tenant: b}}
  registries: [{server: registry.example.com, credential: platform-registry}]
---
kind: Secret
metadata: {name: b-hf-token}
spec:
  namespaces: [b-prod]
  data: {x: {value: \"takes team B's name\"}}
---
kind: PullSecret
metadata: {name: a-other-sa}
spec:
  namespaces: [a-prod]
  registries: [{server: registry.example.com, credential: platform-registry}]
  serviceAccounts: [builder]
";

const TEAM_B: &str = "\
kind: Credential
metadata: {name: b-hf}
spec:
  vault: {kv: {mount: secret, path: teams/b/hf}}
---
kind: Secret
metadata: {name: b-hf-token}
spec:
  namespaceSelector: {matchLabels: {tenant: b}}
  data: {HF_TOKEN: {credential: b-hf, field: token}}
---
kind: Credential
metadata: {name: b-steals}
spec:
  vault: {kv: {mount: secret, path: teams/a/hf}}
---
kind: Secret
metadata: {name: b-stolen}
spec:
  namespaces: [b-prod]
  data: {HF_TOKEN: {credential: b-steals, field: token}}
";

const TEAM_C: &str = "\
kind: Secret
metadata: {name: c-ok}
spec:
  namespaces: [c-prod]
  data: {endpoint: {value: \"https://s3.example.com\"}}
---
kind: Secret
metadata: {name: c-relabelled}
spec:
  namespaces: [b-dev]
  labels: {tenant: b}
  data: {endpoint: {value: \"https://s3.example.com\"}}
---
kind: Secret
metadata: {name: c-borrows}
spec:
  namespaces: [c-prod]
  data: {HF_TOKEN: {credential: a-hf, field: token}}
---
kind: PullSecret
metadata: {name: c-platform}
spec:
  namespaces: [c-prod]
  registries: [{server: registry.example.com, credential: platform-registry}]
";

/// team-c tries to widen itself from inside its own folder.
const TEAM_C_TENANT: &str = "\
kind: Tenant
metadata: {name: team-c}
spec:
  paths: [teams]
  namespaces: [c-prod, a-prod, b-prod]
";

fn docs(text: &str) -> String {
    text.split("---\n")
        .map(|d| format!("{HEADER}{d}"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn repo(root: &Path) {
    write(root, "platform/registry.yaml", docs(PLATFORM));
    write(root, "teams/a/specs.yaml", docs(TEAM_A));
    write(root, "teams/b/specs.yaml", docs(TEAM_B));
    write(root, "teams/c/specs.yaml", docs(TEAM_C));
    write(root, "teams/c/tenant.yaml", docs(TEAM_C_TENANT));
    write(
        root,
        "stray/secret.yaml",
        docs(
            "kind: Secret\nmetadata: {name: stray}\nspec:\n  namespaces: [c-prod]\n  data: {x: {value: \"1\"}}\n",
        ),
    );
}

/// (namespace, name) of every Secret / ServiceAccount write outside pullsync's own namespace.
fn writes(server: &support::controlplane::ControlPlane) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = server
        .log()
        .iter()
        .filter(|l| l.is_write() && l.status < 300)
        .filter_map(|l| {
            let parts: Vec<&str> = l.path.trim_start_matches('/').split('/').collect();
            // api/v1/namespaces/NS/RESOURCE[/NAME]
            let (ns, resource) = (parts.get(3)?, parts.get(4)?);
            if *ns == "pullsync-system" || !matches!(*resource, "secrets" | "serviceaccounts") {
                return None;
            }
            Some((
                ns.to_string(),
                resource.to_string(),
                parts.get(5).unwrap_or(&"").to_string(),
            ))
        })
        .collect();
    out.sort();
    out
}

fn sync(
    server: &support::controlplane::ControlPlane,
    bao: &OpenBao,
    repo: &Path,
    tenants: &Path,
    jwt: &Path,
) -> Run {
    support::sync_once(
        repo,
        &server.kubeconfig(),
        &[
            "--tenants",
            tenants.to_str().unwrap(),
            "--platform-path",
            "platform/**",
            "--vault-addr",
            &bao.addr,
            "--vault-auth",
            "jwt",
            "--vault-role",
            "platform",
            "--vault-jwt-file",
            jwt.to_str().unwrap(),
        ],
    )
}

#[test]
fn three_tenants_every_forbidden_move_refused_the_rest_applied() {
    support::require("openssl");
    let bao = OpenBao::start();
    let work = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": "https://pullsync.test", "sub": "system:serviceaccount:pullsync-system:pullsync", "aud": "pullsync", "iat": now, "exp": now + 900});
    let (jwt, public) = signed_jwt(work.path(), &claims);
    let jwt_file = write(work.path(), "jwt", &jwt);
    bao.enable_jwt(&public);
    bao.jwt_role_reading("platform", "platform");
    bao.jwt_role_reading("tenant-a", "teams/a");
    bao.jwt_role_reading("tenant-b", "teams/b");
    bao.kv2_put("platform/registry", json!({"token": "canary-platform-7f3a"}));
    bao.kv2_put("teams/a/hf", json!({"token": "canary-team-a-91c2"}));
    bao.kv2_put("teams/b/hf", json!({"token": "canary-team-b-55d0"}));

    let server = support::controlplane::ControlPlane::start();
    server.create_namespace("a-prod", &[("tenant", "a")]);
    server.create_namespace("b-prod", &[("tenant", "b")]);
    server.create_namespace("b-dev", &[("tenant", "b")]);
    server.create_namespace("c-prod", &[]);
    for ns in ["a-prod", "b-prod"] {
        for sa in ["default", "builder"] {
            server.create(
                "serviceaccounts",
                ns,
                json!({"metadata": {"name": sa, "namespace": ns}}),
            );
        }
    }
    let (repo_dir, tenants_dir) = (work.path().join("repo"), work.path().join("tenants"));
    repo(&repo_dir);
    write(&tenants_dir, "tenants.yaml", docs(TENANTS));

    // Offline first: `validate --tenants` names every violation, with tenant, rule and place.
    let offline = pullsync(
        &[
            "validate",
            repo_dir.to_str().unwrap(),
            "--tenants",
            tenants_dir.to_str().unwrap(),
            "--platform-path",
            "platform/**",
        ],
        None,
        None,
    );
    assert_eq!(offline.code, 1, "{}", offline.all());
    for expected in [
        "teams/a/specs.yaml:26:3: error: Secret/a-into-b: tenant `team-a`, rule `namespaces`: namespace `b-prod` is not one of tenant `team-a`'s namespaces; rejected",
        "Secret/b-hf-token: tenant `team-a`, rule `namespaces`: namespace `b-prod`",
        "PullSecret/a-other-sa: tenant `team-a`, rule `serviceAccounts`: ServiceAccount `builder` is not in the tenant's spec.serviceAccounts",
        "teams/b/specs.yaml:18:37: error: Credential/b-steals: tenant `team-b`, rule `vaultPaths`: Vault path `secret/teams/a/hf` is outside the tenant's path prefixes (secret/teams/b/)",
        "Secret/b-stolen: tenant `team-b`, rule `credentials`: credential `b-steals` was rejected (see teams/b/specs.yaml:18:37)",
        "teams/c/specs.yaml:12:3: error: Secret/c-relabelled: tenant `team-c`, rule `namespaces`: namespace `b-dev` is not one of tenant `team-c`'s namespaces",
        "teams/c/specs.yaml:21:33: error: Secret/c-borrows: tenant `team-c`, rule `credentials`: credential `a-hf` belongs to tenant `team-a`",
        "error: PullSecret/c-platform: tenant `team-c`, rule `credentials`: credential `platform-registry` is the platform's and not granted to tenant `team-c`",
        "teams/c/tenant.yaml:1:1: error: Tenant/team-c: rule `tenants`: Tenant objects are read only from the platform's tenants folder",
        "stray/secret.yaml:1:1: error: Secret/stray: rule `paths`: this file is outside every tenant's paths",
    ] {
        assert!(
            offline.all().contains(expected),
            "missing `{expected}` in:\n{}",
            offline.all()
        );
    }

    // Against the cluster: the same refusals (and the selector one, which needs live labels),
    // nothing of them written, everything else applied.
    server.clear_log();
    let run = sync(&server, &bao, &repo_dir, &tenants_dir, &jwt_file);
    assert_eq!(run.code, 1, "rejections make the exit code 1:\n{}", run.all());
    assert!(
        run.all().contains("PullSecret/a-by-selector: tenant `team-a`, rule `namespaces`: namespace `b-dev` belongs to tenant `team-b`"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("11 object(s) rejected by tenancy"),
        "{}",
        run.stderr
    );
    let expected: Vec<(String, String, String)> = [
        ("a-prod", "secrets", ""),
        ("a-prod", "secrets", ""),
        ("a-prod", "serviceaccounts", "default"),
        ("b-dev", "secrets", ""),
        ("b-prod", "secrets", ""),
        ("c-prod", "secrets", ""),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(
        writes(&server),
        expected,
        "only the legitimate objects are written"
    );
    let names = |ns: &str| -> Vec<String> {
        let mut names: Vec<String> = server
            .list("secrets")
            .iter()
            .filter(|s| s["metadata"]["namespace"] == ns)
            .map(|s| s["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names("a-prod"), ["a-hf-token", "a-pull"]);
    assert_eq!(names("b-prod"), ["b-hf-token"]);
    assert_eq!(names("b-dev"), ["b-hf-token"]);
    // Team A's same-named Secret aimed at b-prod took nothing from team B's.
    let b = server.get("secrets", "b-prod", "b-hf-token").unwrap();
    assert!(
        b["data"].get("HF_TOKEN").is_some() && b["data"].get("x").is_none(),
        "{b}"
    );
    assert_eq!(names("c-prod"), ["c-ok"]);
    let builder = server.get("serviceaccounts", "a-prod", "builder").unwrap();
    assert!(
        builder.get("imagePullSecrets").is_none(),
        "builder untouched: {builder}"
    );

    // Team A's secret came through team A's own Vault role; team B's stolen path was never
    // read by pullsync; and OpenBao refuses it to team B's role when pullsync is bypassed.
    let reads_of_a: Vec<serde_json::Value> = bao
        .audit()
        .into_iter()
        .filter(|e| {
            e["type"] == "request"
                && e["request"]["operation"] == "read"
                && e["request"]["path"] == "secret/data/teams/a/hf"
        })
        .collect();
    assert_eq!(reads_of_a.len(), 1, "{reads_of_a:?}");
    assert_eq!(
        reads_of_a[0]["auth"]["metadata"]["role"], "tenant-a",
        "{:?}",
        reads_of_a[0]
    );
    let (status, login) = support::openbao::http(
        "POST",
        &bao.addr,
        "auth/jwt/login",
        None,
        Some(&json!({"role": "tenant-b", "jwt": jwt})),
    );
    assert_eq!(status, 200, "{login}");
    let token = login["auth"]["client_token"].as_str().unwrap();
    let (status, _) = support::openbao::http("GET", &bao.addr, "secret/data/teams/a/hf", Some(token), None);
    assert_eq!(status, 403, "OpenBao's policy for tenant-b refuses team A's path");
    let (status, _) = support::openbao::http("GET", &bao.addr, "secret/data/teams/b/hf", Some(token), None);
    assert_eq!(status, 200);

    // The platform takes a-prod away from team A: its objects are now rejected, and the
    // Secrets they wrote before are kept (a rejected spec changes nothing), not pruned.
    write(
        &tenants_dir,
        "tenants.yaml",
        docs(&TENANTS.replace("namespaces: [a-prod]", "namespaces: [a-staging]")),
    );
    server.clear_log();
    let run = sync(&server, &bao, &repo_dir, &tenants_dir, &jwt_file);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        !server.log().iter().any(|l| l.method == "DELETE"),
        "nothing pruned"
    );
    assert_eq!(names("a-prod"), ["a-hf-token", "a-pull"]);
    assert!(
        run.stdout.contains("kept Secret a-prod/a-hf-token"),
        "{}",
        run.stdout
    );

    // Under --strict-tenancy one violation stops the whole revision.
    write(&tenants_dir, "tenants.yaml", docs(TENANTS));
    server.clear_log();
    let kubeconfig = server.kubeconfig();
    let strict = pullsync(
        &[
            "plan",
            "--repo",
            repo_dir.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--tenants",
            tenants_dir.to_str().unwrap(),
            "--platform-path",
            "platform/**",
            "--strict-tenancy",
        ],
        None,
        None,
    );
    assert_eq!(strict.code, 1, "{}", strict.all());
    assert!(strict.stderr.contains("nothing was changed"), "{}", strict.stderr);

    // No value reached any output.
    for run in [&offline, &run, &strict] {
        for canary in ["canary-platform-7f3a", "canary-team-a-91c2", "canary-team-b-55d0"] {
            assert!(!run.all().contains(canary));
        }
    }
}

#[test]
fn a_broken_tenants_folder_applies_nothing() {
    let work = tempfile::tempdir().unwrap();
    let (repo_dir, tenants_dir) = (work.path().join("repo"), work.path().join("tenants"));
    write(&repo_dir, "teams/c/specs.yaml", docs(TEAM_C));
    // Two tenants claim c-prod, and a Secret hides among the Tenants.
    write(
        &tenants_dir,
        "tenants.yaml",
        docs(&format!(
            "{}---\nkind: Tenant\nmetadata: {{name: team-d}}\nspec:\n  paths: [teams/d]\n  namespaces: [c-prod]\n---\nkind: Secret\nmetadata: {{name: hidden}}\nspec:\n  namespaces: [c-prod]\n  data: {{x: {{value: \"1\"}}}}\n",
            TENANTS
        )),
    );
    let server = support::controlplane::ControlPlane::start();
    server.create_namespace("c-prod", &[]);
    let kubeconfig = server.kubeconfig();
    let run = pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo_dir.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--tenants",
            tenants_dir.to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("namespace `c-prod` is claimed by tenants `team-c` and `team-d`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("only Tenant objects belong in the tenants folder"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("tenants.yaml:"), "{}", run.stderr);
    let outside_own = server
        .log()
        .iter()
        .filter(|l| l.is_write() && l.path.contains("/secrets") && !l.path.contains("/pullsync-system/"))
        .count();
    assert_eq!(outside_own, 0, "nothing written into tenant namespaces");
}

#[test]
fn tenants_inside_the_repo_are_read_from_their_folder_only() {
    let work = tempfile::tempdir().unwrap();
    let repo_dir = work.path().join("repo");
    write(
        &repo_dir,
        "teams/c/specs.yaml",
        docs(TEAM_C.split("---\n").next().unwrap()),
    );
    write(&repo_dir, "platform/tenants/tenants.yaml", docs(TENANTS));
    let run = pullsync(
        &[
            "validate",
            repo_dir.to_str().unwrap(),
            "--tenants",
            "repo:platform/tenants",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    // The same Tenants anywhere else in the repo are refused.
    write(&repo_dir, "teams/c/tenant.yaml", docs(TEAM_C_TENANT));
    let run = pullsync(
        &[
            "validate",
            repo_dir.to_str().unwrap(),
            "--tenants",
            "repo:platform/tenants",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("rule `tenants`"), "{}", run.all());
}

#[test]
fn the_daemon_reports_rejections_once_and_applies_the_rest() {
    use support::daemon::Daemon;
    let work = tempfile::tempdir().unwrap();
    let (repo_dir, tenants_dir) = (work.path().join("repo"), work.path().join("tenants"));
    // c-ok applies; c-relabelled, a Tenant in the repo and a stray file are rejected.
    let two: Vec<&str> = TEAM_C.split("---\n").take(2).collect();
    write(&repo_dir, "teams/c/specs.yaml", docs(&two.join("---\n")));
    write(&repo_dir, "teams/c/tenant.yaml", docs(TEAM_C_TENANT));
    write(
        &repo_dir,
        "stray/secret.yaml",
        docs(
            "kind: Secret\nmetadata: {name: stray}\nspec:\n  namespaces: [c-prod]\n  data: {x: {value: \"1\"}}\n",
        ),
    );
    write(&tenants_dir, "tenants.yaml", docs(TENANTS));
    let server = support::controlplane::ControlPlane::start();
    server.create_namespace("c-prod", &[]);
    server.create_namespace("b-dev", &[("tenant", "b")]);
    let tenants = tenants_dir.to_str().unwrap();
    let daemon = Daemon::start(&server.kubeconfig(), &repo_dir, &["--tenants", tenants]);
    support::eventually("c-ok applied", || {
        server.get("secrets", "c-prod", "c-ok").is_some()
    });
    // Several resyncs (1 s each) later: one Warning Event, not one per sync.
    daemon.wait_syncs(3);
    let status = daemon.status();
    let rejected = status["tenancyRejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3, "{status}");
    assert!(rejected[0].as_str().unwrap().contains("rule `"), "{status}");
    let (_, metrics) = daemon.get("/metrics");
    assert!(
        metrics.contains("pullsync_tenancy_rejected_objects 3"),
        "{metrics}"
    );
    let warnings: Vec<serde_json::Value> = server
        .list("events")
        .into_iter()
        .filter(|e| e["reason"] == "TenancyRejected")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0]["message"].as_str().unwrap().contains("3 object(s)"));
    assert!(server.get("secrets", "b-dev", "c-relabelled").is_none());

    // A PreSync hook waiting on a namespace whose Secret tenancy rejected must not pass: exit 3,
    // naming the object. (c-prod has c-ok, and also the stray Secret outside every tenant.)
    let revision = status["lastGoodRevision"].as_str().unwrap().to_string();
    let wait = |namespace: &str| {
        pullsync(
            &[
                "wait",
                "--revision",
                &revision,
                "--namespace",
                namespace,
                "--status-url",
                &daemon.url(),
                "--timeout",
                "20s",
            ],
            None,
            None,
        )
    };
    let run = wait("b-dev");
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("tenancy rejected 1 object(s)")
            && run
                .stderr
                .contains("b-dev: Secret/c-relabelled (teams/c/specs.yaml)"),
        "{}",
        run.stderr
    );
    let run = wait("c-prod");
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("c-prod: Secret/stray (stray/secret.yaml)"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_multi_tenant_example_is_accepted() {
    let run = pullsync(
        &[
            "validate",
            "examples/multi-tenant",
            "--tenants",
            "repo:platform/tenants",
            "--platform-path",
            "platform/**",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("valid (7 objects"), "{}", run.stdout);
    // Without the platform path, the shared credential has no owner and is refused.
    let run = pullsync(
        &[
            "validate",
            "examples/multi-tenant",
            "--tenants",
            "repo:platform/tenants",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("platform/shared/ngc.yaml:"), "{}", run.all());
}

#[test]
fn one_teams_broken_file_does_not_stop_the_others() {
    let work = tempfile::tempdir().unwrap();
    let (repo_dir, tenants_dir) = (work.path().join("repo"), work.path().join("tenants"));
    write(&tenants_dir, "tenants.yaml", docs(TENANTS));
    let secret = |name: &str, ns: &str| {
        docs(&format!(
            "kind: Secret\nmetadata: {{name: {name}}}\nspec:\n  namespaces: [{ns}]\n  data: {{x: {{value: \"1\"}}}}\n"
        ))
    };
    write(&repo_dir, "teams/a/specs.yaml", secret("a-one", "a-prod"));
    write(&repo_dir, "teams/c/specs.yaml", secret("c-one", "c-prod"));
    let server = support::controlplane::ControlPlane::start();
    server.create_namespace("a-prod", &[("tenant", "a")]);
    server.create_namespace("c-prod", &[]);
    let kubeconfig = server.kubeconfig();
    let sync = || {
        pullsync(
            &[
                "sync",
                "--once",
                "--repo",
                repo_dir.to_str().unwrap(),
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--tenants",
                tenants_dir.to_str().unwrap(),
                "--allow-mass-prune",
            ],
            None,
            None,
        )
    };
    let run = sync();
    assert_eq!(run.code, 0, "{}", run.all());

    // Team C commits a YAML error and team A a new Secret, in the same commit.
    write(
        &repo_dir,
        "teams/c/specs.yaml",
        "apiVersion: pullsync.dev/v1alpha1\nkind: Secret\nmetadata: {name: c-one\nspec: [\n",
    );
    write(
        &repo_dir,
        "teams/a/specs.yaml",
        format!("{}---\n{}", secret("a-one", "a-prod"), secret("a-two", "a-prod")),
    );
    server.clear_log();
    let run = sync();
    assert_eq!(run.code, 1, "the rejection is reported: {}", run.all());
    assert!(
        run.all().contains("tenant `team-c`, rule `schema`"),
        "{}",
        run.all()
    );
    assert!(
        server.get("secrets", "a-prod", "a-two").is_some(),
        "team A's commit applied"
    );
    assert!(
        server.get("secrets", "c-prod", "c-one").is_some(),
        "team C's Secret kept, not pruned"
    );
    assert!(!server.log().iter().any(|l| l.method == "DELETE"));

    // A broken file outside every tenant (the platform's) still stops everything.
    write(&repo_dir, "platform/broken.yaml", "kind: [\n");
    let run = pullsync(
        &[
            "validate",
            repo_dir.to_str().unwrap(),
            "--tenants",
            tenants_dir.to_str().unwrap(),
            "--allow-platform-specs",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("platform/broken.yaml"), "{}", run.all());
}

/// A Tenant's Vault prefixes written as its Vault policy writes them (`secret/data/team-c/`,
/// the KV v2 API path) cover the team's KV v2 credentials, which name the logical path
/// (`mount: secret, path: team-c/…`); a KV v1 mount has no `data/` segment, so there the same
/// prefix is literal; and a credential outside it is still refused.
#[test]
fn vault_prefixes_written_as_in_a_vault_policy_cover_kv2_credentials() {
    let work = tempfile::tempdir().unwrap();
    let (repo, tenants) = (work.path().join("repo"), work.path().join("tenants"));
    write(
        &tenants,
        "tenants.yaml",
        format!(
            "{HEADER}kind: Tenant\nmetadata: {{name: team-c}}\nspec:\n  paths: [teams/c]\n  namespaces: [c-prod]\n  vault: {{pathPrefixes: [secret/data/team-c/, kv1/data/team-c/]}}\n"
        ),
    );
    let specs = |extra: &str| {
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: c-registry}}\nspec:\n  vault: {{kv: {{mount: secret, path: team-c/registry}}}}\n  username: puller\n  fields: {{password: token}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: c-pull}}\nspec:\n  namespaces: [c-prod]\n  registries: [{{server: registry.example.com, credential: c-registry}}]\n{extra}"
        )
    };
    write(&repo, "teams/c/specs.yaml", specs(""));
    let validate = || {
        pullsync(
            &[
                "validate",
                repo.to_str().unwrap(),
                "--tenants",
                tenants.to_str().unwrap(),
            ],
            None,
            None,
        )
    };
    let run = validate();
    assert_eq!(
        run.code,
        0,
        "the policy form covers the KV v2 credential:\n{}",
        run.all()
    );

    write(
        &repo,
        "teams/c/specs.yaml",
        specs(&format!(
            "---\n{HEADER}kind: Credential\nmetadata: {{name: c-v1}}\nspec:\n  vault: {{kv: {{mount: kv1, path: team-c/old, engine: v1}}}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: c-other}}\nspec:\n  vault: {{kv: {{mount: secret, path: team-d/registry}}}}\n"
        )),
    );
    let run = validate();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.all().contains(
            "Credential/c-v1: tenant `team-c`, rule `vaultPaths`: Vault path `kv1/team-c/old` is outside"
        ),
        "KV v1 has no data/ segment:\n{}",
        run.all()
    );
    assert!(
        run.all().contains("Credential/c-other: tenant `team-c`, rule `vaultPaths`: Vault path `secret/team-d/registry` is outside"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("Credential/c-registry:"), "{}", run.all());
}
