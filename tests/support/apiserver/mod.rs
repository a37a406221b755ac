//! A test Kubernetes API server: HTTP on 127.0.0.1 (a free port), spoken to by the real
//! `kube::Client` and by `kubectl`, with the documented semantics pullsync relies on. Test code,
//! not product. See `store.rs`, `fields.rs`, `patch.rs`, `select.rs` for which documents each
//! behaviour follows.
#![allow(dead_code)]

mod discovery;
mod fields;
pub mod jwt;
mod patch;
pub mod rbac;
mod select;
mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use store::{ApiError, Key, Store, api_version_of, kind_of};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub status: u16,
    pub user_agent: String,
    /// The holder of the Lease `pullsync-system/pullsync-default` when the request arrived
    /// (before any injected latency): who was entitled to write at that moment.
    pub lease_holder: String,
    /// When the answer was ready (benchmarks time write phases from the server's side).
    pub answered: std::time::Instant,
}

impl Logged {
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

/// Fault injection: latency on every request, and a share of writes failing.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub latency: Duration,
    /// Fail this share of writes (0.0–1.0), deterministically spread.
    pub write_failure_ratio: f64,
    /// Status codes to cycle through for failed writes (409, 429, 500…).
    pub codes: Vec<u16>,
    /// `Retry-After` seconds sent with 429s.
    pub retry_after: Option<u64>,
    /// Answer every watch request with 500 (an API server or proxy in trouble).
    pub fail_watches: bool,
    /// A concurrent writer that gets in first: before each of pullsync's next `times` PATCHes
    /// to this ServiceAccount (namespace, name), another client appends `racer-N` to its
    /// `imagePullSecrets`.
    pub race_service_account: Option<(String, String, usize)>,
}

struct Shared {
    store: Mutex<Store>,
    log: Mutex<Vec<Logged>>,
    faults: Mutex<Faults>,
    writes_seen: Mutex<u64>,
    /// Authorization of requests made with the kubeconfig's token (pullsync's); by default
    /// the cluster-wide RBAC of `deploy/base/rbac.yaml`.
    rbac: Mutex<Option<Arc<rbac::Rbac>>>,
}

