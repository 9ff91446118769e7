//! The one form of a timestamp in a native answer: RFC 3339 in UTC with exactly three
//! fractional digits (`2026-12-07T15:04:05.120Z`), whatever precision the value carries
//! (SQLite keeps milliseconds, PostgreSQL microseconds, the clock nanoseconds; chrono's own
//! `Serialize` prints as many digits as the value happens to need). Every `DateTime` field
//! of a native view names [`millis`] or [`millis_opt`] in `serialize_with`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// `at` as RFC 3339 with milliseconds (truncated, never rounded up into the future).
pub fn millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// [`millis`] for an optional timestamp; `None` is `null`.
pub fn millis_opt<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => millis(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct View {
        #[serde(serialize_with = "millis")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "millis_opt")]
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn every_precision_prints_with_three_digits() {
        for nanos in [0, 120_000_000, 123_456_000, 123_456_789, 999_999_999] {
            let at = DateTime::from_timestamp(1_800_000_000, nanos).unwrap();
            let json = serde_json::to_value(View {
                at,
                maybe: Some(at),
            })
            .unwrap();
            let digits = format!("{:03}", nanos / 1_000_000);
            let expected = format!("2027-01-15T08:00:00.{digits}Z");
            assert_eq!(json["at"], expected);
            assert_eq!(json["maybe"], expected);
        }
        let json = serde_json::to_value(View {
            at: DateTime::UNIX_EPOCH,
            maybe: None,
        })
        .unwrap();
        assert!(json["maybe"].is_null());
    }
}
