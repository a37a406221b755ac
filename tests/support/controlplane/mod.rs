//! A real Kubernetes control plane for the cluster tests, started the way controller-runtime's
//! envtest starts one: `etcd` and `kube-apiserver` (built from the Kubernetes sources by
//! `scripts/setup-test-tools.sh`) on loopback and free ports, a data folder of their own, TLS
//! from a CA made here, an admin client certificate for the harness, the real RBAC authorizer
//! with `deploy/`'s manifests, and pullsync authenticated as its ServiceAccount with a token from
//! TokenRequest. Requests are counted from the server's audit log. No controller-manager runs:
//! namespaces a test deletes stay `Terminating`, and there are no default ServiceAccounts.
#![allow(dead_code)]

pub mod audit;
mod pki;
pub mod process;
/// The fake server's model of RBAC rules, used here only to say which granted rules pullsync's
/// requests (authorized by the real server) needed.
/// (A test binary that also runs the fake server loads this file twice, harmlessly: the two
/// copies share no state.)
#[allow(clippy::duplicate_mod)]
#[path = "../apiserver/rbac.rs"]
mod rbac_rules;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use audit::Logged;
use process::{Process, binary, free_port};

/// pullsync's identity in every test: the ServiceAccount `deploy/` creates.
pub const PULLSYNC_NAMESPACE: &str = "pullsync-system";
pub const PULLSYNC_ACCOUNT: &str = "pullsync";
pub const PULLSYNC_USER: &str = "system:serviceaccount:pullsync-system:pullsync";
/// What the harness's own requests are sent as (a client certificate in `system:masters`).
pub const ADMIN_USER: &str = "harness-admin";

/// How long the API server may take to become ready on a loaded 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Which of `deploy/`'s RBAC pullsync runs under.
#[derive(Debug, Clone)]
pub enum Rbac {
    /// `deploy/base/rbac.yaml`: the cluster-wide install.
    ClusterWide,
    /// These manifests instead (e.g. `deploy/overlays/namespaced/rbac.yaml`).
    Manifests(Vec<PathBuf>),
}

/// Settings a test may change; [`Default`] is what every test gets.
#[derive(Debug, Clone)]
pub struct Options {
    pub rbac: Rbac,
    /// `--min-request-timeout` in seconds: watches are closed by the server after a random time
    /// between this and twice this (1800 s by default).
    pub min_request_timeout: Option<u32>,
    /// `--watch-cache`: with `false`, watches and lists go to etcd, so a compaction there makes an
    /// old resourceVersion answer 410 Gone.
    pub watch_cache: bool,
    /// `--service-account-max-token-expiration`.
    pub max_token_seconds: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            rbac: Rbac::ClusterWide,
            min_request_timeout: None,
            watch_cache: true,
            max_token_seconds: None,
        }
    }
}

pub struct ControlPlane {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    pub etcd_url: String,
    dir: tempfile::TempDir,
    options: Options,
    etcd: Process,
    apiserver: Mutex<Option<Process>>,
    port: u16,
    runtime: tokio::runtime::Runtime,
    admin: kube::Client,
    /// Where `log()` starts reading the audit log (set by `clear_log`).
    audit_from: Mutex<u64>,
    /// The RBAC manifests pullsync runs under now.
    rbac: Mutex<Vec<PathBuf>>,
    markers: std::sync::atomic::AtomicU64,
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(mut apiserver) = self.apiserver.lock().unwrap().take() {
            apiserver.stop();
        }
        self.etcd.stop();
    }
}

/// The API group/version path and whether a resource is namespaced, for the resources tests use.
fn api_of(resource: &str) -> (&'static str, &'static str, bool) {
    match resource {
        "namespaces" => ("api/v1", "Namespace", false),
        "secrets" => ("api/v1", "Secret", true),
        "serviceaccounts" => ("api/v1", "ServiceAccount", true),
        "configmaps" => ("api/v1", "ConfigMap", true),
        "services" => ("api/v1", "Service", true),
        "pods" => ("api/v1", "Pod", true),
        "validatingwebhookconfigurations" => (
            "apis/admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            false,
        ),
        "events" => ("api/v1", "Event", true),
        "deployments" => ("apis/apps/v1", "Deployment", true),
        "statefulsets" => ("apis/apps/v1", "StatefulSet", true),
        "daemonsets" => ("apis/apps/v1", "DaemonSet", true),
        "leases" => ("apis/coordination.k8s.io/v1", "Lease", true),
        "clusterroles" => ("apis/rbac.authorization.k8s.io/v1", "ClusterRole", false),
        "clusterrolebindings" => ("apis/rbac.authorization.k8s.io/v1", "ClusterRoleBinding", false),
        "roles" => ("apis/rbac.authorization.k8s.io/v1", "Role", true),
        "rolebindings" => ("apis/rbac.authorization.k8s.io/v1", "RoleBinding", true),
        other => panic!("the control-plane harness does not know resource {other}"),
    }
}

