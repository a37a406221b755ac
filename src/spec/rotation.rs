//! The rotation a credential is refreshed by (pure). A credential is fetched once for all the
//! secrets that use it, so its rotation is its own `spec.rotation` where it says something, and
//! otherwise the most demanding of the rotations its secrets inherit (object, namespace and
//! cluster `Defaults`): the longest `renewBefore`, the shortest `refreshInterval`, the first
//! `schedule` by name. A minted credential (a token exchange, a TokenRequest) takes no inherited
//! `refreshInterval`: that setting is for values that change behind pullsync's back, and each
//! new token would rewrite every Secret that carries it; its own `spec.rotation` still may.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Catalog;
use super::duration;
use super::model::Rotation;
use super::resolve::Desired;

fn longer(a: Option<String>, b: &str) -> Option<String> {
    pick(a, b, |new, old| new > old)
}

fn shorter(a: Option<String>, b: &str) -> Option<String> {
    pick(a, b, |new, old| new < old)
}

fn pick(
    current: Option<String>,
    candidate: &str,
    better: impl Fn(Duration, Duration) -> bool,
) -> Option<String> {
    let Ok(new) = duration::parse(candidate) else {
        return current;
    };
    match current.as_deref().map(duration::parse) {
        Some(Ok(old)) if !better(new, old) => current,
        _ => Some(candidate.to_string()),
    }
}

/// Fill every credential's unset rotation fields from the secrets that use it.
pub fn apply(catalog: &mut Catalog, desired: &Desired) {
    let mut inherited: BTreeMap<&str, Rotation> = BTreeMap::new();
    for intent in desired.secrets.values() {
        for credential in intent.credentials() {
            let r = inherited.entry(credential).or_default();
            if let Some(v) = intent.rotation.get("renewBefore") {
                r.renew_before = longer(r.renew_before.take(), &v.value);
            }
            if let Some(v) = intent.rotation.get("refreshInterval") {
                r.refresh_interval = shorter(r.refresh_interval.take(), &v.value);
            }
            if let Some(v) = intent.rotation.get("schedule")
                && r.schedule.as_ref().is_none_or(|s| v.value < *s)
            {
                r.schedule = Some(v.value.clone());
            }
        }
    }
    for object in &mut catalog.credentials {
        let Some(from_secrets) = inherited.get(object.name.as_str()) else {
            continue;
        };
        let minted = object.spec.is_minted();
        let own = object.spec.rotation.get_or_insert_with(Rotation::default);
        own.renew_before = own
            .renew_before
            .take()
            .or_else(|| from_secrets.renew_before.clone());
        if !minted {
            own.refresh_interval = own
                .refresh_interval
                .take()
                .or_else(|| from_secrets.refresh_interval.clone());
        }
        own.schedule = own.schedule.take().or_else(|| from_secrets.schedule.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_demanding_wins() {
        assert_eq!(longer(Some("10m".into()), "1h").as_deref(), Some("1h"));
        assert_eq!(longer(Some("1h".into()), "10m").as_deref(), Some("1h"));
        assert_eq!(shorter(Some("1h".into()), "10m").as_deref(), Some("10m"));
        assert_eq!(shorter(None, "10m").as_deref(), Some("10m"));
        assert_eq!(shorter(Some("10m".into()), "nonsense").as_deref(), Some("10m"));
    }
}
