//! Timestamps from text or numbers, to UTC epoch milliseconds. A byte-level fast path covers the
//! ISO forms (`2024-01-15T09:30:00`, `2024-01-15 09:30:00.250`, `…Z`, `…+05:30`, dates) and epoch
//! seconds/milliseconds; other layouts (`2024/01/15 09:30`, `15.01.2024 09:30`) go through chrono.
//! Naive times are in the source timezone; an explicit offset wins over it.
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use std::collections::HashMap;

/// A parsed timestamp before the source timezone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// Already UTC (explicit offset or epoch number).
    Utc(i64),
    /// Local wall time in the source timezone, as if it were UTC.
    Naive(i64),
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some(v)
}

/// Days from 1970-01-01 (proleptic Gregorian), Howard Hinnant's algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn valid_date(y: i64, m: i64, d: i64) -> bool {
    (1..=12).contains(&m)
        && d >= 1
        && NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32).is_some()
}

/// The fast path: `YYYY-MM-DD[( |T)HH:MM[:SS[.f+]]][Z|±HH[:]MM]` and bare epoch numbers.
fn fast(s: &[u8]) -> Option<Stamp> {
    if s.len() >= 9 && s.len() <= 13 && s.iter().all(u8::is_ascii_digit) {
        let n = digits(s)?;
        return Some(Stamp::Utc(if s.len() >= 12 { n } else { n * 1000 }));
    }
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    if !valid_date(y, m, d) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    let mut rest = &s[10..];
    if rest.is_empty() {
        return Some(Stamp::Naive(ms));
    }
    if rest[0] != b'T' && rest[0] != b' ' {
        return None;
    }
    rest = &rest[1..];
    if rest.len() < 5 || rest[2] != b':' {
        return None;
    }
    let (hh, mm) = (digits(&rest[0..2])?, digits(&rest[3..5])?);
    let mut ss = 0;
    rest = &rest[5..];
    if rest.first() == Some(&b':') {
        ss = digits(rest.get(1..3)?)?;
        rest = &rest[3..];
    }
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    ms += (hh * 3600 + mm * 60 + ss) * 1000;
    if rest.first() == Some(&b'.') {
        let frac_len = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac_len == 0 {
            return None;
        }
        let frac = &rest[1..1 + frac_len];
        let take = frac_len.min(3);
        let mut f = digits(&frac[..take])?;
        for _ in take..3 {
            f *= 10;
        }
        ms += f;
        rest = &rest[1 + frac_len..];
    }
    match rest {
        [] => Some(Stamp::Naive(ms)),
        [b'Z'] | [b'z'] => Some(Stamp::Utc(ms)),
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (oh, om) = match tail {
                [a, b, b':', c, d] | [a, b, c, d] => (digits(&[*a, *b])?, digits(&[*c, *d])?),
                [a, b] => (digits(&[*a, *b])?, 0),
                _ => return None,
            };
            let off = (oh * 60 + om) * 60_000;
            Some(Stamp::Utc(if *sign == b'+' { ms - off } else { ms + off }))
        }
        _ => None,
    }
}

const SLOW_FORMATS: [&str; 8] = [
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%Y%m%d %H:%M:%S",
];

/// Parses one timestamp; `None` when it is not one.
pub fn parse(text: &str) -> Option<Stamp> {
    let t = text.trim().trim_matches('"');
    if let Some(s) = fast(t.as_bytes()) {
        return Some(s);
    }
    if let Ok(dt) =
        chrono::DateTime::parse_from_rfc3339(t).or_else(|_| chrono::DateTime::parse_from_rfc2822(t))
    {
        return Some(Stamp::Utc(dt.timestamp_millis()));
    }
    for f in SLOW_FORMATS {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
            return Some(Stamp::Naive(n.and_utc().timestamp_millis()));
        }
        if let Ok(d) = NaiveDate::parse_from_str(t, f) {
            return Some(Stamp::Naive(
                d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
            ));
        }
    }
    None
}

/// Applies the source timezone to naive stamps, caching the offset per local hour (DST-correct,
/// and cheap: one lookup per hour of data). Ambiguous local times take the earlier instant;
/// times inside a DST gap are `None`.
pub struct ToUtc {
    tz: Option<Tz>,
    cache: HashMap<i64, Option<i64>>,
}

impl ToUtc {
    pub fn new(tz: Option<Tz>) -> Self {
        Self {
            tz,
            cache: HashMap::new(),
        }
    }

    pub fn convert(&mut self, s: Stamp) -> Option<i64> {
        match (s, self.tz) {
            (Stamp::Utc(ms), _) => Some(ms),
            (Stamp::Naive(ms), None) => Some(ms),
            (Stamp::Naive(ms), Some(tz)) => {
                let hour = ms.div_euclid(3_600_000);
                let off = *self.cache.entry(hour).or_insert_with(|| {
                    let naive =
                        chrono::DateTime::from_timestamp_millis(hour * 3_600_000)?.naive_utc();
                    let local = tz.from_local_datetime(&naive).earliest()?;
                    Some(naive.and_utc().timestamp_millis() - local.timestamp_millis())
                });
                off.map(|o| ms - o)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn iso_forms_offsets_and_epochs() {
        let base = utc("2024-01-15T09:30:00Z");
        assert_eq!(parse("2024-01-15T09:30:00"), Some(Stamp::Naive(base)));
        assert_eq!(parse("2024-01-15 09:30"), Some(Stamp::Naive(base)));
        assert_eq!(
            parse("2024-01-15 09:30:00.25"),
            Some(Stamp::Naive(base + 250))
        );
        assert_eq!(parse("2024-01-15T09:30:00Z"), Some(Stamp::Utc(base)));
        assert_eq!(parse("2024-01-15T15:00:00+05:30"), Some(Stamp::Utc(base)));
        assert_eq!(parse("2024-01-15T04:30:00-0500"), Some(Stamp::Utc(base)));
        assert_eq!(parse("1705311000"), Some(Stamp::Utc(base)));
        assert_eq!(parse("1705311000000"), Some(Stamp::Utc(base)));
        assert_eq!(parse("2024/01/15 09:30"), Some(Stamp::Naive(base)));
        assert_eq!(parse("2024-02-30 09:30"), None);
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("5250.25"), None);
    }

    #[test]
    fn source_timezone_with_dst() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let mut c = ToUtc::new(Some(tz));
        let winter = parse("2024-01-15 09:30").unwrap();
        let summer = parse("2024-07-15 09:30").unwrap();
        assert_eq!(c.convert(winter), Some(utc("2024-01-15T14:30:00Z")));
        assert_eq!(c.convert(summer), Some(utc("2024-07-15T13:30:00Z")));
        assert_eq!(
            c.convert(parse("2024-03-10 02:30").unwrap()),
            None,
            "inside the DST gap"
        );
    }
}
