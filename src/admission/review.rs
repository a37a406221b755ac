//! What the admission webhook says about a pod's images (pure): for each image, the pull
//! secrets the kubelet would try — the pod's `imagePullSecrets`, or, when it lists none, those
//! its ServiceAccount lists (the ServiceAccount admission plugin copies them onto the pod) — are
//! matched with the kubelet's keyring rules (`image::keyring`, as `pullsync explain`); an image
//! none of them covers gets a warning that names the fix. Never a value: keys and names only.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::PodSpec;

use super::index::PullIndex;
use crate::image::explain::{explain_with_provider, near_miss};
use crate::image::keyring::{Entry, Keyring, Mismatch, normalize_key, urls_match};

/// AdmissionResponse `warnings` (admission.k8s.io/v1): "Limit warnings to 120 characters if
/// possible. Warnings over 256 characters ... may be truncated." Each says one thing, in full.
pub const MAX_WARNING: usize = 256;

/// How the webhook answers a pod whose images will not find a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Admit, with warnings (kubectl prints them as `Warning:`).
    Warn,
    /// Refuse the pod.
    Deny,
}

/// The namespace label that sets the mode for one namespace (`warn` or `deny`).
pub const MODE_LABEL: &str = "pullsync.dev/admission";

/// Every image of a pod spec: init, regular and ephemeral containers, each once.
pub fn images(spec: &PodSpec) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let init = spec.init_containers.iter().flatten().map(|c| c.image.clone());
    let regular = spec.containers.iter().map(|c| c.image.clone());
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| c.image.clone());
    init.chain(regular)
        .chain(ephemeral)
        .flatten()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

fn fit(text: String) -> String {
    if text.chars().count() <= MAX_WARNING {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_WARNING - 1).collect();
    cut.push('…');
    cut
}

fn entries(namespace: &str, shape: &super::index::PullShape) -> Vec<Entry> {
    shape
        .registries
        .iter()
        .map(|server| Entry {
            source: format!("{namespace}/{}", shape.name),
            server: server.clone(),
            username: String::new(),
            credential: None,
        })
        .collect()
}

/// The pull secrets the kubelet would use for a pod: its own `imagePullSecrets`, else (`true`)
/// those pullsync lists on its ServiceAccount; and that ServiceAccount's name.
pub fn candidates(spec: &PodSpec, namespace: &str, index: &PullIndex) -> (Vec<String>, bool, String) {
    let listed: Vec<String> = spec
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|r| r.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    let account = spec
        .service_account_name
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "default".to_string());
    if listed.is_empty() {
        let names = index
            .of_service_account(namespace, &account)
            .into_iter()
            .map(|s| s.name.clone())
            .collect();
        (names, true, account)
    } else {
        (listed, false, account)
    }
}

/// The warnings for a pod spec in `namespace`. `external`: the `auths` keys of pull secrets
/// the pod uses that pullsync does not manage (`None`: not a readable pull secret — nothing is
/// said then, it may cover anything); `anonymous`: registry hosts pulled without a credential
/// by design (never warned about).
pub fn review(
    spec: &PodSpec,
    namespace: &str,
    index: &PullIndex,
    external: &BTreeMap<String, Option<Vec<String>>>,
    anonymous: &[String],
) -> Vec<String> {
    if !index.ready {
        return Vec::new();
    }
    let (candidates, from_account, account) = candidates(spec, namespace, index);
    let mut keyring = Keyring::default();
    // Pull secrets with no `auths` entries at all (the wrapper missing, as the seeds show).
    let empty: Vec<String> = candidates
        .iter()
        .filter(|n| {
            external
                .get(*n)
                .is_some_and(|k| k.as_ref().is_some_and(Vec::is_empty))
        })
        .map(|n| format!("{namespace}/{n}"))
        .collect();
    for name in &candidates {
        match (index.secret(namespace, name), external.get(name)) {
            (Some(shape), _) => keyring.add(entries(namespace, shape)),
            (None, Some(Some(keys))) => keyring.add(keys.iter().map(|server| Entry {
                source: format!("{namespace}/{name}"),
                server: server.clone(),
                username: String::new(),
                credential: None,
            })),
            (None, _) => return Vec::new(),
        }
    }
    // What the kubelet gets from pullsync's credential provider for this pod (tried after the
    // pull secrets).
    let mut provided = Keyring::default();
    for shape in index.provided_to(namespace, &account) {
        provided.add(entries(namespace, shape));
    }
    let mut warnings = Vec::new();
    for image in images(spec) {
        let Ok(explained) = explain_with_provider(&image, &keyring, &provided, Vec::new()) else {
            continue; // an unparsable reference is the API server's and the kubelet's to refuse
        };
        let lookup = explained.lookup.clone();
        let host = lookup.split('/').next().unwrap_or_default().to_string();
        if !explained.matches.is_empty() || anonymous.iter().any(|a| a == &host) {
            continue;
        }
        if let Some(secret) = empty.first() {
            warnings.push(fit(format!(
                "pullsync: image {image}: pull secret {secret} has no `auths` entries: a .dockerconfigjson needs {{\"auths\": {{\"{host}\": …}}}}"
            )));
            continue;
        }
        warnings.push(fit(why(
            &image,
            &lookup,
            &host,
            namespace,
            &account,
            from_account,
            &keyring,
            index,
        )));
    }
    warnings
}

