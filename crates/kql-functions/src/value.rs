//! One KQL value, for the functions that work a row at a time, and the conversions between
//! values and Arrow arrays.
//!
//! Most of the function library is written against `Value` because KQL's functions are many
//! and mostly cheap; the hot ones (string predicates, `bin`, dynamic paths) have vectorized
//! kernels instead.

use std::sync::Arc;

use datafusion::arrow::array::*;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use serde_json::Value as Json;
use vigil_kql_syntax::literal::{format_datetime_ticks, format_timespan};

use crate::types::{DECIMAL_ONE, DECIMAL_PRECISION, DECIMAL_SCALE, KqlType};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Real(f64),
    /// Scaled by `DECIMAL_ONE`.
    Decimal(i128),
    String(String),
    /// Nanoseconds since the Unix epoch.
    DateTime(i64),
    /// Nanoseconds.
    Timespan(i64),
    Guid(String),
    Dynamic(Json),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null | Value::Dynamic(Json::Null))
    }

    /// The value as a number, when it is one or converts to one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(f64::from(*v)),
            Value::Long(v) => Some(*v as f64),
            Value::Real(v) => Some(*v),
            Value::Decimal(v) => Some(*v as f64 / DECIMAL_ONE as f64),
            Value::Bool(v) => Some(if *v { 1.0 } else { 0.0 }),
            Value::DateTime(v) | Value::Timespan(v) => Some(*v as f64),
            Value::String(s) => s.trim().parse().ok(),
            Value::Dynamic(json) => match json {
                Json::Number(n) => n.as_f64(),
                Json::String(s) => s.trim().parse().ok(),
                Json::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value as an integer, truncating reals.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(i64::from(*v)),
            Value::Long(v) => Some(*v),
            Value::Real(v) => real_to_i64(*v),
            Value::Decimal(v) => i64::try_from(*v / DECIMAL_ONE).ok(),
            Value::Bool(v) => Some(i64::from(*v)),
            Value::DateTime(v) | Value::Timespan(v) => Some(*v),
            Value::String(s) => parse_i64_text(s),
            Value::Dynamic(json) => match json {
                Json::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(real_to_i64)),
                Json::String(s) => parse_i64_text(s),
                Json::Bool(b) => Some(i64::from(*b)),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            Value::Int(v) => Some(*v != 0),
            Value::Long(v) => Some(*v != 0),
            Value::Real(v) => Some(*v != 0.0),
            Value::String(s) => parse_bool_text(s),
            Value::Dynamic(json) => match json {
                Json::Bool(b) => Some(*b),
                Json::Number(n) => n.as_f64().map(|v| v != 0.0),
                Json::String(s) => parse_bool_text(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// Borrowed text of string-like values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::Guid(s) => Some(s),
            Value::Dynamic(Json::String(s)) => Some(s),
            _ => None,
        }
    }

    /// KQL's `tostring`: strings as they are, other values in their text form, null as "".
    pub fn to_kql_string(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(v) => v.to_string(),
            Value::Int(v) => v.to_string(),
            Value::Long(v) => v.to_string(),
            Value::Real(v) => format_real(*v),
            Value::Decimal(v) => format_decimal(*v),
            Value::String(s) | Value::Guid(s) => s.clone(),
            Value::DateTime(v) => format_datetime_ticks(*v),
            Value::Timespan(v) => format_timespan(*v),
            Value::Dynamic(Json::Null) => String::new(),
            Value::Dynamic(Json::String(s)) => s.clone(),
            Value::Dynamic(json) => json.to_string(),
        }
    }

    /// The value inside a dynamic: datetimes and timespans become their text, as in Kusto.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(v) => Json::Bool(*v),
            Value::Int(v) => Json::from(*v),
            Value::Long(v) => Json::from(*v),
            Value::Real(v) => real_json(*v),
            Value::Decimal(v) => real_json(*v as f64 / DECIMAL_ONE as f64),
            Value::String(s) | Value::Guid(s) => Json::String(s.clone()),
            Value::DateTime(v) => Json::String(format_datetime_ticks(*v)),
            Value::Timespan(v) => Json::String(format_timespan(*v)),
            Value::Dynamic(json) => json.clone(),
        }
    }

    /// The KQL type this value has on its own.
    pub fn kql_type(&self) -> KqlType {
        match self {
            Value::Null | Value::Dynamic(_) => KqlType::Dynamic,
            Value::Bool(_) => KqlType::Bool,
            Value::Int(_) => KqlType::Int,
            Value::Long(_) => KqlType::Long,
            Value::Real(_) => KqlType::Real,
            Value::Decimal(_) => KqlType::Decimal,
            Value::String(_) => KqlType::String,
            Value::DateTime(_) => KqlType::DateTime,
            Value::Timespan(_) => KqlType::Timespan,
            Value::Guid(_) => KqlType::Guid,
        }
    }

    /// The Arrow scalar of this value as a column of `ty` (converting where KQL would).
    pub fn to_scalar(&self, ty: KqlType) -> ScalarValue {
        let converted = convert(self, ty);
        match (ty, converted) {
            (KqlType::Bool, Value::Bool(v)) => ScalarValue::Boolean(Some(v)),
            (KqlType::Bool, _) => ScalarValue::Boolean(None),
            (KqlType::Int, Value::Int(v)) => ScalarValue::Int32(Some(v)),
            (KqlType::Int, _) => ScalarValue::Int32(None),
            (KqlType::Long, Value::Long(v)) => ScalarValue::Int64(Some(v)),
            (KqlType::Long, _) => ScalarValue::Int64(None),
            (KqlType::Real, Value::Real(v)) => ScalarValue::Float64(Some(v)),
            (KqlType::Real, _) => ScalarValue::Float64(None),
            (KqlType::Decimal, Value::Decimal(v)) => ScalarValue::Decimal128(Some(v), DECIMAL_PRECISION, DECIMAL_SCALE),
            (KqlType::Decimal, _) => ScalarValue::Decimal128(None, DECIMAL_PRECISION, DECIMAL_SCALE),
            (KqlType::DateTime, Value::DateTime(v)) => ScalarValue::TimestampNanosecond(Some(v), None),
            (KqlType::DateTime, _) => ScalarValue::TimestampNanosecond(None, None),
            (KqlType::Timespan, Value::Timespan(v)) => ScalarValue::DurationNanosecond(Some(v)),
            (KqlType::Timespan, _) => ScalarValue::DurationNanosecond(None),
            (KqlType::String, value) => ScalarValue::Utf8(Some(value.to_kql_string())),
            (KqlType::Guid, Value::Guid(s)) => ScalarValue::Utf8(Some(s)),
            (KqlType::Guid, _) => ScalarValue::Utf8(None),
            (KqlType::Dynamic, Value::Dynamic(Json::Null)) => ScalarValue::Utf8(None),
            (KqlType::Dynamic, Value::Dynamic(json)) => ScalarValue::Utf8(Some(json.to_string())),
            (KqlType::Dynamic, _) => ScalarValue::Utf8(None),
        }
    }

    /// Reads an Arrow scalar of KQL type `ty`.
    pub fn from_scalar(scalar: &ScalarValue, ty: KqlType) -> Result<Value> {
        let array = scalar.to_array_of_size(1)?;
        Ok(ColumnReader::new(&array, ty)?.value(0))
    }
}

