//! When each credential is due again, and when the daemon should next wake (pure: the caller
//! passes the clock).
//!
//! A credential is due at the earliest of: its `refreshInterval` after the last fetch, its
//! next cron `schedule` time, and its renew point before expiry. A value that carries its own
//! expiry (an exchanged token) and asks no `refreshInterval` is renewed by that expiry alone:
//! the 5-minute default is for values without one, which may change behind pullsync's back
//! (KV, a Secret), and every re-exchange would rewrite each Secret the token fans out to. The
//! renew point comes from
//! the lifetime the source really *issued* (clusters cap TokenRequests below what was asked),
//! and is never earlier than half of it: `renewBefore: 20m` on a 10-minute token would
//! otherwise be due the moment it arrives, forever. No credential is due sooner than
//! [`MIN_REFRESH`] after its last fetch (a token that arrives already expired — moto's fixed
//! 2015 `expiresAt` — must not make a hot loop). A failing source is due at its backoff time. A
//! credential due before the last sync started and still not refreshed by it (the specs were
//! invalid, so nothing ran) waits for the next resync instead of waking the loop at once.

use std::time::{Duration, SystemTime};

pub mod cache;

use crate::spec::duration;
use crate::spec::model::Rotation;
use cache::{Cached, CredentialCache};

/// How often a remote source without its own schedule is read again.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// The shortest time between two refreshes of one credential, whatever its expiry says.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);

/// When one cached credential is due, and why the renew point was moved, if it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub at: SystemTime,
    pub clamp: Option<String>,
}

