//! RFC 3339 timestamps as Kubernetes writes them (`2026-11-22T09:30:00Z`) (pure), on `jiff`
//! (already in the tree through k8s-openapi): UTC and whole seconds out, `Z` or an explicit
//! offset in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

fn timestamp(t: SystemTime) -> Timestamp {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::new(since.as_secs() as i64, since.subsec_nanos() as i32).unwrap_or(Timestamp::MAX)
}

/// Format as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(t: SystemTime) -> String {
    timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Format as a Kubernetes `MicroTime`: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_micro(t: SystemTime) -> String {
    timestamp(t).strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to the whole second; `None` before 1970.
pub fn parse(s: &str) -> Option<SystemTime> {
    let at: Timestamp = s.parse().ok()?;
    u64::try_from(at.as_second())
        .ok()
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
}

/// Seconds since 1970 of a UTC civil time, `None` when it is not a real date.
pub(crate) fn utc_seconds(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> Option<i64> {
    let civil = jiff::civil::DateTime::new(y, mo, d, h, mi, s, 0).ok()?;
    jiff::tz::Offset::UTC
        .to_timestamp(civil)
        .ok()
        .map(|t| t.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        let t = parse("2026-11-22T09:30:05Z").unwrap();
        assert_eq!(format(t), "2026-11-22T09:30:05Z");
        assert_eq!(parse("2026-11-22T10:30:05+01:00"), Some(t));
        assert_eq!(parse("2026-11-22T09:30:05.123456Z"), Some(t));
        assert_eq!(format(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            format(parse("2000-02-29T23:59:59Z").unwrap()),
            "2000-02-29T23:59:59Z"
        );
        assert!(parse("yesterday").is_none());
        assert!(parse("2026-13-01T00:00:00Z").is_none(), "month 13 is not a date");
        assert!(
            parse("2026-11-22T09:30:05").is_none(),
            "an instant needs its offset"
        );
        assert_eq!(
            format_micro(UNIX_EPOCH + Duration::from_micros(1_500_000)),
            "1970-01-01T00:00:01.500000Z"
        );
        assert_eq!(utc_seconds(1970, 1, 2, 0, 0, 0), Some(86_400));
        assert_eq!(utc_seconds(2026, 2, 30, 0, 0, 0), None);
    }
}
