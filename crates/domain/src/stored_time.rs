//! How the stored case body reads its timestamps back.
//!
//! Why not chrono's own `Deserialize`: it runs chrono's general format parser, and a case
//! body carries five to a dozen timestamps that every GetCase and every case of a ListCases
//! page decodes. Under callgrind that parser was ~5,000 instructions of the ~220,000 a
//! GetCase costs the server (docs/benchmarks.md). The body only ever holds what chrono's
//! `Serialize` wrote — `2026-12-07T10:27:00Z` or with a 1–9 digit fraction — so that shape is
//! read by hand, and anything else (an older body, a hand-edited row) falls back to chrono's
//! parser, which accepts every RFC 3339 time it did before. Writing is chrono's, unchanged:
//! fields name these with `deserialize_with` only.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` by hand; `None` for any other shape.
fn parse_canonical(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let digits = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let mut nanos = 0;
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        let fraction = rest.strip_prefix(b".")?;
        if fraction.is_empty() || fraction.len() > 9 {
            return None;
        }
        nanos = digits(20, 20 + fraction.len())? * 10u32.pow(9 - fraction.len() as u32);
    }
    let second = digits(17, 19)?;
    if second > 59 {
        // A leap second: rare enough for chrono to handle.
        return None;
    }
    NaiveDate::from_ymd_opt(digits(0, 4)? as i32, digits(5, 7)?, digits(8, 10)?)?
        .and_hms_nano_opt(digits(11, 13)?, digits(14, 16)?, second, nanos)
        .map(|t| t.and_utc())
}

fn parse<E: serde::de::Error>(s: &str) -> Result<DateTime<Utc>, E> {
    match parse_canonical(s) {
        Some(t) => Ok(t),
        None => s
            .parse::<DateTime<FixedOffset>>()
            .map(|t| t.with_timezone(&Utc))
            .map_err(E::custom),
    }
}

struct TimeVisitor;

impl serde::de::Visitor<'_> for TimeVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an RFC 3339 time")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DateTime<Utc>, E> {
        parse(s)
    }
}

/// For `#[serde(deserialize_with = …)]` on a stored time; writing stays chrono's own.
pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(TimeVisitor)
}

/// The same for an optional time (`null` or absent is `None`; absent needs `default`).
pub fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    #[derive(Deserialize)]
    struct Time(#[serde(deserialize_with = "time")] DateTime<Utc>);
    Ok(Option::<Time>::deserialize(d)?.map(|Time(t)| t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chrono_reads(s: &str) -> Option<DateTime<Utc>> {
        s.parse::<DateTime<FixedOffset>>()
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    #[test]
    fn reads_what_chrono_writes_as_chrono_reads_it() {
        let base = Utc.with_ymd_and_hms(2026, 12, 7, 10, 27, 0).unwrap();
        let times = [
            base,
            base + chrono::Duration::nanoseconds(614_227_856),
            base + chrono::Duration::milliseconds(5),
            base + chrono::Duration::microseconds(120),
            Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(1999, 1, 1, 0, 0, 0).unwrap(),
        ];
        for t in times {
            let written = serde_json::to_string(&t).unwrap();
            let text = written.trim_matches('"');
            assert_eq!(parse_canonical(text), Some(t), "{text}");
            assert_eq!(chrono_reads(text), Some(t), "{text}");
        }
        assert_eq!(
            parse_canonical("2026-12-07T10:27:00.5Z"),
            Some(base + chrono::Duration::milliseconds(500))
        );
    }

    #[test]
    fn leaves_every_other_shape_to_chrono() {
        for s in [
            "2026-12-07T18:27:00+08:00",
            "2026-12-07t10:27:00z",
            "2026-12-07 10:27:00Z",
            "2016-12-31T23:59:60Z",
            "2026-12-07T10:27:00.Z",
            "2026-12-07T10:27:00.1234567891Z",
            "2026-13-07T10:27:00Z",
            "2026-02-30T10:27:00Z",
            "2026-12-07T24:00:00Z",
            "2026-12-07T10:27:0xZ",
            "２026-12-07T10:27:00Z",
            "",
        ] {
            assert_eq!(parse_canonical(s), None, "{s}");
            let ours: Result<DateTime<Utc>, serde_json::Error> = parse(s);
            assert_eq!(ours.ok(), chrono_reads(s), "{s}");
        }
        // The offset form is still read, as an instant.
        assert_eq!(
            parse::<serde_json::Error>("2026-12-07T18:27:00+08:00").unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 7, 10, 27, 0).unwrap()
        );
    }

    #[test]
    fn optional_times_read_null_absent_and_present() {
        #[derive(Deserialize, serde::Serialize, PartialEq, Debug)]
        struct Row {
            #[serde(default, deserialize_with = "super::optional_time")]
            at: Option<DateTime<Utc>>,
        }
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 10, 27, 0).unwrap();
        for (json, want) in [
            (r#"{"at":null}"#, None),
            ("{}", None),
            (r#"{"at":"2026-12-07T10:27:00Z"}"#, Some(at)),
        ] {
            assert_eq!(
                serde_json::from_str::<Row>(json).unwrap().at,
                want,
                "{json}"
            );
        }
        let row = Row { at: Some(at) };
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"{"at":"2026-12-07T10:27:00Z"}"#
        );
        assert!(serde_json::from_str::<Row>(r#"{"at":"yesterday"}"#).is_err());
    }
}