fn parse(text: Option<&str>) -> Option<Duration> {
    text.and_then(|t| duration::parse(t).ok())
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// When a value fetched at `fetched_at` (expiring at `expires_at`) must be fetched again.
pub fn due(rotation: &Rotation, fetched_at: SystemTime, expires_at: Option<SystemTime>) -> Due {
    let asked = parse(rotation.refresh_interval.as_deref());
    let refresh = asked.unwrap_or(DEFAULT_REFRESH);
    let mut at = match (asked, expires_at) {
        (None, Some(expires)) => expires.max(fetched_at),
        _ => fetched_at + refresh,
    };
    if let Some(next) = rotation
        .schedule
        .as_deref()
        .and_then(|s| crate::spec::cron::Schedule::parse(s).ok())
        .and_then(|s| s.next_after(fetched_at))
    {
        at = at.min(next);
    }
    let mut clamp = None;
    if let Some(expires) = expires_at {
        let lifetime = expires.duration_since(fetched_at).unwrap_or_default();
        let latest = lifetime / 2;
        let before = match parse(rotation.renew_before.as_deref()) {
            Some(wanted) if wanted > latest => {
                clamp = Some(format!(
                    "renewBefore {} is not shorter than half the issued lifetime {}: renewing {} before expiry instead",
                    human(wanted),
                    human(lifetime),
                    human(latest)
                ));
                latest
            }
            Some(wanted) => wanted,
            None => lifetime / 3,
        };
        at = at.min(expires.checked_sub(before).unwrap_or(expires));
    }
    let floor = fetched_at + MIN_REFRESH;
    if at < floor {
        at = floor;
        clamp.get_or_insert_with(|| match expires_at {
            Some(expires) => format!(
                "the source issued a lifetime of {}; refreshing no sooner than {} after each fetch",
                human(expires.duration_since(fetched_at).unwrap_or_default()),
                human(MIN_REFRESH)
            ),
            None => format!(
                "refreshInterval {} is below the floor; refreshing no sooner than {} after each fetch",
                human(refresh),
                human(MIN_REFRESH)
            ),
        });
    }
    Due { at, clamp }
}

/// [`due`] for a cached entry.
pub fn due_of(cached: &Cached) -> Due {
    due(&cached.rotation, cached.fetched_at, cached.value.expires_at)
}

/// When the daemon should next sync for its credentials; `None` when none is waiting.
/// `last_sync` is when the last sync started; `resync` the periodic resync interval.
pub fn next_wake(cache: &CredentialCache, last_sync: SystemTime, resync: Duration) -> Option<SystemTime> {
    let entries = cache.entries.iter().map(|(name, c)| (name, due_of(c).at));
    let failing = cache.failing.iter().map(|(name, f)| (name, f.retry_at));
    let mut wake: Option<SystemTime> = None;
    for (name, mut at) in entries.chain(failing) {
        if let Some(f) = cache.failing.get(name) {
            // A failing source waits for its backoff, whatever its cached value says.
            at = at.max(f.retry_at);
        }
        if at <= last_sync {
            // Due already when the last sync started, and that sync did not refresh it.
            at = last_sync + resync;
        }
        wake = Some(wake.map_or(at, |w| w.min(at)));
    }
    wake
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::schedule::cache::Failing;
    use crate::value::credential::CredentialValue;

    fn t(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
    }

    fn rotation(renew_before: Option<&str>, refresh: Option<&str>, schedule: Option<&str>) -> Rotation {
        Rotation {
            renew_before: renew_before.map(String::from),
            refresh_interval: refresh.map(String::from),
            schedule: schedule.map(String::from),
        }
    }

    #[test]
    fn due_times() {
        // (case, rotation, fetched, expires, due, clamped)
        type Case = (&'static str, Rotation, u64, Option<u64>, u64, bool);
        let cases: Vec<Case> = vec![
            ("default refresh", rotation(None, None, None), 0, None, 300, false),
            (
                "refresh interval",
                rotation(None, Some("1m"), None),
                0,
                None,
                60,
                false,
            ),
            (
                "default renew at a third before expiry, not every 5m",
                rotation(None, None, None),
                0,
                Some(3600),
                2400,
                false,
            ),
            (
                "a 12-hour ECR token: renewed after 8 hours",
                rotation(None, None, None),
                0,
                Some(12 * 3600),
                8 * 3600,
                false,
            ),
            (
                "an explicit refreshInterval still applies to a token with an expiry",
                rotation(None, Some("10m"), None),
                0,
                Some(12 * 3600),
                600,
                false,
            ),
            (
                "a third of a short lifetime",
                rotation(None, None, None),
                0,
                Some(90),
                60,
                false,
            ),
            (
                "renewBefore honoured",
                rotation(Some("20m"), Some("1h"), None),
                0,
                Some(3600),
                2400,
                false,
            ),
            (
                "renewBefore longer than the issued lifetime",
                rotation(Some("20m"), Some("1h"), None),
                0,
                Some(600),
                300,
                true,
            ),
            (
                "renewBefore equal to half",
                rotation(Some("5m"), Some("1h"), None),
                0,
                Some(600),
                300,
                false,
            ),
            (
                "16 s tokens with renewBefore 20m",
                rotation(Some("20m"), None, None),
                0,
                Some(16),
                8,
                true,
            ),
            (
                "already expired on arrival",
                rotation(None, None, None),
                100,
                Some(50),
                105,
                true,
            ),
            (
                "a 4 s token: the floor",
                rotation(None, None, None),
                0,
                Some(4),
                5,
                true,
            ),
            // 1,800,000,000 s is 2027-01-15 08:00:00 UTC; hourly at minute 30.
            (
                "cron schedule",
                rotation(None, Some("24h"), Some("30 * * * *")),
                0,
                None,
                1800,
                false,
            ),
            (
                "cron after a fetch at :40",
                rotation(None, Some("24h"), Some("30 * * * *")),
                2400,
                None,
                5400,
                false,
            ),
            (
                "refresh sooner than cron",
                rotation(None, Some("10m"), Some("30 * * * *")),
                0,
                None,
                600,
                false,
            ),
        ];
        for (name, rotation, fetched, expires, want, clamped) in cases {
            let got = due(&rotation, t(fetched), expires.map(t));
            assert_eq!(got.at, t(want), "{name}: {:?}", got.at.duration_since(t(0)));
            assert_eq!(got.clamp.is_some(), clamped, "{name}: {:?}", got.clamp);
        }
    }

    fn cached(fetched: u64, expires: Option<u64>) -> Cached {
        Cached {
            value: CredentialValue {
                fields: BTreeMap::new(),
                version: "1".into(),
                expires_at: expires.map(t),
                origin: "test".into(),
            },
            fetched_at: t(fetched),
            spec: String::new(),
            rotation: Rotation::default(),
            last_error: None,
        }
    }

    #[test]
    fn wake_ups() {
        let resync = Duration::from_secs(60);
        let mut cache = CredentialCache::default();
        assert_eq!(next_wake(&cache, t(0), resync), None, "nothing cached");
        cache.entries.insert("a".into(), cached(0, None));
        assert_eq!(next_wake(&cache, t(1), resync), Some(t(300)));
        cache.entries.insert("b".into(), cached(0, Some(90)));
        assert_eq!(next_wake(&cache, t(1), resync), Some(t(60)), "the earliest");
        // b was due at 60; a sync at 70 did not refresh it (invalid specs): wait a resync.
        assert_eq!(
            next_wake(&cache, t(70), resync),
            Some(t(130)),
            "no spin on a stale entry"
        );
        cache.failing.insert(
            "b".into(),
            Failing {
                failures: 3,
                retry_at: t(200),
                error: "down".into(),
            },
        );
        assert_eq!(
            next_wake(&cache, t(70), resync),
            Some(t(200)),
            "a failing source waits for its backoff"
        );
        cache.failing.insert(
            "c".into(),
            Failing {
                failures: 1,
                retry_at: t(75),
                error: "down".into(),
            },
        );
        assert_eq!(
            next_wake(&cache, t(70), resync),
            Some(t(75)),
            "failing without a cached value"
        );
    }
}
