//! Every example repository is a valid spec repository (each README says how it is used).

mod support;

use support::pullsync;

#[test]
fn every_example_validates() {
    let cases: &[&[&str]] = &[
        &["validate", "examples/quickstart"],
        &["validate", "examples/openshift-ai"],
        &["validate", "examples/amd-aim"],
        &["validate", "examples/nvcf"],
        &["validate", "examples/baseten"],
        &["validate", "examples/credential-provider"],
        &[
            "validate",
            "examples/fleet",
            "--cluster-name",
            "gpu-east",
            "--cluster-label",
            "tier=prod",
        ],
        &[
            "validate",
            "examples/multi-tenant",
            "--tenants",
            "repo:platform/tenants",
            "--platform-path",
            "platform/**",
        ],
    ];
    for args in cases {
        let run = pullsync(args, None, None);
        assert_eq!(run.code, 0, "{args:?}: {}", run.all());
        assert!(!run.stderr.contains("error:"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn the_nvcf_troubleshooting_cases_are_caught() {
    let work = tempfile::tempdir().unwrap();
    let specs = std::fs::read_to_string("examples/nvcf/specs.yaml").unwrap();
    for (bad, expected) in [
        (
            "779846807323.dkr.ecr.us-west-2.amazonaws.com/models",
            "has a path (`/models`)",
        ),
        (
            "779846807323.dkr.ecr.us-east-1.amazonaws.com",
            "registry not found",
        ),
    ] {
        let broken = specs.replacen(
            "{server: 779846807323.dkr.ecr.us-west-2.amazonaws.com,",
            &format!("{{server: {bad},"),
            1,
        );
        assert_ne!(broken, specs);
        support::write(work.path(), "specs.yaml", broken);
        let run = pullsync(&["validate", work.path().to_str().unwrap()], None, None);
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(run.all().contains(expected), "{}", run.all());
    }
}
