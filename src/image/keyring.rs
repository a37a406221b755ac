//! Which credentials the kubelet uses for an image: a copy of the matching rules of
//! `k8s.io/kubernetes/pkg/credentialprovider` (`keyring.go`: `BasicDockerKeyring.Add`,
//! `Lookup`, `URLsMatch`, `isDefaultRegistryMatch`; `secrets/secrets.go`: every pull secret of
//! a pod is added, in order, to one keyring) (pure).

use std::collections::BTreeMap;

const DEFAULT_REGISTRY_HOST: &str = "index.docker.io";

/// One `auths` entry of one pull secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it came from: a file path, or `namespace/secret`.
    pub source: String,
    /// The key exactly as written.
    pub server: String,
    /// What the kubelet would send (decoded from `auth` when present).
    pub username: String,
    /// The pullsync credential behind it, when known.
    pub credential: Option<String>,
}

/// A keyring built the way the kubelet builds one for a pod.
#[derive(Debug, Default)]
pub struct Keyring {
    entries: Vec<Entry>,
    /// Normalised key → entry indexes, in the order they were added.
    creds: BTreeMap<String, Vec<usize>>,
    /// Keys, unique, reverse-sorted: "more specific paths are matched first".
    index: Vec<String>,
}

/// A URL as `url.Parse("https://" + s)` splits it: host (with port) and path.
struct SchemelessUrl {
    host: String,
    path: String,
}

fn parse_schemeless(s: &str) -> SchemelessUrl {
    let end = s.find(['/', '?', '#']).unwrap_or(s.len());
    let path_end = s[end..].find(['?', '#']).map_or(s.len(), |i| end + i);
    SchemelessUrl {
        host: s[..end].to_string(),
        path: s[end..path_end].to_string(),
    }
}

/// `net.SplitHostPort`, falling back to the whole host with no port, as `SplitURL` does.
fn split_host_port(host: &str) -> (Vec<String>, String) {
    let split = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once("]:").map(|(h, p)| (h.to_string(), p.to_string()))
    } else {
        match host.matches(':').count() {
            1 => host.split_once(':').map(|(h, p)| (h.to_string(), p.to_string())),
            _ => None,
        }
    };
    let (name, port) = split.unwrap_or_else(|| (host.to_string(), String::new()));
    (name.split('.').map(String::from).collect(), port)
}

/// The keyring key for an `auths` key (`BasicDockerKeyring.Add`).
pub fn normalize_key(server: &str) -> String {
    let without_scheme = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let url = parse_schemeless(without_scheme);
    let mut path = url.path.as_str();
    if path.starts_with("/v2/") || path.starts_with("/v1/") {
        path = &path[3..];
    }
    if path.is_empty() || path == "/" {
        url.host
    } else {
        format!("{}{path}", url.host)
    }
}

/// Why a key does not match a lookup name; `None` when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Port { key: String, image: String },
    LabelCount { key: usize, image: usize },
    Path { key: String, image: String },
    Host,
}

/// `URLsMatchStr(glob, target)`.
pub fn urls_match(glob: &str, target: &str) -> Result<(), Mismatch> {
    let (glob, target) = (parse_schemeless(glob), parse_schemeless(target));
    let (glob_parts, glob_port) = split_host_port(&glob.host);
    let (target_parts, target_port) = split_host_port(&target.host);
    if glob_port != target_port {
        return Err(Mismatch::Port {
            key: glob_port,
            image: target_port,
        });
    }
    if glob_parts.len() != target_parts.len() {
        return Err(Mismatch::LabelCount {
            key: glob_parts.len(),
            image: target_parts.len(),
        });
    }
    if !target.path.starts_with(&glob.path) {
        return Err(Mismatch::Path {
            key: glob.path,
            image: target.path,
        });
    }
    if glob_parts
        .iter()
        .zip(&target_parts)
        .all(|(g, t)| glob_match(g, t))
    {
        Ok(())
    } else {
        Err(Mismatch::Host)
    }
}

pub use super::glob::glob_match;

