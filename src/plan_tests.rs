//! Table tests of planning: desired × observed → actions.

use super::*;
use crate::k8s::observe::{NamespaceInfo, SecretMeta};
use crate::render::RenderedBody;
use std::sync::Arc;

fn rendered(ns: &str, name: &str, hash: &str) -> Rendered {
    Rendered {
        namespace: ns.into(),
        body: Arc::new(RenderedBody {
            rollout_restart: vec![],
            verify: false,
            name: name.into(),
            secret_type: "Opaque".into(),
            data: Default::default(),
            labels: [("team".to_string(), "ml".to_string())].into(),
            annotations: [(ANNOTATION_CONTENT_HASH.to_string(), hash.to_string())].into(),
            provenance: Default::default(),
            spec_ref: "s.yaml#Secret/x".into(),
            registries: Vec::new(),
            service_accounts: Vec::new(),
            adopt: false,
        }),
    }
}

fn managed(hash: &str) -> ManagedSecret {
    ManagedSecret {
        resource_version: "7".into(),
        meta: Arc::new(SecretMeta {
            labels: [
                ("team".to_string(), "ml".to_string()),
                ("extra".to_string(), "kept".to_string()),
            ]
            .into(),
            annotations: [(ANNOTATION_CONTENT_HASH.to_string(), hash.to_string())].into(),
            applied_keys: Default::default(),
            created_keys: Default::default(),
        }),
    }
}

fn observed(secrets: &[(&str, &str, &str)]) -> Observed {
    let mut o = Observed::default();
    for ns in ["a", "b"] {
        Arc::make_mut(&mut o.namespaces).insert(ns.into(), NamespaceInfo::default());
    }
    for (ns, name, hash) in secrets {
        Arc::make_mut(&mut o.managed).insert((ns.to_string(), name.to_string()), managed(hash));
    }
    o
}

#[test]
fn create_update_unchanged_prune() {
    let outcome = RenderOutcome {
        held: Default::default(),
        rendered: vec![
            rendered("a", "new", "h1"),
            rendered("a", "same", "h2"),
            rendered("a", "changed", "h3"),
        ],
        failed: vec![],
    };
    let plan = plan(
        &outcome,
        &observed(&[("a", "same", "h2"), ("a", "changed", "old"), ("a", "gone", "h")]),
        &PlanOptions {
            max_prune_ratio: 1.0,
            allow_mass_prune: false,
        },
    );
    let kinds: Vec<String> = plan
        .actions
        .iter()
        .map(|a| format!("{:?}", std::mem::discriminant(a)))
        .collect();
    assert_eq!(plan.actions.len(), 3, "{kinds:?}");
    assert!(matches!(&plan.actions[0], Action::Create { name, .. } if name == "new"));
    assert!(
        matches!(&plan.actions[1], Action::Update { name, changes, .. } if name == "changed" && changes == &vec![Change::Data])
    );
    assert!(matches!(&plan.actions[2], Action::Prune { name, .. } if name == "gone"));
    assert_eq!(
        plan.unchanged,
        vec![("a".to_string(), "same".to_string())],
        "extra labels set by others do not count as a change"
    );
}

#[test]
fn a_new_revision_alone_is_not_a_change() {
    let mut next = rendered("a", "same", "h2");
    Arc::make_mut(&mut next.body)
        .annotations
        .insert(ANNOTATION_REVISION.into(), "commit-2".into());
    let mut live = observed(&[("a", "same", "h2")]);
    let secret = Arc::make_mut(&mut live.managed).values_mut().next().unwrap();
    Arc::make_mut(&mut secret.meta)
        .annotations
        .insert(ANNOTATION_REVISION.into(), "commit-1".into());
    let outcome = RenderOutcome {
        held: Default::default(),
        rendered: vec![next.clone()],
        failed: vec![],
    };
    let quiet = plan(&outcome, &live, &PlanOptions::default());
    assert!(quiet.actions.is_empty(), "{:?}", quiet.actions);
    Arc::make_mut(&mut next.body)
        .annotations
        .insert(ANNOTATION_CONTENT_HASH.into(), "h3".into());
    let outcome = RenderOutcome {
        held: Default::default(),
        rendered: vec![next],
        failed: vec![],
    };
    let changed = plan(&outcome, &live, &PlanOptions::default());
    assert_eq!(
        changed.actions.len(),
        1,
        "new data is written, with the new revision"
    );
}