pub struct ApiServer {
    pub url: String,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    dir: tempfile::TempDir,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl ApiServer {
    pub fn start() -> ApiServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Faults::default()),
            writes_seen: Mutex::new(0),
            rbac: Mutex::new(Some(Arc::new(rbac::Rbac::from_manifests(
                &[&Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/base/rbac.yaml")],
                "pullsync-system",
                "pullsync",
            )))),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        // Go's net/http (the real API server) sets TCP_NODELAY on every connection; without it
        // a paged list stalls on Nagle + delayed ACK for ~40 ms per page.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let server = ApiServer {
            url: format!("http://{addr}"),
            shared,
            runtime: Some(runtime),
            dir: tempfile::tempdir().unwrap(),
        };
        server.create_namespace("default", &[]);
        // pullsync's own namespace in the kubeconfig below, as an install has it.
        server.create_namespace("pullsync-system", &[]);
        server
    }

    /// A kubeconfig file pointing at this server.
    pub fn kubeconfig(&self) -> PathBuf {
        let path = self.dir.path().join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"{}\"}}\nusers:\n- name: test\n  user: {{token: test-token}}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test, namespace: pullsync-system}}\ncurrent-context: test\n",
            self.url
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Authorize pullsync's requests with the RBAC of these manifests instead (`None`: allow
    /// everything).
    pub fn set_rbac(&self, manifests: Option<&[&Path]>) {
        *self.shared.rbac.lock().unwrap() =
            manifests.map(|files| Arc::new(rbac::Rbac::from_manifests(files, "pullsync-system", "pullsync")));
    }

    /// Granted permissions no request of pullsync has needed so far.
    pub fn rbac_unused(&self) -> Vec<String> {
        self.shared
            .rbac
            .lock()
            .unwrap()
            .as_ref()
            .map(|r| r.unused())
            .unwrap_or_default()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.shared.log.lock().unwrap().clear();
    }

    /// Successful writes (2xx) to a resource path containing `resource`, e.g. "secrets".
    pub fn writes_to(&self, resource: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.is_write() && l.status < 300 && l.path.contains(&format!("/{resource}")))
            .count()
    }

    /// Cap the lifetime of issued tokens, as `--service-account-max-token-expiration` does.
    pub fn set_max_token_seconds(&self, seconds: i64) {
        self.shared.store.lock().unwrap().max_token_seconds = Some(seconds);
    }

    /// A service-account token as TokenRequest would mint it.
    pub fn mint_token(&self, namespace: &str, account: &str, seconds: i64) -> String {
        let response = self
            .with_store(|s| {
                s.token_request(
                    namespace,
                    account,
                    &json!({"spec": {"expirationSeconds": seconds}}),
                )
            })
            .unwrap();
        response["status"]["token"].as_str().unwrap().to_string()
    }

    pub fn token_key(&self) -> Vec<u8> {
        self.shared.store.lock().unwrap().token_key.clone()
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.shared.store.lock().unwrap())
    }

    /// Create a namespace, or set the labels of one that exists.
    pub fn create_namespace(&self, name: &str, labels: &[(&str, &str)]) {
        if self.get("namespaces", "", name).is_some() {
            self.set_namespace_labels(name, labels);
            return;
        }
        let labels: BTreeMap<_, _> = labels.iter().copied().collect();
        self.with_store(|s| {
            s.create(
                "namespaces",
                "",
                json!({"metadata": {"name": name, "labels": labels}}),
                "test-setup",
            )
        })
        .unwrap();
    }

    pub fn set_namespace_labels(&self, name: &str, labels: &[(&str, &str)]) {
        let labels: BTreeMap<_, _> = labels.iter().copied().collect();
        self.with_store(|s| {
            let old = s.get("namespaces", "", name).unwrap();
            let mut new = old.clone();
            new["metadata"]["labels"] = json!(labels);
            s.commit("namespaces", "", name, &old, new, None, "test-setup")
                .unwrap();
        });
    }

    pub fn terminate_namespace(&self, name: &str) {
        self.with_store(|s| s.delete("namespaces", "", name, &Value::Null))
            .unwrap();
    }

    pub fn create(&self, resource: &str, namespace: &str, object: Value) -> Value {
        self.with_store(|s| s.create(resource, namespace, object, "test-setup"))
            .unwrap()
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.with_store(|s| s.get(resource, namespace, name).ok())
    }

    pub fn list(&self, resource: &str) -> Vec<Value> {
        self.with_store(|s| {
            s.objects
                .iter()
                .filter(|(k, _)| k.0 == resource)
                .map(|(_, v)| v.clone())
                .collect()
        })
    }

    /// Change an object as another client would (an update by `manager`).
    pub fn update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
        manager: &str,
    ) -> Value {
        self.with_store(|s| {
            let old = s.get(resource, namespace, name).unwrap();
            let mut new = old.clone();
            change(&mut new);
            s.commit(resource, namespace, name, &old, new, None, manager)
                .unwrap()
        })
    }

    pub fn delete(&self, resource: &str, namespace: &str, name: &str) {
        self.with_store(|s| s.delete(resource, namespace, name, &Value::Null))
            .unwrap();
    }
}

/// What a request path names.
#[derive(Debug)]
struct Target {
    resource: String,
    namespace: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_target(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segs.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return None,
    };
    let s = |x: &&str| x.to_string();
    Some(match rest {
        ["namespaces", ns, resource, tail @ ..] => Target {
            resource: s(resource),
            namespace: s(ns),
            name: tail.first().map(s),
            subresource: tail.get(1).map(s),
        },
        [resource, tail @ ..] if *resource != "namespaces" || tail.len() <= 2 => Target {
            resource: s(resource),
            namespace: String::new(),
            name: tail.first().map(s),
            subresource: tail.get(1).map(s),
        },
        _ => return None,
    })
}

fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .map(|q| {
            q.split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-decoding of a query component (`+` is a space in forms).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response(code: u16, body: &Value, extra: &[(&str, String)]) -> Response {
    let mut builder = Response::builder()
        .status(code)
        .header("content-type", "application/json");
    for (k, v) in extra {
        builder = builder.header(*k, v);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.status(), &[])
}

async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let faults = shared.faults.lock().unwrap().clone();
    let lease_holder = shared
        .store
        .lock()
        .unwrap()
        .get("leases", "pullsync-system", "pullsync-default")
        .ok()
        .and_then(|l| {
            l.pointer("/spec/holderIdentity")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .unwrap_or_default();
    if method == Method::PATCH
        && let Some((ns, name, times)) = &faults.race_service_account
        && *times > 0
        && uri.path() == format!("/api/v1/namespaces/{ns}/serviceaccounts/{name}")
        && uri.query().is_some_and(|q| q.contains("fieldManager=pullsync"))
    {
        let mut store = shared.store.lock().unwrap();
        if let Ok(old) = store.get("serviceaccounts", ns, name) {
            let mut new = old.clone();
            let entry = json!({"name": format!("racer-{times}")});
            match new["imagePullSecrets"].as_array_mut() {
                Some(list) => list.push(entry),
                None => new["imagePullSecrets"] = json!([entry]),
            }
            let _ = store.commit("serviceaccounts", ns, name, &old, new, None, "racer");
        }
        if let Some(race) = shared.faults.lock().unwrap().race_service_account.as_mut() {
            race.2 -= 1;
        }
    }
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let query = query_map(&uri);
    let is_write = matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let injected = if is_write && faults.write_failure_ratio > 0.0 && !faults.codes.is_empty() {
        let mut seen = shared.writes_seen.lock().unwrap();
        *seen += 1;
        let n = *seen as f64;
        let fail =
            (n * faults.write_failure_ratio).floor() > ((n - 1.0) * faults.write_failure_ratio).floor();
        fail.then(|| faults.codes[(*seen as usize) % faults.codes.len()])
    } else {
        None
    };
    let is_watch = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    // pullsync's own requests carry the kubeconfig's token; the test's helpers carry none.
    let as_pullsync = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "Bearer test-token");
    let rbac = shared.rbac.lock().unwrap().clone();
    let denied = match (&rbac, as_pullsync) {
        (Some(rbac), true) => rbac::attributes(method.as_str(), uri.path(), is_watch)
            .filter(|a| !rbac.allows(a))
            .map(|a| {
                let scope = if a.namespace.is_empty() {
                    "at the cluster scope".to_string()
                } else {
                    format!("in the namespace \"{}\"", a.namespace)
                };
                // The real authorizer's wording (k8s.io/apiserver, forbidden responses).
                ApiError::new(
                    403,
                    "Forbidden",
                    format!(
                        "{} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
                        a.resource, rbac.subject, a.verb, a.resource, a.group
                    ),
                )
            }),
        _ => None,
    };
    let response = if let Some(e) = denied {
        json_response(403, &e.status(), &[])
    } else if faults.fail_watches && is_watch {
        let e = ApiError::new(
            500,
            "InternalError",
            "Internal error occurred: injected watch fault",
        );
        json_response(500, &e.status(), &[])
    } else if let Some(code) = injected {
        let (reason, message) = match code {
            409 => (
                "Conflict",
                "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
            ),
            429 => ("TooManyRequests", "Too many requests, please try again later."),
            _ => ("InternalError", "Internal error occurred: injected fault"),
        };
        let mut e = ApiError::new(code, reason, message);
        let mut extra = Vec::new();
        if code == 429 {
            let secs = faults.retry_after.unwrap_or(1);
            e.details = json!({"retryAfterSeconds": secs});
            extra.push(("retry-after", secs.to_string()));
        }
        json_response(code, &e.status(), &extra)
    } else if let Some(r) = discovery::respond(uri.path()) {
        json_response(200, &r, &[])
    } else {
        route(
            &shared,
            &method,
            uri.path(),
            &query,
            &content_type,
            &accept,
            &body,
        )
        .await
    };
    shared.log.lock().unwrap().push(Logged {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        content_type,
        status: response.status().as_u16(),
        user_agent,
        lease_holder,
        answered: std::time::Instant::now(),
    });
    response
}

fn parse_body(body: &Bytes, content_type: &str) -> Result<Value, ApiError> {
    if content_type.contains("protobuf") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "this test server speaks JSON only",
        ));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::new(400, "BadRequest", "body is not UTF-8"))?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text)
        .or_else(|_| serde_saphyr::from_str(text))
        .map_err(|e| ApiError::new(400, "BadRequest", format!("cannot decode body: {e}")))
}