/// `isDefaultRegistryMatch`: whether an image pulls from Docker Hub by its name's shape.
fn is_default_registry_match(image: &str) -> bool {
    let mut parts = image.splitn(2, '/');
    let first = parts.next().unwrap_or_default();
    if first.is_empty() {
        return false;
    }
    match parts.next() {
        None => true,
        Some(_) => first == "docker.io" || first == "index.docker.io" || !first.contains(['.', ':']),
    }
}

impl Keyring {
    /// Add one pull secret's entries (`BasicDockerKeyring.Add`).
    pub fn add(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for entry in entries {
            let key = normalize_key(&entry.server);
            let slot = self.creds.entry(key.clone()).or_default();
            // A new key joins the index; a map lookup keeps adding linear (was a list scan).
            if slot.is_empty() {
                self.index.push(key);
            }
            slot.push(self.entries.len());
            self.entries.push(entry);
        }
        self.index.sort_unstable_by(|a, b| b.cmp(a));
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries the kubelet would try for `image` (a normalised `domain/path`), in order.
    pub fn lookup(&self, image: &str) -> Vec<&Entry> {
        let mut found: Vec<&Entry> = self
            .index
            .iter()
            .filter(|key| urls_match(key, image).is_ok())
            .flat_map(|key| self.creds[key].iter().map(|&i| &self.entries[i]))
            .collect();
        if found.is_empty()
            && is_default_registry_match(image)
            && let Some(hub) = self.creds.get(DEFAULT_REGISTRY_HOST)
        {
            found = hub.iter().map(|&i| &self.entries[i]).collect();
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(source: &str, servers: &[&str]) -> Vec<Entry> {
        servers
            .iter()
            .map(|s| Entry {
                source: source.into(),
                server: s.to_string(),
                username: "u".into(),
                credential: None,
            })
            .collect()
    }

    #[test]
    fn lookup_table() {
        // (case, pull secrets in pod order, lookup name, expected (source, server) in order)
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, Vec<&'a str>)>,
            &'a str,
            Vec<(&'a str, &'a str)>,
        );
        let ecr = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
        let ecr_nvcf = "123456789012.dkr.ecr.us-west-2.amazonaws.com/nvcf";
        let cases: Vec<Case> = vec![
            (
                "exact host",
                vec![("a", vec!["nvcr.io"])],
                "nvcr.io/nvidia/x",
                vec![("a", "nvcr.io")],
            ),
            (
                "scheme dropped",
                vec![("a", vec!["https://nvcr.io"])],
                "nvcr.io/nvidia/x",
                vec![("a", "https://nvcr.io")],
            ),
            (
                "http scheme dropped",
                vec![("a", vec!["http://r.example.com"])],
                "r.example.com/x",
                vec![("a", "http://r.example.com")],
            ),
            (
                "v2 prefix is the host",
                vec![("a", vec!["https://r.example.com/v2/"])],
                "r.example.com/x",
                vec![("a", "https://r.example.com/v2/")],
            ),
            (
                "v1 prefix then path",
                vec![("a", vec!["r.example.com/v1/team"])],
                "r.example.com/team/app",
                vec![("a", "r.example.com/v1/team")],
            ),
            (
                "v1 prefix path elsewhere",
                vec![("a", vec!["r.example.com/v1/team"])],
                "r.example.com/other/app",
                vec![],
            ),
            (
                "path prefix",
                vec![("a", vec!["nvcr.io/nvidia"])],
                "nvcr.io/nvidia/triton",
                vec![("a", "nvcr.io/nvidia")],
            ),
            (
                "path elsewhere",
                vec![("a", vec!["nvcr.io/nvidia"])],
                "nvcr.io/other/triton",
                vec![],
            ),
            (
                "path is a string prefix",
                vec![("a", vec!["nvcr.io/nv"])],
                "nvcr.io/nvidia/triton",
                vec![("a", "nvcr.io/nv")],
            ),
            (
                "port must match",
                vec![("a", vec!["localhost:5000"])],
                "localhost/foo",
                vec![],
            ),
            (
                "port matches",
                vec![("a", vec!["localhost:5000"])],
                "localhost:5000/foo",
                vec![("a", "localhost:5000")],
            ),
            (
                "no port on key",
                vec![("a", vec!["localhost"])],
                "localhost:5000/foo",
                vec![],
            ),
            (
                "ecr glob",
                vec![("a", vec!["*.dkr.ecr.*.amazonaws.com"])],
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/x",
                vec![("a", "*.dkr.ecr.*.amazonaws.com")],
            ),
            (
                "ecr glob label count",
                vec![("a", vec!["*.dkr.ecr.*.amazonaws.com"])],
                "123456789012.dkr.ecr.us-west-2.amazonaws.com.cn/x",
                vec![],
            ),
            (
                "glob one label",
                vec![("a", vec!["*.gcr.io"])],
                "us.gcr.io/p/x",
                vec![("a", "*.gcr.io")],
            ),
            (
                "glob needs a label",
                vec![("a", vec!["*.gcr.io"])],
                "gcr.io/p/x",
                vec![],
            ),
            (
                "glob inside a label",
                vec![("a", vec!["*-docker.pkg.dev"])],
                "us-west2-docker.pkg.dev/p/r/x",
                vec![("a", "*-docker.pkg.dev")],
            ),
            (
                "hosts compare exactly",
                vec![("a", vec!["NVCR.io"])],
                "nvcr.io/x",
                vec![],
            ),
            (
                "ecr exact vs glob vs host/path: most specific first",
                vec![("a", vec!["*.dkr.ecr.*.amazonaws.com", ecr, ecr_nvcf])],
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/nvcf/echo",
                vec![("a", ecr_nvcf), ("a", ecr), ("a", "*.dkr.ecr.*.amazonaws.com")],
            ),
            (
                "hub fallback",
                vec![("a", vec!["https://index.docker.io/v1/"])],
                "docker.io/library/nginx",
                vec![("a", "https://index.docker.io/v1/")],
            ),
            (
                "hub fallback without v1",
                vec![("a", vec!["index.docker.io"])],
                "docker.io/library/nginx",
                vec![("a", "index.docker.io")],
            ),
            (
                "hub key for another registry",
                vec![("a", vec!["https://index.docker.io/v1/"])],
                "ghcr.io/org/x",
                vec![],
            ),
            (
                "docker.io key matches directly",
                vec![("a", vec!["docker.io"])],
                "docker.io/library/nginx",
                vec![("a", "docker.io")],
            ),
            (
                "hub fallback only when nothing matched",
                vec![("a", vec!["https://index.docker.io/v1/", "docker.io"])],
                "docker.io/library/nginx",
                vec![("a", "docker.io")],
            ),
            (
                "registry-1 never matches hub images",
                vec![("a", vec!["registry-1.docker.io"])],
                "docker.io/library/nginx",
                vec![],
            ),
            (
                "two secrets for one registry keep pod order",
                vec![("first", vec!["nvcr.io"]), ("second", vec!["nvcr.io"])],
                "nvcr.io/nvidia/x",
                vec![("first", "nvcr.io"), ("second", "nvcr.io")],
            ),
            (
                "a more specific key in a later secret comes first",
                vec![("first", vec!["nvcr.io"]), ("second", vec!["nvcr.io/nvidia"])],
                "nvcr.io/nvidia/x",
                vec![("second", "nvcr.io/nvidia"), ("first", "nvcr.io")],
            ),
        ];
        for (name, secrets, image, expected) in cases {
            let mut keyring = Keyring::default();
            for (source, servers) in &secrets {
                keyring.add(secret(source, servers));
            }
            let got: Vec<(&str, &str)> = keyring
                .lookup(image)
                .iter()
                .map(|e| (e.source.as_str(), e.server.as_str()))
                .collect();
            assert_eq!(got, expected, "case {name}");
        }
    }

    #[test]
    fn keys_normalise_like_the_kubelet() {
        for (input, key) in [
            ("https://index.docker.io/v1/", "index.docker.io"),
            ("nvcr.io", "nvcr.io"),
            ("http://r.example.com:5000/v2/", "r.example.com:5000"),
            ("r.example.com/v1/team/", "r.example.com/team/"),
            ("r.example.com/team", "r.example.com/team"),
        ] {
            assert_eq!(normalize_key(input), key, "{input}");
        }
    }
}
