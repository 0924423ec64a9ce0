//! Datetime and timespan functions.

use chrono::{NaiveDateTime, TimeZone};
use datafusion::logical_expr::lit;
use vigil_kql_syntax::literal::{
    NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_MICRO, NANOS_PER_MILLI, NANOS_PER_MINUTE, NANOS_PER_SECOND,
    civil_from_days, datetime_from_parts, days_from_civil, days_in_month,
};

use super::{call_row, expect_constant_str};
use crate::registry::{Registry, TypedExpr};
use crate::types::KqlType;
use crate::value::Value;

use KqlType::{DateTime, Dynamic, Int, Long, Real, String as Str, Timespan};

/// A datetime's calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: i64,
}

impl Civil {
    pub fn of(nanos: i64) -> Civil {
        let days = nanos.div_euclid(NANOS_PER_DAY);
        let in_day = nanos.rem_euclid(NANOS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (in_day / NANOS_PER_HOUR) as u32,
            minute: (in_day % NANOS_PER_HOUR / NANOS_PER_MINUTE) as u32,
            second: (in_day % NANOS_PER_MINUTE / NANOS_PER_SECOND) as u32,
            nanos: in_day % NANOS_PER_SECOND,
        }
    }

    pub fn to_nanos(self) -> Option<i64> {
        datetime_from_parts(self.year, self.month, self.day, self.hour, self.minute, self.second, self.nanos)
    }
}

fn start_of_day(nanos: i64) -> i64 {
    nanos - nanos.rem_euclid(NANOS_PER_DAY)
}

/// Sunday of the week (1970-01-01 was a Thursday: day 4 of the week).
fn start_of_week(nanos: i64) -> i64 {
    let days = nanos.div_euclid(NANOS_PER_DAY);
    (days - (days + 4).rem_euclid(7)) * NANOS_PER_DAY
}

fn start_of_month(nanos: i64) -> Option<i64> {
    let c = Civil::of(nanos);
    datetime_from_parts(c.year, c.month, 1, 0, 0, 0, 0)
}

fn start_of_year(nanos: i64) -> Option<i64> {
    datetime_from_parts(Civil::of(nanos).year, 1, 1, 0, 0, 0, 0)
}

/// Adds months as .NET's AddMonths does: the day is clamped to the end of the target month.
pub fn add_months(nanos: i64, months: i64) -> Option<i64> {
    let c = Civil::of(nanos);
    let total = c.year * 12 + i64::from(c.month) - 1 + months;
    let year = total.div_euclid(12);
    let month = (total.rem_euclid(12) + 1) as u32;
    let day = c.day.min(days_in_month(year, month));
    Civil { year, month, day, ..c }.to_nanos()
}

/// Nanoseconds in a fixed-size part, or `None` for calendar parts.
fn fixed_part(part: &str) -> Option<i64> {
    Some(match part {
        "week" | "weeks" => 7 * NANOS_PER_DAY,
        "day" | "days" => NANOS_PER_DAY,
        "hour" | "hours" => NANOS_PER_HOUR,
        "minute" | "minutes" => NANOS_PER_MINUTE,
        "second" | "seconds" => NANOS_PER_SECOND,
        "millisecond" | "milliseconds" => NANOS_PER_MILLI,
        "microsecond" | "microseconds" => NANOS_PER_MICRO,
        "nanosecond" | "nanoseconds" => 1,
        _ => return None,
    })
}

pub fn datetime_add(part: &str, amount: i64, nanos: i64) -> Option<i64> {
    let part = part.to_ascii_lowercase();
    match part.as_str() {
        "year" | "years" => add_months(nanos, amount.checked_mul(12)?),
        "quarter" | "quarters" => add_months(nanos, amount.checked_mul(3)?),
        "month" | "months" => add_months(nanos, amount),
        other => nanos.checked_add(amount.checked_mul(fixed_part(other)?)?),
    }
}