async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    content_type: &str,
    accept: &str,
    body: &Bytes,
) -> Response {
    let Some(t) = parse_target(path) else {
        return error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    if kind_of(&t.resource) == "Unknown" {
        return error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let manager = query
        .get("fieldManager")
        .cloned()
        .unwrap_or_else(|| "unknown".into());
    let result: Result<(u16, Value), ApiError> = (|| match (method.clone(), &t.name, t.subresource.as_deref())
    {
        (Method::GET, None, _) => {
            if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                return Err(ApiError::new(0, "Watch", ""));
            }
            list(shared, &t, query, accept).map(|v| (200, v))
        }
        (Method::GET, Some(name), None) => {
            let object = shared
                .store
                .lock()
                .unwrap()
                .get(&t.resource, &t.namespace, name)?;
            Ok((200, as_metadata_if_asked(object, accept)))
        }
        (Method::POST, None, _) if t.resource == "tokenreviews" => {
            let review = parse_body(body, content_type)?;
            Ok((201, shared.store.lock().unwrap().token_review(&review)))
        }
        (Method::POST, None, _) => {
            let object = parse_body(body, content_type)?;
            let created = shared
                .store
                .lock()
                .unwrap()
                .create(&t.resource, &t.namespace, object, &manager)?;
            Ok((201, created))
        }
        (Method::POST, Some(name), Some("token")) if t.resource == "serviceaccounts" => {
            let request = parse_body(body, content_type)?;
            let response = shared
                .store
                .lock()
                .unwrap()
                .token_request(&t.namespace, name, &request)?;
            Ok((201, response))
        }
        (Method::PUT, Some(name), None) => {
            let object = parse_body(body, content_type)?;
            let updated =
                shared
                    .store
                    .lock()
                    .unwrap()
                    .replace(&t.resource, &t.namespace, name, object, &manager)?;
            Ok((200, updated))
        }
        (Method::PATCH, Some(name), None) => patch_object(shared, &t, name, query, content_type, body),
        (Method::DELETE, Some(name), None) => {
            let options = parse_body(body, content_type).unwrap_or(Value::Null);
            let gone = shared
                .store
                .lock()
                .unwrap()
                .delete(&t.resource, &t.namespace, name, &options)?;
            Ok((200, gone))
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    })();
    match result {
        Ok((code, body)) => json_response(code, &body, &[]),
        Err(e) if e.reason == "Watch" => watch(shared, &t, query, accept).await,
        Err(e) => error_response(&e),
    }
}

fn as_metadata_if_asked(object: Value, accept: &str) -> Value {
    if accept.contains("as=PartialObjectMetadata") {
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]})
    } else {
        object
    }
}

fn list(
    shared: &Arc<Shared>,
    t: &Target,
    query: &BTreeMap<String, String>,
    accept: &str,
) -> Result<Value, ApiError> {
    let labels = select::LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::new(400, "BadRequest", e))?;
    let fields =
        select::FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str), &t.resource)
            .map_err(|e| ApiError::new(400, "BadRequest", e))?;
    let store = shared.store.lock().unwrap();
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    // The continue token names the last key served (as the real server's encodes the last
    // key read): each page starts where the previous one ended, scanning only this resource.
    let after: Option<Key> = query
        .get("continue")
        .and_then(|c| serde_json::from_str::<(String, String, String)>(c).ok());
    let from = match &after {
        Some(key) => std::ops::Bound::Excluded(key.clone()),
        None => std::ops::Bound::Included((t.resource.clone(), t.namespace.clone(), String::new())),
    };
    let matching = store
        .objects
        .range((from, std::ops::Bound::Unbounded))
        .take_while(|(k, _)| k.0 == t.resource && (t.namespace.is_empty() || k.1 == t.namespace))
        .filter(|(_, v)| labels.matches(v) && fields.matches(v));
    // Clone only the page asked for (one more to know whether there is a next page).
    let mut items: Vec<(&Key, Value)> = matching
        .take(limit.map_or(usize::MAX, |l| l + 1))
        .map(|(k, v)| (k, v.clone()))
        .collect();
    let mut continue_token = Value::Null;
    if let Some(limit) = limit
        && items.len() > limit
    {
        items.truncate(limit);
        let last = items[limit - 1].0;
        continue_token = json!(serde_json::to_string(last).unwrap());
    }
    let items: Vec<Value> = items.into_iter().map(|(_, v)| v).collect();
    let metadata_only = accept.contains("as=PartialObjectMetadataList");
    let (kind, api_version) = if metadata_only {
        ("PartialObjectMetadataList".to_string(), "meta.k8s.io/v1")
    } else {
        (
            format!("{}List", kind_of(&t.resource)),
            api_version_of(&t.resource),
        )
    };
    let items: Vec<Value> = items
        .into_iter()
        .map(|i| {
            if metadata_only {
                as_metadata_if_asked(i, "as=PartialObjectMetadata")
            } else {
                i
            }
        })
        .collect();
    let mut meta = json!({"resourceVersion": store.rv.to_string()});
    if !continue_token.is_null() {
        meta["continue"] = continue_token;
    }
    Ok(json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items}))
}