/// Why nothing matched, and what to write instead — the most specific reason first.
#[allow(clippy::too_many_arguments)]
fn why(
    image: &str,
    lookup: &str,
    host: &str,
    namespace: &str,
    account: &str,
    from_account: bool,
    keyring: &Keyring,
    index: &PullIndex,
) -> String {
    // 1. A key with a path (the commonest near miss), said shorter than `explain` says it.
    if let Some((entry, key_path)) =
        keyring
            .entries()
            .iter()
            .find_map(|e| match urls_match(&normalize_key(&e.server), lookup) {
                Err(Mismatch::Path { key, .. }) => Some((e, key)),
                _ => None,
            })
    {
        return format!(
            "pullsync: image {image}: pull secret {}: key `{}` has a path, so it covers only {host}{key_path}/…; write `{host}`",
            entry.source, entry.server
        );
    }
    // 2. Another near miss (a Docker Hub spelling, a port, a glob, the case of a host).
    if let Some((entry, reason)) = keyring
        .entries()
        .iter()
        .find_map(|e| near_miss(e, lookup, false).map(|r| (e, r)))
    {
        // Every reason names the key it is about.
        return format!("pullsync: image {image}: pull secret {}: {reason}", entry.source);
    }
    let covers = |shape: &super::index::PullShape| {
        let mut one = Keyring::default();
        one.add(entries(namespace, shape));
        !one.lookup(lookup).is_empty()
    };
    // 3. The namespace has a pull secret that matches, but this pod does not use it.
    if let Some(shape) = index
        .namespaces
        .get(namespace)
        .into_iter()
        .flatten()
        .find(|s| covers(s))
    {
        let how = if from_account {
            format!(
                "its ServiceAccount {account} does not list it: add {account} to serviceAccounts of PullSecret {}",
                shape.spec
            )
        } else {
            "its imagePullSecrets do not list it".to_string()
        };
        return format!(
            "pullsync: image {image}: pull secret {} in {namespace} covers {host}, but {how}",
            shape.name
        );
    }
    // 4. A PullSecret elsewhere has this registry: say where it goes.
    // Distinct shapes, not every namespace's copy: this runs on a request.
    let mut elsewhere = index
        .shapes
        .iter()
        .filter(|s| covers(s))
        .map(|s| s.spec.clone())
        .collect::<BTreeSet<_>>()
        .into_iter();
    if let Some(spec) = elsewhere.next() {
        let targets: Vec<&str> = index
            .targets
            .get(&spec)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let shown = targets.iter().take(3).copied().collect::<Vec<_>>().join(", ");
        let more = if targets.len() > 3 {
            format!(" and {} more", targets.len() - 3)
        } else {
            String::new()
        };
        return format!(
            "pullsync: image {image}: namespace {namespace} has no pull secret for {host}; PullSecret {spec} targets only {shown}{more}"
        );
    }
    format!(
        "pullsync: image {image}: no pull secret in namespace {namespace} covers {host}; the kubelet will pull anonymously"
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{Container, LocalObjectReference};

    use super::*;
    use crate::admission::index::PullShape;

    fn index() -> PullIndex {
        let ngc = Arc::new(PullShape {
            name: "ngc-pull".into(),
            spec: "ngc".into(),
            registries: vec!["nvcr.io".into()],
            service_accounts: vec!["default".into()],
        });
        let scoped = Arc::new(PullShape {
            name: "scoped".into(),
            spec: "scoped".into(),
            registries: vec!["registry.example.com/team-a".into()],
            service_accounts: vec![],
        });
        let hub = Arc::new(PullShape {
            name: "hub".into(),
            spec: "hub".into(),
            registries: vec!["registry-1.docker.io".into()],
            service_accounts: vec![],
        });
        let mut index = PullIndex {
            ready: true,
            ..PullIndex::default()
        };
        index.namespaces.insert("inference".into(), vec![ngc.clone()]);
        index
            .namespaces
            .insert("ml-team".into(), vec![scoped.clone(), hub.clone()]);
        index.namespaces.insert("ops".into(), vec![ngc.clone()]);
        index.shapes = vec![hub, ngc, scoped];
        index
            .targets
            .insert("ngc".into(), ["inference".to_string(), "ops".to_string()].into());
        index.labels = BTreeMap::new();
        index
    }

    /// A hand-made pull secret in ml-team, keyed with a path.
    fn external() -> BTreeMap<String, Option<Vec<String>>> {
        [
            ("by-hand".to_string(), Some(vec!["nvcr.io/nvidia".to_string()])),
            ("unwrapped".to_string(), Some(vec![])),
        ]
        .into()
    }

    fn pod(images: &[&str], secrets: &[&str], account: Option<&str>) -> PodSpec {
        PodSpec {
            containers: images
                .iter()
                .map(|i| Container {
                    name: "c".into(),
                    image: Some(i.to_string()),
                    ..Container::default()
                })
                .collect(),
            image_pull_secrets: (!secrets.is_empty()).then(|| {
                secrets
                    .iter()
                    .map(|s| LocalObjectReference { name: s.to_string() })
                    .collect()
            }),
            service_account_name: account.map(String::from),
            ..PodSpec::default()
        }
    }

    #[test]
    fn each_mistake_gets_its_own_fix() {
        let index = index();
        let anonymous = vec!["registry.k8s.io".to_string()];
        let table: &[(&str, PodSpec, &str, Option<&str>)] = &[
            // The ServiceAccount default lists ngc-pull in inference: covered.
            (
                "inference",
                pod(&["nvcr.io/nvidia/tritonserver:24.01"], &[], None),
                "",
                None,
            ),
            // Listed by the pod itself: covered.
            (
                "inference",
                pod(&["nvcr.io/nvidia/x"], &["ngc-pull"], Some("runner")),
                "",
                None,
            ),
            // A public registry by design: never warned about.
            (
                "ml-team",
                pod(&["registry.k8s.io/pause:3.10"], &[], None),
                "",
                None,
            ),
            (
                "ml-team",
                pod(&["nvcr.io/nvidia/tritonserver:24.01"], &[], None),
                "namespace ml-team has no pull secret for nvcr.io; PullSecret ngc targets only inference, ops",
                None,
            ),
            (
                "ml-team",
                pod(&["registry.example.com/team-b/app:1"], &["scoped"], None),
                "pullsync: image registry.example.com/team-b/app:1: pull secret ml-team/scoped: key `registry.example.com/team-a` has a path, so it covers only registry.example.com/team-a/…; write `registry.example.com`",
                None,
            ),
            (
                "ml-team",
                pod(&["nvcr.io/other/app:1"], &["by-hand"], None),
                "pull secret ml-team/by-hand: key `nvcr.io/nvidia` has a path, so it covers only nvcr.io/nvidia/…; write `nvcr.io`",
                None,
            ),
            (
                "ml-team",
                pod(&["nvcr.io/nvidia/app:1"], &["by-hand"], None),
                "",
                None,
            ),
            (
                "ml-team",
                pod(&["nvcr.io/nvidia/app:1"], &["unwrapped"], None),
                "pull secret ml-team/unwrapped has no `auths` entries: a .dockerconfigjson needs {\"auths\": {\"nvcr.io\": …}}",
                None,
            ),
            (
                "ml-team",
                pod(&["busybox"], &["hub"], None),
                "the key `registry-1.docker.io` never matches them: write `https://index.docker.io/v1/`",
                None,
            ),
            (
                "inference",
                pod(&["nvcr.io/nvidia/x"], &[], Some("runner")),
                "pull secret ngc-pull in inference covers nvcr.io, but its ServiceAccount runner does not list it",
                Some("add runner to serviceAccounts of PullSecret ngc"),
            ),
            (
                "ops",
                pod(&["quay.io/org/app"], &["ngc-pull"], None),
                "no pull secret in namespace ops covers quay.io; the kubelet will pull anonymously",
                None,
            ),
        ];
        for (namespace, spec, expected, also) in table {
            let warnings = review(spec, namespace, &index, &external(), &anonymous);
            if expected.is_empty() {
                assert!(
                    warnings.is_empty(),
                    "{namespace} {:?}: {warnings:?}",
                    images(spec)
                );
                continue;
            }
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].starts_with("pullsync: image "), "{}", warnings[0]);
            assert!(
                warnings[0].contains(expected),
                "{expected:?} in {:?}",
                warnings[0]
            );
            if let Some(also) = also {
                assert!(warnings[0].contains(also), "{also:?} in {:?}", warnings[0]);
            }
            assert!(warnings[0].chars().count() <= MAX_WARNING);
        }
    }

    #[test]
    fn a_secret_pullsync_does_not_manage_or_no_sync_yet_means_nothing_is_said() {
        let index = index();
        let unknown: BTreeMap<String, Option<Vec<String>>> = [("theirs".to_string(), None)].into();
        assert!(
            review(
                &pod(&["quay.io/x/y"], &["theirs"], None),
                "ops",
                &index,
                &unknown,
                &[]
            )
            .is_empty()
        );
        assert!(
            review(
                &pod(&["quay.io/x/y"], &[], None),
                "ops",
                &PullIndex::default(),
                &external(),
                &[]
            )
            .is_empty()
        );
    }

    #[test]
    fn every_container_is_checked_once() {
        let mut spec = pod(&["quay.io/a/b", "quay.io/a/b"], &["ngc-pull"], None);
        spec.init_containers = Some(vec![Container {
            name: "init".into(),
            image: Some("quay.io/a/init".into()),
            ..Container::default()
        }]);
        assert_eq!(images(&spec), ["quay.io/a/init", "quay.io/a/b"]);
        assert_eq!(review(&spec, "ops", &index(), &external(), &[]).len(), 2);
    }
}

