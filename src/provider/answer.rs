//! What the credential provider answers one kubelet request (pure): the logins the specs give
//! the pod's namespace (and ServiceAccount) whose keys the image matches under the kubelet's
//! keyring rules (`image::keyring`, as `pullsync explain`), and how long the kubelet may cache
//! them — never past the soonest expiry or renewal of a credential behind them.

use std::time::{Duration, SystemTime};

use super::index::{Login, Provided, ProviderIndex};
use crate::image::keyring::{Entry, Keyring, urls_match};
use crate::image::reference::{ParseReferenceError, parse_normalized};

/// How long the kubelet may remember "nothing for this image": a spec added later is served
/// within this.
pub const EMPTY_CACHE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub enum Answer<'a> {
    /// The logins to send (every entry of the pod's credentials for the image's registry, so
    /// the kubelet's per-registry cache holds what another image there needs), and for how long
    /// the kubelet may cache them.
    Served {
        auth: Vec<&'a Login>,
        cache_for: Duration,
    },
    /// No spec gives this pod a credential for the image: the kubelet pulls as it would
    /// without the provider.
    Empty,
    /// A spec does, but its credential could not be fetched and no last good value is held.
    Unavailable { spec_ref: String, reason: String },
}

/// The registry host of a key or a normalised image name.
fn host(key: &str) -> &str {
    key.split('/').next().unwrap_or(key)
}