fn patch_object(
    shared: &Arc<Shared>,
    t: &Target,
    name: &str,
    query: &BTreeMap<String, String>,
    content_type: &str,
    body: &Bytes,
) -> Result<(u16, Value), ApiError> {
    let patch = parse_body(body, content_type)?;
    let manager = query.get("fieldManager").cloned();
    let mut store = shared.store.lock().unwrap();
    let existing = store.get(&t.resource, &t.namespace, name);
    if content_type.starts_with("application/apply-patch") {
        let Some(manager) = manager else {
            return Err(ApiError::new(
                422,
                "Invalid",
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        };
        let force = query.get("force").is_some_and(|f| f == "true");
        if patch.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(ApiError::new(
                400,
                "BadRequest",
                "the name of the object does not match the name on the URL",
            ));
        }
        let live = match &existing {
            Ok(v) => v.clone(),
            Err(_) => json!({"metadata": {"name": name}}),
        };
        let (merged, entries) = fields::apply(&live, &patch, &manager, force).map_err(|conflicts| {
            let lines: Vec<String> = conflicts.iter().map(|c| format!("conflict with \"{}\": {}", c.manager, c.field)).collect();
            let mut e = ApiError::new(409, "Conflict", format!("Apply failed with {} conflict{}: {}", conflicts.len(), if conflicts.len() == 1 { "" } else { "s" }, lines.join("\n")));
            e.details = json!({"causes": conflicts.iter().map(|c| json!({"type": "FieldManagerConflict", "message": format!("conflict with \"{}\"", c.manager), "field": c.field})).collect::<Vec<_>>()});
            e
        })?;
        return match existing {
            Ok(old) => store
                .commit(
                    &t.resource,
                    &t.namespace,
                    name,
                    &old,
                    merged,
                    Some(entries),
                    &manager,
                )
                .map(|v| (200, v)),
            Err(_) => {
                let mut created = store.create(&t.resource, &t.namespace, merged, &manager)?;
                // Ownership from the apply, not from an update.
                fields::write(
                    &mut created,
                    &entries,
                    api_version_of(&t.resource),
                    &pullsync::time::format(std::time::SystemTime::now()),
                );
                let key = (t.resource.clone(), t.namespace.clone(), name.to_string());
                store.objects.insert(key, created.clone());
                Ok((201, created))
            }
        };
    }
    let old = existing?;
    let mut new = old.clone();
    if content_type.starts_with("application/json-patch+json") {
        patch::json_patch(&mut new, &patch).map_err(|(code, message)| {
            ApiError::new(code, if code == 422 { "Invalid" } else { "BadRequest" }, message)
        })?;
    } else if content_type.starts_with("application/merge-patch+json") {
        patch::merge_patch(&mut new, &patch);
    } else if content_type.starts_with("application/strategic-merge-patch+json") {
        patch::strategic_merge_patch(&mut new, &patch);
    } else {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ));
    }
    if let Some(rv) = patch.pointer("/metadata/resourceVersion").and_then(Value::as_str)
        && !content_type.starts_with("application/json-patch")
        && old.pointer("/metadata/resourceVersion").and_then(Value::as_str) != Some(rv)
    {
        return Err(store::conflict(&t.resource, name));
    }
    let manager = manager.unwrap_or_else(|| "unknown".into());
    store
        .commit(&t.resource, &t.namespace, name, &old, new, None, &manager)
        .map(|v| (200, v))
}

