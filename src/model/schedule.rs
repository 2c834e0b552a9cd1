//! Rotation schedules: what Secrets Manager accepts, checked before deploy time.
//!
//! Rules (Secrets Manager user guide, "Rotation schedules"): `rate(N hours|days)`, never more
//! often than every four hours; `cron(0 H DOM MON DOW *)` in UTC with minutes 0 and year `*`;
//! the window (`Duration`, `Nh`) must not reach the next rotation or the next UTC day.
//!
//! At the end, `Cx::schedule`: which schedule a secret gets (its own timing, or the spec's
//! `[schedule]`; the window and `rotate_immediately` field by field), checked with the
//! rules above. Checks only, no I/O.

use super::Cx;
use crate::spec::{self, Sp, Spec, Val};
use serde_json::{Value, json};

/// A schedule that Secrets Manager will accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    Days(u32),
    /// A `rate()` or `cron()` expression, normalised (single spaces).
    Expression(String),
}

/// Why an expression or window is rejected, and how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub help: String,
}

fn problem(message: impl Into<String>, help: impl Into<String>) -> Problem {
    Problem {
        message: message.into(),
        help: help.into(),
    }
}

/// What a timing implies for the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Hours from one rotation to the next, at the closest.
    pub min_gap_hours: u32,
    /// The latest hour of the day a window can open.
    pub last_start_hour: u32,
}

/// Checks a `rate()` / `cron()` expression and returns it normalised with its shape.
pub fn parse_expression(expr: &str) -> Result<(String, Shape), Problem> {
    let trimmed = expr.trim();
    if let Some(inner) = strip_call(trimmed, "rate") {
        return parse_rate(inner);
    }
    if let Some(inner) = strip_call(trimmed, "cron") {
        return parse_cron(inner);
    }
    Err(problem(
        format!("schedule expression \"{expr}\" is neither rate(...) nor cron(...)"),
        "write rate(30 days), rate(12 hours) or cron(0 4 ? * SUN *), or use `days = N`",
    ))
}

