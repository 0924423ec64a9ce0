//! Times as alerts and incidents store and show them: UTC RFC 3339 with seven fractional
//! digits (`2024-05-01T10:00:41.2108713Z`, as Defender's APIs write them), which also sort as
//! text.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now_nanos() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

pub fn format_time(nanos: i64) -> String {
    let time = DateTime::from_timestamp_nanos(nanos);
    let text = time.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // Nanos gives nine digits; Defender's seven are ticks of 100 ns.
    match text.rsplit_once('.') {
        Some((seconds, fraction)) => format!("{seconds}.{}Z", &fraction[..7]),
        None => text,
    }
}

pub fn parse_time(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc).timestamp_nanos_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_seven_fractional_digits_and_parse_back() {
        let nanos = 1_714_557_641_210_871_300;
        assert_eq!(format_time(nanos), "2024-05-01T10:00:41.2108713Z");
        assert_eq!(parse_time(&format_time(nanos)), Some(nanos));
        assert!(format_time(nanos) < format_time(nanos + 100));
    }
}
