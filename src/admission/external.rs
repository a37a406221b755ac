//! Pull secrets a pod names that pullsync does not manage (made by hand, by another tool):
//! the webhook needs their `auths` keys — only the keys — to say whether they cover an image
//! (a key with a path is the commonest mistake). Read once per Secret per [`TTL`] with one GET,
//! bounded by [`DEADLINE`]; the values are dropped as soon as the keys are out. A Secret that
//! is missing, unreadable or not a pull secret is `None`: the webhook then says nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::k8s::{Kube, OnConflict};

/// How long a Secret's keys are trusted before they are read again.
const TTL: Duration = Duration::from_secs(60);
/// One read, well under the API server's webhook timeout.
const DEADLINE: Duration = Duration::from_millis(800);
/// Entries kept at most (a namespace full of pods naming distinct Secrets cannot grow it).
const MAX_ENTRIES: usize = 10_000;

type Keys = Option<Vec<String>>;

pub struct ExternalKeys {
    kube: Kube,
    cache: Mutex<HashMap<(String, String), (Keys, Instant)>>,
}

impl ExternalKeys {
    pub fn new(kube: Kube) -> Self {
        ExternalKeys {
            kube,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The `auths` keys of each named Secret in `namespace`.
    pub async fn keys(&self, namespace: &str, names: &[String]) -> BTreeMap<String, Keys> {
        let mut out = BTreeMap::new();
        for name in names {
            let key = (namespace.to_string(), name.clone());
            let cached = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .filter(|(_, at)| at.elapsed() < TTL)
                .map(|(keys, _)| keys.clone());
            let keys = match cached {
                Some(keys) => keys,
                None => {
                    let keys = tokio::time::timeout(DEADLINE, self.read(namespace, name))
                        .await
                        .unwrap_or(None);
                    let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                    if cache.len() >= MAX_ENTRIES {
                        cache.retain(|_, (_, at)| at.elapsed() < TTL);
                        if cache.len() >= MAX_ENTRIES {
                            cache.clear();
                        }
                    }
                    cache.insert(key, (keys.clone(), Instant::now()));
                    keys
                }
            };
            out.insert(name.clone(), keys);
        }
        out
    }

    async fn read(&self, namespace: &str, name: &str) -> Keys {
        use k8s_openapi::api::core::v1::Secret;
        let secret: Secret = self
            .kube
            .call_as(OnConflict::Return, || {
                kube::core::Request::new(format!("/api/v1/namespaces/{namespace}/secrets"))
                    .get(name, &kube::core::params::GetParams::default())
            })
            .await
            .ok()?;
        if secret.type_.as_deref() != Some("kubernetes.io/dockerconfigjson") {
            return None;
        }
        let raw = secret.data?.remove(".dockerconfigjson")?;
        keys_of(&raw.0)
    }
}

/// The `auths` keys of a `.dockerconfigjson` (nothing else is kept). A JSON object without
/// `auths` is read by the kubelet as no entries at all (`credentialprovider`'s
/// `DockerConfigJSON`), so it is `Some(vec![])`, not unknown.
fn keys_of(config: &[u8]) -> Keys {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        auths: BTreeMap<String, serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Config>(config)
        .ok()
        .map(|c| c.auths.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_keys_are_kept() {
        let config = br#"{"auths":{"nvcr.io/nvidia":{"auth":"Y2FuYXJ5OmNhbmFyeQ=="},"quay.io":{"username":"u","password":"canary"}}}"#;
        assert_eq!(
            keys_of(config),
            Some(vec!["nvcr.io/nvidia".to_string(), "quay.io".to_string()])
        );
        assert_eq!(
            keys_of(br#"{"nvcr.io":{}}"#),
            Some(vec![]),
            "no auths wrapper: the kubelet reads nothing"
        );
        assert_eq!(keys_of(b"not json"), None);
    }
}