/// The number of `part` boundaries between two datetimes (`first - second`).
pub fn datetime_diff(part: &str, first: i64, second: i64) -> Option<i64> {
    let part = part.to_ascii_lowercase();
    let (a, b) = (Civil::of(first), Civil::of(second));
    Some(match part.as_str() {
        "year" | "years" => a.year - b.year,
        "quarter" | "quarters" => {
            (a.year * 4 + i64::from((a.month - 1) / 3)) - (b.year * 4 + i64::from((b.month - 1) / 3))
        }
        "month" | "months" => (a.year * 12 + i64::from(a.month)) - (b.year * 12 + i64::from(b.month)),
        "week" | "weeks" => (start_of_week(first) - start_of_week(second)) / (7 * NANOS_PER_DAY),
        other => {
            let size = fixed_part(other)?;
            first.div_euclid(size) - second.div_euclid(size)
        }
    })
}

pub fn datetime_part(part: &str, nanos: i64) -> Option<i64> {
    let c = Civil::of(nanos);
    Some(match part.to_ascii_lowercase().as_str() {
        "year" => c.year,
        "quarter" => i64::from((c.month - 1) / 3 + 1),
        "month" => i64::from(c.month),
        "weekofyear" | "week_of_year" => iso_week(nanos),
        "day" => i64::from(c.day),
        "dayofyear" => day_of_year(nanos),
        "hour" => i64::from(c.hour),
        "minute" => i64::from(c.minute),
        "second" => i64::from(c.second),
        "millisecond" => c.nanos / NANOS_PER_MILLI,
        "microsecond" => c.nanos / NANOS_PER_MICRO,
        "nanosecond" => c.nanos,
        _ => return None,
    })
}

fn day_of_year(nanos: i64) -> i64 {
    let c = Civil::of(nanos);
    nanos.div_euclid(NANOS_PER_DAY) - days_from_civil(c.year, 1, 1) + 1
}

/// The ISO 8601 week number.
fn iso_week(nanos: i64) -> i64 {
    let days = nanos.div_euclid(NANOS_PER_DAY);
    let weekday = (days + 3).rem_euclid(7); // Monday = 0
    let thursday = days - weekday + 3;
    let (year, _, _) = civil_from_days(thursday);
    (thursday - days_from_civil(year, 1, 1)) / 7 + 1
}

