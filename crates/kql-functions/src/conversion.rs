//! Converting expressions between KQL types, as the `to*` functions and KQL's implicit
//! conversions do. Cheap conversions become Arrow casts; the rest use KQL's parsing rules.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Cast, ColumnarValue, Expr, TryCast, lit};

use crate::dynamic::{json_slice_to_dynamic, json_slice_to_string};
use crate::registry::TypedExpr;
use crate::strings::StringColumn;
use crate::types::KqlType;
use crate::udf::{Kernel, KqlUdf, row_call};
use crate::value::{Value, convert as convert_value, format_real};

/// `expr` converted to `to`, with KQL's rules: values that do not convert become null
/// (strings become empty).
pub fn convert(expr: TypedExpr, to: KqlType) -> Expr {
    let from = expr.ty;
    if from == to {
        return expr.expr;
    }
    if let Expr::Literal(scalar, _) = &expr.expr
        && let Ok(value) = Value::from_scalar(scalar, from)
    {
        return lit(convert_value(&value, to).to_scalar(to));
    }
    use KqlType::*;
    match (from, to) {
        (Int | Long | Real | Decimal | Bool, Long | Real | Int | Decimal) if from != Bool || to != Decimal => {
            if from == Real && matches!(to, Int | Long) {
                Expr::TryCast(TryCast::new(Box::new(expr.expr), to.arrow()))
            } else {
                cast(expr.expr, to)
            }
        }
        (Int | Long, String) | (Bool, String) | (Guid, String) => {
            let casted = cast(expr.expr, String);
            if from == Guid { coalesce_empty(casted) } else { casted }
        }
        (DateTime, Long) | (Timespan, Long) => cast(expr.expr, Long) / lit(100i64),
        (Long, DateTime) => Expr::Cast(Cast::new(Box::new(expr.expr * lit(100i64)), DateTime.arrow())),
        (Long, Timespan) => Expr::Cast(Cast::new(Box::new(expr.expr * lit(100i64)), Timespan.arrow())),
        (Dynamic, String) => dynamic_to_string(expr.expr),
        (String, Dynamic) => string_to_dynamic(expr.expr),
        (Dynamic, Long) => dynamic_to_long(expr.expr),
        _ => row_call(&format!("to{}", to.name()), vec![expr.expr], vec![from], to, move |args| {
            convert_value(&args[0], to)
        }),
    }
}

fn cast(expr: Expr, to: KqlType) -> Expr {
    Expr::Cast(Cast::new(Box::new(expr), to.arrow()))
}

/// KQL strings are never null: a null from a conversion reads as empty.
pub fn coalesce_empty(expr: Expr) -> Expr {
    datafusion::functions::core::expr_fn::coalesce(vec![expr, lit("")])
}

/// `tostring(dynamic)`: a JSON string's text, other values as JSON text, null as empty.
pub fn dynamic_to_string(expr: Expr) -> Expr {
    let kernel = Kernel::Batch(Arc::new(|args: &[ColumnarValue], _rows| {
        map_text_column(&args[0], |text, out| match text {
            Some(text) => out.append_value(json_slice_to_string(text)),
            None => out.append_value(""),
        })
    }));
    KqlUdf::new("tostring", vec![KqlType::Dynamic], KqlType::String, kernel).call(vec![expr])
}

/// `todynamic(string)`/`parse_json`: JSON text as is (compacted), other text as a JSON string.
pub fn string_to_dynamic(expr: Expr) -> Expr {
    let kernel = Kernel::Batch(Arc::new(|args: &[ColumnarValue], _rows| {
        map_text_column(&args[0], |text, out| match text.and_then(crate::dynamic::to_dynamic_text) {
            Some(json) => out.append_value(json),
            None => out.append_null(),
        })
    }));
    KqlUdf::new("todynamic", vec![KqlType::String], KqlType::Dynamic, kernel).call(vec![expr])
}

fn dynamic_to_long(expr: Expr) -> Expr {
    let kernel = Kernel::Batch(Arc::new(|args: &[ColumnarValue], rows| {
        let array = args[0].to_array(rows)?;
        let strings = StringColumn::new(&array)?;
        let values: Int64Array = (0..strings.len())
            .map(|row| {
                let text = strings.get(row)?;
                if let Ok(v) = text.parse::<i64>() {
                    return Some(v);
                }
                convert_value(&Value::Dynamic(crate::dynamic::parse_json_lenient(text)), KqlType::Long).as_i64()
            })
            .collect();
        scalar_if_scalar(&args[0], Arc::new(values))
    }));
    KqlUdf::new("tolong", vec![KqlType::Dynamic], KqlType::Long, kernel).call(vec![expr])
}

/// `tostring(real)` with Kusto's formatting (`1`, not `1.0`).
pub fn real_to_string(expr: Expr) -> Expr {
    row_call("tostring", vec![expr], vec![KqlType::Real], KqlType::String, |args| match &args[0] {
        Value::Real(v) => Value::String(format_real(*v)),
        _ => Value::String(String::new()),
    })
}

/// Applies `f` to each text of a string column (or scalar), building a UTF-8 result.
pub fn map_text_column(
    arg: &ColumnarValue,
    mut f: impl FnMut(Option<&str>, &mut StringBuilder),
) -> Result<ColumnarValue> {
    match arg {
        ColumnarValue::Scalar(scalar) => {
            let mut builder = StringBuilder::with_capacity(1, 16);
            let text = scalar_text(scalar);
            f(text.as_deref(), &mut builder);
            let array = builder.finish();
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?))
        }
        ColumnarValue::Array(array) => {
            let strings = StringColumn::new(array)?;
            let mut builder = StringBuilder::with_capacity(strings.len(), strings.len() * 16);
            for row in 0..strings.len() {
                f(strings.get(row), &mut builder);
            }
            Ok(ColumnarValue::Array(Arc::new(builder.finish())))
        }
    }
}

/// The text of a string scalar of any layout.
pub fn scalar_text(scalar: &ScalarValue) -> Option<String> {
    match scalar {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.clone(),
        ScalarValue::Null => None,
        other => Some(other.to_string()),
    }
}

/// Returns `array` as a scalar when the input was a scalar, else as an array.
pub fn scalar_if_scalar(input: &ColumnarValue, array: ArrayRef) -> Result<ColumnarValue> {
    match input {
        ColumnarValue::Scalar(_) => Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)),
        ColumnarValue::Array(_) => Ok(ColumnarValue::Array(array)),
    }
}

/// The JSON text of a dynamic value slice as a dynamic column value.
pub fn slice_to_dynamic(slice: Option<&str>) -> Option<String> {
    slice.and_then(json_slice_to_dynamic)
}

/// True when an Arrow type is one of the string layouts.
pub fn is_string_type(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}
