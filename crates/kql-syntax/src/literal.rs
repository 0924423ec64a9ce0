//! The text forms of KQL's datetime and timespan values, in both directions.
//!
//! Values are nanoseconds (since the Unix epoch for datetimes). KQL's own precision is the
//! 100-nanosecond tick, so formatting prints at most seven fractional digits.

pub const NANOS_PER_TICK: i64 = 100;
pub const NANOS_PER_MICRO: i64 = 1_000;
pub const NANOS_PER_MILLI: i64 = 1_000_000;
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
pub const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
pub const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;
pub const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;

/// Nanoseconds per unit of a timespan suffix (`5m`, `10ms`, `1tick`), or `None` if not a unit.
pub fn timespan_unit(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => NANOS_PER_DAY,
        "h" | "hr" | "hrs" | "hour" | "hours" => NANOS_PER_HOUR,
        "m" | "min" | "mins" | "minute" | "minutes" => NANOS_PER_MINUTE,
        "s" | "sec" | "secs" | "second" | "seconds" => NANOS_PER_SECOND,
        "ms" | "milli" | "millis" | "millisec" | "millisecond" | "milliseconds" => NANOS_PER_MILLI,
        "micro" | "micros" | "microsec" | "microsecond" | "microseconds" => NANOS_PER_MICRO,
        "tick" | "ticks" => NANOS_PER_TICK,
        "nanosecond" | "nanoseconds" => 1,
        _ => return None,
    })
}

/// `5m`, `1.5h`: a number immediately followed by a unit.
pub fn parse_timespan_with_unit(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let per_unit = timespan_unit(unit.trim())?;
    let number = number.trim();
    if number.is_empty() {
        return None;
    }
    if let Ok(whole) = number.parse::<i64>() {
        return whole.checked_mul(per_unit);
    }
    let value: f64 = number.parse().ok()?;
    let nanos = (value * per_unit as f64).round();
    (nanos.is_finite() && nanos.abs() < i64::MAX as f64).then_some(nanos as i64)
}

/// Every text form a timespan may take: `1.02:03:04.5`, `02:03`, `5m`, `15 seconds`, and a bare
/// number of days (`time(2)`).
pub fn parse_timespan(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.contains(':') {
        return parse_clock_timespan(text);
    }
    if text.chars().any(|c| c.is_ascii_alphabetic()) {
        return parse_timespan_with_unit(text);
    }
    let days: f64 = text.parse().ok()?;
    let nanos = (days * NANOS_PER_DAY as f64).round();
    (nanos.is_finite() && nanos.abs() < i64::MAX as f64).then_some(nanos as i64)
}

/// `[-][d.]hh:mm[:ss[.fffffff]]`
fn parse_clock_timespan(text: &str) -> Option<i64> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut parts = text.split(':');
    let first = parts.next()?;
    let (days, hours) = match first.split_once('.') {
        Some((days, hours)) => (parse_digits(days)?, parse_digits(hours)?),
        None => (0, parse_digits(first)?),
    };
    let minutes = parse_digits(parts.next()?)?;
    let (seconds, fraction) = match parts.next() {
        Some(seconds) => match seconds.split_once('.') {
            Some((whole, fraction)) => (parse_digits(whole)?, parse_fraction(fraction)?),
            None => (parse_digits(seconds)?, 0),
        },
        None => (0, 0),
    };
    if parts.next().is_some() || minutes >= 60 || seconds >= 60 {
        return None;
    }
    let total = days
        .checked_mul(NANOS_PER_DAY)?
        .checked_add(hours.checked_mul(NANOS_PER_HOUR)?)?
        .checked_add(minutes * NANOS_PER_MINUTE + seconds * NANOS_PER_SECOND + fraction)?;
    Some(if negative { -total } else { total })
}

fn parse_digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Fractional seconds digits to nanoseconds, truncating past nine digits.
fn parse_fraction(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kept = &digits[..digits.len().min(9)];
    let value: i64 = kept.parse().ok()?;
    Some(value * 10i64.pow(9 - kept.len() as u32))
}

