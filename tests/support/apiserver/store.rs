//! The object store with the API server's write semantics: resourceVersions, conflicts,
//! validation and watch history. Followed: "API Concepts" (resource versions, efficient
//! detection of changes, 410 Gone on expired versions, bookmarks), "Kubernetes API Reference"
//! (`Status` reasons), apiserver `registry/generic/registry/store.go` (an update that changes
//! nothing is not written and keeps its resourceVersion), core validation for Secrets
//! (`kubernetes.io/dockerconfigjson` needs valid JSON in `.dockerconfigjson`; `type` is
//! immutable) and for TokenRequest (at least 10 minutes).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::fields;

/// How much watch history is kept; older resourceVersions get `410 Expired`.
pub const HISTORY: usize = 2000;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code
        });
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        status
    }
}

pub fn not_found(resource: &str, name: &str) -> ApiError {
    let mut e = ApiError::new(404, "NotFound", format!("{resource} \"{name}\" not found"));
    e.details = json!({"name": name, "kind": resource});
    e
}

#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub rv: u64,
    pub resource: String,
    pub kind: &'static str,
    pub old: Option<Value>,
    pub object: Value,
}

pub type Key = (String, String, String);

pub struct Store {
    pub objects: BTreeMap<Key, Value>,
    pub rv: u64,
    pub history: VecDeque<WatchEvent>,
    pub tx: broadcast::Sender<WatchEvent>,
    uid: u64,
    /// Signs service-account tokens (Ed25519, PKCS#8); tests may verify with it.
    pub token_key: Vec<u8>,
    /// `--service-account-max-token-expiration`: longer TokenRequests are issued this long.
    pub max_token_seconds: Option<i64>,
}

pub fn kind_of(resource: &str) -> &'static str {
    match resource {
        "secrets" => "Secret",
        "serviceaccounts" => "ServiceAccount",
        "namespaces" => "Namespace",
        "events" => "Event",
        "leases" => "Lease",
        "tokenreviews" => "TokenReview",
        "deployments" => "Deployment",
        "statefulsets" => "StatefulSet",
        "daemonsets" => "DaemonSet",
        _ => "Unknown",
    }
}

pub fn api_version_of(resource: &str) -> &'static str {
    match resource {
        "leases" => "coordination.k8s.io/v1",
        "deployments" | "statefulsets" | "daemonsets" => "apps/v1",
        _ => "v1",
    }
}

fn now() -> String {
    pullsync::time::format(SystemTime::now())
}