fn strip_call<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn parse_rate(inner: &str) -> Result<(String, Shape), Problem> {
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let bad = || {
        problem(
            format!("rate({inner}) is not a Secrets Manager rate"),
            "write rate(N days) or rate(N hours), e.g. rate(30 days)",
        )
    };
    let [n, unit] = parts[..] else {
        return Err(bad());
    };
    let n: u32 = n.parse().map_err(|_| bad())?;
    match unit {
        "day" | "days" => {
            if !(1..=1000).contains(&n) {
                return Err(problem(
                    format!("rate({inner}) is outside 1 to 1000 days"),
                    "Secrets Manager rotates at most 1000 days apart",
                ));
            }
            Ok((
                format!("rate({n} {})", if n == 1 { "day" } else { "days" }),
                Shape {
                    min_gap_hours: n * 24,
                    last_start_hour: 0,
                },
            ))
        }
        "hour" | "hours" => {
            if n < 4 {
                return Err(problem(
                    format!("rate({inner}) rotates more often than every 4 hours"),
                    "Secrets Manager rotates at most every four hours: use rate(4 hours) or longer",
                ));
            }
            if n >= 24 {
                let days = n / 24;
                return Err(problem(
                    format!("rate({inner}) is a day or more"),
                    if n.is_multiple_of(24) {
                        format!(
                            "write it in days: rate({days} {})",
                            if days == 1 { "day" } else { "days" }
                        )
                    } else {
                        "rates in hours go from 4 to 23; use days for longer intervals".to_string()
                    },
                ));
            }
            Ok((
                format!("rate({n} hours)"),
                Shape {
                    min_gap_hours: n,
                    last_start_hour: 0,
                },
            ))
        }
        _ => Err(problem(
            format!("rate({inner}) has unit \"{unit}\""),
            "the unit is hours or days (Secrets Manager has no minutes, weeks or months)",
        )),
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn parse_cron(inner: &str) -> Result<(String, Shape), Problem> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let normal = format!("cron({})", fields.join(" "));
    let [minutes, hours, dom, month, dow, year] = fields[..] else {
        return Err(problem(
            format!("cron({inner}) has {} fields, not 6", fields.len()),
            "write cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 4 ? * SUN *)",
        ));
    };
    if minutes != "0" {
        return Err(problem(
            format!("{normal}: the minutes field is \"{minutes}\""),
            "Secrets Manager opens rotation windows on the hour: the minutes field must be 0",
        ));
    }
    if year != "*" {
        return Err(problem(
            format!("{normal}: the year field is \"{year}\""),
            "the year field must be * (Secrets Manager schedules repeat within a year)",
        ));
    }
    let hour_set = expand(hours, 0, 23, &[], "hours", &normal)?;
    if hour_set.is_empty() {
        return Err(problem(
            format!("{normal}: the hours field matches no hour"),
            "use hours from 0 to 23",
        ));
    }
    check_day_field(dom, 1, 31, &[], "day-of-month", &normal, true)?;
    let month_set = expand(month, 1, 12, &MONTHS, "month", &normal)?;
    check_dates_exist(dom, &month_set, &normal)?;
    check_day_field(dow, 1, 7, &DAYS, "day-of-week", &normal, false)?;
    match (dom == "?", dow == "?") {
        (true, true) | (false, false) => {
            return Err(problem(
                format!("{normal}: exactly one of day-of-month and day-of-week must be ?"),
                "e.g. cron(0 4 ? * SUN *) for Sundays, cron(0 4 1 * ? *) for the 1st of each month",
            ));
        }
        _ => {}
    }
    let mut min_gap = u32::MAX;
    for pair in hour_set.windows(2) {
        min_gap = min_gap.min(pair[1] - pair[0]);
    }
    // The last hour of one day and the first of the next are apart by the wrap-around
    // when the day fields allow two consecutive days.
    if consecutive_days(dom, dow, &normal) {
        let wrap = 24 - hour_set[hour_set.len() - 1] + hour_set[0];
        min_gap = min_gap.min(wrap);
    }
    if min_gap < 4 {
        return Err(problem(
            format!("{normal} rotates {min_gap} hour(s) apart"),
            "Secrets Manager rotates at most every four hours: space the hours at least 4 apart, e.g. 0/4",
        ));
    }
    Ok((
        normal,
        Shape {
            min_gap_hours: min_gap,
            last_start_hour: hour_set[hour_set.len() - 1],
        },
    ))
}

/// The most days each month has (February in a leap year: the year field is always `*`).
const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Refuses a day-of-month and month that name no date (`31 2`: the 31st of February),
/// which EventBridge would accept and never fire. `?` and `L` (the last day, which every
/// month has) always match; `dom` is already checked.
fn check_dates_exist(dom: &str, months: &[u32], normal: &str) -> Result<(), Problem> {
    if dom == "?" || dom == "L" {
        return Ok(());
    }
    let Ok(days) = expand(dom, 1, 31, &[], "day-of-month", normal) else {
        return Ok(());
    };
    let month_days = |m: &u32| MONTH_DAYS[(*m - 1) as usize];
    if days
        .iter()
        .any(|d| months.iter().any(|m| *d <= month_days(m)))
    {
        return Ok(());
    }
    // Every day is past the end of every month: the smallest day names the date, and the
    // longest month the one it is missing from.
    let (Some(first), Some(longest)) = (days.first(), months.iter().max_by_key(|m| month_days(m)))
    else {
        return Ok(());
    };
    let longest_days = month_days(longest);
    let name = |m: &u32| MONTH_NAMES[(*m - 1) as usize];
    let month_list: Vec<&str> = months.iter().map(name).collect();
    let message = match (days.len(), months.len()) {
        (1, 1) => format!("{normal} never runs: {} has no day {first}", name(longest)),
        (_, 1) => format!(
            "{normal} never runs: {} has no day {first} or later",
            name(longest)
        ),
        _ => format!(
            "{normal} never runs: the {}{} is in none of {}",
            ordinal(*first),
            if days.len() > 1 { " or later" } else { "" },
            month_list.join(", ")
        ),
    };
    Err(problem(
        message,
        format!(
            "{} has at most {longest_days} days: name a day that exists (1-{longest_days}), or L for the last day of the month",
            if months.len() == 1 {
                month_list[0]
            } else {
                "each of those months"
            }
        ),
    ))
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Whether two consecutive calendar days can both match (`dom` and `dow` already
/// checked). Whole months are not followed: a day-of-month set holding the 1st and a
/// day from the 28th on counts as consecutive (month ends), whatever the months.
fn consecutive_days(dom: &str, dow: &str, normal: &str) -> bool {
    if dom == "?" {
        // Nth weekdays (MON#1) and last weekdays (5L) fall once a month.
        if dow.contains('#') || dow.ends_with('L') {
            return false;
        }
        let Ok(days) = expand(dow, 1, 7, &DAYS, "day-of-week", normal) else {
            return true;
        };
        days.iter().any(|d| days.contains(&(d % 7 + 1)))
    } else {
        if dom == "L" {
            return false;
        }
        if dom.contains('W') {
            return true;
        }
        let Ok(days) = expand(dom, 1, 31, &[], "day-of-month", normal) else {
            return true;
        };
        days.iter().any(|d| days.contains(&(d + 1)))
            || (days.contains(&1) && days.iter().any(|d| *d >= 28))
    }
}

fn check_day_field(
    field: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
    what: &str,
    normal: &str,
    dom: bool,
) -> Result<(), Problem> {
    if field == "?" || field == "L" {
        return Ok(());
    }
    // `L` forms (last day / last weekday) and `#` (nth weekday) are accepted as written
    // when their parts are in range.
    if let Some(rest) = field.strip_suffix('L').filter(|r| !r.is_empty()) {
        if dom {
            return Err(problem(
                format!("{normal}: \"{field}\" in {what}"),
                "in day-of-month, L stands alone (the last day of the month)",
            ));
        }
        return expand(rest, lo, hi, names, what, normal).map(|_| ());
    }
    if let Some((day, nth)) = field.split_once('#') {
        if dom {
            return Err(problem(
                format!("{normal}: # is not allowed in {what}"),
                "use # in day-of-week only, e.g. MON#1",
            ));
        }
        let n: u32 = nth.parse().unwrap_or(0);
        if !(1..=5).contains(&n) {
            return Err(problem(
                format!("{normal}: \"{field}\" asks for week {nth}"),
                "the number after # is 1 to 5, e.g. MON#1 for the first Monday",
            ));
        }
        return expand(day, lo, hi, names, what, normal).map(|_| ());
    }
    expand(field, lo, hi, names, what, normal).map(|_| ())
}

/// Expands a cron field (`*`, `a`, `a-b`, `a/n`, `*/n`, lists) to its sorted values.
fn expand(
    field: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
    what: &str,
    normal: &str,
) -> Result<Vec<u32>, Problem> {
    let bad = |why: String| {
        problem(
            format!("{normal}: {why}"),
            format!(
                "{what} takes values {lo}-{hi}{} with , - * /",
                if names.is_empty() {
                    String::new()
                } else {
                    format!(" or {}-{}", names[0], names[names.len() - 1])
                }
            ),
        )
    };
    let value = |s: &str| -> Result<u32, Problem> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(lo + i as u32);
        }
        let n: u32 = s
            .parse()
            .map_err(|_| bad(format!("\"{s}\" is not a valid {what} value")))?;
        if n < lo || n > hi {
            return Err(bad(format!("{n} is outside {lo}-{hi} in {what}")));
        }
        Ok(n)
    };
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| bad(format!("\"{part}\" has a bad step")))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (start, end) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let a = value(range)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if start > end {
            return Err(bad(format!("the range \"{range}\" runs backwards")));
        }
        out.extend((start..=end).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Checks a window (`Duration`) such as `4h` against the timing it belongs to.
/// The window's own form (whole hours, 1 to 24), also for a schedule whose timing is not
/// known (it was refused).
pub fn check_window_alone(window: &str) -> Result<u32, Problem> {
    window
        .strip_suffix('h')
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=24).contains(n))
        .ok_or_else(|| {
            problem(
                format!("window \"{window}\" is not a number of hours from 1h to 24h"),
                "write the window in whole hours, e.g. window = \"4h\"",
            )
        })
}

