//! Tests of the informer's state machine (pure transitions on list and watch events).

use super::*;

fn secret(rv: &str) -> ManagedSecret {
    ManagedSecret {
        resource_version: rv.into(),
        ..Default::default()
    }
}

fn synced() -> State {
    let mut state = State::default();
    state.synced.insert("secrets".into(), false);
    assert!(!state.secret_seen("secrets", None, Seen::Init));
    assert!(!state.secret_seen("secrets", None, Seen::Listed("a/s".into(), secret("1"))));
    assert!(
        !state.secret_seen("secrets", None, Seen::Done),
        "the first list is no change"
    );
    state
}

#[test]
fn not_ready_until_every_stream_listed() {
    let mut state = State::default();
    assert!(!state.ready());
    state.synced.insert("secrets".into(), false);
    state.synced.insert("namespaces".into(), false);
    state.secret_seen("secrets", None, Seen::Init);
    state.secret_seen("secrets", None, Seen::Done);
    assert!(!state.ready(), "namespaces not listed yet");
    state.namespace_seen(Seen::Init);
    state.namespace_seen(Seen::Done);
    assert!(state.ready());
}

#[test]
fn a_failing_watch_is_not_trusted_until_it_delivers_again() {
    let mut state = synced();
    assert!(!state.degraded());
    state.failing.insert("secrets".into());
    assert!(state.degraded());
    assert!(
        state.ready(),
        "listed, but stale while failing: degraded() decides"
    );
}

#[test]
fn our_write_is_waited_for_and_is_no_change() {
    let mut state = synced();
    state.expect(("a".into(), "s".into()), Some("7".into()));
    assert!(!state.ready(), "the copy still shows version 1");
    // An older event still in flight does not satisfy it.
    assert!(state.secret_seen("secrets", None, Seen::Applied("a/s".into(), secret("5"))));
    assert!(!state.ready());
    assert!(!state.secret_seen("secrets", None, Seen::Applied("a/s".into(), secret("7"))));
    assert!(state.ready());
    assert_eq!(
        state.snapshot().managed[&("a".into(), "s".into())].resource_version,
        "7"
    );
}

#[test]
fn a_write_already_seen_is_not_waited_for() {
    let mut state = synced();
    assert!(state.secret_seen("secrets", None, Seen::Applied("a/t".into(), secret("9"))));
    state.expect(("a".into(), "t".into()), Some("9".into()));
    assert!(state.ready());
}

#[test]
fn a_hand_edit_after_ours_is_a_change() {
    let mut state = synced();
    state.expect(("a".into(), "s".into()), Some("7".into()));
    state.secret_seen("secrets", None, Seen::Applied("a/s".into(), secret("7")));
    assert!(state.secret_seen("secrets", None, Seen::Applied("a/s".into(), secret("8"))));
    assert!(state.ready());
}

#[test]
fn deletions_ours_and_others() {
    let mut state = synced();
    state.expect(("a".into(), "s".into()), None);
    assert!(!state.ready());
    assert!(!state.secret_seen("secrets", None, Seen::Deleted("a/s".into())));
    assert!(state.ready());
    state.secret_seen("secrets", None, Seen::Applied("a/u".into(), secret("3")));
    assert!(
        state.secret_seen("secrets", None, Seen::Deleted("a/u".into())),
        "deleted by someone else"
    );
    assert!(state.snapshot().managed.is_empty());
}

