//! Tests of tenancy enforcement.

use super::*;

#[test]
fn vault_paths_stay_under_their_prefix() {
    assert!(vault_path_within("secret/teams/ml/hf", "secret/teams/ml/"));
    assert!(vault_path_within("secret/teams/ml/hf", "secret/teams/ml"));
    assert!(!vault_path_within("secret/teams/mlops/hf", "secret/teams/ml"));
    assert!(!vault_path_within(
        "secret/teams/ml/../infra/root",
        "secret/teams/ml"
    ));
    assert!(!vault_path_within("secret/teams/ml", "secret/teams/ml"));
    assert!(!vault_path_within("secret/teams//ml/x", "secret/teams/ml"));
}

#[test]
fn kv2_prefixes_may_be_written_as_the_vault_policy_writes_them() {
    assert_eq!(
        kv2_logical_prefix("secret/data/team-c/", "secret"),
        "secret/team-c/"
    );
    assert_eq!(
        kv2_logical_prefix("secret/metadata/team-c", "secret"),
        "secret/team-c"
    );
    assert_eq!(kv2_logical_prefix("kv/teams/data/c/", "kv/teams"), "kv/teams/c/");
    assert_eq!(kv2_logical_prefix("secret/data", "secret"), "secret/");
    // Another mount's policy form, or no policy form at all, is left as written.
    assert_eq!(
        kv2_logical_prefix("other/data/team-c/", "secret"),
        "other/data/team-c/"
    );
    assert_eq!(kv2_logical_prefix("secret/team-c/", "secret"), "secret/team-c/");
    assert_eq!(
        kv2_logical_prefix("secret/database/x", "secret"),
        "secret/database/x"
    );
    assert!(vault_path_within(
        "secret/team-c/registry",
        &kv2_logical_prefix("secret/data/team-c/", "secret")
    ));
    assert!(!vault_path_within(
        "secret/team-d/registry",
        &kv2_logical_prefix("secret/data/team-c/", "secret")
    ));
}

#[test]
fn relative_age_paths_are_judged_by_where_they_lead() {
    assert_eq!(
        normalize(Path::new("teams/a/../b/secret.age")),
        PathBuf::from("teams/b/secret.age")
    );
}