/// A watch stream: history after `resourceVersion`, then live events; `410 Expired` as an
/// ERROR event (HTTP 200) when that version is too old; bookmarks when asked.
async fn watch(shared: &Arc<Shared>, t: &Target, query: &BTreeMap<String, String>, accept: &str) -> Response {
    // `Accept: ...;as=PartialObjectMetadata`: events carry metadata only, as the real server's.
    let metadata_only = accept.contains("as=PartialObjectMetadata");
    let labels = select::LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
        .unwrap_or_default();
    let fields =
        select::FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str), &t.resource)
            .unwrap_or_default();
    let bookmarks = query.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(300)
        .min(300);
    let from: Option<u64> = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let (backlog, mut live, current, expired) = {
        let store = shared.store.lock().unwrap();
        let expired = from.is_some_and(|rv| rv < store.oldest_resumable());
        let backlog: Vec<store::WatchEvent> = match from {
            Some(rv) => store.history.iter().filter(|e| e.rv > rv).cloned().collect(),
            None => Vec::new(),
        };
        (backlog, store.tx.subscribe(), store.rv, expired)
    };
    let resource = t.resource.clone();
    let namespace = t.namespace.clone();
    let kind = kind_of(&resource);
    tokio::spawn(async move {
        let line = |v: Value| Bytes::from(format!("{v}\n"));
        if expired {
            let e = ApiError::new(
                410,
                "Expired",
                format!("too old resource version: {} ({})", from.unwrap_or(0), current),
            );
            let _ = tx
                .send(line(json!({"type": "ERROR", "object": e.status()})))
                .await;
            return;
        }
        let selected = |v: &Value| labels.matches(v) && fields.matches(v);
        let in_scope = |e: &store::WatchEvent| {
            e.resource == resource
                && (namespace.is_empty()
                    || e.object.pointer("/metadata/namespace").and_then(Value::as_str)
                        == Some(namespace.as_str()))
        };
        // A label-filtered watch sees objects enter and leave its selection as ADDED/DELETED.
        let translate = |e: &store::WatchEvent| -> Option<Value> {
            let now = selected(&e.object);
            let before = e.old.as_ref().is_some_and(&selected);
            let kind = match (e.kind, before, now) {
                ("MODIFIED", false, true) => "ADDED",
                ("MODIFIED", true, false) => "DELETED",
                ("MODIFIED", true, true) => "MODIFIED",
                ("ADDED", _, true) => "ADDED",
                ("DELETED", true, _) => "DELETED",
                _ => return None,
            };
            let object = if metadata_only {
                as_metadata_if_asked(e.object.clone(), "as=PartialObjectMetadata")
            } else {
                e.object.clone()
            };
            Some(json!({"type": kind, "object": object}))
        };
        let mut last_rv = from.unwrap_or(current);
        for e in backlog.iter().filter(|e| in_scope(e)) {
            last_rv = e.rv;
            if let Some(v) = translate(e)
                && tx.send(line(v)).await.is_err()
            {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tick.tick(), if bookmarks => {
                    let bookmark = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version_of(&resource), "metadata": {"resourceVersion": last_rv.to_string()}}});
                    if tx.send(line(bookmark)).await.is_err() { return; }
                }
                event = live.recv() => {
                    let Ok(e) = event else { return };
                    if e.rv <= last_rv && from.is_some() { continue; }
                    last_rv = last_rv.max(e.rv);
                    if !in_scope(&e) { continue; }
                    if let Some(v) = translate(&e)
                        && tx.send(line(v)).await.is_err() { return; }
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// Run `kubectl` against this server with no other configuration.
pub fn kubectl(server: &ApiServer, args: &[&str]) -> std::process::Output {
    let cache = server.dir.path().join("kubectl-cache");
    std::process::Command::new("kubectl")
        .env("KUBECONFIG", "/dev/null")
        .arg("--server")
        .arg(&server.url)
        .arg("--cache-dir")
        .arg(Path::new(&cache))
        .args(args)
        .output()
        .unwrap()
}
