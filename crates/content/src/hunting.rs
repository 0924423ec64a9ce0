//! Hunting queries as Sentinel's repository writes them: some hold the placeholders
//! `{{StartTimeISO}}` and `{{EndTimeISO}}`, which the hunting page fills with its time range
//! before the KQL runs.

/// The query with its time placeholders replaced by the range's ends (nanoseconds), as
/// ISO 8601 text.
pub fn with_time_range(query: &str, start: i64, end: i64) -> String {
    let iso = |nanos: i64| chrono::DateTime::from_timestamp_nanos(nanos).format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string();
    query.replace("{{StartTimeISO}}", &iso(start)).replace("{{EndTimeISO}}", &iso(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_the_range() {
        let query = "let s = todatetime('{{StartTimeISO}}'); let e = todatetime('{{EndTimeISO}}'); print s, e";
        let filled = with_time_range(query, 0, 86_400_000_000_000);
        assert!(
            filled.contains("'1970-01-01T00:00:00.000000000Z'") && filled.contains("'1970-01-02T00:00:00.000000000Z'")
        );
        assert!(!vigil_kql_syntax::parse(&filled).has_errors());
    }
}
