//! Tests of the command line's settings.

use super::*;
use clap::CommandFactory;

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn durations_are_parsed_and_refused_by_clap_with_the_flag_named() {
    let error = Cli::try_parse_from(["pullsync", "wait", "--revision", "abc", "--timeout", "5 minutes"])
        .expect_err("a bad duration is refused");
    let text = error.to_string();
    assert!(text.contains("--timeout"), "{text}");
    assert!(text.contains("is not a duration"), "{text}");
    let parsed =
        Cli::try_parse_from(["pullsync", "wait", "--revision", "abc", "--timeout", "1m30s"]).unwrap();
    match parsed.command {
        Command::Wait { timeout, .. } => assert_eq!(timeout, Duration::from_secs(90)),
        _ => panic!("not wait"),
    }
}