pub fn check_window(window: &str, shape: &Shape, timing_text: &str) -> Result<u32, Problem> {
    let hours = check_window_alone(window)?;
    if hours >= shape.min_gap_hours {
        return Err(problem(
            format!(
                "window {window} is not shorter than the {} hours between rotations of {timing_text}",
                shape.min_gap_hours
            ),
            format!(
                "use a window of at most {}h, or rotate less often",
                shape.min_gap_hours.saturating_sub(1).max(1)
            ),
        ));
    }
    if shape.last_start_hour + hours > 24 {
        return Err(problem(
            format!(
                "window {window} opening at {:02}:00 UTC runs into the next UTC day",
                shape.last_start_hour
            ),
            format!(
                "use a window of at most {}h, or open it earlier",
                24 - shape.last_start_hour
            ),
        ));
    }
    Ok(hours)
}

/// The shape of `days = N` (the window opens at midnight).
pub fn days_shape(days: u32) -> Shape {
    Shape {
        min_gap_hours: days * 24,
        last_start_hour: 0,
    }
}

/// When a schedule opens its rotation windows, for `rotgen status` (is a secret overdue,
/// when is its next rotation): every N hours or days after the last rotation, or the
/// hours of the days a `cron()` matches, in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recurrence {
    /// `rate(N hours)`: N hours after the last rotation.
    Hours(u32),
    /// `rate(N days)` and `AutomaticallyAfterDays`: the UTC day N days after the last
    /// rotation (the window opens at midnight).
    Days(u32),
    Cron(Cron),
}