fn real_to_i64(v: f64) -> Option<i64> {
    (v.is_finite() && v.abs() < 9.2e18).then_some(v.trunc() as i64)
}

fn parse_i64_text(text: &str) -> Option<i64> {
    let text = text.trim();
    text.parse::<i64>().ok().or_else(|| text.parse::<f64>().ok().and_then(real_to_i64))
}

fn parse_bool_text(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A real as JSON; NaN and infinities, which JSON lacks, as the strings Kusto uses.
pub fn real_json(v: f64) -> Json {
    serde_json::Number::from_f64(v).map(Json::Number).unwrap_or_else(|| Json::String(format_real(v)))
}

/// Kusto's (.NET's) text for a real: the shortest digits that round-trip, in scientific
/// notation (`1E+15`, `1.5E-05`) when the exponent is 15 or more or below -4; `NaN`,
/// `Infinity`, `-Infinity`.
pub fn format_real(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} always writes an exponent");
    let exponent: i32 = exponent.parse().expect("the exponent is an integer");
    if (-4..15).contains(&exponent) {
        format!("{v}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}E{sign}{:02}", exponent.abs())
    }
}

pub fn format_decimal(v: i128) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let whole = (v / DECIMAL_ONE).abs();
    let fraction = (v % DECIMAL_ONE).abs();
    if fraction == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{fraction:0width$}", width = DECIMAL_SCALE as usize);
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