#[test]
fn mass_prune_is_refused_unless_allowed() {
    let outcome = RenderOutcome {
        held: Default::default(),
        rendered: vec![rendered("a", "keep", "h")],
        failed: vec![],
    };
    let live = observed(&[("a", "keep", "h"), ("a", "x", "h"), ("b", "y", "h")]);
    let refused = plan(&outcome, &live, &PlanOptions::default());
    assert!(refused.actions.is_empty());
    assert!(
        refused
            .prune_refused
            .unwrap()
            .contains("refusing to prune 2 of 3")
    );
    let allowed = plan(
        &outcome,
        &live,
        &PlanOptions {
            max_prune_ratio: 0.5,
            allow_mass_prune: true,
        },
    );
    assert_eq!(allowed.actions.len(), 2);
}

#[test]
fn failed_renders_are_kept_not_pruned() {
    let outcome = RenderOutcome {
        held: Default::default(),
        rendered: vec![],
        failed: vec![crate::render::RenderFailure {
            namespace: "a".into(),
            name: "x".into(),
            spec_ref: "s".into(),
            reason: "credential down".into(),
            service_accounts: vec![],
        }],
    };
    let plan = plan(&outcome, &observed(&[("a", "x", "h")]), &PlanOptions::default());
    assert!(plan.actions.is_empty());
    assert_eq!(plan.kept.len(), 1);
    assert!(plan.kept[0].exists, "the live Secret is kept");
    let never = super::plan(&outcome, &observed(&[]), &PlanOptions::default());
    assert!(never.actions.is_empty());
    assert!(!never.kept[0].exists, "a Secret never created is not `kept`");
}

#[test]
fn keys_written_by_the_create_and_no_longer_rendered_are_removed_by_name() {
    let mut live = observed(&[("a", "s", "h")]);
    let secret = Arc::make_mut(&mut live.managed).values_mut().next().unwrap();
    Arc::make_mut(&mut secret.meta).created_keys =
        ["labels/team".to_string(), "labels/tier".to_string()].into();
    let outcome = RenderOutcome {
        rendered: vec![rendered("a", "s", "h")],
        ..RenderOutcome::default()
    };
    let plan = plan(&outcome, &live, &PlanOptions::default());
    match &plan.actions[..] {
        [Action::Update { changes, remove, .. }] => {
            assert_eq!(changes, &vec![Change::Labels]);
            assert_eq!(
                remove,
                &vec!["labels/tier".to_string()],
                "`team` is still rendered"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn secrets_of_specs_rejected_by_tenancy_are_kept_not_pruned() {
    let mut live = observed(&[("a", "held", "h"), ("a", "gone", "h")]);
    let spec = "teams/a/specs.yaml#Secret/held";
    let held = Arc::make_mut(&mut live.managed)
        .get_mut(&("a".to_string(), "held".to_string()))
        .unwrap();
    Arc::make_mut(&mut held.meta)
        .annotations
        .insert(ANNOTATION_SPEC.into(), spec.into());
    let outcome = RenderOutcome {
        held: [(spec.to_string(), "rule `namespaces`".to_string())].into(),
        ..RenderOutcome::default()
    };
    let options = PlanOptions {
        allow_mass_prune: true,
        ..PlanOptions::default()
    };
    let plan = plan(&outcome, &live, &options);
    assert_eq!(
        plan.kept,
        vec![Held {
            namespace: "a".into(),
            name: "held".into(),
            reason: "rule `namespaces`".into(),
            exists: true
        }]
    );
    assert!(matches!(&plan.actions[..], [Action::Prune { name, .. }] if name == "gone"));
}

#[test]
fn terminating_namespaces_are_left_alone() {
    let mut live = observed(&[("b", "old", "h")]);
    Arc::make_mut(&mut live.namespaces)
        .get_mut("b")
        .unwrap()
        .terminating = true;
    let plan = plan(
        &RenderOutcome::default(),
        &live,
        &PlanOptions {
            max_prune_ratio: 1.0,
            allow_mass_prune: false,
        },
    );
    assert!(plan.actions.is_empty());
}

#[test]
fn an_actions_metric_label_is_its_name_in_plan_output() {
    let target = || ("ns".to_string(), "n".to_string());
    let actions = [
        Action::Create {
            namespace: target().0,
            name: target().1,
            index: 0,
        },
        Action::Update {
            namespace: target().0,
            name: target().1,
            changes: vec![],
            remove: vec![],
            index: 0,
        },
        Action::Prune {
            namespace: target().0,
            name: target().1,
            resource_version: String::new(),
        },
        Action::PatchServiceAccount {
            namespace: target().0,
            name: target().1,
            wanted: Default::default(),
        },
        Action::RolloutRestart {
            namespace: target().0,
            name: target().1,
            kind: crate::spec::model::WorkloadKind::Deployment,
            secret: String::new(),
        },
    ];
    for action in &actions {
        let json = serde_json::to_value(action).unwrap();
        assert_eq!(json["action"], action.verb(), "{json}");
    }
}