/// A checked `cron()` expression, ready to say which hours it opens a window at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    hours: Vec<u32>,
    dom: String,
    months: Vec<u32>,
    dow: String,
}

const DAY_SECS: i64 = 86_400;

impl Recurrence {
    /// The recurrence of an expression Secrets Manager accepts (checked as `build` does).
    pub fn of_expression(expr: &str) -> Result<Recurrence, Problem> {
        let (normal, _) = parse_expression(expr)?;
        if let Some(inner) = strip_call(&normal, "rate") {
            let mut parts = inner.split_whitespace();
            let n: u32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            return Ok(match parts.next() {
                Some(u) if u.starts_with("hour") => Recurrence::Hours(n),
                _ => Recurrence::Days(n),
            });
        }
        let inner = strip_call(&normal, "cron").unwrap_or_default();
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [_, hours, dom, month, dow, _] = fields[..] else {
            return Err(problem(format!("{normal} is not a cron expression"), ""));
        };
        Ok(Recurrence::Cron(Cron {
            hours: expand(hours, 0, 23, &[], "hours", &normal)?,
            dom: dom.to_string(),
            months: expand(month, 1, 12, &MONTHS, "month", &normal)?,
            dow: dow.to_string(),
        }))
    }

    /// The window Secrets Manager gives a schedule without a `Duration`, in hours: an
    /// hour for `rate(N hours)`, the rest of the UTC day otherwise.
    pub fn default_window_hours(&self) -> u32 {
        match self {
            Recurrence::Hours(_) => 1,
            Recurrence::Days(_) => 24,
            Recurrence::Cron(c) => 24 - c.hours.last().copied().unwrap_or(0),
        }
    }

    /// When the first window after a rotation at `last` (seconds since the epoch) opens.
    pub fn next_start(&self, last: i64) -> Option<i64> {
        match self {
            Recurrence::Hours(n) => Some(last + i64::from(*n) * 3600),
            Recurrence::Days(n) => Some((last.div_euclid(DAY_SECS) + i64::from(*n)) * DAY_SECS),
            Recurrence::Cron(c) => c.next_start_after(last),
        }
    }
}