/// Formats as KQL prints timespans: `[-][d.]hh:mm:ss[.fffffff]`.
pub fn format_timespan(nanos: i64) -> String {
    let negative = nanos < 0;
    let total = nanos.unsigned_abs();
    let day = NANOS_PER_DAY as u64;
    let days = total / day;
    let rest = total % day;
    let hours = rest / NANOS_PER_HOUR as u64;
    let minutes = rest % NANOS_PER_HOUR as u64 / NANOS_PER_MINUTE as u64;
    let seconds = rest % NANOS_PER_MINUTE as u64 / NANOS_PER_SECOND as u64;
    let ticks = rest % NANOS_PER_SECOND as u64 / NANOS_PER_TICK as u64;
    let mut out = String::with_capacity(20);
    if negative {
        out.push('-');
    }
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{hours:02}:{minutes:02}:{seconds:02}"));
    if ticks > 0 {
        out.push_str(&format!(".{ticks:07}"));
    }
    out
}

/// Formats as KQL's `tostring` does: always seven fractional digits
/// (`2020-01-01T00:00:00.0000000Z`).
pub fn format_datetime_ticks(nanos: i64) -> String {
    let whole = format_datetime(nanos - nanos.rem_euclid(NANOS_PER_SECOND));
    let ticks = nanos.rem_euclid(NANOS_PER_SECOND) / NANOS_PER_TICK;
    format!("{}.{ticks:07}Z", whole.trim_end_matches('Z'))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The calendar date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Nanoseconds since the epoch of a calendar instant, or `None` when a field is out of range.
pub fn datetime_from_parts(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: i64,
) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days.checked_mul(86_400)?.checked_add(i64::from(hour * 3600 + minute * 60 + second))?;
    seconds.checked_mul(NANOS_PER_SECOND)?.checked_add(nanos)
}

