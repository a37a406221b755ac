//! Vault credentials against a real OpenBao server (`bao server -dev`), counted with its audit
//! log; cluster runs use the test API server.

mod support;

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::openbao::OpenBao;
use support::{HEADER, Run, pullsync, secret_data, write};

fn ngc_kv(extra: &str) -> String {
    format!(
        "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  vault: {{kv: {{mount: secret, path: registries/ngc{extra}}}}}\n  usernamePreset: ngc\n  fields: {{password: api_key}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaces: [ml-team]\n  registries: [{{server: nvcr.io, credential: ngc}}]\n"
    )
}

fn sync_local(bao: &OpenBao, repo: &Path, out: &Path, auth: &[&str]) -> Run {
    let mut args = vec![
        "sync",
        "--once",
        "--repo",
        repo.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--vault-addr",
        &bao.addr,
    ];
    args.extend(auth);
    pullsync(&args, None, None)
}

fn password(out: &Path) -> String {
    let config: Value = serde_json::from_slice(&secret_data(
        &out.join("ml-team/ngc-pull.yaml"),
        ".dockerconfigjson",
    ))
    .unwrap();
    config["auths"]["nvcr.io"]["password"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn kv2_versions_deletions_and_missing_fields() {
    let bao = OpenBao::start();
    let token = bao.pullsync_token("1h");
    let auth = [
        "--vault-auth",
        "token",
        "--vault-token-file",
        token.to_str().unwrap(),
    ];
    let work = tempfile::tempdir().unwrap();
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    write(&repo, "specs.yaml", ngc_kv(""));
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-v1"}));
    let run = sync_local(&bao, &repo, &out, &auth);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(password(&out), "nvapi-v1");
    let manifest = std::fs::read_to_string(out.join("ml-team/ngc-pull.yaml")).unwrap();
    assert!(
        manifest.contains("pullsync.dev/credentials: ngc@v1"),
        "the KV version is the credential version"
    );

    // A new version: the secret follows it.
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-v2"}));
    assert_eq!(sync_local(&bao, &repo, &out, &auth).code, 0);
    assert_eq!(password(&out), "nvapi-v2");

    // The latest version deleted: the last good secret stays, the error says why.
    bao.root("DELETE", "secret/data/registries/ngc", None);
    let before = std::fs::read(out.join("ml-team/ngc-pull.yaml")).unwrap();
    let run = sync_local(&bao, &repo, &out, &auth);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("kv v2 secret/registries/ngc: version 2 is deleted; the last good value is kept"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(out.join("ml-team/ngc-pull.yaml")).unwrap(), before);

    // A version without the mapped field: an error naming the keys, nothing written.
    bao.kv2_put("registries/ngc", json!({"apikey": "nvapi-v3"}));
    let run = sync_local(&bao, &repo, &out, &auth);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("field `password` (key `api_key`) is not in the credential; it has: apikey"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(out.join("ml-team/ngc-pull.yaml")).unwrap(), before);
    assert!(!run.all().contains("nvapi-v3"), "values never printed");

    // Values that are not strings are refused, as in credential files (0123 would become 123).
    bao.kv2_put(
        "registries/ngc",
        json!({"api_key": 123456789, "extra": {"nested": "x"}}),
    );
    let run = sync_local(&bao, &repo, &out, &auth);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("field `api_key` is a number; store it as a string"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("123456789"), "values never printed");
    assert_eq!(std::fs::read(out.join("ml-team/ngc-pull.yaml")).unwrap(), before);

    // A pinned version.
    write(&repo, "specs.yaml", ngc_kv(", version: 1"));
    assert_eq!(sync_local(&bao, &repo, &out, &auth).code, 0);
    assert_eq!(password(&out), "nvapi-v1");
}

#[test]
fn kv1_and_approle() {
    let bao = OpenBao::start();
    bao.pullsync_token("1h");
    bao.root(
        "POST",
        "sys/mounts/kv1",
        Some(json!({"type": "kv", "options": {"version": "1"}})),
    );
    bao.root(
        "POST",
        "kv1/registries/harbor",
        Some(json!({"username": "robot$ml", "password": "harbor-pass"})),
    );
    bao.root("POST", "sys/auth/approle", Some(json!({"type": "approle"})));
    bao.root(
        "POST",
        "auth/approle/role/pullsync",
        Some(json!({"token_policies": ["pullsync"], "token_ttl": "20m"})),
    );
    let role_id = bao.root("GET", "auth/approle/role/pullsync/role-id", None)["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret_id = bao.root("POST", "auth/approle/role/pullsync/secret-id", None)["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    let work = tempfile::tempdir().unwrap();
    let role_file = write(work.path(), "role-id", role_id);
    let secret_file = write(work.path(), "secret-id", &secret_id);
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: harbor}}\nspec:\n  vault: {{kv: {{mount: kv1, path: registries/harbor, engine: v1}}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaces: [ml-team]\n  registries: [{{server: harbor.example.com, credential: harbor}}]\n"
        ),
    );
    let run = sync_local(
        &bao,
        &repo,
        &out,
        &[
            "--vault-auth",
            "approle",
            "--vault-role-id-file",
            role_file.to_str().unwrap(),
            "--vault-secret-id-file",
            secret_file.to_str().unwrap(),
            "--log-level",
            "trace",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let config: Value = serde_json::from_slice(&secret_data(
        &out.join("ml-team/ngc-pull.yaml"),
        ".dockerconfigjson",
    ))
    .unwrap();
    assert_eq!(config["auths"]["harbor.example.com"]["username"], "robot$ml");
    assert_eq!(bao.requests_to("auth/approle/login"), 1);
    assert!(
        !run.all().contains(&secret_id) && !run.all().contains("harbor-pass"),
        "no secret id or value in trace logs"
    );
}

#[test]
fn jwt_auth_with_a_key_the_test_owns() {
    support::require("openssl");
    let bao = OpenBao::start();
    bao.pullsync_token("1h");
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-jwt"}));
    let work = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": "https://pullsync.test", "sub": "system:serviceaccount:pullsync-system:pullsync", "aud": "pullsync", "iat": now, "exp": now + 600});
    let (jwt, public) = support::openbao::signed_jwt(work.path(), &claims);
    bao.root("POST", "sys/auth/jwt", Some(json!({"type": "jwt"})));
    bao.root(
        "POST",
        "auth/jwt/config",
        Some(json!({"jwt_validation_pubkeys": [public], "bound_issuer": "https://pullsync.test"})),
    );
    bao.root("POST", "auth/jwt/role/pullsync", Some(json!({"role_type": "jwt", "bound_audiences": ["pullsync"], "user_claim": "sub", "token_policies": ["pullsync"], "token_ttl": "10m"})));
    let jwt_file = write(work.path(), "token", &jwt);
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    write(&repo, "specs.yaml", ngc_kv(""));
    let run = sync_local(
        &bao,
        &repo,
        &out,
        &[
            "--vault-auth",
            "jwt",
            "--vault-role",
            "pullsync",
            "--vault-jwt-file",
            jwt_file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(password(&out), "nvapi-jwt");
    assert_eq!(bao.requests_to("auth/jwt/login"), 1);

    // A token for another audience is refused, and the error says so without the token.
    let (wrong, _) = support::openbao::signed_jwt(
        work.path(),
        &json!({"iss": "https://pullsync.test", "sub": "x", "aud": "other", "iat": now, "exp": now + 600}),
    );
    write(work.path(), "token", &wrong);
    let run = sync_local(
        &bao,
        &repo,
        &out,
        &[
            "--vault-auth",
            "jwt",
            "--vault-role",
            "pullsync",
            "--vault-jwt-file",
            jwt_file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Vault login (jwt)"), "{}", run.stderr);
    assert!(!run.all().contains(&wrong));
}

fn cluster_sync(
    server: &support::controlplane::ControlPlane,
    bao: &OpenBao,
    repo: &Path,
    token: &Path,
) -> Run {
    let kubeconfig = server.kubeconfig();
    pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--vault-addr",
            &bao.addr,
            "--vault-auth",
            "token",
            "--vault-token-file",
            token.to_str().unwrap(),
            "--qps",
            "1000",
            "--burst",
            "1000",
            "--allow-mass-prune",
        ],
        None,
        None,
    )
}

#[test]
fn one_vault_read_however_many_namespaces_and_an_outage_changes_nothing() {
    let mut bao = OpenBao::start();
    let token = bao.pullsync_token("1h");
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-fanout"}));
    let server = support::controlplane::ControlPlane::start();
    for i in 0..500 {
        server.create_namespace(&format!("team-{i}"), &[("gpu", "true")]);
    }
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  vault: {{kv: {{mount: secret, path: registries/ngc}}}}\n  usernamePreset: ngc\n  fields: {{password: api_key}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaceSelector: {{matchLabels: {{gpu: \"true\"}}}}\n  registries: [{{server: nvcr.io, credential: ngc}}]\n"
        ),
    );
    let run = cluster_sync(&server, &bao, &repo, &token);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("500 created"), "{}", run.stdout);
    let reads = bao.reads_of("secret/data/registries/ngc");
    let ours = bao.pullsync_requests();
    eprintln!(
        "fan-out: 500 namespaces, {reads} read(s) of secret/data/registries/ngc; pullsync's requests: {ours:?}"
    );
    assert_eq!(reads, 1, "one read per refresh, not one per namespace");

    // OpenBao goes away: the sync fails, says why, and changes nothing.
    bao.stop();
    server.clear_log();
    let run = cluster_sync(&server, &bao, &repo, &token);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("credential `ngc` is unavailable"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("500 kept"), "{}", run.stdout);
    assert!(
        server
            .log()
            .iter()
            .filter(|l| l.is_write() && l.path.contains("/secrets"))
            .count()
            == 0,
        "no secret was touched"
    );
    let secret = server.get("secrets", "team-7", "ngc-pull").unwrap();
    let config: Value = serde_json::from_slice(
        &STANDARD
            .decode(secret["data"][".dockerconfigjson"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["auths"]["nvcr.io"]["password"], "nvapi-fanout");

    // It comes back (a dev server starts empty: seeded again), and pullsync recovers by itself.
    let bao = OpenBao::start_on(bao.port);
    let token = bao.pullsync_token("1h");
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-after"}));
    let run = cluster_sync(&server, &bao, &repo, &token);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("500 updated"), "{}", run.stdout);
}

#[test]
fn check_sources_reports_unreadable_credentials_without_values() {
    let bao = OpenBao::start();
    let token = bao.pullsync_token("1h");
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-check"}));
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{}---\n{HEADER}kind: Credential\nmetadata: {{name: missing}}\nspec:\n  vault: {{kv: {{mount: secret, path: registries/nothing}}}}\n",
            ngc_kv("")
        ),
    );
    let run = pullsync(
        &[
            "validate",
            repo.to_str().unwrap(),
            "--check-sources",
            "--vault-addr",
            &bao.addr,
            "--vault-auth",
            "token",
            "--vault-token-file",
            token.to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout
            .contains("ok      Credential/ngc: kv v2 secret/registries/ngc (version v1, fields: api_key)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("FAILED  Credential/missing: kv v2 secret/registries/nothing: no such secret"),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains("nvapi-check"));
}

#[test]
fn kubernetes_auth_through_the_real_api_servers_token_review() {
    let bao = OpenBao::start();
    bao.pullsync_token("1h");
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-k8s"}));
    let server = support::controlplane::ControlPlane::start();
    // OpenBao reviews tokens as its own ServiceAccount, which may create TokenReviews
    // (`system:auth-delegator`, as Vault's kubernetes auth documentation asks); pullsync's own
    // RBAC has no such grant, and the real server refuses a review sent with its token.
    server.create(
        "serviceaccounts",
        "pullsync-system",
        json!({"metadata": {"name": "openbao"}}),
    );
    server.apply(&json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "openbao-auth-delegator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
        "subjects": [{"kind": "ServiceAccount", "name": "openbao", "namespace": "pullsync-system"}]}));
    bao.root("POST", "sys/auth/kubernetes", Some(json!({"type": "kubernetes"})));
    bao.root("POST", "auth/kubernetes/config", Some(json!({"kubernetes_host": server.url, "kubernetes_ca_cert": server.ca_pem(), "disable_local_ca_jwt": true, "token_reviewer_jwt": server.mint_token("pullsync-system", "openbao", 3600)})));
    bao.root("POST", "auth/kubernetes/role/pullsync", Some(json!({"bound_service_account_names": ["pullsync"], "bound_service_account_namespaces": ["pullsync-system"], "token_policies": ["pullsync"], "token_ttl": "10m"})));
    let work = tempfile::tempdir().unwrap();
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    write(&repo, "specs.yaml", ngc_kv(""));
    // The projected token file is re-read at every login: the kubelet rotates it.
    for round in 0..2 {
        let jwt_file = write(
            work.path(),
            "token",
            server.mint_token("pullsync-system", "pullsync", 3600),
        );
        let run = sync_local(
            &bao,
            &repo,
            &out,
            &[
                "--vault-auth",
                "kubernetes",
                "--vault-role",
                "pullsync",
                "--vault-jwt-file",
                jwt_file.to_str().unwrap(),
            ],
        );
        assert_eq!(
            run.code,
            0,
            "round {round}: {}\n{:?}",
            run.all(),
            server
                .log()
                .iter()
                .map(|l| format!("{} {} {}", l.method, l.path, l.status))
                .collect::<Vec<_>>()
        );
    }
    assert_eq!(password(&out), "nvapi-k8s");
    assert_eq!(bao.requests_to("auth/kubernetes/login"), 2);
    let reviews = server
        .all_requests()
        .iter()
        .filter(|l| l.path.ends_with("/tokenreviews") && l.status == 201)
        .count();
    assert!(
        reviews >= 2,
        "OpenBao asked the API server to review the tokens: {reviews}"
    );
}

/// Lease id of the dynamic credential `db` in the lease book Secret.
fn current_lease(server: &support::controlplane::ControlPlane) -> Value {
    let secret = server
        .get("secrets", "pullsync-system", "pullsync-vault-leases-default")
        .expect("the lease book is kept in a Secret");
    let book: Value = serde_json::from_slice(
        &STANDARD
            .decode(secret["data"]["leases.json"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    book
}

#[test]
fn dynamic_database_credentials_renew_rotate_revoke_and_survive_restarts() {
    let pg = support::postgres::Postgres::start();
    let bao = OpenBao::start();
    let token = bao.pullsync_token("1h");
    bao.database_role(&pg, "12s", "20s");
    let server = support::controlplane::ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    server.create_namespace("ml-team", &[]);
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: db}}\nspec:\n  vault: {{dynamic: {{path: database/creds/registry-reader, revokeOld: true}}}}\n---\n{HEADER}kind: Secret\nmetadata: {{name: db-creds}}\nspec:\n  namespaces: [ml-team]\n  data: {{username: {{credential: db}}, password: {{credential: db}}}}\n"
        ),
    );
    let started = std::time::Instant::now();
    let creds = |server: &support::controlplane::ControlPlane| {
        let s = server.get("secrets", "ml-team", "db-creds").unwrap();
        let get =
            |k: &str| String::from_utf8(STANDARD.decode(s["data"][k].as_str().unwrap()).unwrap()).unwrap();
        (get("username"), get("password"))
    };
    let issues = |bao: &OpenBao| bao.reads_of("database/creds/registry-reader");
    let mut timeline = Vec::new();
    let mut step = |what: &str, server: &support::controlplane::ControlPlane, bao: &OpenBao| {
        let run = cluster_sync(server, bao, &repo, &token);
        assert_eq!(run.code, 0, "{what}: {}", run.all());
        let lease = current_lease(server)["current"]["db"]["lease_id"]
            .as_str()
            .unwrap()
            .to_string();
        timeline.push(format!(
            "t={:>4.1}s {what}: lease …{}, issues {}, renewals {}, revocations {}",
            started.elapsed().as_secs_f64(),
            &lease[lease.len().saturating_sub(6)..],
            issues(bao),
            bao.requests_to("sys/leases/renew"),
            bao.requests_to("sys/leases/revoke")
        ));
        lease
    };
    let first = step("first sync issues", &server, &bao);
    let (user1, pass1) = creds(&server);
    assert!(pg.can_login(&user1, &pass1), "the issued database user works");
    assert!(
        !format!(
            "{:?}",
            server
                .list("secrets")
                .iter()
                .map(|s| s["metadata"]["annotations"].clone())
                .collect::<Vec<_>>()
        )
        .contains(&pass1),
        "no value in any annotation"
    );

    // A restart soon after: the lease is still good, so nothing is issued again.
    let again = step("restart, lease still good", &server, &bao);
    assert_eq!(again, first);
    assert_eq!(issues(&bao), 1, "no re-issue on restart");

    // Past two thirds of the lease: renewed, same credential.
    std::thread::sleep(std::time::Duration::from_secs(9));
    let renewed = step("renewal at ~2/3", &server, &bao);
    assert_eq!(renewed, first);
    assert_eq!(bao.requests_to("sys/leases/renew"), 1);
    assert_eq!(creds(&server), (user1.clone(), pass1.clone()));

    // Near max TTL (20s) a renewal cannot extend enough: a new credential replaces it, and the
    // old lease is revoked once the secret holds the new one.
    std::thread::sleep(std::time::Duration::from_secs(8));
    let rotated = step("max TTL: replaced", &server, &bao);
    assert_ne!(rotated, first);
    assert_eq!(issues(&bao), 2);
    let (user2, pass2) = creds(&server);
    assert_ne!(user2, user1);
    assert!(pg.can_login(&user2, &pass2));
    assert_eq!(
        bao.requests_to("sys/leases/revoke"),
        1,
        "the replaced lease is revoked"
    );
    assert!(!pg.can_login(&user1, &pass1), "the old database user is gone");
    eprintln!("lease timeline:\n  {}", timeline.join("\n  "));
}

#[test]
fn a_vault_namespace_is_sent_with_every_call() {
    let bao = OpenBao::start();
    bao.root("POST", "sys/namespaces/team-a", None);
    bao.root_in(
        "team-a",
        "POST",
        "sys/mounts/secret",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    bao.root_in(
        "team-a",
        "PUT",
        "sys/policies/acl/pullsync",
        Some(json!({"policy": support::openbao::POLICY})),
    );
    bao.root_in(
        "team-a",
        "POST",
        "secret/data/registries/ngc",
        Some(json!({"data": {"api_key": "nvapi-team-a"}})),
    );
    let token = bao.root_in(
        "team-a",
        "POST",
        "auth/token/create",
        Some(json!({"policies": ["pullsync"], "ttl": "1h"})),
    )["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The same path in the root namespace holds something else: the header must decide.
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-root"}));
    let work = tempfile::tempdir().unwrap();
    let token_file = write(work.path(), "token", token);
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    write(&repo, "specs.yaml", ngc_kv(""));
    let run = sync_local(
        &bao,
        &repo,
        &out,
        &[
            "--vault-namespace",
            "team-a",
            "--vault-auth",
            "token",
            "--vault-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(password(&out), "nvapi-team-a");
}

#[test]
fn tls_with_a_ca_bundle_and_insecure_only_when_asked() {
    let (mut child, addr, ca, dir) = OpenBao::start_tls();
    let put = Command::new("curl")
        .args(["-sf", "--cacert"])
        .arg(&ca)
        .args([
            "-H",
            "X-Vault-Token: root-tls",
            "-X",
            "POST",
            "-d",
            r#"{"data":{"api_key":"nvapi-tls"}}"#,
        ])
        .arg(format!("{addr}/v1/secret/data/registries/ngc"))
        .output()
        .unwrap();
    assert!(put.status.success());
    let token = write(dir.path(), "token", "root-tls");
    let work = tempfile::tempdir().unwrap();
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    write(&repo, "specs.yaml", ngc_kv(""));
    let sync = |extra: &[&str]| {
        let mut args = vec![
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--vault-addr",
            &addr,
            "--vault-auth",
            "token",
            "--vault-token-file",
            token.to_str().unwrap(),
        ];
        args.extend(extra);
        pullsync(&args, None, None)
    };
    let run = sync(&[]);
    assert_eq!(run.code, 1, "an unknown CA is refused: {}", run.all());
    let run = sync(&["--vault-ca-cert", ca.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(password(&out), "nvapi-tls");
    std::fs::remove_dir_all(&out).unwrap();
    let run = sync(&["--vault-insecure"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let _ = child.kill();
    let _ = child.wait();
}