#[cfg(test)]
mod provider_tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{Container, PodSpec};

    use super::*;
    use crate::admission::index::PullShape;

    fn pod(image: &str, account: &str) -> PodSpec {
        PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            service_account_name: Some(account.into()),
            ..PodSpec::default()
        }
    }

    #[test]
    fn an_image_the_credential_provider_serves_the_pods_account_is_covered() {
        let mut index = PullIndex {
            ready: true,
            ..PullIndex::default()
        };
        let ngc = Arc::new(PullShape {
            name: "ngc".into(),
            spec: "ngc".into(),
            registries: vec!["nvcr.io".into()],
            service_accounts: vec!["triton".into()],
        });
        index.provided.insert("inference".into(), vec![ngc.clone()]);
        index.shapes = vec![ngc];
        index
            .targets
            .insert("ngc".into(), ["inference".to_string()].into());
        let none = BTreeMap::new();
        let image = "nvcr.io/nvidia/tritonserver:24.05-py3";
        assert!(review(&pod(image, "triton"), "inference", &index, &none, &[]).is_empty());
        // Another ServiceAccount is not served: warned.
        assert_eq!(
            review(&pod(image, "default"), "inference", &index, &none, &[]).len(),
            1
        );
        // Nor is another namespace.
        assert_eq!(
            review(&pod(image, "triton"), "ml-team", &index, &none, &[]).len(),
            1
        );
    }
}
