//! Manifests as the tests read them: typed round trips through `k8s-openapi`, RBAC rules.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

/// Deserialize into the typed object and back; any field serde skipped shows as a difference.
pub fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(object: &Value) {
    let typed: T = serde_json::from_value(object.clone()).unwrap_or_else(|e| panic!("{e}: {object}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &strip_nulls(back),
        &strip_nulls(object.clone()),
        "fields lost: {}",
        object["kind"]
    );
}

pub fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

pub fn check_types(objects: &[Value]) {
    use k8s_openapi::api::{apps, core, networking, policy, rbac};
    for o in objects {
        match o["kind"].as_str().unwrap() {
            "Deployment" => round_trips::<apps::v1::Deployment>(o),
            "DaemonSet" => round_trips::<apps::v1::DaemonSet>(o),
            "Service" => round_trips::<core::v1::Service>(o),
            "ServiceAccount" => round_trips::<core::v1::ServiceAccount>(o),
            "ClusterRole" => round_trips::<rbac::v1::ClusterRole>(o),
            "ClusterRoleBinding" => round_trips::<rbac::v1::ClusterRoleBinding>(o),
            "Role" => round_trips::<rbac::v1::Role>(o),
            "RoleBinding" => round_trips::<rbac::v1::RoleBinding>(o),
            "PodDisruptionBudget" => round_trips::<policy::v1::PodDisruptionBudget>(o),
            "NetworkPolicy" => round_trips::<networking::v1::NetworkPolicy>(o),
            "ConfigMap" => round_trips::<core::v1::ConfigMap>(o),
            "ValidatingWebhookConfiguration" => {
                round_trips::<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>(o)
            }
            // CRDs: checked by shape.
            "ServiceMonitor" => assert_eq!(o["spec"]["endpoints"][0]["path"], "/metrics"),
            "PrometheusRule" => assert!(o["spec"]["groups"][0]["rules"].is_array(), "{o}"),
            "Certificate" => assert!(
                o["spec"]["dnsNames"][0].as_str().unwrap().ends_with(".svc"),
                "{o}"
            ),
            other => panic!("unexpected kind {other}"),
        }
    }
}

pub fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// (apiGroups, resources, sorted verbs) of a role's rules.
pub fn rules(role: &Value) -> Vec<(Value, Value, Vec<String>)> {
    let mut out: Vec<(Value, Value, Vec<String>)> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut verbs: Vec<String> = r["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            verbs.sort();
            (r["apiGroups"].clone(), r["resources"].clone(), verbs)
        })
        .collect();
    out.sort_by_key(|r| format!("{r:?}"));
    out
}

pub fn manifest_roles(file: &str) -> Vec<Value> {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap()
        .split("\n---")
        .filter(|d| d.contains("kind: ClusterRole\n") || d.contains("kind: Role\n"))
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .collect()
}

/// A multi-document YAML text as JSON values (documents without a kind are skipped).
pub fn documents(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}