pub fn parse_decimal(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if text.contains(['e', 'E']) {
        let value: f64 = text.parse().ok()?;
        let scaled = (value * DECIMAL_ONE as f64).round();
        return (scaled.abs() < 1.7e38).then(|| if negative { -(scaled as i128) } else { scaled as i128 });
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let kept = &fraction[..fraction.len().min(DECIMAL_SCALE as usize)];
    let fraction: i128 = if kept.is_empty() { 0 } else { kept.parse().ok()? };
    let fraction = fraction * 10i128.pow(DECIMAL_SCALE as u32 - kept.len() as u32);
    let value = whole.checked_mul(DECIMAL_ONE)?.checked_add(fraction)?;
    Some(if negative { -value } else { value })
}

/// KQL's implicit conversion of a value to a type, as the `to*` functions do; `Null` when the
/// value does not convert.
pub fn convert(value: &Value, ty: KqlType) -> Value {
    if value.is_null() {
        return match ty {
            KqlType::String => Value::String(String::new()),
            _ => Value::Null,
        };
    }
    match ty {
        KqlType::Bool => value.as_bool().map(Value::Bool).unwrap_or(Value::Null),
        KqlType::Int => match value {
            Value::Int(v) => Value::Int(*v),
            _ => value.as_i64().map(|v| Value::Int(v as i32)).unwrap_or(Value::Null),
        },
        KqlType::Long => match value {
            Value::DateTime(_) | Value::Timespan(_) => {
                value.as_i64().map(|v| Value::Long(v / 100)).unwrap_or(Value::Null)
            }
            _ => value.as_i64().map(Value::Long).unwrap_or(Value::Null),
        },
        KqlType::Real => match value {
            Value::DateTime(v) | Value::Timespan(v) => Value::Real(*v as f64 / 100.0),
            Value::String(s) => parse_real_text(s).map(Value::Real).unwrap_or(Value::Null),
            Value::Dynamic(Json::String(s)) => parse_real_text(s).map(Value::Real).unwrap_or(Value::Null),
            _ => value.as_f64().map(Value::Real).unwrap_or(Value::Null),
        },
        KqlType::Decimal => match value {
            Value::Decimal(v) => Value::Decimal(*v),
            Value::Int(v) => Value::Decimal(i128::from(*v) * DECIMAL_ONE),
            Value::Long(v) => Value::Decimal(i128::from(*v) * DECIMAL_ONE),
            Value::String(s) => parse_decimal(s).map(Value::Decimal).unwrap_or(Value::Null),
            other => other
                .as_f64()
                .filter(|v| v.is_finite())
                .map(|v| Value::Decimal((v * DECIMAL_ONE as f64).round() as i128))
                .unwrap_or(Value::Null),
        },
        KqlType::String => Value::String(value.to_kql_string()),
        KqlType::DateTime => match value {
            Value::DateTime(v) => Value::DateTime(*v),
            Value::Long(v) => v.checked_mul(100).map(Value::DateTime).unwrap_or(Value::Null),
            Value::Int(v) => Value::DateTime(i64::from(*v) * 100),
            other => other
                .as_str()
                .and_then(vigil_kql_syntax::literal::parse_datetime)
                .map(Value::DateTime)
                .unwrap_or(Value::Null),
        },
        KqlType::Timespan => match value {
            Value::Timespan(v) => Value::Timespan(*v),
            Value::Long(v) => v.checked_mul(100).map(Value::Timespan).unwrap_or(Value::Null),
            Value::Int(v) => Value::Timespan(i64::from(*v) * 100),
            Value::Real(v) => Value::Timespan((*v * 100.0) as i64),
            other => other
                .as_str()
                .and_then(vigil_kql_syntax::literal::parse_timespan)
                .map(Value::Timespan)
                .unwrap_or(Value::Null),
        },
        KqlType::Guid => match value {
            Value::Guid(s) => Value::Guid(s.clone()),
            other => other
                .as_str()
                .and_then(vigil_kql_syntax::literal::normalize_guid)
                .map(Value::Guid)
                .unwrap_or(Value::Null),
        },
        KqlType::Dynamic => match value {
            Value::Dynamic(json) => Value::Dynamic(json.clone()),
            // A string becomes the JSON it holds, as `todynamic` reads it.
            Value::String(text) => match crate::dynamic::parse_json_lenient(text) {
                Json::Null => Value::Null,
                json => Value::Dynamic(json),
            },
            other => Value::Dynamic(other.to_json()),
        },
    }
}

fn parse_real_text(text: &str) -> Option<f64> {
    let text = text.trim();
    match text.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" | "∞" => Some(f64::INFINITY),
        "-inf" | "-infinity" | "-∞" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Typed access to one column of a batch, for row-at-a-time functions.
pub enum ColumnReader<'a> {
    Null,
    Bool(&'a BooleanArray),
    Int(&'a Int32Array),
    Long(&'a Int64Array),
    Real(&'a Float64Array),
    Decimal(&'a Decimal128Array),
    Text(crate::strings::StringColumn<'a>, KqlType),
    DateTime(&'a TimestampNanosecondArray),
    Timespan(&'a DurationNanosecondArray),
}

impl<'a> ColumnReader<'a> {
    pub fn new(array: &'a ArrayRef, ty: KqlType) -> Result<ColumnReader<'a>> {
        Ok(match array.data_type() {
            DataType::Null => ColumnReader::Null,
            DataType::Boolean => ColumnReader::Bool(array.as_boolean()),
            DataType::Int32 => ColumnReader::Int(array.as_primitive()),
            DataType::Int64 => ColumnReader::Long(array.as_primitive()),
            DataType::Float64 => ColumnReader::Real(array.as_primitive()),
            DataType::Decimal128(_, DECIMAL_SCALE) => ColumnReader::Decimal(array.as_primitive()),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                ColumnReader::Text(crate::strings::StringColumn::new(array)?, ty)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => ColumnReader::DateTime(array.as_primitive()),
            DataType::Duration(TimeUnit::Nanosecond) => ColumnReader::Timespan(array.as_primitive()),
            other => {
                return Err(DataFusionError::Internal(format!(
                    "a {} value cannot be stored as Arrow {other}",
                    ty.name()
                )));
            }
        })
    }

    pub fn value(&self, row: usize) -> Value {
        macro_rules! read {
            ($array:expr, $variant:ident) => {
                if $array.is_null(row) { Value::Null } else { Value::$variant($array.value(row)) }
            };
        }
        match self {
            ColumnReader::Null => Value::Null,
            ColumnReader::Bool(a) => read!(a, Bool),
            ColumnReader::Int(a) => read!(a, Int),
            ColumnReader::Long(a) => read!(a, Long),
            ColumnReader::Real(a) => read!(a, Real),
            ColumnReader::Decimal(a) => read!(a, Decimal),
            ColumnReader::DateTime(a) => read!(a, DateTime),
            ColumnReader::Timespan(a) => read!(a, Timespan),
            ColumnReader::Text(strings, ty) => match strings.get(row) {
                None => match ty {
                    KqlType::String => Value::String(String::new()),
                    _ => Value::Null,
                },
                Some(text) => match ty {
                    KqlType::Dynamic => Value::Dynamic(crate::dynamic::parse_json_lenient(text)),
                    KqlType::Guid => Value::Guid(text.to_string()),
                    _ => Value::String(text.to_string()),
                },
            },
        }
    }
}

/// Builds an Arrow array of a KQL type from values, converting each as KQL would.
pub struct ValueBuilder {
    ty: KqlType,
    inner: BuilderKind,
}

enum BuilderKind {
    Bool(BooleanBuilder),
    Int(Int32Builder),
    Long(Int64Builder),
    Real(Float64Builder),
    Decimal(Decimal128Builder),
    Text(StringBuilder),
    DateTime(TimestampNanosecondBuilder),
    Timespan(DurationNanosecondBuilder),
}

impl ValueBuilder {
    pub fn new(ty: KqlType, capacity: usize) -> ValueBuilder {
        let inner = match ty {
            KqlType::Bool => BuilderKind::Bool(BooleanBuilder::with_capacity(capacity)),
            KqlType::Int => BuilderKind::Int(Int32Builder::with_capacity(capacity)),
            KqlType::Long => BuilderKind::Long(Int64Builder::with_capacity(capacity)),
            KqlType::Real => BuilderKind::Real(Float64Builder::with_capacity(capacity)),
            KqlType::Decimal => BuilderKind::Decimal(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(DECIMAL_PRECISION, DECIMAL_SCALE)
                    .expect("valid decimal precision"),
            ),
            KqlType::String | KqlType::Guid | KqlType::Dynamic => {
                BuilderKind::Text(StringBuilder::with_capacity(capacity, capacity * 8))
            }
            KqlType::DateTime => BuilderKind::DateTime(TimestampNanosecondBuilder::with_capacity(capacity)),
            KqlType::Timespan => BuilderKind::Timespan(DurationNanosecondBuilder::with_capacity(capacity)),
        };
        ValueBuilder { ty, inner }
    }

    pub fn append(&mut self, value: &Value) {
        let converted;
        let value = if value.kql_type() == self.ty || matches!(value, Value::Null) {
            value
        } else {
            converted = convert(value, self.ty);
            &converted
        };
        match (&mut self.inner, value) {
            (BuilderKind::Bool(b), Value::Bool(v)) => b.append_value(*v),
            (BuilderKind::Int(b), Value::Int(v)) => b.append_value(*v),
            (BuilderKind::Long(b), Value::Long(v)) => b.append_value(*v),
            (BuilderKind::Real(b), Value::Real(v)) => b.append_value(*v),
            (BuilderKind::Decimal(b), Value::Decimal(v)) => b.append_value(*v),
            (BuilderKind::DateTime(b), Value::DateTime(v)) => b.append_value(*v),
            (BuilderKind::Timespan(b), Value::Timespan(v)) => b.append_value(*v),
            (BuilderKind::Text(b), Value::Dynamic(Json::Null)) => b.append_null(),
            (BuilderKind::Text(b), Value::Dynamic(json)) => b.append_value(json.to_string()),
            (BuilderKind::Text(b), Value::String(s) | Value::Guid(s)) => b.append_value(s),
            (BuilderKind::Text(b), Value::Null) if self.ty == KqlType::String => b.append_value(""),
            (BuilderKind::Bool(b), _) => b.append_null(),
            (BuilderKind::Int(b), _) => b.append_null(),
            (BuilderKind::Long(b), _) => b.append_null(),
            (BuilderKind::Real(b), _) => b.append_null(),
            (BuilderKind::Decimal(b), _) => b.append_null(),
            (BuilderKind::DateTime(b), _) => b.append_null(),
            (BuilderKind::Timespan(b), _) => b.append_null(),
            (BuilderKind::Text(b), _) => b.append_null(),
        }
    }

    /// Appends text to a string, guid or dynamic column without making a `Value` of it; other
    /// columns convert it as `append` would.
    pub fn append_str(&mut self, text: &str) {
        match &mut self.inner {
            BuilderKind::Text(b) => b.append_value(text),
            _ => self.append(&Value::String(text.to_string())),
        }
    }

    pub fn finish(self) -> ArrayRef {
        match self.inner {
            BuilderKind::Bool(mut b) => Arc::new(b.finish()),
            BuilderKind::Int(mut b) => Arc::new(b.finish()),
            BuilderKind::Long(mut b) => Arc::new(b.finish()),
            BuilderKind::Real(mut b) => Arc::new(b.finish()),
            BuilderKind::Decimal(mut b) => Arc::new(b.finish()),
            BuilderKind::Text(mut b) => Arc::new(b.finish()),
            BuilderKind::DateTime(mut b) => Arc::new(b.finish()),
            BuilderKind::Timespan(mut b) => Arc::new(b.finish()),
        }
    }
}

/// An Arrow array of `ty` holding these values.
pub fn values_to_array(values: &[Value], ty: KqlType) -> ArrayRef {
    let mut builder = ValueBuilder::new(ty, values.len());
    for value in values {
        builder.append(value);
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_kql() {
        assert_eq!(convert(&Value::String("42".into()), KqlType::Long), Value::Long(42));
        assert_eq!(convert(&Value::String("not a number".into()), KqlType::Long), Value::Null);
        assert_eq!(convert(&Value::Real(2.9), KqlType::Long), Value::Long(2));
        assert_eq!(convert(&Value::Null, KqlType::String), Value::String(String::new()));
        assert_eq!(convert(&Value::Long(5), KqlType::Dynamic), Value::Dynamic(Json::from(5)));
        assert_eq!(convert(&Value::Dynamic(Json::String("true".into())), KqlType::Bool), Value::Bool(true));
        assert_eq!(
            convert(&Value::String("{\"a\":1}".into()), KqlType::Dynamic),
            Value::Dynamic(serde_json::json!({"a": 1}))
        );
        assert_eq!(
            convert(&Value::String("text".into()), KqlType::Dynamic),
            Value::Dynamic(Json::String("text".into()))
        );
    }

    #[test]
    fn real_text() {
        assert_eq!(format_real(1.0), "1");
        assert_eq!(format_real(0.1), "0.1");
        assert_eq!(format_real(f64::NAN), "NaN");
        assert_eq!(format_real(-f64::INFINITY), "-Infinity");
        assert_eq!(format_real(1e15), "1E+15");
        assert_eq!(format_real(123_456_789_012_345.0), "123456789012345");
        assert_eq!(format_real(123_456_789_012_345_678.0), "1.2345678901234568E+17");
        assert_eq!(format_real(0.0001), "0.0001");
        assert_eq!(format_real(-0.000_015), "-1.5E-05");
        assert_eq!(format_real(1e-300), "1E-300");
    }

    #[test]
    fn decimals_round_trip() {
        assert_eq!(format_decimal(parse_decimal("1.5").unwrap()), "1.5");
        assert_eq!(format_decimal(parse_decimal("-0.25").unwrap()), "-0.25");
        assert_eq!(format_decimal(parse_decimal("12").unwrap()), "12");
    }
}
