//! The validation corpus: one folder per mistake under `tests/data/invalid/`, each with the
//! exact diagnostics `pullsync validate` must print (`expected.txt`); and a valid corpus that
//! uses every kind and every field.

mod support;

use std::path::Path;

use support::pullsync;

#[test]
fn every_invalid_case_prints_exactly_its_diagnostics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        let run = pullsync(&["validate", case.to_str().unwrap()], None, None);
        let has_error = expected.lines().any(|l| l.contains(": error: "));
        if run.stderr != expected {
            failures.push(format!(
                "case {name}:\n--- expected\n{expected}--- got\n{}",
                run.stderr
            ));
        }
        if run.code != i32::from(has_error) {
            failures.push(format!(
                "case {name}: exit code {} (errors expected: {has_error})",
                run.code
            ));
        }
        // Every error names a file:line:column, an object or a syntax problem, and a fix.
        for block in expected.split("\n").filter(|l| l.contains(": error: ")) {
            assert!(
                block.split(':').nth(1).unwrap().parse::<usize>().is_ok(),
                "{name}: {block}"
            );
        }
        let errors = expected
            .lines()
            .filter(|l| l.contains(": error: ") || l.contains(": warning: "))
            .count();
        let helps = expected.lines().filter(|l| l.starts_with("  help: ")).count();
        assert_eq!(
            errors, helps,
            "case {name}: every diagnostic says what to write instead"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_output_carries_the_same_diagnostics_for_ci() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid/many-errors-one-pass");
    let run = pullsync(
        &["validate", case.to_str().unwrap(), "--output", "json"],
        None,
        None,
    );
    assert_eq!(run.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["errors"], 4, "all mistakes of two files found in one pass");
    let first = &doc["diagnostics"][0];
    assert_eq!(first["file"], "a.yaml");
    assert_eq!(first["line"], 7);
    assert_eq!(first["column"], 16);
    assert_eq!(first["severity"], "error");
    assert_eq!(first["object"], "PullSecret/one");
    assert_eq!(
        first["help"].as_str().unwrap().split(':').next().unwrap(),
        "write `ghcr.io`"
    );
}

#[test]
fn the_valid_corpus_uses_every_kind_and_passes() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/valid/every-kind");
    let run = pullsync(
        &[
            "validate",
            case.to_str().unwrap(),
            "--output",
            "json",
            // The Tenant lives in a platform-owned folder of the repo; the rest is platform's.
            "--tenants",
            "repo:tenants",
            "--allow-platform-specs",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(
        doc["objects"], 7,
        "dot-folders, non-YAML files and the tenants folder are not specs"
    );
    // Selectors cannot be evaluated without a cluster: said, not silently ignored.
    assert_eq!(doc["warnings"], 2);
    assert!(
        doc["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("namespaceSelector needs a cluster")
    );

    // Its ageFile decrypts with the test identity, and renders with values redacted.
    let identity = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-identity.txt");
    let run = pullsync(
        &[
            "render",
            case.to_str().unwrap(),
            "--age-identity",
            identity.to_str().unwrap(),
            "--output",
            "json",
        ],
        None,
        None,
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let failed = doc["failed"].as_array().unwrap();
    // The `file` credentials point at /run/secrets, absent here: those secrets fail, and say why.
    assert_eq!(failed.len(), 2, "{}", run.stdout);
    assert!(failed.iter().all(|f| {
        f["reason"]
            .as_str()
            .unwrap()
            .contains("cannot read /run/secrets/pullsync/")
    }));
    assert!(!run.all().contains("test-password"));
}

#[test]
fn schema_describes_every_kind() {
    let run = pullsync(&["schema"], None, None);
    assert_eq!(run.code, 0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    for kind in ["Credential", "PullSecret", "Secret", "Defaults", "Tenant"] {
        assert!(doc[kind]["properties"]["spec"].is_object(), "{kind}");
    }
    let one: serde_json::Value =
        serde_json::from_str(&pullsync(&["schema", "--kind", "PullSecret"], None, None).stdout).unwrap();
    assert_eq!(
        one["additionalProperties"], false,
        "unknown fields are flagged by editors too"
    );
}