pub fn register(r: &mut Registry) {
    r.scalar(
        "datetime_list_timezones",
        0..=0,
        "The IANA time zone names that datetime_utc_to_local accepts.",
        |_, _| {
            let names: Vec<serde_json::Value> =
                chrono_tz::TZ_VARIANTS.iter().map(|zone| serde_json::Value::String(zone.name().to_string())).collect();
            let list = Value::Dynamic(serde_json::Value::Array(names));
            Ok(TypedExpr::new(lit(list.to_scalar(Dynamic)), Dynamic))
        },
    );
    r.scalar(
        "now",
        0..=1,
        "The current UTC time (fixed for the whole query), plus an optional offset.",
        |context, a| {
            let offset = match a.first() {
                Some(arg) => arg.constant.as_ref().and_then(|v| match v {
                    Value::Timespan(t) => Some(*t),
                    _ => None,
                }),
                None => Some(0),
            };
            match offset {
                Some(offset) => {
                    Ok(TypedExpr::new(lit(Value::DateTime(context.now + offset).to_scalar(DateTime)), DateTime))
                }
                None => {
                    let now = context.now;
                    Ok(call_row("now", &a, &[Timespan], DateTime, move |v| match v[0] {
                        Value::Timespan(t) => Value::DateTime(now + t),
                        _ => Value::Null,
                    }))
                }
            }
        },
    );
    r.scalar("ago", 1..=1, "now() minus a timespan.", |context, a| {
        let now = context.now;
        if let Some(Value::Timespan(t)) = &a[0].constant {
            return Ok(TypedExpr::new(lit(Value::DateTime(now - t).to_scalar(DateTime)), DateTime));
        }
        Ok(call_row("ago", &a, &[Timespan], DateTime, move |v| match v[0] {
            Value::Timespan(t) => Value::DateTime(now - t),
            _ => Value::Null,
        }))
    });
    r.scalar("datetime_add", 3..=3, "Adds an amount of a calendar part to a datetime.", |_, a| {
        Ok(call_row("datetime_add", &a, &[Str, Long, DateTime], DateTime, |v| {
            match (v[0].as_str(), v[1].as_i64(), &v[2]) {
                (Some(part), Some(amount), Value::DateTime(t)) => {
                    datetime_add(part, amount, *t).map(Value::DateTime).unwrap_or(Value::Null)
                }
                _ => Value::Null,
            }
        }))
    });
    r.scalar("datetime_diff", 3..=3, "The number of calendar-part boundaries between two datetimes.", |_, a| {
        Ok(call_row("datetime_diff", &a, &[Str, DateTime, DateTime], Long, |v| match (v[0].as_str(), &v[1], &v[2]) {
            (Some(part), Value::DateTime(x), Value::DateTime(y)) => {
                datetime_diff(part, *x, *y).map(Value::Long).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        }))
    });
    r.scalar("datetime_part", 2..=2, "A calendar part of a datetime as a number.", |_, a| {
        Ok(call_row("datetime_part", &a, &[Str, DateTime], Int, |v| match (v[0].as_str(), &v[1]) {
            (Some(part), Value::DateTime(t)) => {
                datetime_part(part, *t).map(|p| Value::Int(p as i32)).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        }))
    });
    macro_rules! part_function {
        ($($name:literal => $ty:expr, $f:expr, $summary:literal;)*) => {$(
            r.scalar($name, 1..=1, $summary, |_, a| {
                Ok(call_row($name, &a, &[DateTime], $ty, |v| match v[0] {
                    Value::DateTime(t) => $f(t),
                    _ => Value::Null,
                }))
            });
        )*};
    }
    part_function! {
        "dayofweek" => Timespan, |t: i64| Value::Timespan((t - start_of_week(t)) / NANOS_PER_DAY * NANOS_PER_DAY), "Days since the preceding Sunday, as a timespan.";
        "dayofmonth" => Int, |t: i64| Value::Int(Civil::of(t).day as i32), "The day of the month.";
        "dayofyear" => Int, |t: i64| Value::Int(day_of_year(t) as i32), "The day of the year.";
        "hourofday" => Int, |t: i64| Value::Int(Civil::of(t).hour as i32), "The hour of the day.";
        "getyear" => Int, |t: i64| Value::Int(Civil::of(t).year as i32), "The year.";
        "getmonth" => Int, |t: i64| Value::Int(Civil::of(t).month as i32), "The month (1-12).";
        "monthofyear" => Int, |t: i64| Value::Int(Civil::of(t).month as i32), "The month (1-12).";
        "week_of_year" => Int, |t: i64| Value::Int(iso_week(t) as i32), "The ISO 8601 week number.";
        "weekofyear" => Int, |t: i64| Value::Int(iso_week(t) as i32), "The ISO 8601 week number.";
        "unixtime_seconds_fromdatetime" => Long, |t: i64| Value::Long(t.div_euclid(NANOS_PER_SECOND)), "Seconds since the Unix epoch.";
    }
    macro_rules! start_end {
        ($($name:literal => $f:expr;)*) => {$(
            r.scalar($name, 1..=2, "The start or end of the day, week, month or year of a datetime, optionally offset.", |_, a| {
                let types = [DateTime, Long];
                Ok(call_row($name, &a, &types[..a.len()], DateTime, |v| {
                    let offset = v.get(1).map(|o| o.as_i64()).unwrap_or(Some(0));
                    match (&v[0], offset) {
                        (Value::DateTime(t), Some(offset)) => $f(*t, offset).map(Value::DateTime).unwrap_or(Value::Null),
                        _ => Value::Null,
                    }
                }))
            });
        )*};
    }
    start_end! {
        "startofday" => |t: i64, o: i64| Some(start_of_day(t) + o * NANOS_PER_DAY);
        "startofweek" => |t: i64, o: i64| Some(start_of_week(t) + o * 7 * NANOS_PER_DAY);
        "startofmonth" => |t: i64, o: i64| add_months(start_of_month(t)?, o);
        "startofyear" => |t: i64, o: i64| add_months(start_of_year(t)?, o * 12);
        "endofday" => |t: i64, o: i64| Some(start_of_day(t) + (o + 1) * NANOS_PER_DAY - 100);
        "endofweek" => |t: i64, o: i64| Some(start_of_week(t) + (o + 1) * 7 * NANOS_PER_DAY - 100);
        "endofmonth" => |t: i64, o: i64| Some(add_months(start_of_month(t)?, o + 1)? - 100);
        "endofyear" => |t: i64, o: i64| Some(add_months(start_of_year(t)?, (o + 1) * 12)? - 100);
    }
    r.scalar("make_datetime", 3..=6, "A datetime from year, month, day [, hour, minute, second].", |_, a| {
        let types = [Long, Long, Long, Long, Long, Real];
        Ok(call_row("make_datetime", &a, &types[..a.len()], DateTime, |v| {
            let field = |i: usize| v.get(i).map(|x| x.as_i64()).unwrap_or(Some(0));
            let (Some(year), Some(month), Some(day), Some(hour), Some(minute)) =
                (field(0), field(1), field(2), field(3), field(4))
            else {
                return Value::Null;
            };
            let seconds = v.get(5).map(|s| s.as_f64()).unwrap_or(Some(0.0));
            let Some(seconds) = seconds.filter(|s| (0.0..60.0).contains(s)) else { return Value::Null };
            let whole = seconds.trunc() as u32;
            let fraction = ((seconds - seconds.trunc()) * 1e7).round() as i64 * 100;
            let parts = (u32::try_from(month), u32::try_from(day), u32::try_from(hour), u32::try_from(minute));
            match parts {
                (Ok(month), Ok(day), Ok(hour), Ok(minute)) => {
                    datetime_from_parts(year, month, day, hour, minute, whole, fraction)
                        .map(Value::DateTime)
                        .unwrap_or(Value::Null)
                }
                _ => Value::Null,
            }
        }))
    });
    r.scalar("make_timespan", 2..=4, "A timespan from [days,] hours, minutes [, seconds].", |_, a| {
        let types = [Real, Real, Real, Real];
        let count = a.len();
        Ok(call_row("make_timespan", &a, &types[..count], Timespan, move |v| {
            let fields: Option<Vec<f64>> = v.iter().map(Value::as_f64).collect();
            let Some(fields) = fields else { return Value::Null };
            let (days, hours, minutes, seconds) = match fields.as_slice() {
                [h, m] => (0.0, *h, *m, 0.0),
                [h, m, s] => (0.0, *h, *m, *s),
                [d, h, m, s] => (*d, *h, *m, *s),
                _ => return Value::Null,
            };
            let total = days * NANOS_PER_DAY as f64
                + hours * NANOS_PER_HOUR as f64
                + minutes * NANOS_PER_MINUTE as f64
                + seconds * NANOS_PER_SECOND as f64;
            Value::Timespan(((total / 100.0).round() as i64) * 100)
        }))
    });
    macro_rules! unixtime {
        ($($name:literal => $scale:expr;)*) => {$(
            r.scalar($name, 1..=1, "A datetime from a Unix time.", |_, a| {
                Ok(call_row($name, &a, &[Real], DateTime, |v| match v[0].as_f64() {
                    Some(x) if (x * $scale as f64).abs() < 9.2e18 => Value::DateTime((x * $scale as f64).round() as i64),
                    _ => Value::Null,
                }))
            });
        )*};
    }
    unixtime! {
        "unixtime_seconds_todatetime" => NANOS_PER_SECOND;
        "unixtime_milliseconds_todatetime" => NANOS_PER_MILLI;
        "unixtime_microseconds_todatetime" => NANOS_PER_MICRO;
        "unixtime_nanoseconds_todatetime" => 1;
    }
    r.scalar("format_datetime", 2..=2, "Formats a datetime with a pattern such as 'yyyy-MM-dd [HH:mm:ss]'.", |_, a| {
        let format = expect_constant_str("format_datetime", 1, &a[1])?;
        let tokens = tokenize_format(&format);
        Ok(call_row("format_datetime", &a[..1], &[DateTime], Str, move |v| match v[0] {
            Value::DateTime(t) => Value::String(format_datetime_pattern(&tokens, t)),
            _ => Value::String(String::new()),
        }))
    });
    r.scalar("format_timespan", 2..=2, "Formats a timespan with a pattern such as 'd.hh:mm:ss'.", |_, a| {
        let format = expect_constant_str("format_timespan", 1, &a[1])?;
        let tokens = tokenize_format(&format);
        Ok(call_row("format_timespan", &a[..1], &[Timespan], Str, move |v| match v[0] {
            Value::Timespan(t) => Value::String(format_timespan_pattern(&tokens, t)),
            _ => Value::String(String::new()),
        }))
    });
    r.scalar("datetime_utc_to_local", 2..=2, "Converts a UTC datetime to a time zone's local time.", |_, a| {
        Ok(call_row("datetime_utc_to_local", &a, &[DateTime, Str], DateTime, |v| match (&v[0], v[1].as_str()) {
            (Value::DateTime(t), Some(zone)) => utc_to_local(*t, zone).map(Value::DateTime).unwrap_or(Value::Null),
            _ => Value::Null,
        }))
    });
    r.scalar("datetime_local_to_utc", 2..=2, "Converts a time zone's local time to UTC.", |_, a| {
        Ok(call_row("datetime_local_to_utc", &a, &[DateTime, Str], DateTime, |v| match (&v[0], v[1].as_str()) {
            (Value::DateTime(t), Some(zone)) => local_to_utc(*t, zone).map(Value::DateTime).unwrap_or(Value::Null),
            _ => Value::Null,
        }))
    });
}

fn time_zone(name: &str) -> Option<chrono_tz::Tz> {
    name.parse().ok()
}

fn utc_to_local(nanos: i64, zone: &str) -> Option<i64> {
    let zone = time_zone(zone)?;
    let utc = chrono::DateTime::from_timestamp_nanos(nanos);
    let local = utc.with_timezone(&zone).naive_local();
    local.and_utc().timestamp_nanos_opt()
}

fn local_to_utc(nanos: i64, zone: &str) -> Option<i64> {
    let zone = time_zone(zone)?;
    let naive: NaiveDateTime = chrono::DateTime::from_timestamp_nanos(nanos).naive_utc();
    let local = zone.from_local_datetime(&naive).earliest()?;
    local.timestamp_nanos_opt()
}

/// A format pattern split into runs of one specifier letter, and literal text.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatToken {
    Specifier(char, usize),
    Literal(String),
}

pub fn tokenize_format(format: &str) -> Vec<FormatToken> {
    let chars: Vec<char> = format.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, 'y' | 'M' | 'd' | 'h' | 'H' | 'm' | 's' | 'f' | 'F' | 't') {
            let start = i;
            while i < chars.len() && chars[i] == c {
                i += 1;
            }
            tokens.push(FormatToken::Specifier(c, i - start));
        } else {
            let literal = if c == '\\' && i + 1 < chars.len() {
                i += 1;
                chars[i]
            } else {
                c
            };
            match tokens.last_mut() {
                Some(FormatToken::Literal(text)) => text.push(literal),
                _ => tokens.push(FormatToken::Literal(literal.to_string())),
            }
            i += 1;
        }
    }
    tokens
}

