//! The tables `pullsync status` prints (pure): the daemon, each credential, each namespace's
//! secrets, and what was refused — in the words of `/status`, no line wider than [`WIDTH`],
//! colour only when asked (a terminal). Never a value: `/status` holds none.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use crate::daemon::status::Status;

/// Every line fits a 100-column terminal.
pub const WIDTH: usize = 100;
/// Refusals listed before "and N more".
const MAX_LISTED: usize = 10;

#[derive(Clone, Copy)]
enum Tone {
    Plain,
    Good,
    Bad,
    Warn,
}

struct Paint(bool);

impl Paint {
    fn tone(&self, text: &str, tone: Tone) -> String {
        let code = match tone {
            Tone::Plain => return text.to_string(),
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Warn => "33",
        };
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn bold(&self, text: &str) -> String {
        if self.0 {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// `text` cut to `width` characters, with `…` where it was cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `text` cut and padded to exactly `width` characters, then painted (padding first, so
/// colour codes never shift a column).
fn cell(paint: &Paint, text: &str, width: usize, tone: Tone) -> String {
    let fitted = fit(text, width);
    let pad = width - fitted.chars().count();
    format!("{}{}", paint.tone(&fitted, tone), " ".repeat(pad))
}

/// A span of time the way a person reads it: `45s`, `3m12s`, `11h58m`, `2d4h`.
pub fn span(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// How far `at` (RFC 3339) is from `now`: `in 3m12s`-style text without the `in`, `expired`
/// or `overdue` when it has passed, `-` when unknown.
fn until(at: Option<&str>, now: SystemTime, passed: &str) -> (String, bool) {
    match at.and_then(crate::time::parse) {
        Some(t) => match t.duration_since(now) {
            Ok(left) => (span(left.as_secs()), false),
            Err(_) => (passed.to_string(), true),
        },
        None => ("-".to_string(), false),
    }
}

fn ago(at: Option<&str>, now: SystemTime) -> String {
    match at.and_then(crate::time::parse) {
        Some(t) => match now.duration_since(t) {
            Ok(past) => format!("{} ago", span(past.as_secs())),
            Err(_) => "just now".to_string(),
        },
        None => "never".to_string(),
    }
}

/// A commit as `git log --oneline` would show it (12 characters); a local folder's digest
/// keeps its `local-` prefix and 12 of its own.
fn short(revision: Option<&str>) -> String {
    let keep = |r: &str| if r.starts_with("local-") { 18 } else { 12 };
    revision.map_or_else(|| "-".to_string(), |r| r.chars().take(keep(r)).collect())
}

/// Per namespace: (applied, held, conflict, pruned), from each Secret's last outcome.
fn by_namespace(status: &Status) -> BTreeMap<&str, [usize; 4]> {
    let mut out: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for (key, outcome) in &status.secrets {
        let namespace = key.split_once('/').map_or(key.as_str(), |(ns, _)| ns);
        let column = match outcome.as_str() {
            "created" | "updated" | "adopted" | "unchanged" | "patched" | "restarted" => 0,
            "conflict" => 2,
            "pruned" => 3,
            // kept (last good value), not-created, failed, skipped
            _ => 1,
        };
        out.entry(namespace).or_default()[column] += 1;
    }
    out
}

pub fn draw(status: &Status, now: SystemTime, colour: bool) -> String {
    let paint = Paint(colour);
    let mut out = String::new();
    let ready = status.ready();
    let counts: Vec<String> = status.syncs.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        out,
        "{} {}   leader: {}   last sync: {}   last success: {}",
        paint.bold("pullsync"),
        if ready {
            paint.tone("ready", Tone::Good)
        } else {
            paint.tone("not ready", Tone::Bad)
        },
        if status.leader { "yes" } else { "no" },
        ago(status.last_sync.as_deref(), now),
        ago(status.last_successful_sync.as_deref(), now),
    );
    let current = short(status.current_revision.as_deref());
    let _ = writeln!(
        out,
        "revision: {}{}   last good: {}",
        current,
        if status.invalid {
            paint.tone(" (invalid)", Tone::Bad)
        } else {
            String::new()
        },
        short(status.last_good_revision.as_deref()),
    );
    let _ = writeln!(out, "{}", fit(&format!("syncs: {}", counts.join(", ")), WIDTH));
    if let Some(provider) = &status.provider {
        let requests: Vec<String> = provider
            .requests
            .iter()
            .map(|(result, n)| format!("{result} {n}"))
            .collect();
        let line = format!(
            "credential provider: {} namespaces, {} credentials (revision {}); requests: {}",
            provider.namespaces,
            provider.credentials,
            short(Some(provider.revision.as_str()).filter(|r| !r.is_empty())),
            requests.join(", ")
        );
        let _ = writeln!(out, "{}", fit(&line, WIDTH));
    }

    // name 22, source 19, version 14, expires 11, next fetch 11, failures 8: 85 + 5 gaps.
    out.push('\n');
    let _ = writeln!(
        out,
        "{}",
        paint.bold(
            format!(
                "{:<22} {:<19} {:<14} {:<11} {:<11} {:<8}",
                "CREDENTIAL", "SOURCE", "VERSION", "EXPIRES IN", "NEXT FETCH", "FAILURES"
            )
            .trim_end()
        )
    );
    if status.credentials.is_empty() {
        let _ = writeln!(out, "(none yet)");
    }
    for (name, c) in &status.credentials {
        let (expires, expired) = until(c.expires_at.as_deref(), now, "expired");
        let (next, _) = until(c.renew_at.as_deref(), now, "now");
        let failing = c.failures > 0;
        let line = [
            cell(&paint, name, 22, Tone::Plain),
            cell(
                &paint,
                if c.source.is_empty() { "-" } else { &c.source },
                19,
                Tone::Plain,
            ),
            cell(
                &paint,
                if c.version.is_empty() { "-" } else { &c.version },
                14,
                Tone::Plain,
            ),
            cell(
                &paint,
                &expires,
                11,
                if expired { Tone::Bad } else { Tone::Plain },
            ),
            cell(
                &paint,
                &next,
                11,
                if c.renew_adjusted.is_some() {
                    Tone::Warn
                } else {
                    Tone::Plain
                },
            ),
            cell(
                &paint,
                &c.failures.to_string(),
                8,
                if failing { Tone::Bad } else { Tone::Plain },
            ),
        ]
        .join(" ");
        let _ = writeln!(out, "{}", line.trim_end());
        if let Some(error) = &c.last_error {
            let text = fit(&format!("  last error: {error}"), WIDTH);
            let _ = writeln!(
                out,
                "{}",
                paint.tone(&text, if failing { Tone::Bad } else { Tone::Warn })
            );
        }
        if let Some(adjusted) = &c.renew_adjusted {
            let _ = writeln!(out, "{}", fit(&format!("  renewal: {adjusted}"), WIDTH));
        }
    }

    // namespace 60, then four counts of 9.
    out.push('\n');
    let _ = writeln!(
        out,
        "{}",
        paint.bold(
            format!(
                "{:<60} {:<9} {:<9} {:<9} {:<9}",
                "NAMESPACE", "APPLIED", "HELD", "CONFLICT", "PRUNED"
            )
            .trim_end()
        )
    );
    let namespaces = by_namespace(status);
    if namespaces.is_empty() {
        let _ = writeln!(out, "(none yet)");
    }
    for (namespace, [applied, held, conflict, pruned]) in namespaces {
        let count = |n: usize, bad: bool| {
            cell(
                &paint,
                &n.to_string(),
                9,
                if bad && n > 0 { Tone::Bad } else { Tone::Plain },
            )
        };
        let line = [
            cell(&paint, namespace, 60, Tone::Plain),
            count(applied, false),
            count(held, true),
            count(conflict, true),
            count(pruned, false),
        ]
        .join(" ");
        let _ = writeln!(out, "{}", line.trim_end());
    }

    let mut refusals: Vec<String> = Vec::new();
    if status.invalid {
        refusals.push(format!(
            "revision {current} is invalid; the last good revision keeps running:"
        ));
        refusals.extend(
            status
                .diagnostics
                .iter()
                .map(|d| format!("  {}", d.lines().next().unwrap_or_default())),
        );
    }
    if status.signature_rejected {
        refusals.push("the newest commit carries no allowed signature; it is not applied".into());
    }
    if let Some(why) = &status.prune_refused {
        refusals.push(format!("prunes refused: {why}"));
    }
    if !status.tenancy_rejected.is_empty() {
        refusals.push(format!(
            "{} object(s) rejected by tenancy:",
            status.tenancy_rejected.len()
        ));
        refusals.extend(status.tenancy_rejected.iter().map(|r| format!("  {r}")));
    }
    out.push('\n');
    if refusals.is_empty() {
        let _ = writeln!(out, "{}", paint.tone("nothing refused", Tone::Good));
    } else {
        let _ = writeln!(out, "{}", paint.bold("REFUSED"));
        let total = refusals.len();
        for line in refusals.iter().take(MAX_LISTED * 2) {
            let _ = writeln!(out, "{}", paint.tone(&fit(line, WIDTH), Tone::Bad));
        }
        if total > MAX_LISTED * 2 {
            let _ = writeln!(
                out,
                "… and {} more lines (pullsync status --output json)",
                total - MAX_LISTED * 2
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::daemon::status::{AppliedRevision, CredentialStatus};

    fn sample(now: SystemTime) -> Status {
        let at = |secs: i64| {
            let t = if secs >= 0 {
                now + Duration::from_secs(secs as u64)
            } else {
                now - Duration::from_secs(secs.unsigned_abs())
            };
            Some(crate::time::format(t))
        };
        let mut status = Status {
            leader: true,
            current_revision: Some("4f1c2a9e0b7d3c5a".into()),
            last_good_revision: Some("4f1c2a9e0b7d3c5a".into()),
            last_sync: at(-12),
            last_successful_sync: at(-12),
            ..Status::default()
        };
        status.remember_applied(AppliedRevision {
            revision: "4f1c2a9e0b7d3c5a".into(),
            namespaces: vec!["ml-team".into()],
            complete: true,
            rejected: Default::default(),
        });
        status.syncs.insert("success".into(), 41);
        status.credentials.insert(
            "ngc".into(),
            CredentialStatus {
                source: "vault".into(),
                version: "7".into(),
                expires_at: at(43_080),
                renew_at: at(32_280),
                ..CredentialStatus::default()
            },
        );
        status.credentials.insert(
            "a-credential-with-a-very-long-name-indeed".into(),
            CredentialStatus {
                source: "serviceAccountToken".into(),
                version: "sha256:0123456789abcdef0123456789".into(),
                expires_at: at(-60),
                renew_at: at(30),
                failures: 3,
                last_error: Some(format!("TokenRequest: HTTP 403 Forbidden {}", "x".repeat(200))),
                ..CredentialStatus::default()
            },
        );
        for (key, outcome) in [
            ("ml-team/registry-creds", "unchanged"),
            ("ml-team/hf", "kept"),
            ("inference/registry-creds", "conflict"),
            (&*format!("{}/x", "n".repeat(80)), "created"),
        ] {
            status.secrets.insert(key.to_string(), outcome.to_string());
        }
        status
    }

    #[test]
    fn every_line_fits_100_columns_and_says_what_status_says() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let table = draw(&sample(now), now, false);
        for line in table.lines() {
            assert!(
                line.chars().count() <= WIDTH,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(!table.contains('\x1b'), "no colour off a terminal:\n{table}");
        for expected in [
            "pullsync ready   leader: yes   last sync: 12s ago",
            "revision: 4f1c2a9e0b7d   last good: 4f1c2a9e0b7d",
            "syncs: success 41",
            "ngc                    vault               7              11h58m      8h58m       0",
            "expired",
            "  last error: TokenRequest: HTTP 403 Forbidden",
            "nothing refused",
        ] {
            assert!(table.contains(expected), "{expected:?} in:\n{table}");
        }
        let ml = table.lines().find(|l| l.starts_with("ml-team ")).unwrap();
        assert_eq!(
            ml.split_whitespace().collect::<Vec<_>>(),
            ["ml-team", "1", "1", "0", "0"]
        );
        let inference = table.lines().find(|l| l.starts_with("inference ")).unwrap();
        assert_eq!(
            inference.split_whitespace().collect::<Vec<_>>(),
            ["inference", "0", "0", "1", "0"]
        );
    }

    #[test]
    fn colour_only_when_asked_and_columns_stay_put() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let plain = draw(&sample(now), now, false);
        let coloured = draw(&sample(now), now, true);
        assert!(coloured.contains("\x1b[31m"), "failures in red");
        let strip = |s: &str| {
            let mut out = String::new();
            let mut chars = s.chars();
            while let Some(c) = chars.next() {
                if c == '\x1b' {
                    for c in chars.by_ref() {
                        if c == 'm' {
                            break;
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            out
        };
        assert_eq!(strip(&coloured), plain);
    }

    #[test]
    fn refusals_are_listed_and_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let mut status = sample(now);
        status.invalid = true;
        status.current_revision = Some("badbadbadbad99".into());
        status.diagnostics = vec!["specs/a.yaml:3:5: error: PullSecret/x: unknown field `registires`".into()];
        status.signature_rejected = true;
        status.prune_refused = Some("would prune 60 of 100 managed secrets (max ratio 0.5)".into());
        status.tenancy_rejected = (0..30)
            .map(|i| format!("teams/b/ps.yaml:{i}:1: error: PullSecret/p{i}: namespace outside the tenant"))
            .collect();
        let table = draw(&status, now, false);
        for expected in [
            "pullsync not ready",
            "revision: badbadbadbad (invalid)",
            "REFUSED",
            "revision badbadbadbad is invalid; the last good revision keeps running:",
            "  specs/a.yaml:3:5: error: PullSecret/x: unknown field `registires`",
            "the newest commit carries no allowed signature",
            "prunes refused: would prune 60 of 100",
            "30 object(s) rejected by tenancy:",
            "more lines (pullsync status --output json)",
        ] {
            assert!(table.contains(expected), "{expected:?} in:\n{table}");
        }
    }

    #[test]
    fn spans_read_as_a_person_would() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(192), "3m12s");
        assert_eq!(span(43_080), "11h58m");
        assert_eq!(span(187_200), "2d4h");
    }
}
