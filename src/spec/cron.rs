//! Five-field cron schedules (`minute hour day-of-month month day-of-week`, UTC) as
//! crontab(5) defines them: `*`, numbers, lists, ranges, `*/step` and `a-b/step`; when both
//! day fields are restricted, a day matches either (pure).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    fields: [Vec<bool>; 5],
    dom_any: bool,
    dow_any: bool,
}

const RANGES: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
/// Look this far ahead for the next occurrence (Feb 29 schedules fire within four years).
const HORIZON_MINUTES: u64 = 4 * 366 * 24 * 60;

fn field(text: &str, (lo, hi): (u32, u32)) -> Result<Vec<bool>, String> {
    let mut set = vec![false; hi as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("bad step in `{part}`"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("step 0 in `{part}`"));
        }
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                a.parse().map_err(|_| format!("bad number in `{part}`"))?,
                b.parse().map_err(|_| format!("bad number in `{part}`"))?,
            )
        } else {
            let n = range.parse().map_err(|_| format!("bad number in `{part}`"))?;
            (n, if part.contains('/') { hi } else { n })
        };
        if a < lo || b > hi || a > b {
            return Err(format!("`{part}` is outside {lo}-{hi}"));
        }
        for v in (a..=b).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(set)
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "`{text}` has {} fields; write 5: minute hour day-of-month month day-of-week",
                parts.len()
            ));
        }
        let mut fields: [Vec<bool>; 5] = Default::default();
        for (i, part) in parts.iter().enumerate() {
            fields[i] = field(part, RANGES[i])?;
        }
        // Sunday is 0 or 7.
        if fields[4][7] {
            fields[4][0] = true;
        }
        Ok(Schedule {
            dom_any: parts[2] == "*",
            dow_any: parts[4] == "*",
            fields,
        })
    }

    fn matches(&self, minute_since_epoch: u64) -> bool {
        let secs = minute_since_epoch * 60;
        let days = secs / 86_400;
        let (minute, hour) = ((secs / 60 % 60) as usize, (secs / 3600 % 24) as usize);
        let t = crate::time::format(UNIX_EPOCH + Duration::from_secs(secs));
        let (month, dom) = (
            t[5..7].parse::<usize>().unwrap_or(1),
            t[8..10].parse::<usize>().unwrap_or(1),
        );
        let dow = ((days + 4) % 7) as usize; // 1970-01-01 was a Thursday
        let day = match (self.dom_any, self.dow_any) {
            (false, false) => self.fields[2][dom] || self.fields[4][dow],
            _ => self.fields[2][dom] && self.fields[4][dow],
        };
        self.fields[0][minute] && self.fields[1][hour] && self.fields[3][month] && day
    }

    /// The first whole minute strictly after `after` that the schedule names.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let start = after.duration_since(UNIX_EPOCH).ok()?.as_secs() / 60 + 1;
        (start..start + HORIZON_MINUTES)
            .find(|m| self.matches(*m))
            .map(|m| UNIX_EPOCH + Duration::from_secs(m * 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        crate::time::parse(s).unwrap()
    }

    #[test]
    fn next_occurrences() {
        let cases = [
            (
                "daily at 03:00",
                "0 3 * * *",
                "2026-11-22T10:00:00Z",
                "2026-11-23T03:00:00Z",
            ),
            (
                "every 15 minutes",
                "*/15 * * * *",
                "2026-11-22T10:07:30Z",
                "2026-11-22T10:15:00Z",
            ),
            (
                "mondays",
                "30 8 * * 1",
                "2026-11-22T10:00:00Z",
                "2026-11-23T08:30:00Z",
            ),
            (
                "sunday as 7",
                "0 0 * * 7",
                "2026-11-22T10:00:00Z",
                "2026-11-29T00:00:00Z",
            ),
            (
                "first of the month or friday",
                "0 12 1 * 5",
                "2026-11-22T13:00:00Z",
                "2026-11-27T12:00:00Z",
            ),
            (
                "range with step",
                "0 9-17/4 * * *",
                "2026-11-22T09:30:00Z",
                "2026-11-22T13:00:00Z",
            ),
            (
                "leap day",
                "0 0 29 2 *",
                "2026-11-22T00:00:00Z",
                "2028-02-29T00:00:00Z",
            ),
        ];
        for (name, expr, after, next) in cases {
            let schedule = Schedule::parse(expr).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                schedule.next_after(at(after)).map(crate::time::format),
                Some(next.to_string()),
                "case {name}"
            );
        }
        assert!(Schedule::parse("* * *").is_err());
        assert!(Schedule::parse("60 * * * *").is_err());
        assert!(Schedule::parse("*/0 * * * *").is_err());
    }
}
