//! Table tests for the reference grammar, built from distribution/reference's rules.

use super::*;

const SHA256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hex(n: usize) -> String {
    "0123456789abcdef".chars().cycle().take(n).collect()
}

#[test]
fn valid_references() {
    let long_tag = format!("t{}", "a".repeat(127));
    // The path alone may be 255 characters: the domain is not counted (current reference.go).
    let name_255 = format!("docker.io/a/{}", "b".repeat(255 - "a/".len()));
    let host_255 = format!("example.com/{}", "a".repeat(255));
    let sha512 = format!("sha512:{}", hex(128));
    let sha384 = format!("sha384:{}", hex(96));
    let hex_with_tag = format!("{}:latest", hex(64));
    let hex_path = format!("library/{}", hex(64));
    /// (case, input, domain, path, tag, digest)
    type Case<'a> = (&'a str, String, &'a str, &'a str, Option<&'a str>, Option<String>);
    let cases: Vec<Case> = vec![
        (
            "bare name",
            "nginx".into(),
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        (
            "bare name and tag",
            "nginx:1.25".into(),
            "docker.io",
            "library/nginx",
            Some("1.25"),
            None,
        ),
        (
            "library prefix given",
            "library/nginx".into(),
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        (
            "docker.io official",
            "docker.io/nginx".into(),
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        (
            "legacy index domain",
            "index.docker.io/nginx".into(),
            "docker.io",
            "library/nginx",
            None,
            None,
        ),
        (
            "legacy index user repo",
            "index.docker.io/foo/bar".into(),
            "docker.io",
            "foo/bar",
            None,
            None,
        ),
        (
            "hub user repo",
            "foo/bar".into(),
            "docker.io",
            "foo/bar",
            None,
            None,
        ),
        (
            "localhost domain",
            "localhost/foo".into(),
            "localhost",
            "foo",
            None,
            None,
        ),
        (
            "localhost port",
            "localhost:5000/foo/bar:tag".into(),
            "localhost:5000",
            "foo/bar",
            Some("tag"),
            None,
        ),
        (
            "localhost alone is a hub name",
            "localhost".into(),
            "docker.io",
            "library/localhost",
            None,
            None,
        ),
        (
            "host:port without slash is name:tag",
            "localhost:5000".into(),
            "docker.io",
            "library/localhost",
            Some("5000"),
            None,
        ),
        (
            "ngc",
            "nvcr.io/nvidia/tritonserver:24.05-py3".into(),
            "nvcr.io",
            "nvidia/tritonserver",
            Some("24.05-py3"),
            None,
        ),
        (
            "ecr",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/nvcf/echo:latest".into(),
            "123456789012.dkr.ecr.us-west-2.amazonaws.com",
            "nvcf/echo",
            Some("latest"),
            None,
        ),
        (
            "openshift internal",
            "image-registry.openshift-image-registry.svc:5000/private-ai-demo/model:v1".into(),
            "image-registry.openshift-image-registry.svc:5000",
            "private-ai-demo/model",
            Some("v1"),
            None,
        ),
        (
            "ipv6 with port",
            "[::1]:5000/foo".into(),
            "[::1]:5000",
            "foo",
            None,
            None,
        ),
        (
            "ipv6 without port",
            "[2001:db8::1]/foo:v2".into(),
            "[2001:db8::1]",
            "foo",
            Some("v2"),
            None,
        ),
        (
            "upper case domain",
            "Registry.Example.com/team/app".into(),
            "Registry.Example.com",
            "team/app",
            None,
            None,
        ),
        (
            "upper case first component is a domain",
            "FOO/bar".into(),
            "FOO",
            "bar",
            None,
            None,
        ),
        (
            "separators",
            "example.com:8080/a__b/c-d--e.f_g:tag_1.x-y".into(),
            "example.com:8080",
            "a__b/c-d--e.f_g",
            Some("tag_1.x-y"),
            None,
        ),
        (
            "digest",
            format!("foo@{SHA256}"),
            "docker.io",
            "library/foo",
            None,
            Some(SHA256.into()),
        ),
        (
            "tag and digest",
            format!("ghcr.io/org/app:v1@{SHA256}"),
            "ghcr.io",
            "org/app",
            Some("v1"),
            Some(SHA256.into()),
        ),
        (
            "sha512 digest",
            format!("foo@{sha512}"),
            "docker.io",
            "library/foo",
            None,
            Some(sha512.clone()),
        ),
        (
            "sha384 digest",
            format!("foo@{sha384}"),
            "docker.io",
            "library/foo",
            None,
            Some(sha384.clone()),
        ),
        (
            "tag of 128",
            format!("foo:{long_tag}"),
            "docker.io",
            "library/foo",
            Some(long_tag.as_str()),
            None,
        ),
        (
            "name of 255",
            name_255.clone(),
            "docker.io",
            &name_255["docker.io/".len()..],
            None,
            None,
        ),
        (
            "a 255-character path after a long domain",
            host_255.clone(),
            "example.com",
            &host_255["example.com/".len()..],
            None,
            None,
        ),
        (
            "64 hex with a tag is a name",
            hex_with_tag.clone(),
            "docker.io",
            &hex_path,
            Some("latest"),
            None,
        ),
        (
            "deep path",
            "r.example.com/a/b/c/d/e".into(),
            "r.example.com",
            "a/b/c/d/e",
            None,
            None,
        ),
    ];
    for (name, input, domain, path, tag, digest) in cases {
        let got = parse_normalized(&input).unwrap_or_else(|e| panic!("case {name}: `{input}` rejected: {e}"));
        assert_eq!(got.domain, domain, "case {name}");
        assert_eq!(got.path, path, "case {name}");
        assert_eq!(got.tag.as_deref(), tag, "case {name}");
        assert_eq!(got.digest, digest, "case {name}");
    }
}

#[test]
fn invalid_references_name_the_rule() {
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", "".into(), "empty"),
        ("64 hex identifier", hex(64), "image ID"),
        ("upper case repository", "Nginx".into(), "must be lowercase"),
        (
            "upper case path on a domain",
            "docker.io/Foo".into(),
            "must be lowercase",
        ),
        (
            "upper case path on a registry",
            "ghcr.io/Org/app".into(),
            "must be lowercase",
        ),
        ("empty tag", "foo:".into(), "tag"),
        (
            "tag starting with dash",
            "foo:-tag".into(),
            "tag `-tag` is invalid",
        ),
        ("tag of 129", format!("foo:t{}", "a".repeat(128)), "at most 128"),
        (
            "tag with slash reads as a bad port",
            "foo:a/b".into(),
            "domain `foo:a`",
        ),
        ("short digest", "foo@sha256:abc".into(), "at least 32"),
        (
            "sha256 wrong length",
            format!("foo@sha256:{}", hex(63)),
            "exactly 64",
        ),
        (
            "sha256 upper case",
            format!("foo@sha256:{}", hex(64).to_uppercase()),
            "lower case",
        ),
        (
            "unsupported algorithm",
            format!("foo@md5:{}", hex(32)),
            "unsupported digest algorithm",
        ),
        (
            "digest without algorithm",
            format!("foo@{}", hex(64)),
            "algorithm:hex",
        ),
        ("dot dot component", "foo/../bar".into(), "path component `..`"),
        ("empty component", "foo//bar".into(), "empty component"),
        ("trailing slash", "ghcr.io/foo/".into(), "empty component"),
        (
            "leading dash component",
            "-foo/bar".into(),
            "path component `-foo`",
        ),
        (
            "port not numeric",
            "example.com:http/foo".into(),
            "domain `example.com:http`",
        ),
        ("ipv6 zone", "[fe80::1%eth0]/foo".into(), "domain"),
        ("scheme", "https://nvcr.io/nvidia/x".into(), "domain"),
        ("space", "foo bar".into(), "path component"),
        (
            "path of 256",
            format!("example.com/{}", "a".repeat(256)),
            "the repository path is 256 characters; at most 255",
        ),
        (
            "an official image's path counts `library/`",
            "a".repeat(250),
            "the repository path is 258 characters",
        ),
    ];
    for (name, input, expected) in cases {
        match parse_normalized(&input) {
            Ok(r) => panic!("case {name}: `{input}` accepted as {r:?}"),
            Err(e) => assert!(e.to_string().contains(expected), "case {name}: `{input}`: {e}"),
        }
    }
}
