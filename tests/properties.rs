//! Properties of everything hostile input reaches: the glob matcher, the image reference
//! parser, the spec loader, the keyring and the webhook verifier never panic, finish, and
//! (for the glob) agree with a plain backtracking matcher on inputs small enough for it.

use proptest::prelude::*;
use pullsync::image::glob::glob_match;
use pullsync::image::keyring::{Entry, Keyring};
use pullsync::image::reference::parse_normalized;

/// Exponential but obviously right, for short inputs: `*` any run, `?` one char, literal else.
fn naive(p: &[char], n: &[char]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some(('*', rest)) => (0..=n.len()).any(|skip| naive(rest, &n[skip..])),
        Some(('?', rest)) => !n.is_empty() && naive(rest, &n[1..]),
        Some((c, rest)) => n.first() == Some(c) && naive(rest, &n[1..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn glob_agrees_with_backtracking(pattern in "[ab*?]{0,10}", name in "[ab]{0,12}") {
        let p: Vec<char> = pattern.chars().collect();
        let n: Vec<char> = name.chars().collect();
        prop_assert_eq!(glob_match(&pattern, &name), naive(&p, &n), "{} vs {}", pattern, name);
    }

    #[test]
    fn glob_never_panics(pattern in "\\PC{0,40}", name in "\\PC{0,60}") {
        let _ = glob_match(&pattern, &name);
    }

    #[test]
    fn references_never_panic(input in "\\PC{0,300}") {
        let _ = parse_normalized(&input);
    }

    #[test]
    fn reference_shaped_input_never_panics(input in "[a-zA-Z0-9./:@_-]{0,300}") {
        if let Err(e) = parse_normalized(&input) {
            // Errors quote at most ~100 characters of the input.
            prop_assert!(e.to_string().len() < 400, "{}", e);
        }
    }

    #[test]
    fn keyring_lookups_never_panic(keys in proptest::collection::vec("[a-z0-9.*:/?\\[\\]-]{0,30}", 0..20), image in "[a-z0-9./:-]{0,60}") {
        let mut keyring = Keyring::default();
        keyring.add(keys.iter().map(|k| Entry {
            source: "p".into(),
            server: k.clone(),
            username: "u".into(),
            credential: None,
        }));
        let _ = keyring.lookup(&image);
    }

    #[test]
    fn webhook_verification_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256), signature in "\\PC{0,80}", secret in proptest::collection::vec(any::<u8>(), 0..80)) {
        let header = |name: &str| (name == "x-hub-signature-256").then(|| signature.clone());
        let _ = pullsync::daemon::webhook::verify(&secret, &body, header);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The loader returns diagnostics for anything; it never panics.
    #[test]
    fn the_spec_loader_never_panics(text in "(apiVersion: pullsync.dev/v1alpha1\nkind: (Credential|PullSecret|Secret|Defaults)\n|metadata: \\{name: [a-z]{1,5}\\}\n|spec:\n|  [a-z]{1,8}: [\\PC]{0,12}\n|---\n|\\PC{0,20}\n){0,12}") {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("specs.yaml"), &text).unwrap();
        let _ = pullsync::spec::load::load(dir.path());
    }
}
