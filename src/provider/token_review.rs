//! Who is asking (effect, one TokenReview per request): the kubelet sends the pod's own
//! service-account token, minted for the audience the `CredentialProviderConfig` names and
//! bound to the pod. The API server says whether it is valid — signature, expiry, audience,
//! and that the pod it is bound to still exists with that UID — and whose it is. The answer's
//! `spec` echoes the token, so only its `status` is ever decoded.

use std::collections::BTreeMap;

use kube::core::request::Request;
use serde::Deserialize;
use serde_json::json;

use crate::k8s::{CallError, Kube, OnConflict};

/// `authentication.kubernetes.io/pod-name`: set on tokens bound to a pod
/// (Kubernetes docs, "Service account token volume projection" / bound token claims).
const POD_NAME: &str = "authentication.kubernetes.io/pod-name";
const POD_UID: &str = "authentication.kubernetes.io/pod-uid";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// The pod a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIdentity {
    pub namespace: String,
    pub service_account: String,
    pub pod: String,
    pub pod_uid: String,
}

/// Why a token was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ReviewTokenError {
    #[error("TokenReview failed: {0}")]
    Kubernetes(#[source] CallError),
    #[error("the token was not accepted by the API server ({0})")]
    NotAuthenticated(String),
    #[error("the token is not for audience `{0}` (set tokenAttributes.serviceAccountTokenAudience to it)")]
    WrongAudience(String),
    #[error("the token is not a service account's (user {0})")]
    NotAServiceAccount(String),
    #[error("the token is not bound to a pod (the kubelet's are: a token from elsewhere is refused)")]
    NotBoundToPod,
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    status: Status,
}

#[derive(Debug, Default, Deserialize)]
struct Status {
    #[serde(default)]
    authenticated: bool,
    #[serde(default)]
    error: String,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default)]
    user: User,
}

#[derive(Debug, Default, Deserialize)]
struct User {
    #[serde(default)]
    username: String,
    #[serde(default)]
    extra: BTreeMap<String, Vec<String>>,
}

/// The identity in a TokenReview status (pure).
fn identity_of(status: Status, audience: &str) -> Result<PodIdentity, ReviewTokenError> {
    if !status.authenticated {
        let why = if status.error.is_empty() {
            "not authenticated".to_string()
        } else {
            crate::image::reference::clip(&status.error)
        };
        return Err(ReviewTokenError::NotAuthenticated(why));
    }
    if !status.audiences.iter().any(|a| a == audience) {
        return Err(ReviewTokenError::WrongAudience(audience.to_string()));
    }
    let user = status.user;
    let Some((namespace, account)) = user
        .username
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)
        .and_then(|rest| rest.split_once(':'))
    else {
        return Err(ReviewTokenError::NotAServiceAccount(user.username));
    };
    let first = |key: &str| user.extra.get(key).and_then(|v| v.first()).cloned();
    let (Some(pod), Some(pod_uid)) = (first(POD_NAME), first(POD_UID)) else {
        return Err(ReviewTokenError::NotBoundToPod);
    };
    Ok(PodIdentity {
        namespace: namespace.to_string(),
        service_account: account.to_string(),
        pod,
        pod_uid,
    })
}

/// Ask the API server whose `token` is, for `audience`.
pub async fn review(kube: &Kube, token: &str, audience: &str) -> Result<PodIdentity, ReviewTokenError> {
    let body = serde_json::to_vec(&json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token, "audiences": [audience]}
    }))
    .unwrap_or_default();
    let request = Request::new("/apis/authentication.k8s.io/v1/tokenreviews");
    let answer: Answer = kube
        .call_as(OnConflict::Return, || {
            request.create(&Default::default(), body.clone())
        })
        .await
        .map_err(ReviewTokenError::Kubernetes)?;
    identity_of(answer.status, audience)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(value: serde_json::Value) -> Status {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn only_a_pod_bound_service_account_token_for_our_audience_passes() {
        let good = json!({
            "authenticated": true,
            "audiences": ["pullsync"],
            "user": {"username": "system:serviceaccount:team-a:runner",
                     "extra": {POD_NAME: ["triton-0"], POD_UID: ["u-1"]}}
        });
        assert_eq!(
            identity_of(status(good.clone()), "pullsync").unwrap(),
            PodIdentity {
                namespace: "team-a".into(),
                service_account: "runner".into(),
                pod: "triton-0".into(),
                pod_uid: "u-1".into()
            }
        );
        let mut wrong_audience = good.clone();
        wrong_audience["audiences"] = json!(["vault"]);
        assert!(matches!(
            identity_of(status(wrong_audience), "pullsync"),
            Err(ReviewTokenError::WrongAudience(_))
        ));
        let mut unbound = good.clone();
        unbound["user"]["extra"] = json!({});
        assert!(matches!(
            identity_of(status(unbound), "pullsync"),
            Err(ReviewTokenError::NotBoundToPod)
        ));
        let mut user = good.clone();
        user["user"]["username"] = json!("alice");
        assert!(matches!(
            identity_of(status(user), "pullsync"),
            Err(ReviewTokenError::NotAServiceAccount(_))
        ));
        let refused = json!({"authenticated": false, "error": "token has expired"});
        let error = identity_of(status(refused), "pullsync").unwrap_err().to_string();
        assert!(error.contains("token has expired"), "{error}");
    }
}