impl Store {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Store {
            objects: BTreeMap::new(),
            rv: 1,
            history: VecDeque::new(),
            tx,
            uid: 0,
            token_key: super::jwt::generate_key(),
            max_token_seconds: None,
        }
    }

    fn record(&mut self, resource: &str, kind: &'static str, old: Option<Value>, object: Value) {
        let event = WatchEvent {
            rv: self.rv,
            resource: resource.to_string(),
            kind,
            old,
            object,
        };
        self.history.push_back(event.clone());
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let _ = self.tx.send(event);
    }

    /// The oldest resourceVersion a watch may still resume from.
    pub fn oldest_resumable(&self) -> u64 {
        self.history.front().map_or(self.rv, |e| e.rv - 1)
    }

    fn namespace_usable(&self, namespace: &str, resource: &str, name: &str) -> Result<(), ApiError> {
        if namespace.is_empty() {
            return Ok(());
        }
        let ns = self
            .objects
            .get(&("namespaces".into(), String::new(), namespace.to_string()))
            .ok_or_else(|| not_found("namespaces", namespace))?;
        if ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{resource} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated"
                ),
            ));
        }
        Ok(())
    }

    fn validate(resource: &str, old: Option<&Value>, new: &Value) -> Result<(), ApiError> {
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if resource == "secrets" {
            let kind = new["type"].as_str().unwrap_or("Opaque");
            if let Some(old) = old
                && old["type"].as_str().unwrap_or("Opaque") != kind
            {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "Secret \"{name}\" is invalid: type: Invalid value: \"{kind}\": field is immutable"
                    ),
                ));
            }
            if let Some(data) = new.get("data").and_then(Value::as_object) {
                for (key, value) in data {
                    let Some(text) = value.as_str() else {
                        return Err(ApiError::new(
                            400,
                            "BadRequest",
                            format!(
                                "Secret in version \"v1\" cannot be handled as a Secret: data[{key}] is not a string"
                            ),
                        ));
                    };
                    if base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).is_err() {
                        return Err(ApiError::new(
                            400,
                            "BadRequest",
                            format!(
                                "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[{key}]"
                            ),
                        ));
                    }
                }
            }
            if kind == "kubernetes.io/dockerconfigjson" {
                let raw = new
                    .pointer("/data/.dockerconfigjson")
                    .and_then(Value::as_str)
                    .and_then(|t| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, t).ok());
                let ok = raw.is_some_and(|bytes| serde_json::from_slice::<Value>(&bytes).is_ok());
                if !ok {
                    // The real server redacts the value in this message.
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "Secret \"{name}\" is invalid: data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": must be valid JSON"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn stamp_new(&mut self, resource: &str, object: &mut Value, namespace: &str) {
        self.uid += 1;
        let meta = object["metadata"].as_object_mut().unwrap();
        meta.insert(
            "uid".into(),
            json!(format!("00000000-0000-4000-8000-{:012}", self.uid)),
        );
        meta.insert("creationTimestamp".into(), json!(now()));
        if !namespace.is_empty() {
            meta.insert("namespace".into(), json!(namespace));
        }
        object["apiVersion"] = json!(api_version_of(resource));
        object["kind"] = json!(kind_of(resource));
        if resource == "namespaces" && object.pointer("/status/phase").is_none() {
            object["status"] = json!({"phase": "Active"});
        }
    }

    fn bump(&mut self, object: &mut Value) {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&(resource.to_string(), namespace.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| not_found(resource, name))
    }

    pub fn create(
        &mut self,
        resource: &str,
        namespace: &str,
        mut object: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        if !object.get("metadata").is_some_and(Value::is_object) {
            object["metadata"] = json!({});
        }
        if let Some(body_ns) = object.pointer("/metadata/namespace").and_then(Value::as_str)
            && !namespace.is_empty()
            && body_ns != namespace
        {
            return Err(ApiError::new(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let name = match object.pointer("/metadata/name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => match object.pointer("/metadata/generateName").and_then(Value::as_str) {
                Some(prefix) => {
                    let name = format!("{prefix}{:05x}", self.rv.wrapping_mul(2_654_435_761) % 0xfffff);
                    object["metadata"]["name"] = json!(name);
                    name
                }
                None => {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                            kind_of(resource)
                        ),
                    ));
                }
            },
        };
        self.namespace_usable(namespace, resource, &name)?;
        let key = (resource.to_string(), namespace.to_string(), name.clone());
        if self.objects.contains_key(&key) {
            let mut e = ApiError::new(
                409,
                "AlreadyExists",
                format!("{resource} \"{name}\" already exists"),
            );
            e.details = json!({"name": name, "kind": resource});
            return Err(e);
        }
        Self::validate(resource, None, &object)?;
        self.stamp_new(resource, &mut object, namespace);
        let entries = fields::update(None, &object, manager);
        fields::write(&mut object, &entries, api_version_of(resource), &now());
        self.bump(&mut object);
        self.objects.insert(key, object.clone());
        self.record(resource, "ADDED", None, object.clone());
        Ok(object)
    }

    /// Replace `old` by `new` (already merged): validate, skip no-op writes, record.
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &mut self,
        resource: &str,
        namespace: &str,
        name: &str,
        old: &Value,
        mut new: Value,
        entries: Option<Vec<fields::Entry>>,
        manager: &str,
    ) -> Result<Value, ApiError> {
        for field in ["uid", "creationTimestamp", "namespace", "name"] {
            if let Some(v) = old["metadata"].get(field) {
                new["metadata"][field] = v.clone();
            }
        }
        new["apiVersion"] = old["apiVersion"].clone();
        new["kind"] = old["kind"].clone();
        Self::validate(resource, Some(old), &new)?;
        let entries = entries.unwrap_or_else(|| fields::update(Some(old), &new, manager));
        fields::write(&mut new, &entries, api_version_of(resource), &now());
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v["metadata"].as_object_mut() {
                m.remove("managedFields");
                m.remove("resourceVersion");
            }
            v
        };
        let same_fields = fields::read(old)
            .iter()
            .map(|e| (&e.manager, &e.operation, &e.fields))
            .eq(fields::read(&new)
                .iter()
                .map(|e| (&e.manager, &e.operation, &e.fields)));
        if strip(old) == strip(&new) && same_fields {
            return Ok(old.clone());
        }
        self.bump(&mut new);
        self.objects.insert(
            (resource.to_string(), namespace.to_string(), name.to_string()),
            new.clone(),
        );
        self.record(resource, "MODIFIED", Some(old.clone()), new.clone());
        Ok(new)
    }

    pub fn replace(
        &mut self,
        resource: &str,
        namespace: &str,
        name: &str,
        new: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let old = self.get(resource, namespace, name)?;
        if let Some(rv) = new.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            && old.pointer("/metadata/resourceVersion").and_then(Value::as_str) != Some(rv)
        {
            return Err(conflict(resource, name));
        }
        self.commit(resource, namespace, name, &old, new, None, manager)
    }

    pub fn delete(
        &mut self,
        resource: &str,
        namespace: &str,
        name: &str,
        options: &Value,
    ) -> Result<Value, ApiError> {
        let key = (resource.to_string(), namespace.to_string(), name.to_string());
        let old = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| not_found(resource, name))?;
        if let Some(rv) = options
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            && old.pointer("/metadata/resourceVersion").and_then(Value::as_str) != Some(rv)
        {
            let mut e = conflict(resource, name);
            e.message = format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                old.pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
            return Err(e);
        }
        if resource == "namespaces" {
            // Namespaces terminate first; the namespace controller removes them later.
            let mut new = old.clone();
            new["status"]["phase"] = json!("Terminating");
            new["metadata"]["deletionTimestamp"] = json!(now());
            return self.commit(resource, namespace, name, &old, new, None, "namespace-controller");
        }
        self.objects.remove(&key);
        self.rv += 1;
        let mut gone = old.clone();
        gone["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(resource, "DELETED", Some(old), gone.clone());
        Ok(gone)
    }

    /// `serviceaccounts/token`: a TokenRequest answered with a signed JWT and its expiry.
    pub fn token_request(&mut self, namespace: &str, name: &str, request: &Value) -> Result<Value, ApiError> {
        let account = self.get("serviceaccounts", namespace, name)?;
        let seconds = request
            .pointer("/spec/expirationSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(3600);
        if seconds < 600 {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "TokenRequest.authentication.k8s.io \"{name}\" is invalid: spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            ));
        }
        // kube-apiserver caps (not refuses) a request above --service-account-max-token-expiration
        // and reports the issued lifetime (pkg/registry/core/serviceaccount/storage/token.go).
        let seconds = self.max_token_seconds.map_or(seconds, |max| seconds.min(max));
        let audiences = request
            .pointer("/spec/audiences")
            .cloned()
            .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
            .unwrap_or(json!(["https://kubernetes.default.svc.cluster.local"]));
        let issued = SystemTime::now();
        let expires = issued + Duration::from_secs(seconds as u64);
        let epoch = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        self.uid += 1;
        let claims = json!({
            "aud": audiences, "exp": epoch(expires), "iat": epoch(issued), "nbf": epoch(issued),
            "iss": "https://kubernetes.default.svc.cluster.local",
            "jti": format!("jti-{}", self.uid),
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": account.pointer("/metadata/uid")}}
        });
        let token = super::jwt::sign(&claims, &self.token_key);
        Ok(json!({
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
            "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": null},
            "status": {"token": token, "expirationTimestamp": pullsync::time::format(expires)}
        }))
    }
}