/// The answer for a pod in `namespace` running as `account` pulling `image`.
pub fn answer<'a>(
    index: &'a ProviderIndex,
    namespace: &str,
    account: &str,
    image: &str,
    now: SystemTime,
    max_cache: Duration,
) -> Result<Answer<'a>, ParseReferenceError> {
    let lookup = parse_normalized(image)?.name();
    let mine: Vec<&'a Provided> = index
        .namespaces
        .get(namespace)
        .into_iter()
        .flatten()
        .filter(|p| p.serves(account))
        .map(|p| p.as_ref())
        .collect();
    // The kubelet's rules decide whether anything matches; `source` points back at the entry.
    let mut keyring = Keyring::default();
    for (i, provided) in mine.iter().enumerate() {
        keyring.add(provided.servers.iter().enumerate().map(|(j, server)| Entry {
            source: format!("{i}/{j}"),
            server: server.clone(),
            username: String::new(),
            credential: None,
        }));
    }
    let matched: Vec<(usize, usize)> = keyring
        .lookup(&lookup)
        .iter()
        .filter_map(|e| {
            let (i, j) = e.source.split_once('/')?;
            Some((i.parse().ok()?, j.parse().ok()?))
        })
        .collect();
    let Some(&(first, _)) = matched.first() else {
        return Ok(Answer::Empty);
    };
    let image_host = host(&lookup);
    let mut auth: Vec<&'a Login> = Vec::new();
    let mut until: Option<SystemTime> = None;
    for provided in &mine {
        let Ok(logins) = &provided.logins else {
            continue;
        };
        let mut used = false;
        for login in logins {
            let same_host = urls_match(
                host(&crate::image::keyring::normalize_key(&login.server)),
                image_host,
            )
            .is_ok();
            let is_match = matched.iter().any(|&(i, j)| {
                std::ptr::eq(mine[i], *provided) && provided.servers.get(j) == Some(&login.server)
            });
            if (same_host || is_match) && !auth.iter().any(|a| a.server == login.server) {
                auth.push(login);
                used = true;
            }
        }
        if used && let Some(v) = provided.valid_until {
            until = Some(until.map_or(v, |u| u.min(v)));
        }
    }
    let any_matched_ok = matched.iter().any(|&(i, _)| mine[i].logins.is_ok());
    if !any_matched_ok {
        let provided = mine[first];
        return Ok(Answer::Unavailable {
            spec_ref: provided.spec_ref.clone(),
            reason: provided.logins.as_ref().err().cloned().unwrap_or_default(),
        });
    }
    let cache_for = until.map_or(max_cache, |u| {
        u.duration_since(now).unwrap_or_default().min(max_cache)
    });
    Ok(Answer::Served { auth, cache_for })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::value::secret::SecretValue;

    const CANARY: &str = "canary-provider-answer-7d1e";

    fn provided(name: &str, accounts: &[&str], servers: &[&str], until: Option<SystemTime>) -> Arc<Provided> {
        Arc::new(Provided {
            name: name.into(),
            spec_ref: format!("specs.yaml#PullSecret/{name}"),
            service_accounts: accounts.iter().map(|s| s.to_string()).collect(),
            servers: servers.iter().map(|s| s.to_string()).collect(),
            logins: Ok(servers
                .iter()
                .map(|s| Login {
                    server: s.to_string(),
                    username: SecretValue::new(format!("user-{name}")),
                    password: SecretValue::new(CANARY.to_string()),
                })
                .collect()),
            valid_until: until,
        })
    }

    fn index(entries: Vec<(&str, Arc<Provided>)>) -> ProviderIndex {
        let mut namespaces: BTreeMap<String, Vec<Arc<Provided>>> = BTreeMap::new();
        for (ns, p) in entries {
            namespaces.entry(ns.to_string()).or_default().push(p);
        }
        ProviderIndex {
            namespaces,
            revision: "r1".into(),
            ready: true,
        }
    }

    fn servers(answer: &Answer<'_>) -> Vec<String> {
        match answer {
            Answer::Served { auth, .. } => auth.iter().map(|l| l.server.clone()).collect(),
            other => panic!("not served: {other:?}"),
        }
    }

    #[test]
    fn only_the_pods_namespace_and_service_account_are_answered() {
        let now = SystemTime::now();
        let max = Duration::from_secs(600);
        let index = index(vec![
            ("team-a", provided("a", &[], &["nvcr.io"], None)),
            (
                "team-b",
                provided("b", &["runner"], &["registry.example.com"], None),
            ),
        ]);
        let a = answer(&index, "team-a", "default", "nvcr.io/nvidia/x:1", now, max).unwrap();
        assert_eq!(servers(&a), ["nvcr.io"]);
        // Team B asks for team A's registry: nothing, whatever the image.
        let b = answer(&index, "team-b", "runner", "nvcr.io/nvidia/x:1", now, max).unwrap();
        assert!(matches!(b, Answer::Empty), "{b:?}");
        // The right namespace, a ServiceAccount the spec does not list: nothing.
        let other = answer(&index, "team-b", "default", "registry.example.com/x", now, max).unwrap();
        assert!(matches!(other, Answer::Empty), "{other:?}");
        let listed = answer(&index, "team-b", "runner", "registry.example.com/x", now, max).unwrap();
        assert_eq!(servers(&listed), ["registry.example.com"]);
        // A namespace no spec reaches, and a bad image reference.
        assert!(matches!(
            answer(&index, "nowhere", "default", "nvcr.io/x", now, max).unwrap(),
            Answer::Empty
        ));
        assert!(answer(&index, "team-a", "default", "Bad Image!", now, max).is_err());
    }

    #[test]
    fn keys_follow_the_kubelet_rules_and_every_key_of_the_registry_is_sent() {
        let now = SystemTime::now();
        let max = Duration::from_secs(600);
        let index = index(vec![(
            "ml",
            provided(
                "p",
                &[],
                &[
                    "registry.example.com/team-a",
                    "registry.example.com/team-b",
                    "nvcr.io",
                ],
                None,
            ),
        )]);
        // A path-scoped key covers only its path: team-c's image matches nothing.
        let c = answer(&index, "ml", "default", "registry.example.com/team-c/x", now, max).unwrap();
        assert!(matches!(c, Answer::Empty), "{c:?}");
        // team-a's image: both keys of that registry (the kubelet caches per registry), not nvcr.io.
        let a = answer(&index, "ml", "default", "registry.example.com/team-a/x", now, max).unwrap();
        assert_eq!(
            servers(&a),
            ["registry.example.com/team-a", "registry.example.com/team-b"]
        );
    }

    #[test]
    fn cache_duration_never_outlives_the_credential() {
        let now = SystemTime::now();
        let max = Duration::from_secs(600);
        let soon = now + Duration::from_secs(90);
        let index = index(vec![
            ("ml", provided("short", &[], &["nvcr.io"], Some(soon))),
            ("ml", provided("long", &[], &["quay.io"], None)),
        ]);
        match answer(&index, "ml", "default", "nvcr.io/x", now, max).unwrap() {
            Answer::Served { cache_for, .. } => assert_eq!(cache_for, Duration::from_secs(90)),
            other => panic!("{other:?}"),
        }
        match answer(&index, "ml", "default", "quay.io/x", now, max).unwrap() {
            Answer::Served { cache_for, .. } => assert_eq!(cache_for, max),
            other => panic!("{other:?}"),
        }
        // Already past its renewal: served, but not to be cached.
        let later = now + Duration::from_secs(120);
        match answer(&index, "ml", "default", "nvcr.io/x", later, max).unwrap() {
            Answer::Served { cache_for, .. } => assert_eq!(cache_for, Duration::ZERO),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_credential_is_unavailable_and_its_reason_holds_no_value() {
        let now = SystemTime::now();
        let failed = Arc::new(Provided {
            name: "ngc".into(),
            spec_ref: "specs.yaml#PullSecret/ngc".into(),
            service_accounts: vec![],
            servers: vec!["nvcr.io".into()],
            logins: Err("credential `ngc` is unavailable: connection refused".into()),
            valid_until: None,
        });
        let index = index(vec![("ml", failed)]);
        let a = answer(&index, "ml", "default", "nvcr.io/x", now, Duration::from_secs(60)).unwrap();
        match a {
            Answer::Unavailable { spec_ref, reason } => {
                assert_eq!(spec_ref, "specs.yaml#PullSecret/ngc");
                assert!(reason.contains("connection refused") && !reason.contains(CANARY));
            }
            other => panic!("{other:?}"),
        }
    }
}
