//! Durations as rules and APIs write them: ISO 8601 (`PT5M`, `P14D`, `PT3600.0S`; Azure's APIs
//! and exported rules) and the short form of Sentinel's rule repository (`5m`, `1h`, `14d`).

/// Nanoseconds in an ISO 8601 duration, `P[nY][nM][nW][nD][T[nH][nM][n.nS]]`. Years and months
/// count as 365 and 30 days, as .NET's `XmlConvert` (and so Azure) reads durations without a
/// reference date. Rules and the query API's `timespan` both use it.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("'{text}' is not an ISO 8601 duration such as PT5M, PT1H or P7D");
    let rest = text.strip_prefix('P').ok_or_else(invalid)?;
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return Err(invalid()),
        None => (rest, None),
    };
    const SECOND: f64 = 1e9;
    let mut total = 0f64;
    let mut any = false;
    for (part, units) in [
        (date, &[('Y', 365.0 * 86400.0), ('M', 30.0 * 86400.0), ('W', 7.0 * 86400.0), ('D', 86400.0)][..]),
        (time.unwrap_or(""), &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut number = String::new();
        let mut unit_index = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            let position = units[unit_index..].iter().position(|(u, _)| *u == c).ok_or_else(invalid)?;
            let value: f64 = number.parse().map_err(|_| invalid())?;
            total += value * units[unit_index + position].1 * SECOND;
            unit_index += position + 1;
            number.clear();
            any = true;
        }
        if !number.is_empty() {
            return Err(invalid());
        }
    }
    if !any || total > 1e19 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// Nanoseconds in a rule's duration: ISO 8601, or a number and a unit (`s`, `m`, `h`, `d`), as
/// the Azure-Sentinel repository writes `queryFrequency`, `queryPeriod` and
/// `suppressionDuration`.
pub fn parse_rule_duration(text: &str) -> Result<i64, String> {
    if text.starts_with('P') {
        return parse_duration(text);
    }
    let invalid = || format!("'{text}' is not a duration such as 5m, 1h, 14d or PT5M");
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let seconds = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(invalid()),
    };
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let nanos = value * seconds * 1e9;
    if !(nanos > 0.0 && nanos < 1e19) {
        return Err(invalid());
    }
    Ok(nanos as i64)
}

/// A duration the way rules write it: `PT5M`, `PT1H`, `P1D`, `PT1H30M`.
pub fn format_duration(nanos: i64) -> String {
    let seconds = nanos / 1_000_000_000;
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, minutes, secs) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let mut text = String::from("P");
    if days > 0 {
        text.push_str(&format!("{days}D"));
    }
    if rest > 0 || days == 0 {
        text.push('T');
        for (value, unit) in [(hours, 'H'), (minutes, 'M'), (secs, 'S')] {
            if value > 0 {
                text.push_str(&format!("{value}{unit}"));
            }
        }
        if rest == 0 {
            text.push_str("0S");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000_000;

    #[test]
    fn rule_durations_parse_and_format_back() {
        for (text, minutes) in [("PT5M", 5), ("PT5H", 300), ("P1D", 1440), ("P14D", 20160), ("PT1H30M", 90)] {
            assert_eq!(parse_duration(text), Ok(minutes * MINUTE), "{text}");
            assert_eq!(format_duration(minutes * MINUTE), text);
        }
        assert_eq!(parse_duration("PT3600.0S"), Ok(60 * MINUTE));
    }

    #[test]
    fn rules_write_durations_short_or_in_iso_8601() {
        for (text, minutes) in [("5m", 5), ("1h", 60), ("1d", 1440), ("14d", 20160), ("90s", 1), ("PT1H", 60)] {
            assert_eq!(parse_rule_duration(text).map(|n| n / MINUTE), Ok(minutes), "{text}");
        }
        for bad in ["", "5", "m", "5 minutes", "5M", "-1h", "0m", "1w", "PT"] {
            let error = parse_rule_duration(bad).expect_err(bad);
            assert!(error.contains(&format!("'{bad}'")), "{error}");
        }
    }

    #[test]
    fn malformed_durations_are_errors_naming_the_text() {
        for bad in ["", "5m", "PT", "P", "PT5X", "PTM", "PT5M5H", "P1DT"] {
            let error = parse_duration(bad).expect_err(bad);
            assert!(error.contains(&format!("'{bad}'")), "{error}");
        }
    }
}