#[test]
fn a_fallback_list_rebases_expectations_on_what_it_showed() {
    let mut state = synced();
    // Our write answered 7; the copy still shows 1 (its event is late).
    state.expect(("a".into(), "s".into()), Some("7".into()));
    // A list made instead shows 7: the copy must still get there before it is used.
    let listed: BTreeMap<Key, ManagedSecret> = [(("a".to_string(), "s".to_string()), secret("7"))].into();
    state.rebase(&listed);
    assert!(!state.ready(), "the copy still shows version 1");
    state.secret_seen("secrets", None, Seen::Applied("a/s".into(), secret("7")));
    assert!(state.ready());
    // Overtaken: our write answered 9, someone wrote 10 and the copy saw 10 before we
    // registered 9. The list shows 10 and settles it.
    state.secret_seen("secrets", None, Seen::Applied("a/s".into(), secret("10")));
    state.expect(("a".into(), "s".into()), Some("9".into()));
    assert!(!state.ready());
    let listed: BTreeMap<Key, ManagedSecret> = [(("a".to_string(), "s".to_string()), secret("10"))].into();
    state.rebase(&listed);
    assert!(state.ready());
}

#[test]
fn a_relist_replaces_the_copy_and_settles_older_expectations() {
    let mut state = synced();
    state.expect(("a".into(), "s".into()), Some("7".into()));
    // The watch broke; the relist started after our write answered and shows a later edit.
    state.secret_seen("secrets", None, Seen::Init);
    state.secret_seen("secrets", None, Seen::Listed("a/s".into(), secret("8")));
    state.secret_seen("secrets", None, Seen::Listed("b/x".into(), secret("2")));
    assert!(
        state.secret_seen("secrets", None, Seen::Done),
        "a relist may hide changes"
    );
    assert!(state.ready());
    let managed = state.snapshot().managed;
    assert_eq!(managed.len(), 2);
    assert_eq!(managed[&("a".into(), "s".into())].resource_version, "8");
}

#[test]
fn an_expectation_newer_than_the_relist_still_waits() {
    let mut state = synced();
    state.secret_seen("secrets", None, Seen::Init);
    state.expect(("a".into(), "s".into()), Some("7".into()));
    state.secret_seen("secrets", None, Seen::Listed("a/s".into(), secret("1")));
    state.secret_seen("secrets", None, Seen::Done);
    assert!(!state.ready(), "the list may have been read before the write");
}

#[test]
fn a_namespaced_relist_touches_its_namespace_only() {
    let mut state = State::default();
    for ns in ["a", "b"] {
        let stream = format!("secrets/{ns}");
        state.synced.insert(stream.clone(), false);
        state.secret_seen(&stream, Some(ns), Seen::Init);
        state.secret_seen(&stream, Some(ns), Seen::Listed(format!("{ns}/s"), secret("1")));
        state.secret_seen(&stream, Some(ns), Seen::Done);
    }
    state.secret_seen("secrets/a", Some("a"), Seen::Init);
    state.secret_seen("secrets/a", Some("a"), Seen::Done);
    let managed = state.snapshot().managed;
    assert_eq!(
        managed.keys().collect::<Vec<_>>(),
        [&("b".to_string(), "s".to_string())]
    );
}

#[test]
fn a_namespace_being_deleted_is_terminating() {
    let mut ns: PartialObjectMeta<Namespace> = serde_json::from_value(serde_json::json!({
        "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {"name": "team-a", "labels": {"gpu": "true"}}
    }))
    .unwrap();
    let (name, info) = namespace_info(ns.clone());
    assert_eq!(name, "team-a");
    assert!(!info.terminating);
    assert_eq!(info.labels.get("gpu").map(String::as_str), Some("true"));
    ns.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
    ));
    assert!(namespace_info(ns).1.terminating);
}

#[test]
fn namespace_changes_trigger_only_when_they_change_something() {
    let mut state = State::default();
    state.namespace_seen(Seen::Init);
    state.namespace_seen(Seen::Listed("a".into(), NamespaceInfo::default()));
    assert!(!state.namespace_seen(Seen::Done));
    assert!(!state.namespace_seen(Seen::Applied("a".into(), NamespaceInfo::default())));
    let labelled = NamespaceInfo {
        labels: Arc::new([("gpu".to_string(), "true".to_string())].into()),
        terminating: false,
    };
    assert!(state.namespace_seen(Seen::Applied("a".into(), labelled)));
    assert!(state.namespace_seen(Seen::Deleted("a".into())));
}