impl Store {
    /// `tokenreviews`: is this a token this server signed, unexpired? Followed: the
    /// TokenReview API reference (`status.authenticated`, `status.user`, `status.audiences`).
    pub fn token_review(&self, review: &Value) -> Value {
        let token = review
            .pointer("/spec/token")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let status = match super::jwt::verify(token, &self.token_key) {
            Some(claims) if claims["exp"].as_u64().is_some_and(|exp| exp > now) => {
                let ns = claims
                    .pointer("/kubernetes.io/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let sa = claims
                    .pointer("/kubernetes.io/serviceaccount/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let uid = claims
                    .pointer("/kubernetes.io/serviceaccount/uid")
                    .cloned()
                    .unwrap_or(Value::Null);
                let audiences = review
                    .pointer("/spec/audiences")
                    .cloned()
                    .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
                    .unwrap_or(claims["aud"].clone());
                json!({
                    "authenticated": true,
                    "user": {"username": format!("system:serviceaccount:{ns}:{sa}"), "uid": uid, "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"]},
                    "audiences": audiences
                })
            }
            Some(_) => json!({"authenticated": false, "error": "token has expired"}),
            None => json!({"authenticated": false, "error": "invalid bearer token"}),
        };
        json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": review["spec"], "status": status})
    }
}

pub fn conflict(resource: &str, name: &str) -> ApiError {
    let mut e = ApiError::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        ),
    );
    e.details = json!({"name": name, "kind": resource});
    e
}
