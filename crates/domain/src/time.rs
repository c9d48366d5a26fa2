//! Platform times. Every platform in scope writes local Beijing time without an offset
//! ("2026-03-01 14:05:00"); this is the one place that knows it.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

pub use chrono_tz::Tz;

/// The time zone of every platform in scope.
pub const PLATFORM_TZ: Tz = Shanghai;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{raw:?} is not a time in the form yyyy-MM-dd HH:mm:ss")]
pub struct BadPlatformTime {
    pub raw: String,
}

/// Parse `yyyy-MM-dd HH:mm:ss` as Asia/Shanghai. China has no daylight saving, so the local
/// time is never ambiguous.
pub fn parse_shanghai(raw: &str) -> Result<DateTime<Utc>, BadPlatformTime> {
    let bad = || BadPlatformTime {
        raw: raw.to_string(),
    };
    let naive =
        NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S").map_err(|_| bad())?;
    Shanghai
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

/// Milliseconds since the epoch: how the store keeps every instant (portable across backends,
/// totally ordered, indexable).
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_times_are_beijing_time() {
        let t = parse_shanghai("2026-02-14 08:00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-02-14T00:00:00+00:00");
        assert!(parse_shanghai("2026-02-14T08:00:00").is_err());
        assert!(parse_shanghai("2026-13-01 00:00:00").is_err());
    }
}
