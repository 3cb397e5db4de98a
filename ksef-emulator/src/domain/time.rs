//! Date-times in query filters: RFC 3339 with an offset, or local Europe/Warsaw time without one.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};

/// The last Sunday of a month at 01:00 UTC (EU summer-time switch).
fn last_sunday_0100_utc(year: i32, month: u32) -> Option<DateTime<Utc>> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let mut d = first_next.pred_opt()?;
    while d.weekday() != Weekday::Sun {
        d = d.pred_opt()?;
    }
    Some(Utc.from_utc_datetime(&d.and_hms_opt(1, 0, 0)?))
}

/// Europe/Warsaw's UTC offset at a UTC instant (CET +1, CEST +2 between the EU switch dates).
pub fn warsaw_offset(at: DateTime<Utc>) -> Duration {
    let y = at.year();
    match (last_sunday_0100_utc(y, 3), last_sunday_0100_utc(y, 10)) {
        (Some(start), Some(end)) if at >= start && at < end => Duration::hours(2),
        _ => Duration::hours(1),
    }
}

/// Parses a filter date-time; without an offset it is Warsaw local time.
pub fn parse_filter_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    // Resolve the offset from the instant read as UTC-1h (good except inside the switch hour).
    let guess = Utc.from_utc_datetime(&naive) - Duration::hours(1);
    Some(Utc.from_utc_datetime(&naive) - warsaw_offset(guess))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warsaw_times() {
        let winter = parse_filter_datetime("2026-01-15T12:00:00").unwrap();
        assert_eq!(winter, Utc.with_ymd_and_hms(2026, 1, 15, 11, 0, 0).unwrap());
        let summer = parse_filter_datetime("2026-07-15T12:00:00").unwrap();
        assert_eq!(summer, Utc.with_ymd_and_hms(2026, 7, 15, 10, 0, 0).unwrap());
        let z = parse_filter_datetime("2026-07-15T12:00:00Z").unwrap();
        assert_eq!(z, Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap());
        assert!(parse_filter_datetime("yesterday").is_none());
    }
}