impl Cron {
    /// Whether the day `days` after the epoch is one the expression rotates on.
    fn fires_on_day(&self, days: i64) -> bool {
        let (y, m, d) = civil_from_days(days);
        if !self.months.contains(&m) {
            return false;
        }
        let len = month_length(y, m);
        // 1 = Sunday, as cron's day-of-week counts.
        let weekday = (days + 4).rem_euclid(7) as u32 + 1;
        let dom_ok = match self.dom.as_str() {
            "?" | "*" => true,
            "L" => d == len,
            f if f.ends_with('W') => {
                let n: u32 = f.trim_end_matches('W').parse().unwrap_or(1).min(len);
                let wd = |day: u32| {
                    ((i64::from(weekday) - 1 + i64::from(day) - i64::from(d)).rem_euclid(7)) as u32
                        + 1
                };
                let nearest = match wd(n) {
                    7 if n == 1 => n + 2,
                    7 => n - 1,
                    1 if n == len => n - 2,
                    1 => n + 1,
                    _ => n,
                };
                d == nearest
            }
            f => expand(f, 1, 31, &[], "", "").is_ok_and(|v| v.contains(&d)),
        };
        let dow_ok = match self.dow.as_str() {
            "?" | "*" => true,
            f if f.ends_with('L') => {
                expand(&f[..f.len() - 1], 1, 7, &DAYS, "", "").is_ok_and(|v| v.contains(&weekday))
                    && d + 7 > len
            }
            f if f.contains('#') => {
                let (day, nth) = f.split_once('#').unwrap_or((f, "1"));
                expand(day, 1, 7, &DAYS, "", "").is_ok_and(|v| v.contains(&weekday))
                    && nth.parse::<u32>().is_ok_and(|n| (d - 1) / 7 + 1 == n)
            }
            f => expand(f, 1, 7, &DAYS, "", "").is_ok_and(|v| v.contains(&weekday)),
        };
        dom_ok && dow_ok
    }

    /// The first window that opens after `t` (seconds since the epoch), looking up to
    /// two years ahead (the year field is always `*`).
    pub fn next_start_after(&self, t: i64) -> Option<i64> {
        let first = t.div_euclid(DAY_SECS);
        (first..first + 366 * 2)
            .filter(|day| self.fires_on_day(*day))
            .flat_map(|day| {
                self.hours
                    .iter()
                    .map(move |h| day * DAY_SECS + i64::from(*h) * 3600)
            })
            .find(|start| *start > t)
    }

    /// The last window that opened at or before `t`, looking up to two years back.
    pub fn last_start_at_or_before(&self, t: i64) -> Option<i64> {
        let last = t.div_euclid(DAY_SECS);
        (last - 366 * 2..=last)
            .rev()
            .filter(|day| self.fires_on_day(*day))
            .flat_map(|day| {
                self.hours
                    .iter()
                    .rev()
                    .map(move |h| day * DAY_SECS + i64::from(*h) * 3600)
            })
            .find(|start| *start <= t)
    }
}

