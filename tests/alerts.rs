//! The alert rules the chart ships (`deploy/helm/pullsync/files/alerts.yaml`) under Prometheus'
//! own tool: `promtool check rules` accepts them, and `promtool test rules` on the synthetic
//! series of `tests/data/alerts/tests.yaml` shows each alert firing when it should (after its
//! `for:`, once per install however many replicas) and silent on a healthy install. That the
//! metrics they name exist is checked against a running daemon in tests/operate.rs.

mod support;

use std::process::Command;

const RULES: &str = "deploy/helm/pullsync/files/alerts.yaml";

fn promtool(args: &[&str], cwd: &str) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_rules_file_is_valid_and_names_every_alert_the_readme_lists() {
    support::require("promtool");
    let (ok, text) = promtool(&["check", "rules", RULES], ".");
    assert!(ok, "{text}");
    assert!(text.contains("SUCCESS: 8 rules found"), "{text}");
    let rules: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(RULES).unwrap()).unwrap();
    let readme = std::fs::read_to_string("README.md").unwrap();
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        assert!(rule["for"].is_string(), "{name} has a for: duration");
        assert!(
            rule["annotations"]["runbook"].is_string(),
            "{name} has runbook text"
        );
        assert!(readme.contains(name), "README's alert table lists {name}");
    }
}

#[test]
fn each_alert_fires_when_it_should_and_stays_silent_on_a_healthy_install() {
    support::require("promtool");
    let (ok, text) = promtool(&["test", "rules", "tests.yaml"], "tests/data/alerts");
    assert!(ok, "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}
