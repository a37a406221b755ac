//! `pullsync explain`: for one image and a set of pull secrets, which entries the kubelet will
//! try, in order, and why near misses do not match (pure).

use serde::Serialize;

use super::keyring::{Entry, Keyring, Mismatch, glob_match, normalize_key, urls_match};
use super::reference::{ParseReferenceError, Reference, parse_normalized};
use super::registry::DOCKER_HUB_KEY;

/// Hosts that are Docker Hub, but are not what the kubelet looks Docker Hub images up with.
const DOCKER_HUB_ALIASES: [&str; 3] = [
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

#[derive(Debug, Clone, Serialize)]
pub struct Match {
    pub source: String,
    pub server: String,
    pub username: String,
    pub credential: Option<String>,
    /// How the kubelet gets it: a pull secret, or the image credential provider (tried after
    /// every pull secret: `credentialprovider/secrets.MakeDockerKeyring`'s union order).
    pub via: Via,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    PullSecret,
    CredentialProvider,
}

#[derive(Debug, Clone, Serialize)]
pub struct NearMiss {
    pub source: String,
    pub server: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub image: String,
    pub reference: Reference,
    pub lookup: String,
    pub matches: Vec<Match>,
    /// Only in the readable output: entries that almost matched, and why they did not.
    #[serde(skip)]
    pub near_misses: Vec<NearMiss>,
    pub warnings: Vec<String>,
}

pub fn explain(
    image: &str,
    keyring: &Keyring,
    warnings: Vec<String>,
) -> Result<Explanation, ParseReferenceError> {
    explain_with_provider(image, keyring, &Keyring::default(), warnings)
}

/// [`explain`] for a pod whose node also runs pullsync's credential provider: `provided` holds
/// what it would answer for the pod; its matches come after the pull secrets'.
pub fn explain_with_provider(
    image: &str,
    keyring: &Keyring,
    provided: &Keyring,
    mut warnings: Vec<String>,
) -> Result<Explanation, ParseReferenceError> {
    let reference = parse_normalized(image)?;
    let lookup = reference.name();
    let found = keyring.lookup(&lookup);
    let by_provider = provided.lookup(&lookup);
    let matches: Vec<Match> = found
        .iter()
        .map(|e| Match {
            source: e.source.clone(),
            server: e.server.clone(),
            username: e.username.clone(),
            credential: e.credential.clone(),
            via: Via::PullSecret,
        })
        .collect();
    let near_misses: Vec<NearMiss> = keyring
        .entries()
        .iter()
        .filter(|e| !found.contains(e))
        .filter_map(|e| {
            near_miss(e, &lookup, !found.is_empty()).map(|reason| NearMiss {
                source: e.source.clone(),
                server: e.server.clone(),
                reason,
            })
        })
        .collect();
    let mut matches = matches;
    matches.extend(by_provider.iter().map(|e| Match {
        source: e.source.clone(),
        server: e.server.clone(),
        username: e.username.clone(),
        credential: e.credential.clone(),
        via: Via::CredentialProvider,
    }));
    if keyring.entries().is_empty() && provided.entries().is_empty() {
        warnings.push("no registry entries were given: the kubelet would pull anonymously".into());
    } else if matches.is_empty() {
        warnings.push(format!(
            "no entry matches {lookup}: the kubelet would pull anonymously"
        ));
    }
    Ok(Explanation {
        image: image.to_string(),
        reference,
        lookup,
        matches,
        near_misses,
        warnings,
    })
}

fn host_of(key: &str) -> &str {
    key.split('/').next().unwrap_or(key)
}

/// Why an entry that did not match was close, or `None` when it is simply for another registry.
pub fn near_miss(entry: &Entry, lookup: &str, something_matched: bool) -> Option<String> {
    let key = normalize_key(&entry.server);
    let image_host = host_of(lookup);
    let key_host = host_of(&key);
    let on_hub = image_host == "docker.io";
    if on_hub && key == "index.docker.io" && something_matched {
        return Some(format!(
            "`{}` is the Docker Hub fallback, used only when no other entry matches; here another entry matched first",
            entry.server
        ));
    }
    if on_hub && DOCKER_HUB_ALIASES.contains(&key_host) && key != "index.docker.io" {
        return Some(format!(
            "Docker Hub images are looked up as `{lookup}`; the key `{}` never matches them: write `{DOCKER_HUB_KEY}`",
            entry.server
        ));
    }
    match urls_match(&key, lookup) {
        Ok(()) => None,
        Err(Mismatch::Port {
            key: key_port,
            image: image_port,
        }) => {
            let (kh, ih) = (key_host.split(':').next()?, image_host.split(':').next()?);
            let same_host = kh.split('.').count() == ih.split('.').count()
                && kh.split('.').zip(ih.split('.')).all(|(g, t)| glob_match(g, t));
            same_host.then(|| {
                let show = |p: &str| {
                    if p.is_empty() {
                        "no port".to_string()
                    } else {
                        format!("port {p}")
                    }
                };
                format!(
                    "ports differ: the key has {}, the image has {}; the kubelet needs the same port",
                    show(&key_port),
                    show(&image_port)
                )
            })
        }
        Err(Mismatch::Path {
            key: key_path,
            image: image_path,
        }) => Some(format!(
            "the key has a path (`{key_path}`): it serves only images under `{key_host}{key_path}…`, and this image is `{image_host}{image_path}`; write `{key_host}` for the whole registry"
        )),
        Err(Mismatch::LabelCount {
            key: key_labels,
            image: image_labels,
        }) => {
            if key.contains(['*', '?', '[']) && aligned(key_host, image_host) {
                Some(format!(
                    "a glob label matches exactly one label: `{key_host}` has {key_labels} labels, `{image_host}` has {image_labels}"
                ))
            } else if image_host.ends_with(&format!(".{key_host}"))
                || key_host.ends_with(&format!(".{image_host}"))
            {
                Some(format!(
                    "a key matches its host exactly: `{key_host}` is not `{image_host}` (use a glob such as `*.{}` for subdomains)",
                    key_host.split_once('.').map_or(key_host, |(_, rest)| rest)
                ))
            } else {
                None
            }
        }
        Err(Mismatch::Host) => (key_host.eq_ignore_ascii_case(image_host)).then(|| {
            format!(
                "hosts differ in case (`{key_host}` vs `{image_host}`): the kubelet compares them exactly"
            )
        }),
    }
}

/// Whether the shorter host's labels match the longer one's, aligned at the start or the end:
/// the host is right but for a missing or extra label.
fn aligned(key_host: &str, image_host: &str) -> bool {
    let k: Vec<&str> = key_host.split(['.', ':']).collect();
    let i: Vec<&str> = image_host.split(['.', ':']).collect();
    let n = k.len().min(i.len());
    let left = (0..n).all(|x| glob_match(k[x], i[x]));
    let right = (0..n).all(|x| glob_match(k[k.len() - n + x], i[i.len() - n + x]));
    n > 0 && (left || right)
}

/// For `validate`: a key no image reference can ever match (e.g. a single-label host, which
/// an image reference reads as a Docker Hub user). The Docker Hub key works as a fallback.
pub fn never_matches(server: &str) -> bool {
    if server == DOCKER_HUB_KEY {
        return false;
    }
    let key = normalize_key(server);
    if key.contains('[') && !key.starts_with('[') {
        return false; // a character class: no simple probe; give it the benefit of the doubt
    }
    let probe_host = host_of(&key).replace(['*', '?'], "x");
    let path = key
        .split_once('/')
        .map_or(String::new(), |(_, p)| format!("{p}/"));
    match parse_normalized(&format!("{probe_host}/{path}pullsync-probe")) {
        Ok(reference) => urls_match(&key, &reference.name()).is_err(),
        Err(_) => true,
    }
}

/// For `validate`: whether every image that matches `b` also matches `a` (a glob covering a
/// concrete host), so the kubelet tries both, in keyring order.
pub fn overlaps(a: &str, b: &str) -> bool {
    let (ka, kb) = (normalize_key(a), normalize_key(b));
    ka != kb && urls_match(&ka, &format!("{}/x", kb.replace(['*', '?'], "x"))).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(servers: &[&str]) -> Keyring {
        let mut keyring = Keyring::default();
        keyring.add(servers.iter().map(|s| Entry {
            source: "secret.json".into(),
            server: s.to_string(),
            username: "u".into(),
            credential: None,
        }));
        keyring
    }

    #[test]
    fn near_misses_say_why() {
        let cases = [
            (
                "path on the key",
                "nvcr.io/nvidia",
                "nvcr.io/other/app",
                "the key has a path (`/nvidia`)",
            ),
            (
                "different port",
                "registry.example.com:5000",
                "registry.example.com/app",
                "ports differ: the key has port 5000, the image has no port",
            ),
            (
                "glob label count",
                "*.dkr.ecr.*.amazonaws.com",
                "123456789012.dkr.ecr.us-west-2.amazonaws.com.cn/app",
                "a glob label matches exactly one label",
            ),
            (
                "registry-1 for hub",
                "registry-1.docker.io",
                "nginx",
                "Docker Hub images are looked up as `docker.io/library/nginx`",
            ),
            (
                "subdomain without glob",
                "gcr.io",
                "us.gcr.io/p/app",
                "a key matches its host exactly",
            ),
            ("case", "NVCR.io", "nvcr.io/nvidia/app", "hosts differ in case"),
        ];
        for (name, server, image, reason) in cases {
            let explanation = explain(image, &keyring(&[server]), Vec::new()).unwrap();
            assert!(explanation.matches.is_empty(), "case {name}");
            let got = &explanation
                .near_misses
                .first()
                .unwrap_or_else(|| panic!("case {name}: no near miss"))
                .reason;
            assert!(got.contains(reason), "case {name}: {got}");
        }
    }

    #[test]
    fn hub_fallback_is_explained_when_shadowed() {
        let explanation = explain(
            "nginx",
            &keyring(&["docker.io", "https://index.docker.io/v1/"]),
            Vec::new(),
        )
        .unwrap();
        assert_eq!(explanation.matches.len(), 1);
        assert!(
            explanation.near_misses[0]
                .reason
                .contains("used only when no other entry matches")
        );
    }

    #[test]
    fn unrelated_registries_are_not_near_misses() {
        let explanation = explain("ghcr.io/org/app", &keyring(&["nvcr.io", "quay.io"]), Vec::new()).unwrap();
        assert!(explanation.near_misses.is_empty());
        assert!(explanation.warnings[0].contains("no entry matches ghcr.io/org/app"));
    }

    #[test]
    fn keys_that_can_never_match_and_overlaps() {
        assert!(never_matches("myregistry"));
        assert!(!never_matches("localhost"));
        assert!(!never_matches("myregistry:5000"));
        assert!(!never_matches("*.dkr.ecr.*.amazonaws.com"));
        assert!(!never_matches(DOCKER_HUB_KEY));
        assert!(
            !never_matches("registry-1.docker.io"),
            "images can name registry-1.docker.io directly"
        );
        assert!(overlaps(
            "*.dkr.ecr.*.amazonaws.com",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com"
        ));
        assert!(!overlaps(
            "123456789012.dkr.ecr.us-west-2.amazonaws.com",
            "*.dkr.ecr.*.amazonaws.com"
        ));
        assert!(!overlaps("nvcr.io", "ghcr.io"));
    }
}
