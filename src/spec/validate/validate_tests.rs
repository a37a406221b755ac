//! Table tests of validation: one mistake per case, the message a user sees, the line it points
//! at and the fix it offers. A valid spec says nothing.

use std::path::Path;

use super::validate;
use crate::spec::load::load_str;

const CREDENTIALS: &str = "apiVersion: pullsync.dev/v1alpha1
kind: Credential
metadata: {name: ngc}
spec: {vault: {kv: {mount: secret, path: team/ngc}}}
---
apiVersion: pullsync.dev/v1alpha1
kind: Credential
metadata: {name: hf}
spec: {vault: {kv: {mount: secret, path: team/hf}}}
---
";

struct Case {
    what: &'static str,
    spec: &'static str,
    /// The one error: (message contains, line, help contains).
    error: Option<(&'static str, usize, &'static str)>,
}

#[test]
fn one_mistake_one_error_at_its_line() {
    let cases = [
        Case {
            what: "a valid pull secret",
            spec: "kind: PullSecret\nmetadata: {name: ngc-pull}\nspec:\n  namespaces: [a]\n  registries: [{server: nvcr.io, credential: ngc}]\n",
            error: None,
        },
        Case {
            what: "a misspelt credential gets a suggestion",
            spec: "kind: PullSecret\nmetadata: {name: ngc-pull}\nspec:\n  namespaces: [a]\n  registries: [{server: nvcr.io, credential: ngcc}]\n",
            error: Some(("unknown credential `ngcc`", 16, "did you mean `ngc`?")),
        },
        Case {
            what: "no registries",
            spec: "kind: PullSecret\nmetadata: {name: ngc-pull}\nspec:\n  namespaces: [a]\n  registries: []\n",
            error: Some(("registries is empty", 16, "server: nvcr.io, credential: ngc")),
        },
        Case {
            what: "a registry listed twice",
            spec: "kind: PullSecret\nmetadata: {name: ngc-pull}\nspec:\n  namespaces: [a]\n  registries:\n  - {server: nvcr.io, credential: ngc}\n  - {server: nvcr.io, credential: hf}\n",
            error: Some(("registry `nvcr.io` is listed twice", 18, "")),
        },
        Case {
            what: "a name Kubernetes refuses",
            spec: "kind: PullSecret\nmetadata: {name: NGC_Pull}\nspec:\n  namespaces: [a]\n  registries: [{server: nvcr.io, credential: ngc}]\n",
            error: Some(("name `NGC_Pull` is not valid", 13, "")),
        },
        Case {
            what: "a Secret of the pull-secret type is pointed at PullSecret",
            spec: "kind: Secret\nmetadata: {name: s}\nspec:\n  namespaces: [a]\n  type: kubernetes.io/dockerconfigjson\n  data: {x: {credential: ngc, field: password}}\n",
            error: Some((
                "type `kubernetes.io/dockerconfigjson` is a pull secret",
                16,
                "kind: PullSecret",
            )),
        },
        Case {
            what: "no namespace at all",
            spec: "kind: Secret\nmetadata: {name: s}\nspec:\n  data: {HF_TOKEN: {credential: hf}}\n",
            error: Some(("no target namespaces", 14, "")),
        },
    ];
    for case in cases {
        let text = format!("{CREDENTIALS}apiVersion: pullsync.dev/v1alpha1\n{}", case.spec);
        let (catalog, loaded) = load_str(Path::new("team.yaml"), &text);
        assert!(loaded.is_empty(), "{}: {loaded:?}", case.what);
        let errors: Vec<_> = validate(&catalog).into_iter().filter(|d| d.is_error()).collect();
        match case.error {
            None => assert!(errors.is_empty(), "{}: {errors:?}", case.what),
            Some((message, line, help)) => {
                assert_eq!(errors.len(), 1, "{}: {errors:?}", case.what);
                let error = &errors[0];
                assert!(
                    error.message.contains(message),
                    "{}: {}",
                    case.what,
                    error.message
                );
                assert_eq!(error.position.line, line, "{}: {error:?}", case.what);
                assert_eq!(error.position.file, Path::new("team.yaml"), "{}", case.what);
                let given = error.help.as_deref().unwrap_or_default();
                assert!(given.contains(help), "{}: help {given:?}", case.what);
            }
        }
    }
}