fn resource_of_kind(kind: &str) -> &'static str {
    match kind {
        "Namespace" => "namespaces",
        "ServiceAccount" => "serviceaccounts",
        "ClusterRole" => "clusterroles",
        "ClusterRoleBinding" => "clusterrolebindings",
        "Role" => "roles",
        "RoleBinding" => "rolebindings",
        "Secret" => "secrets",
        "ConfigMap" => "configmaps",
        other => panic!("the control-plane harness cannot apply kind {other}"),
    }
}

/// `/api/v1/namespaces/NS/secrets[/NAME]` and the like.
pub fn path_of(resource: &str, namespace: &str, name: Option<&str>) -> String {
    let (group, _, namespaced) = api_of(resource);
    let mut path = format!("/{group}");
    if namespaced && !namespace.is_empty() {
        path.push_str(&format!("/namespaces/{namespace}"));
    }
    path.push_str(&format!("/{resource}"));
    if let Some(name) = name {
        path.push_str(&format!("/{name}"));
    }
    path
}

/// An error answer of the API server.
#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl ControlPlane {
    /// A control plane with pullsync under the cluster-wide RBAC of `deploy/base/rbac.yaml`.
    pub fn start() -> ControlPlane {
        ControlPlane::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> ControlPlane {
        install_crypto();
        let dir = tempfile::Builder::new()
            .prefix("controlplane-")
            .tempdir()
            .unwrap();
        let pki = pki::make(&dir.path().join("pki"));
        std::fs::write(dir.path().join("audit-policy.yaml"), audit::POLICY).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();

        let (etcd, etcd_url) = start_etcd(dir.path());
        // A port taken between choosing and binding it makes the API server exit: choose again.
        let mut attempt = 0;
        let (apiserver, port) = loop {
            attempt += 1;
            let port = free_port();
            let mut process = start_apiserver(dir.path(), &pki, &etcd_url, port, &options);
            let admin = admin_client(&runtime, dir.path(), &pki, port);
            match wait_ready(&runtime, &admin, &mut process) {
                Ok(()) => break (process, port),
                Err(why) if attempt < 3 && why.contains("address already in use") => continue,
                Err(why) => panic!("kube-apiserver did not become ready: {why}"),
            }
        };
        let admin = admin_client(&runtime, dir.path(), &pki, port);
        let plane = ControlPlane {
            url: format!("https://127.0.0.1:{port}"),
            etcd_url,
            options,
            etcd,
            apiserver: Mutex::new(Some(apiserver)),
            port,
            runtime,
            admin,
            audit_from: Mutex::new(0),
            rbac: Mutex::new(Vec::new()),
            markers: Default::default(),
            dir,
        };
        plane.bootstrap();
        plane
    }

    /// pullsync's namespace, ServiceAccount and RBAC, and its kubeconfig.
    fn bootstrap(&self) {
        self.create_namespace(PULLSYNC_NAMESPACE, &[]);
        let manifests = match &self.options.rbac {
            Rbac::ClusterWide => vec![repo_path("deploy/base/rbac.yaml")],
            Rbac::Manifests(files) => files.clone(),
        };
        for file in &manifests {
            self.apply_file(file);
        }
        *self.rbac.lock().unwrap() = manifests;
        if self
            .get("serviceaccounts", PULLSYNC_NAMESPACE, PULLSYNC_ACCOUNT)
            .is_none()
        {
            self.create(
                "serviceaccounts",
                PULLSYNC_NAMESPACE,
                json!({"metadata": {"name": PULLSYNC_ACCOUNT}}),
            );
        }
        self.write_kubeconfig();
    }

    fn write_kubeconfig(&self) {
        // The longest token the server issues by default (it may cap it with
        // --service-account-max-token-expiration); a test outlives neither.
        let token = self.mint_token(PULLSYNC_NAMESPACE, PULLSYNC_ACCOUNT, 3600);
        let ca = std::fs::read_to_string(self.dir.path().join("pki/ca.crt")).unwrap();
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: \"{}\"\n    certificate-authority-data: {}\nusers:\n- name: pullsync\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context: {{cluster: test, user: pullsync, namespace: {PULLSYNC_NAMESPACE}}}\ncurrent-context: test\n",
            self.url,
            b64(ca.as_bytes()),
        );
        std::fs::write(self.dir.path().join("kubeconfig"), text).unwrap();
    }

    /// A kubeconfig that authenticates as pullsync's ServiceAccount (a TokenRequest token).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// A kubeconfig with the harness's admin client certificate (for `kubectl`).
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    /// The PEM of the CA that signed the serving certificate (for OpenBao's kubernetes auth).
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pki/ca.crt")).unwrap()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A request as the harness admin: the answer's JSON, or the server's error.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default())
            .unwrap();
        let answer = self.runtime.block_on(self.admin.request_text(request));
        match answer {
            Ok(text) if text.is_empty() => Ok(Value::Null),
            Ok(text) => Ok(serde_json::from_str(&text).unwrap_or(Value::String(text))),
            Err(kube::Error::Api(status)) => Err(ApiError {
                code: status.code,
                message: status.message.clone(),
            }),
            Err(e) => Err(ApiError {
                code: 0,
                message: e.to_string(),
            }),
        }
    }

    /// Create a namespace, or set the labels of one that exists.
    pub fn create_namespace(&self, name: &str, labels: &[(&str, &str)]) {
        if self.get("namespaces", "", name).is_some() {
            self.set_namespace_labels(name, labels);
            return;
        }
        let labels: BTreeMap<_, _> = labels.iter().copied().collect();
        self.create(
            "namespaces",
            "",
            json!({"metadata": {"name": name, "labels": labels}}),
        );
    }

    /// Replace a namespace's labels (the server keeps its own `kubernetes.io/metadata.name`).
    pub fn set_namespace_labels(&self, name: &str, labels: &[(&str, &str)]) {
        let mut labels: BTreeMap<_, _> = labels.iter().copied().collect();
        labels.insert("kubernetes.io/metadata.name", name);
        self.update(
            "namespaces",
            "",
            name,
            |ns| ns["metadata"]["labels"] = json!(labels),
            "test-setup",
        );
    }

    /// Delete a namespace; with no namespace controller running it stays `Terminating`.
    pub fn terminate_namespace(&self, name: &str) {
        self.delete("namespaces", "", name);
    }

    pub fn try_create(&self, resource: &str, namespace: &str, mut object: Value) -> Result<Value, ApiError> {
        let (group, kind, _) = api_of(resource);
        if object.get("kind").is_none() {
            object["kind"] = json!(kind);
            object["apiVersion"] = json!(group.trim_start_matches("api/").trim_start_matches("apis/"));
        }
        self.request(
            "POST",
            &format!("{}?fieldManager=test-setup", path_of(resource, namespace, None)),
            "application/json",
            Some(&object),
        )
    }

    pub fn create(&self, resource: &str, namespace: &str, object: Value) -> Value {
        self.try_create(resource, namespace, object)
            .unwrap_or_else(|e| panic!("create {resource} in {namespace:?}: {e:?}"))
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        match self.request(
            "GET",
            &path_of(resource, namespace, Some(name)),
            "application/json",
            None,
        ) {
            Ok(object) => Some(object),
            Err(e) if e.code == 404 => None,
            Err(e) => panic!("get {resource} {namespace}/{name}: {e:?}"),
        }
    }

    /// Every object of a resource, in all namespaces.
    pub fn list(&self, resource: &str) -> Vec<Value> {
        let list = self
            .request("GET", &path_of(resource, "", None), "application/json", None)
            .unwrap_or_else(|e| panic!("list {resource}: {e:?}"));
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Change an object as another client would (an update by `manager`), retrying on conflict.
    pub fn update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl Fn(&mut Value),
        manager: &str,
    ) -> Value {
        loop {
            let mut object = self
                .get(resource, namespace, name)
                .unwrap_or_else(|| panic!("update: no {resource} {namespace}/{name}"));
            change(&mut object);
            let path = format!(
                "{}?fieldManager={manager}",
                path_of(resource, namespace, Some(name))
            );
            match self.request("PUT", &path, "application/json", Some(&object)) {
                Ok(updated) => return updated,
                Err(e) if e.code == 409 => continue,
                Err(e) => panic!("update {resource} {namespace}/{name}: {e:?}"),
            }
        }
    }

    pub fn delete(&self, resource: &str, namespace: &str, name: &str) {
        match self.request(
            "DELETE",
            &path_of(resource, namespace, Some(name)),
            "application/json",
            None,
        ) {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => panic!("delete {resource} {namespace}/{name}: {e:?}"),
        }
    }

    /// Server-side apply every object of a YAML file as the harness (field manager
    /// `test-setup`), creating namespaces its objects name first.
    pub fn apply_file(&self, file: &Path) {
        let text = std::fs::read_to_string(file).unwrap();
        for document in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            if document.is_null() {
                continue;
            }
            self.apply(&document);
        }
    }

    pub fn apply(&self, object: &Value) {
        let resource = resource_of_kind(object["kind"].as_str().unwrap());
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap();
        if !namespace.is_empty() && self.get("namespaces", "", namespace).is_none() {
            self.create_namespace(namespace, &[]);
        }
        let path = format!(
            "{}?fieldManager=test-setup&force=true",
            path_of(resource, namespace, Some(name))
        );
        self.request("PATCH", &path, "application/apply-patch+yaml", Some(object))
            .unwrap_or_else(|e| panic!("apply {resource} {namespace}/{name}: {e:?}"));
    }

    /// A service-account token from the real TokenRequest API (the server refuses fewer than
    /// 600 seconds).
    pub fn mint_token(&self, namespace: &str, account: &str, seconds: i64) -> String {
        let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token");
        let answer = self
            .request(
                "POST",
                &path,
                "application/json",
                Some(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}})),
            )
            .unwrap_or_else(|e| panic!("TokenRequest {namespace}/{account}: {e:?}"));
        answer["status"]["token"].as_str().unwrap().to_string()
    }

    /// The requests pullsync sent since the last `clear_log`, as the audit log recorded them.
    pub fn log(&self) -> Vec<Logged> {
        self.all_requests()
            .into_iter()
            .filter(|l| l.user == PULLSYNC_USER)
            .collect()
    }

    /// Every request since the last `clear_log` (any user but the server itself).
    pub fn all_requests(&self) -> Vec<Logged> {
        let from = *self.audit_from.lock().unwrap();
        self.requests_from(from)
    }

    fn requests_from(&self, from: u64) -> Vec<Logged> {
        let marker = self.audit_marker();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = read_from(&self.audit_path(), from);
            let events = audit::parse(&text);
            if let Some(at) = events.iter().position(|l| l.name == marker) {
                let mut events = events;
                events.truncate(at);
                return events.into_iter().filter(|l| l.user != ADMIN_USER).collect();
            }
            assert!(Instant::now() < deadline, "the audit log never recorded {marker}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Requests that finished before this call have been written once this request is: the
    /// harness asks for an object that does not exist and waits for that line.
    fn audit_marker(&self) -> String {
        let n = self.markers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let marker = format!("audit-marker-{n}");
        let _ = self.get("namespaces", "", &marker);
        marker
    }

    fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }

    pub fn clear_log(&self) {
        let marker = self.audit_marker();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let from = *self.audit_from.lock().unwrap();
            let text = read_from(&self.audit_path(), from);
            if let Some(end) = text.find(&format!("/{marker}\"")) {
                let line_end = text[end..].find('\n').map(|i| end + i + 1).unwrap_or(text.len());
                *self.audit_from.lock().unwrap() = from + line_end as u64;
                return;
            }
            assert!(Instant::now() < deadline, "the audit log never recorded {marker}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Run pullsync under the RBAC of these manifests instead: the roles and bindings of the
    /// current ones are deleted, the new ones applied.
    pub fn set_rbac(&self, manifests: &[&Path]) {
        for file in self.rbac.lock().unwrap().iter() {
            let text = std::fs::read_to_string(file).unwrap();
            for object in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
                let kind = object["kind"].as_str().unwrap_or_default();
                if kind.ends_with("Role") || kind.ends_with("RoleBinding") {
                    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
                    let name = object["metadata"]["name"].as_str().unwrap();
                    self.delete(resource_of_kind(kind), namespace, name);
                }
            }
        }
        for file in manifests {
            self.apply_file(file);
        }
        *self.rbac.lock().unwrap() = manifests.iter().map(|p| p.to_path_buf()).collect();
    }

    /// Rules of pullsync's current RBAC that none of its requests since the start needed
    /// (`Role pullsync-self: patch secrets`), judged from the audit log.
    pub fn rbac_unused(&self) -> Vec<String> {
        let files = self.rbac.lock().unwrap().clone();
        let files: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
        let rules = rbac_rules::Rbac::from_manifests(&files, PULLSYNC_NAMESPACE, PULLSYNC_ACCOUNT);
        for request in self.requests_from(0) {
            if request.user != PULLSYNC_USER || request.status == 403 || request.resource.is_empty() {
                continue;
            }
            rules.allows(&rbac_rules::Attributes {
                verb: request.verb.clone(),
                group: request.group.clone(),
                resource: request.resource.clone(),
                namespace: request.namespace.clone(),
                name: (!request.name.is_empty()).then(|| request.name.clone()),
            });
        }
        rules.unused()
    }

    /// pullsync's successful writes (2xx) to `resource`, e.g. "secrets".
    pub fn writes_to(&self, resource: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.is_write() && l.status < 300 && l.resource == resource)
            .count()
    }

    /// etcd's current revision.
    pub fn etcd_revision(&self) -> u64 {
        let answer = etcd_post(&self.etcd_url, "/v3/kv/range", &json!({"key": b64(b"\0")}));
        answer["header"]["revision"].as_str().unwrap().parse().unwrap()
    }

    /// Compact etcd's history up to now: a watch resumed from an older resourceVersion is
    /// answered with 410 Gone (from etcd, or from the watch cache once it lags behind).
    pub fn compact_etcd(&self) {
        let revision = self.etcd_revision();
        etcd_post(
            &self.etcd_url,
            "/v3/kv/compaction",
            &json!({"revision": revision.to_string(), "physical": true}),
        );
    }

    /// Stop the API server (etcd keeps its data).
    pub fn stop_apiserver(&self) {
        if let Some(mut process) = self.apiserver.lock().unwrap().take() {
            process.stop();
        }
    }

    /// Start the API server again on the same port and data, and wait until it is ready.
    pub fn start_apiserver(&self) {
        let pki = pki_paths(self.dir.path());
        let mut process = start_apiserver(self.dir.path(), &pki, &self.etcd_url, self.port, &self.options);
        wait_ready(&self.runtime, &self.admin, &mut process).expect("kube-apiserver restarts");
        *self.apiserver.lock().unwrap() = Some(process);
    }
}