/// Whether a secret whose last rotation was at `last` (none: never) is overdue at `now`:
/// a window that opened after `last` (for a secret never rotated, after `since`, when
/// rotation was turned on, if known) has closed. Seconds since the epoch.
pub fn overdue(
    r: &Recurrence,
    window_hours: u32,
    last: Option<i64>,
    since: Option<i64>,
    now: i64,
) -> bool {
    let window = i64::from(window_hours) * 3600;
    let Some(from) = last.or(since) else {
        // Never rotated, and no date to count from: Secrets Manager rotates at once when
        // rotation is turned on, so a secret with no rotation at all is overdue.
        return true;
    };
    match r {
        Recurrence::Cron(c) => c
            .last_start_at_or_before(now - window)
            .is_some_and(|start| start > from),
        _ => r
            .next_start(from)
            .is_some_and(|start| start + window <= now),
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_length(y: i64, m: u32) -> u32 {
    if m == 2 && !is_leap(y) {
        28
    } else {
        MONTH_DAYS[(m - 1) as usize]
    }
}

/// Year, month and day of the day `days` after 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl Cx {
    pub(super) fn schedule(
        &mut self,
        spec: &Spec,
        secret: &spec::Secret,
    ) -> Option<(Value, Option<bool>)> {
        if secret.schedule.is_some() {
            return self.resolve_schedule(spec, secret);
        }
        if let Some(known) = &self.default_schedule {
            return Some(known.clone());
        }
        let resolved = self.resolve_schedule(spec, secret);
        self.default_schedule.clone_from(&resolved);
        resolved
    }

    pub(super) fn resolve_schedule(
        &mut self,
        spec: &Spec,
        secret: &spec::Secret,
    ) -> Option<(Value, Option<bool>)> {
        let own = secret.schedule.as_ref();
        let default = spec.schedule.as_ref();
        // The secret's own timing replaces the default's; window and rotate_immediately
        // fall back field by field.
        // A timing given but refused by the decoder counts as given: it is reported
        // there, not again as missing.
        let has_timing = |s: &&spec::Schedule| {
            s.days.is_some()
                || s.expression.is_some()
                || s.rejected
                    .iter()
                    .any(|k| matches!(*k, "days" | "expression"))
        };
        let timing_src = own.filter(has_timing).or(default);
        // A `schedule` the decoder refused (a misspelt [schedul], a secret's schedul = …)
        // was reported there; its absence is a consequence, not a second problem.
        if timing_src.is_none()
            && (spec.rejected.contains(&"schedule") || secret.rejected.contains(&"schedule"))
        {
            return None;
        }
        let Some(timing_src) = timing_src else {
            let loc = own.map_or_else(|| secret.loc.clone(), |s| s.loc.clone());
            self.err(&loc, "this secret has no schedule", "add a [schedule] table with days = N or expression = \"rate(30 days)\", or schedule = { days = 30 } on the secret");
            return None;
        };
        let window = own
            .and_then(|s| s.window.as_ref())
            .or_else(|| default.and_then(|s| s.window.as_ref()));
        let rotate_immediately = own
            .and_then(|s| s.rotate_immediately.as_ref())
            .or_else(|| default.and_then(|s| s.rotate_immediately.as_ref()))
            .map(|b| b.v);
        let (mut rules, shape, text) = match (&timing_src.days, &timing_src.expression) {
            (Some(d), Some(e)) => {
                self.err(
                    &e.loc,
                    "a schedule takes days or expression, not both",
                    format!("keep days = {} or expression", d.v),
                );
                return None;
            }
            (None, None) if has_timing(&timing_src) => {
                // The decoder refused the timing; the window can still be checked alone.
                if let Some(w) = window
                    && let Err(p) = check_window_alone(&w.v)
                {
                    self.err(&w.loc, p.message, p.help);
                }
                return None;
            }
            (None, None) => {
                self.err(
                    &timing_src.loc,
                    "this schedule has neither days nor expression",
                    "add days = 30 or expression = \"rate(30 days)\"",
                );
                return None;
            }
            (Some(d), None) => {
                let days = d.v as u32;
                (
                    json!({"AutomaticallyAfterDays": days}),
                    days_shape(days),
                    format!("days = {days}"),
                )
            }
            (
                None,
                Some(Sp {
                    v: Val::Expr(expr), ..
                }),
            ) => {
                // Known at deploy only: Secrets Manager checks it then. The window can be
                // checked alone.
                let mut rules = json!({"ScheduleExpression": expr});
                if let Some(w) = window {
                    match check_window_alone(&w.v) {
                        Ok(h) => rules["Duration"] = json!(format!("{h}h")),
                        Err(p) => {
                            self.err(&w.loc, p.message, p.help);
                            return None;
                        }
                    }
                }
                return Some((rules, rotate_immediately));
            }
            (
                None,
                Some(Sp {
                    v: Val::Lit(e),
                    loc,
                }),
            ) => match parse_expression(e) {
                Ok((normal, shape)) => (json!({"ScheduleExpression": normal}), shape, normal),
                Err(p) => {
                    self.err(loc, p.message, p.help);
                    return None;
                }
            },
        };
        if let Some(w) = window {
            match check_window(&w.v, &shape, &text) {
                Ok(h) => rules["Duration"] = json!(format!("{h}h")),
                Err(p) => {
                    self.err(&w.loc, p.message, p.help);
                    return None;
                }
            }
        }
        Some((rules, rotate_immediately))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(e: &str) -> String {
        parse_expression(e)
            .unwrap_or_else(|p| panic!("{e}: {p:?}"))
            .0
    }
    fn err(e: &str) -> String {
        let p = parse_expression(e).expect_err(e);
        format!("{} | {}", p.message, p.help)
    }

    /// 2026-12-06 00:00:00 UTC, a Sunday.
    const SUNDAY: i64 = 1_796_515_200;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(SUNDAY / DAY_SECS), (2026, 12, 6));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn recurrences() {
        let r = |e: &str| Recurrence::of_expression(e).unwrap();
        assert_eq!(r("rate(12 hours)"), Recurrence::Hours(12));
        assert_eq!(r("rate(30 days)"), Recurrence::Days(30));
        let sundays = r("cron(0 4 ? * SUN *)");
        // Saturday 10:00: the next window opens on Sunday at 04:00.
        assert_eq!(
            sundays.next_start(SUNDAY - 14 * 3600),
            Some(SUNDAY + 4 * 3600)
        );
        let Recurrence::Cron(c) = &sundays else {
            panic!()
        };
        assert_eq!(
            c.last_start_at_or_before(SUNDAY + 4 * 3600),
            Some(SUNDAY + 4 * 3600)
        );
        assert_eq!(
            c.last_start_at_or_before(SUNDAY + 4 * 3600 - 1),
            Some(SUNDAY + 4 * 3600 - 7 * DAY_SECS)
        );
        // The first Monday of the month (December 7th), the last day of the month, the last
        // Friday.
        let Recurrence::Cron(first_monday) = r("cron(0 1 ? * MON#1 *)") else {
            panic!()
        };
        assert_eq!(
            first_monday.next_start_after(SUNDAY),
            Some(SUNDAY + DAY_SECS + 3600)
        );
        let Recurrence::Cron(last) = r("cron(0 16 L * ? *)") else {
            panic!()
        };
        assert_eq!(
            last.next_start_after(SUNDAY),
            Some(SUNDAY + 25 * DAY_SECS + 16 * 3600)
        );
        let Recurrence::Cron(last_friday) = r("cron(0 2 ? * 6L *)") else {
            panic!()
        };
        assert_eq!(
            last_friday.next_start_after(SUNDAY),
            Some(SUNDAY + 19 * DAY_SECS + 2 * 3600)
        );
        assert_eq!(sundays.default_window_hours(), 20);
        assert_eq!(r("rate(4 hours)").default_window_hours(), 1);
    }

    #[test]
    fn overdue_after_the_window_closes() {
        let days = Recurrence::Days(30);
        let last = SUNDAY + 5 * 3600;
        // The window opens at midnight 30 days on, and lasts 4 hours.
        let opens = SUNDAY + 30 * DAY_SECS;
        assert!(!overdue(&days, 4, Some(last), None, opens + 4 * 3600 - 1));
        assert!(overdue(&days, 4, Some(last), None, opens + 4 * 3600));
        assert!(overdue(&days, 4, None, None, last));
        assert!(!overdue(&days, 4, None, Some(last), last + DAY_SECS));
        let hours = Recurrence::Hours(6);
        assert!(!overdue(&hours, 1, Some(last), None, last + 7 * 3600 - 1));
        assert!(overdue(&hours, 1, Some(last), None, last + 7 * 3600));
        let sundays = Recurrence::of_expression("cron(0 4 ? * SUN *)").unwrap();
        // Rotated on Sunday at 05:00: not overdue until the next Sunday's window closes.
        assert!(!overdue(&sundays, 2, Some(last), None, last + 7 * DAY_SECS));
        assert!(overdue(
            &sundays,
            2,
            Some(last),
            None,
            SUNDAY + 7 * DAY_SECS + 6 * 3600
        ));
        // Rotated within this Sunday's window: fine until next week's closes.
        assert!(!overdue(
            &sundays,
            2,
            Some(SUNDAY + 4 * 3600 + 60),
            None,
            SUNDAY + 7 * DAY_SECS + 5 * 3600
        ));
    }

    #[test]
    fn rates() {
        assert_eq!(ok("rate(30 days)"), "rate(30 days)");
        assert_eq!(ok("rate(1 days)"), "rate(1 day)");
        assert_eq!(ok("rate( 12  hours )"), "rate(12 hours)");
        assert!(err("rate(3 hours)").contains("every 4 hours"));
        assert!(err("rate(48 hours)").contains("rate(2 days)"));
        assert!(err("rate(1001 days)").contains("1000"));
        assert!(err("rate(2 weeks)").contains("weeks"));
        assert!(err("rate(days)").contains("rate(N days)"));
        assert!(err("every day").contains("neither"));
    }

    #[test]
    fn crons() {
        assert_eq!(ok("cron(0 4 ? * SUN *)"), "cron(0 4 ? * SUN *)");
        ok("cron(0 4/12 * * ? *)");
        ok("cron(0 16 L * ? *)");
        ok("cron(0 0 ? * MON#1 *)");
        ok("cron(0 8 1/7 * ? *)");
        ok("cron(0 0,20 * * ? *)");
        assert!(err("cron(0 4 * * *)").contains("5 fields"));
        assert!(err("cron(15 4 ? * SUN *)").contains("minutes field must be 0"));
        assert!(err("cron(0 4 ? * SUN 2027)").contains("year field"));
        assert!(err("cron(0 0/2 * * ? *)").contains("2 hour(s) apart"));
        assert!(err("cron(0 0,22 * * ? *)").contains("2 hour(s) apart"));
        // Across midnight, whatever the day fields, when two consecutive days match.
        assert!(err("cron(0 1,22 ? * MON-FRI *)").contains("3 hour(s) apart"));
        assert!(err("cron(0 1,22 ? * SAT,SUN *)").contains("3 hour(s) apart"));
        assert!(err("cron(0 1,22 1-5 * ? *)").contains("3 hour(s) apart"));
        assert!(err("cron(0 1,22 1,31 * ? *)").contains("3 hour(s) apart"));
        assert!(err("cron(0 1,22 * 1-6 ? *)").contains("3 hour(s) apart"));
        ok("cron(0 1,22 ? * MON,WED,FRI *)");
        ok("cron(0 1,22 1,15 * ? *)");
        ok("cron(0 1,22 ? * MON#1 *)");
        assert!(err("cron(0 25 * * ? *)").contains("outside 0-23"));
        assert!(err("cron(0 4 * * SUN *)").contains("exactly one"));
        assert!(err("cron(0 4 ? * FUNDAY *)").contains("FUNDAY"));
        assert!(err("cron(0 4 ? * MON#9 *)").contains("1 to 5"));
    }

    /// A day-of-month and month that name no date never fire: refused, at the edges of
    /// each month's length.
    #[test]
    fn dates_that_do_not_exist() {
        assert!(err("cron(0 4 31 2 ? *)").contains("February has no day 31"));
        assert!(err("cron(0 4 30 FEB ? *)").contains("February has no day 30"));
        ok("cron(0 4 29 2 ? *)");
        ok("cron(0 4 30 4 ? *)");
        assert!(err("cron(0 4 31 4 ? *)").contains("April has no day 31"));
        for m in ["JUN", "SEP", "NOV"] {
            assert!(err(&format!("cron(0 4 31 {m} ? *)")).contains("has no day 31"));
        }
        // January 31 exists, so the pair matches in January.
        ok("cron(0 4 31 1,2 ? *)");
        ok("cron(0 4 31 * ? *)");
        ok("cron(0 4 L 2 ? *)");
        ok("cron(0 4 ? 2 MON *)");
        let e = err("cron(0 4 31 2,4/5 ? *)");
        assert!(
            e.contains("the 31st is in none of February, April, September"),
            "{e}"
        );
        let e = err("cron(0 4 30,31 2 ? *)");
        assert!(e.contains("February has no day 30 or later"), "{e}");
        assert!(err("cron(0 4 31 2,4/5 ? *)").contains("each of those months has at most 30 days"));
        assert!(err("cron(0 4 30-31/1 FEB-FEB ? *)").contains("February has"));
        ok("cron(0 4 1/15 2 ? *)");
    }

    #[test]
    fn windows() {
        let (_, daily) = parse_expression("rate(1 day)").unwrap();
        assert_eq!(check_window("4h", &daily, "x"), Ok(4));
        assert!(check_window("24h", &daily, "x").is_err());
        let (_, six) = parse_expression("rate(6 hours)").unwrap();
        assert!(
            check_window("6h", &six, "x")
                .unwrap_err()
                .help
                .contains("5h")
        );
        let (_, late) = parse_expression("cron(0 22 ? * SUN *)").unwrap();
        let p = check_window("3h", &late, "x").unwrap_err();
        assert!(p.message.contains("next UTC day") && p.help.contains("2h"));
        assert!(check_window("4 hours", &daily, "x").is_err());
        assert!(check_window("0h", &daily, "x").is_err());
        assert_eq!(check_window("23h", &days_shape(30), "x"), Ok(23));
    }
}
