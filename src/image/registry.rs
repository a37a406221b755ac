//! Registry keys in a docker config `auths` map: what the kubelet accepts and what to write
//! instead (pure).
//!
//! The kubelet's keyring (`pkg/credentialprovider/keyring.go`, `BasicDockerKeyring.Add`) drops a
//! scheme, strips a `/v1/` or `/v2/` prefix from the path, and keeps any remaining path as a
//! *prefix*: a key `nvcr.io/nvidia` only serves images under `nvcr.io/nvidia/…`. pullsync wants
//! plain `host[:port]` keys, except Docker Hub's legacy key, which `kubectl create secret
//! docker-registry` writes by default.

/// The Docker Hub key `kubectl create secret docker-registry` uses when no server is given.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Hosts that mean Docker Hub when written as a key.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Why a key is rejected, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub message: String,
    pub help: String,
}

fn problem(message: impl Into<String>, help: impl Into<String>) -> KeyProblem {
    KeyProblem {
        message: message.into(),
        help: help.into(),
    }
}

/// Check one `auths` key.
pub fn check_server_key(key: &str) -> Result<(), KeyProblem> {
    if key == DOCKER_HUB_KEY {
        return Ok(());
    }
    if key.trim().is_empty() {
        return Err(problem(
            "registry server is empty",
            "write the registry host, e.g. `nvcr.io` or `registry.example.com:5000`",
        ));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(problem(
            format!("registry server `{key}` contains white space"),
            format!("write `{}`", key.split_whitespace().collect::<String>()),
        ));
    }
    let (scheme, rest) = match key.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, key),
    };
    let (host, path) = match rest.split_once('/') {
        Some((host, path)) => (host, path.trim_end_matches('/')),
        None => (rest, ""),
    };
    let host_only = host.to_ascii_lowercase();
    let bare_host = host_only
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with(']') || host_only.starts_with('['))
        .map_or(host_only.as_str(), |(h, _)| h);
    if DOCKER_HUB_HOSTS.contains(&bare_host) {
        return Err(problem(
            format!("registry server `{key}` is Docker Hub under another spelling"),
            format!(
                "write `{DOCKER_HUB_KEY}`: the key `kubectl create secret docker-registry` writes for Docker Hub and every client reads"
            ),
        ));
    }
    if let Some(scheme) = scheme {
        return Err(problem(
            format!("registry server `{key}` has a scheme (`{scheme}://`)"),
            format!(
                "write `{host}`: an auths key is a bare host[:port]; the kubelet ignores the scheme and other clients may not match it"
            ),
        ));
    }
    let api_prefix = ["v1", "v2"]
        .iter()
        .any(|v| path == *v || path.starts_with(&format!("{v}/")));
    if api_prefix {
        return Err(problem(
            format!("registry server `{key}` has an API path (`/{path}`)"),
            format!("write `{host}`: the registry API path is not part of the key"),
        ));
    }
    if !path.is_empty() {
        return Err(problem(
            format!("registry server `{key}` has a path (`/{path}`)"),
            format!(
                "write `{host}`; with a path the kubelet uses this credential only for images under `{host}/{path}/…`, and registries such as NVCF want the host alone"
            ),
        ));
    }
    check_host(host).map_err(|why| {
        problem(
            format!("registry server `{key}` is not a valid host[:port]: {why}"),
            "write a DNS name or IP address, optionally with a port, e.g. `registry.example.com:5000`",
        )
    })
}

/// `host[:port]`; host labels may be `*` globs as the kubelet allows (`*.dkr.ecr.*.amazonaws.com`).
fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("unclosed `[`")?;
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err("bad IPv6 address".into());
        }
        (None, after.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("port `{port}` is not a number from 1 to 65535")),
        }
    }
    if let Some(name) = name {
        if name.is_empty() {
            return Err("the host name is empty".into());
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || c == '_')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(format!("`{label}` is not a valid host name label"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys() {
        let cases = [
            ("plain host", "nvcr.io", true),
            (
                "host and port",
                "image-registry.openshift-image-registry.svc:5000",
                true,
            ),
            ("ip and port", "127.0.0.1:5000", true),
            ("ipv6", "[::1]:5000", true),
            ("ecr", "123456789012.dkr.ecr.us-west-2.amazonaws.com", true),
            ("glob", "*.dkr.ecr.*.amazonaws.com", true),
            ("docker hub legacy", "https://index.docker.io/v1/", true),
            ("docker.io", "docker.io", false),
            ("index.docker.io", "index.docker.io", false),
            ("https host", "https://nvcr.io", false),
            ("path", "nvcr.io/nvidia", false),
            ("v2 path", "registry.example.com/v2/", false),
            ("bad port", "registry.example.com:http", false),
            ("space", "nvcr .io", false),
            ("empty", "", false),
        ];
        for (name, key, ok) in cases {
            assert_eq!(check_server_key(key).is_ok(), ok, "case {name}: {key}");
        }
    }

    #[test]
    fn a_path_says_what_the_kubelet_does() {
        let problem = check_server_key("779846807323.dkr.ecr.us-west-2.amazonaws.com/nvcf/echo").unwrap_err();
        assert!(
            problem
                .help
                .contains("write `779846807323.dkr.ecr.us-west-2.amazonaws.com`")
        );
        assert!(problem.help.contains("only for images under"));
    }
}