/// `kubectl ARGS` as the harness admin.
pub fn kubectl(plane: &ControlPlane, args: &[&str]) -> std::process::Output {
    std::process::Command::new("kubectl")
        .env("KUBECONFIG", plane.admin_kubeconfig())
        .arg("--cache-dir")
        .arg(plane.dir.path().join("kubectl-cache"))
        .args(args)
        .output()
        .unwrap()
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn read_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset as usize..).unwrap_or_default()).into_owned()
}

fn pki_paths(dir: &Path) -> pki::Pki {
    let p = |name: &str| dir.join("pki").join(name);
    pki::Pki {
        ca_cert: p("ca.crt"),
        serving_cert: p("serving.crt"),
        serving_key: p("serving.key"),
        admin_cert: p("admin.crt"),
        admin_key: p("admin.key"),
        sa_key: p("sa.key"),
        sa_pub: p("sa.pub"),
    }
}

fn start_etcd(dir: &Path) -> (Process, String) {
    let etcd = binary("etcd");
    for _ in 0..3 {
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let args: Vec<String> = [
            "--name=default".to_string(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            // Test data: no fsync (envtest does the same for speed).
            "--unsafe-no-fsync=true".to_string(),
            "--log-level=warn".to_string(),
        ]
        .into();
        let mut process = Process::start(&etcd, &args, dir.join("etcd.log"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(why) = process.exited() {
                if why.contains("address already in use") {
                    break;
                }
                panic!("etcd exited: {why}");
            }
            if etcd_health(&client_url) {
                return (process, client_url);
            }
            assert!(Instant::now() < deadline, "etcd did not become healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("etcd could not get a free port");
}

fn etcd_health(url: &str) -> bool {
    http_raw(url, "GET", "/health", None)
        .map(|(status, body)| status == 200 && body.contains("true"))
        .unwrap_or(false)
}

fn etcd_post(url: &str, path: &str, body: &Value) -> Value {
    let (status, text) = http_raw(url, "POST", path, Some(&body.to_string())).expect("reach etcd");
    assert_eq!(status, 200, "etcd {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A plain HTTP/1.1 request to etcd's loopback gRPC gateway.
fn http_raw(url: &str, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1;
    // etcd's gateway answers small bodies unchunked; a chunked one is rejoined here.
    let body = if answer.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        unchunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn start_apiserver(dir: &Path, pki: &pki::Pki, etcd_url: &str, port: u16, options: &Options) -> Process {
    let url = format!("https://127.0.0.1:{port}");
    let d = |p: &Path| p.display().to_string();
    let mut args: Vec<String> = vec![
        format!("--etcd-servers={etcd_url}"),
        format!("--secure-port={port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        // The `kubernetes` Service's endpoint reconciler refuses a loopback address; nothing
        // here resolves that Service.
        "--endpoint-reconciler-type=none".into(),
        format!("--cert-dir={}", dir.join("apiserver-certs").display()),
        format!("--tls-cert-file={}", d(&pki.serving_cert)),
        format!("--tls-private-key-file={}", d(&pki.serving_key)),
        format!("--client-ca-file={}", d(&pki.ca_cert)),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        "--allow-privileged=true".into(),
        // envtest's choice: no controller-manager mints default ServiceAccounts.
        "--disable-admission-plugins=ServiceAccount".into(),
        "--authorization-mode=RBAC".into(),
        format!("--service-account-issuer={url}"),
        format!("--service-account-key-file={}", d(&pki.sa_pub)),
        format!("--service-account-signing-key-file={}", d(&pki.sa_key)),
        format!("--audit-policy-file={}", dir.join("audit-policy.yaml").display()),
        format!("--audit-log-path={}", dir.join("audit.log").display()),
        "--audit-log-format=json".into(),
        "--audit-log-mode=blocking".into(),
        "--audit-log-maxsize=0".into(),
        "--profiling=false".into(),
        format!("--watch-cache={}", options.watch_cache),
    ];
    if let Some(seconds) = options.min_request_timeout {
        args.push(format!("--min-request-timeout={seconds}"));
    }
    if let Some(seconds) = options.max_token_seconds {
        args.push(format!("--service-account-max-token-expiration={seconds}s"));
    }
    std::fs::write(
        dir.join("admin.kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"{url}\", certificate-authority: \"{}\"}}\nusers:\n- name: admin\n  user: {{client-certificate: \"{}\", client-key: \"{}\"}}\ncontexts:\n- name: test\n  context: {{cluster: test, user: admin}}\ncurrent-context: test\n",
            d(&pki.ca_cert),
            d(&pki.admin_cert),
            d(&pki.admin_key)
        ),
    )
    .unwrap();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let log = dir.join(format!("kube-apiserver-{}.log", started.as_millis()));
    Process::start(&binary("kube-apiserver"), &args, log)
}

fn admin_client(runtime: &tokio::runtime::Runtime, dir: &Path, _pki: &pki::Pki, _port: u16) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(dir.join("admin.kubeconfig")).unwrap();
    runtime.block_on(async {
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
        kube::Client::try_from(config).unwrap()
    })
}

/// Poll `/readyz` until every post-start hook has finished (RBAC bootstrap roles among them).
fn wait_ready(
    runtime: &tokio::runtime::Runtime,
    admin: &kube::Client,
    process: &mut Process,
) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(why) = process.exited() {
            return Err(why);
        }
        let request = http::Request::get("/readyz").body(Vec::new()).unwrap();
        let ready = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), admin.request_text(request)).await
        });
        if matches!(ready, Ok(Ok(ref text)) if text.trim() == "ok") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not ready after {READY_TIMEOUT:?}: {ready:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl ControlPlane {
    /// The API server's TokenReview of `token` (as the harness admin): `status.authenticated`,
    /// `status.user`, `status.audiences`.
    pub fn token_review(&self, token: &str, audiences: &[&str]) -> Value {
        let mut spec = json!({"token": token});
        if !audiences.is_empty() {
            spec["audiences"] = json!(audiences);
        }
        self.request(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            "application/json",
            Some(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec})),
        )
        .expect("TokenReview")
    }
}

/// The claims of a JWT, unverified (check it with [`ControlPlane::token_review`]).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The field manager entries of an object: (manager, operation).
pub fn managers(object: &Value) -> Vec<(String, String)> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["manager"].as_str().unwrap_or_default().to_string(),
                m["operation"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A Deployment, StatefulSet or DaemonSet the real server accepts (selector, labels, one
/// container). Without a controller-manager it never gets pods: tests read its pod template.
pub fn workload(resource: &str, name: &str) -> Value {
    let (_, kind, _) = api_of(resource);
    let labels = json!({"app": name});
    let mut spec = json!({
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "main", "image": "registry.example/app:1"}]},
        },
    });
    if resource == "statefulsets" {
        spec["serviceName"] = json!(name);
    }
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}
