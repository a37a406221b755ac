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
fn relative_age_paths_are_judged_by_where_they_lead() {
    assert_eq!(
        normalize(Path::new("teams/a/../b/secret.age")),
        PathBuf::from("teams/b/secret.age")
    );
}