/// Formats as the Log Analytics API prints datetimes: `2007-04-08T00:00:00Z`, with the fraction
/// only when it is not zero, at tick precision and without trailing zeros.
pub fn format_datetime(nanos: i64) -> String {
    let days = nanos.div_euclid(NANOS_PER_DAY);
    let in_day = nanos.rem_euclid(NANOS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let hour = in_day / NANOS_PER_HOUR;
    let minute = in_day % NANOS_PER_HOUR / NANOS_PER_MINUTE;
    let second = in_day % NANOS_PER_MINUTE / NANOS_PER_SECOND;
    let ticks = in_day % NANOS_PER_SECOND / NANOS_PER_TICK;
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if ticks > 0 {
        let fraction = format!("{ticks:07}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// Parses the datetime forms KQL accepts: ISO 8601 (`2017-01-01`, `2017-01-01T10:20:30.5Z`,
/// `2017-01-01 10:20`, with an offset), RFC 822/1123 (`Sat, 8 Nov 14 15:05:02 GMT`), and the
/// component form `2025, 6, 14[, h, m, s]`.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.contains(',')
        && text.split(',').all(|part| part.trim().bytes().all(|b| b.is_ascii_digit()) && !part.trim().is_empty())
    {
        return parse_component_datetime(text);
    }
    if text.as_bytes()[0].is_ascii_digit() {
        parse_iso_datetime(text).or_else(|| parse_rfc822_datetime(text))
    } else {
        parse_rfc822_datetime(text)
    }
}

fn parse_component_datetime(text: &str) -> Option<i64> {
    let parts: Vec<i64> = text.split(',').map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
    let field = |i: usize, default: i64| parts.get(i).copied().unwrap_or(default);
    let in_range = |v: i64| u32::try_from(v).ok();
    datetime_from_parts(
        field(0, 1970),
        in_range(field(1, 1))?,
        in_range(field(2, 1))?,
        in_range(field(3, 0))?,
        in_range(field(4, 0))?,
        in_range(field(5, 0))?,
        0,
    )
}

/// A small cursor over ASCII text for the date parsers.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn number(&mut self, max_digits: usize) -> Option<(i64, usize)> {
        let start = self.pos;
        while self.pos < self.bytes.len() && self.pos - start < max_digits && self.bytes[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 {
            return None;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).ok()?;
        Some((text.parse().ok()?, digits))
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.bytes.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn rest(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.pos..]).unwrap_or("")
    }
}

fn parse_iso_datetime(text: &str) -> Option<i64> {
    let mut cursor = Cursor { bytes: text.as_bytes(), pos: 0 };
    let (first, first_digits) = cursor.number(4)?;
    let separator = cursor.peek()?;
    if separator != b'-' && separator != b'/' {
        return None;
    }
    cursor.pos += 1;
    let (second, _) = cursor.number(2)?;
    if !cursor.eat(separator) {
        return None;
    }
    let (third, third_digits) = cursor.number(4)?;
    // `01-01-2022` is month-day-year; `2022-01-01` is year-month-day.
    let (year, month, day) =
        if first_digits <= 2 && third_digits == 4 { (third, first, second) } else { (first, second, third) };
    let (mut hour, mut minute, mut second_of_minute, mut fraction) = (0, 0, 0, 0);
    if matches!(cursor.peek(), Some(b'T' | b't' | b' ')) {
        cursor.pos += 1;
        cursor.skip_spaces();
        if cursor.peek().is_some_and(|b| b.is_ascii_digit()) {
            hour = cursor.number(2)?.0;
            if cursor.eat(b':') {
                minute = cursor.number(2)?.0;
                if cursor.eat(b':') {
                    second_of_minute = cursor.number(2)?.0;
                    if cursor.eat(b'.') {
                        let start = cursor.pos;
                        while cursor.peek().is_some_and(|b| b.is_ascii_digit()) {
                            cursor.pos += 1;
                        }
                        fraction = parse_fraction(&text[start..cursor.pos])?;
                    }
                }
            }
        }
    }
    cursor.skip_spaces();
    let offset = parse_zone(cursor.rest())?;
    let base = datetime_from_parts(
        year,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
        u32::try_from(hour).ok()?,
        u32::try_from(minute).ok()?,
        u32::try_from(second_of_minute).ok()?,
        fraction,
    )?;
    base.checked_sub(offset)
}

/// A zone suffix to its offset from UTC in nanoseconds; empty means UTC.
fn parse_zone(zone: &str) -> Option<i64> {
    let zone = zone.trim();
    match zone.to_ascii_uppercase().as_str() {
        "" | "Z" | "GMT" | "UTC" | "UT" => return Some(0),
        _ => {}
    }
    let (sign, rest) = match zone.as_bytes()[0] {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 && digits.len() != 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
    Some(sign * (hours * NANOS_PER_HOUR + minutes * NANOS_PER_MINUTE))
}

/// `Sat, 8 Nov 14 15:05:02 GMT`, `08 Nov 2014 15:05 +0100`.
fn parse_rfc822_datetime(text: &str) -> Option<i64> {
    let text = match text.split_once(',') {
        Some((weekday, rest)) if weekday.trim().chars().all(|c| c.is_ascii_alphabetic()) => rest.trim(),
        _ => text,
    };
    let mut words = text.split_whitespace();
    let day: u32 = words.next()?.parse().ok()?;
    let month_word = words.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| month_word.starts_with(m))? as u32 + 1;
    let year_text = words.next()?;
    let mut year: i64 = year_text.parse().ok()?;
    if year_text.len() <= 2 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let (mut hour, mut minute, mut second) = (0, 0, 0);
    let mut offset = 0;
    if let Some(time) = words.next() {
        let mut fields = time.split(':');
        hour = fields.next()?.parse().ok()?;
        minute = fields.next()?.parse().ok()?;
        second = fields.next().map(|s| s.parse().ok()).unwrap_or(Some(0))?;
        offset = parse_zone(&words.collect::<Vec<_>>().join(" "))?;
    }
    datetime_from_parts(year, month, day, hour, minute, second, 0)?.checked_sub(offset)
}

/// A GUID in its canonical lower-case hyphenated form.
pub fn normalize_guid(text: &str) -> Option<String> {
    let hex: String = text.trim().trim_start_matches('{').trim_end_matches('}').chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_forms() {
        let day = |y, m, d| datetime_from_parts(y, m, d, 0, 0, 0, 0).unwrap();
        assert_eq!(parse_datetime("2017-01-01"), Some(day(2017, 1, 1)));
        assert_eq!(parse_datetime("1970-5-12"), Some(day(1970, 5, 12)));
        assert_eq!(parse_datetime("2025, 6, 14"), Some(day(2025, 6, 14)));
        assert_eq!(parse_datetime("01-01-2022"), Some(day(2022, 1, 1)));
        assert_eq!(
            parse_datetime("2017-05-17 10:20:00.0"),
            Some(day(2017, 5, 17) + 10 * NANOS_PER_HOUR + 20 * NANOS_PER_MINUTE)
        );
        assert_eq!(
            parse_datetime("2018-02-24T15:14"),
            Some(day(2018, 2, 24) + 15 * NANOS_PER_HOUR + 14 * NANOS_PER_MINUTE)
        );
        assert_eq!(
            parse_datetime("2014-11-08T15:55:55.1234567Z"),
            Some(day(2014, 11, 8) + 57_355 * NANOS_PER_SECOND + 123_456_700)
        );
        assert_eq!(parse_datetime("2014-11-08T01:00:00+01:00"), Some(day(2014, 11, 8)));
        assert_eq!(parse_datetime("Sat, 8 Nov 14 15:05:02 GMT"), Some(day(2014, 11, 8) + 54_302 * NANOS_PER_SECOND));
        assert_eq!(parse_datetime("2017-13-01"), None);
        assert_eq!(parse_datetime("not a date"), None);
    }

    #[test]
    fn datetime_format_round_trips() {
        for text in ["2007-04-08T00:00:00Z", "1969-12-31T23:59:59.9999999Z", "2024-02-29T12:30:45.12Z"] {
            assert_eq!(format_datetime(parse_datetime(text).unwrap()), text);
        }
    }

    #[test]
    fn tostring_of_datetimes_has_seven_digits() {
        assert_eq!(format_datetime_ticks(parse_datetime("2020-01-01").unwrap()), "2020-01-01T00:00:00.0000000Z");
        assert_eq!(
            format_datetime_ticks(parse_datetime("2020-01-01T01:02:03.45Z").unwrap()),
            "2020-01-01T01:02:03.4500000Z"
        );
    }

    #[test]
    fn timespan_forms() {
        assert_eq!(
            parse_timespan("1.12:30:55.123"),
            Some(NANOS_PER_DAY + 12 * NANOS_PER_HOUR + 30 * NANOS_PER_MINUTE + 55_123 * NANOS_PER_MILLI)
        );
        assert_eq!(parse_timespan("00:03:00"), Some(3 * NANOS_PER_MINUTE));
        assert_eq!(parse_timespan("-01:00"), Some(-NANOS_PER_HOUR));
        assert_eq!(parse_timespan("1.5h"), Some(90 * NANOS_PER_MINUTE));
        assert_eq!(parse_timespan("15 seconds"), Some(15 * NANOS_PER_SECOND));
        assert_eq!(parse_timespan("2"), Some(2 * NANOS_PER_DAY));
        assert_eq!(parse_timespan("1tick"), Some(100));
        assert_eq!(parse_timespan("5 parsecs"), None);
    }

    #[test]
    fn timespan_format() {
        assert_eq!(
            format_timespan(NANOS_PER_DAY + 12 * NANOS_PER_HOUR + 30 * NANOS_PER_MINUTE + 55_123 * NANOS_PER_MILLI),
            "1.12:30:55.1230000"
        );
        assert_eq!(format_timespan(-2 * NANOS_PER_SECOND), "-00:00:02");
        assert_eq!(format_timespan(0), "00:00:00");
    }
}
