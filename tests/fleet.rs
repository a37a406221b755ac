//! Fleets: one spec repository, two clusters — each pullsync applies what is for it (by name,
//! by labels) and everything without `clusters:`; `validate`/`render` show one cluster's view.

mod support;

use std::path::Path;

use support::{pullsync, secret_data};

fn out_for(cluster: &str, labels: &[&str], out: &Path) {
    let mut args = vec![
        "sync",
        "--once",
        "--repo",
        "examples/fleet",
        "--age-identity",
        "examples/quickstart/demo-identity.txt",
        "--out",
        out.to_str().unwrap(),
        "--cluster-name",
        cluster,
    ];
    for label in labels {
        args.extend(["--cluster-label", label]);
    }
    let run = pullsync(&args, None, None);
    assert_eq!(run.code, 0, "{}", run.all());
}

fn files(out: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for ns in std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        for f in std::fs::read_dir(ns.path()).unwrap().flatten() {
            found.push(format!(
                "{}/{}",
                ns.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            ));
        }
    }
    found.sort();
    found
}

#[test]
fn each_cluster_gets_its_own_view_of_one_repository() {
    let work = tempfile::tempdir().unwrap();
    let (east, west) = (work.path().join("east"), work.path().join("west"));
    out_for("gpu-east", &["region=us-east", "tier=prod"], &east);
    out_for("gpu-west", &["region=us-west", "tier=staging"], &west);
    assert_eq!(
        files(&east),
        [
            "inference/model-store.yaml",
            "inference/ngc-pull.yaml",
            "training/ngc-pull.yaml"
        ]
    );
    assert_eq!(
        files(&west),
        ["inference/model-store.yaml", "inference/ngc-pull.yaml"]
    );
    let endpoint = |out: &Path| {
        String::from_utf8(secret_data(&out.join("inference/model-store.yaml"), "endpoint")).unwrap()
    };
    assert_eq!(endpoint(&east), "https://models.prod.example.com");
    assert_eq!(endpoint(&west), "https://models.staging.example.com");

    // A malformed label is refused with what to write.
    let run = pullsync(
        &["validate", "examples/fleet", "--cluster-label", "tier"],
        None,
        None,
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("write KEY=VALUE"), "{}", run.all());
}