fn fraction_digits(nanos: i64, count: usize, trim: bool) -> String {
    let digits = format!("{:09}", nanos.rem_euclid(NANOS_PER_SECOND));
    let kept = &digits[..count.min(7)];
    if trim { kept.trim_end_matches('0').to_string() } else { kept.to_string() }
}

pub fn format_datetime_pattern(tokens: &[FormatToken], nanos: i64) -> String {
    let c = Civil::of(nanos);
    let mut out = String::new();
    for token in tokens {
        match token {
            FormatToken::Literal(text) => out.push_str(text),
            FormatToken::Specifier(letter, count) => {
                let count = *count;
                match letter {
                    'y' => match count {
                        1 => out.push_str(&(c.year % 100).to_string()),
                        2 => out.push_str(&format!("{:02}", c.year % 100)),
                        n => out.push_str(&format!("{:0width$}", c.year, width = n)),
                    },
                    'M' => out.push_str(&pad(c.month, count)),
                    'd' => out.push_str(&pad(c.day, count)),
                    'H' => out.push_str(&pad(c.hour, count)),
                    'h' => out.push_str(&pad(if c.hour.is_multiple_of(12) { 12 } else { c.hour % 12 }, count)),
                    'm' => out.push_str(&pad(c.minute, count)),
                    's' => out.push_str(&pad(c.second, count)),
                    'f' => out.push_str(&fraction_digits(c.nanos, count, false)),
                    'F' => out.push_str(&fraction_digits(c.nanos, count, true)),
                    't' => {
                        let designator = if c.hour < 12 { "AM" } else { "PM" };
                        out.push_str(if count == 1 { &designator[..1] } else { designator });
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

fn pad(value: u32, count: usize) -> String {
    if count >= 2 { format!("{value:02}") } else { value.to_string() }
}

pub fn format_timespan_pattern(tokens: &[FormatToken], nanos: i64) -> String {
    let total = nanos.unsigned_abs() as i64;
    let days = total / NANOS_PER_DAY;
    let hours = (total % NANOS_PER_DAY / NANOS_PER_HOUR) as u32;
    let minutes = (total % NANOS_PER_HOUR / NANOS_PER_MINUTE) as u32;
    let seconds = (total % NANOS_PER_MINUTE / NANOS_PER_SECOND) as u32;
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    for token in tokens {
        match token {
            FormatToken::Literal(text) => out.push_str(text),
            FormatToken::Specifier(letter, count) => match letter {
                'd' => out.push_str(&format!("{days:0width$}", width = *count)),
                'h' | 'H' => out.push_str(&pad(hours, *count)),
                'm' => out.push_str(&pad(minutes, *count)),
                's' => out.push_str(&pad(seconds, *count)),
                'f' => out.push_str(&fraction_digits(total, *count, false)),
                'F' => out.push_str(&fraction_digits(total, *count, true)),
                _ => {}
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_kql_syntax::literal::parse_datetime;

    fn at(text: &str) -> i64 {
        parse_datetime(text).unwrap()
    }

    #[test]
    fn calendar_arithmetic() {
        assert_eq!(datetime_add("month", -15, at("2017-01-01")), Some(at("2015-10-01")));
        assert_eq!(datetime_add("week", 100, at("2017-01-01")), Some(at("2018-12-02")));
        assert_eq!(add_months(at("2017-01-31"), 1), Some(at("2017-02-28")));
        assert_eq!(datetime_diff("month", at("2017-01-01"), at("2016-12-31")), Some(1));
        assert_eq!(start_of_week(at("2017-01-01T10:10:17")), at("2017-01-01"));
        assert_eq!(iso_week(at("2021-01-01")), 53);
    }

    #[test]
    fn formats() {
        let t = at("2017-01-29 09:00:05");
        assert_eq!(format_datetime_pattern(&tokenize_format("yy-MM-dd [HH:mm:ss]"), t), "17-01-29 [09:00:05]");
        assert_eq!(format_datetime_pattern(&tokenize_format("yyyy-M-dd [H:mm:ss]"), t), "2017-1-29 [9:00:05]");
        assert_eq!(format_timespan_pattern(&tokenize_format("d"), 14 * NANOS_PER_DAY), "14");
    }

    #[test]
    fn time_zones() {
        assert_eq!(local_to_utc(at("2020-02-02 20:02:20"), "Europe/Paris"), Some(at("2020-02-02 19:02:20")));
        assert_eq!(utc_to_local(at("2020-02-03 04:02:20"), "US/Pacific"), Some(at("2020-02-02 20:02:20")));
    }
}
