//! Numeric functions: arithmetic helpers, rounding and binning, logarithms and trigonometry,
//! statistical distributions, bit operations and unit conversions.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int64Array};
use datafusion::arrow::compute::kernels::cast::cast;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Expr, lit};

use super::conversion::common_type;
use super::units::{self, convert_units};
use super::{arg_as, call_row, expect_numeric};
use crate::registry::{Arg, Registry, TypedExpr};
use crate::types::KqlType;
use crate::udf::{Kernel, KqlUdf};
use crate::value::Value;

use KqlType::{Bool, Long, Real};

/// The two-sided p-value of Welch's t-test for two samples given by mean, variance and size.
pub fn welch_p_value(mean1: f64, variance1: f64, count1: f64, mean2: f64, variance2: f64, count2: f64) -> Option<f64> {
    if count1 < 2.0 || count2 < 2.0 {
        return None;
    }
    let (error1, error2) = (variance1 / count1, variance2 / count2);
    let error = error1 + error2;
    if error <= 0.0 {
        return None;
    }
    let t = (mean1 - mean2) / error.sqrt();
    let freedom = error * error / (error1 * error1 / (count1 - 1.0) + error2 * error2 / (count2 - 1.0));
    Some(regularized_incomplete_beta(freedom / (freedom + t * t), freedom / 2.0, 0.5))
}

pub fn register(r: &mut Registry) {
    macro_rules! real_unary {
        ($($name:literal => $f:expr, $summary:literal;)*) => {$(
            r.scalar($name, 1..=1, $summary, |_, a| {
                expect_numeric($name, 0, &a[0])?;
                Ok(real_map($name, &a[0], $f))
            });
        )*};
    }
    real_unary! {
        "sqrt" => f64::sqrt, "Square root.";
        "exp" => f64::exp, "e raised to the power.";
        "exp2" => f64::exp2, "2 raised to the power.";
        "exp10" => |x: f64| 10f64.powf(x), "10 raised to the power.";
        "log" => f64::ln, "Natural logarithm.";
        "log2" => f64::log2, "Base-2 logarithm.";
        "log10" => f64::log10, "Base-10 logarithm.";
        "sin" => f64::sin, "Sine.";
        "cos" => f64::cos, "Cosine.";
        "tan" => f64::tan, "Tangent.";
        "asin" => f64::asin, "Arc sine.";
        "acos" => f64::acos, "Arc cosine.";
        "atan" => f64::atan, "Arc tangent.";
        "cot" => |x: f64| 1.0 / x.tan(), "Cotangent.";
        "degrees" => f64::to_degrees, "Radians to degrees.";
        "radians" => f64::to_radians, "Degrees to radians.";
        "gamma" => libm::tgamma, "The gamma function.";
        "loggamma" => |x: f64| libm::lgamma(x), "The natural logarithm of the absolute value of the gamma function.";
        "erf" => libm::erf, "The error function.";
        "erfc" => libm::erfc, "The complementary error function.";
    }
    r.scalar("atan2", 2..=2, "The angle of the point (x, y): atan2(y, x).", |_, a| {
        Ok(call_row("atan2", &a, &[Real, Real], Real, |v| match (v[0].as_f64(), v[1].as_f64()) {
            (Some(y), Some(x)) => Value::Real(y.atan2(x)),
            _ => Value::Null,
        }))
    });
    r.scalar("pow", 2..=2, "Raises a number to a power.", |_, a| {
        Ok(call_row("pow", &a, &[Real, Real], Real, |v| match (v[0].as_f64(), v[1].as_f64()) {
            (Some(x), Some(y)) => Value::Real(x.powf(y)),
            _ => Value::Null,
        }))
    });
    r.scalar("around", 3..=3, "Whether a value is within center ± delta: around(value, center, delta).", |_, a| {
        Ok(super::call_row_as_is("around", &a, Bool, |v| {
            // Datetimes and timespans compare exactly, in ticks of 100 ns; numbers as reals.
            let exact = |x: &Value| match x {
                Value::DateTime(t) | Value::Timespan(t) => Some(i128::from(*t)),
                Value::Int(_) | Value::Long(_) => x.as_i64().map(i128::from),
                _ => None,
            };
            match (exact(&v[0]), exact(&v[1]), exact(&v[2])) {
                (Some(x), Some(center), Some(delta)) => Value::Bool((center - delta..=center + delta).contains(&x)),
                _ => match (v[0].as_f64(), v[1].as_f64(), v[2].as_f64()) {
                    (Some(x), Some(center), Some(delta)) => Value::Bool(x >= center - delta && x <= center + delta),
                    _ => Value::Null,
                },
            }
        }))
    });
    r.scalar(
        "welch_test",
        6..=6,
        "The two-sided p-value of Welch's t-test: welch_test(mean1, variance1, count1, mean2, variance2, count2).",
        |_, a| {
            Ok(call_row("welch_test", &a, &[Real; 6], Real, |v| {
                let numbers: Option<Vec<f64>> = v.iter().map(Value::as_f64).collect();
                numbers
                    .and_then(|n| welch_p_value(n[0], n[1], n[2], n[3], n[4], n[5]))
                    .map(Value::Real)
                    .unwrap_or(Value::Null)
            }))
        },
    );
    r.scalar("pi", 0..=0, "The constant π.", |_, _| Ok(TypedExpr::new(lit(std::f64::consts::PI), Real)));
    r.scalar("abs", 1..=1, "Absolute value.", |_, a| {
        let ty = numeric_or_timespan("abs", &a[0])?;
        Ok(super::call_row("abs", &a, &[ty], ty, |v| match &v[0] {
            Value::Int(x) => Value::Int(x.wrapping_abs()),
            Value::Long(x) => Value::Long(x.wrapping_abs()),
            Value::Real(x) => Value::Real(x.abs()),
            Value::Decimal(x) => Value::Decimal(x.abs()),
            Value::Timespan(x) => Value::Timespan(x.wrapping_abs()),
            _ => Value::Null,
        }))
    });
    r.scalar("sign", 1..=1, "-1, 0 or 1 by the sign of a number.", |_, a| {
        expect_numeric("sign", 0, &a[0])?;
        let ty = a[0].ty;
        Ok(super::call_row("sign", &a, &[ty], ty, |v| match &v[0] {
            Value::Int(x) => Value::Int(x.signum()),
            Value::Long(x) => Value::Long(x.signum()),
            Value::Real(x) => Value::Real(if *x == 0.0 { 0.0 } else { x.signum() }),
            Value::Decimal(x) => Value::Decimal(x.signum() * crate::types::DECIMAL_ONE),
            _ => Value::Null,
        }))
    });
    r.scalar("ceiling", 1..=1, "The smallest integer not less than a number.", |_, a| {
        expect_numeric("ceiling", 0, &a[0])?;
        if a[0].ty.is_integer() {
            return Ok(a[0].typed());
        }
        Ok(real_map("ceiling", &a[0], f64::ceil))
    });
    r.scalar("round", 1..=2, "Rounds a number to a precision (digits after the point).", |_, a| {
        expect_numeric("round", 0, &a[0])?;
        let ty = if a[0].ty.is_integer() { a[0].ty } else { Real };
        let types = [ty, Long];
        Ok(call_row("round", &a, &types[..a.len()], ty, |v| {
            let precision = v.get(1).and_then(Value::as_i64).unwrap_or(0);
            match &v[0] {
                Value::Real(x) => Value::Real(round_half_away(*x, precision)),
                Value::Long(x) => Value::Long(round_half_away(*x as f64, precision) as i64),
                Value::Int(x) => Value::Int(round_half_away(f64::from(*x), precision) as i32),
                _ => Value::Null,
            }
        }))
    });
    r.scalar("bin", 2..=2, "Rounds down to a multiple of the bin size (datetimes, timespans, numbers).", |_, a| {
        bin(&a[0], &a[1])
    });
    r.scalar("floor", 1..=2, "Rounds down: to an integer, or to a multiple of a bin size.", |_, a| match a.get(1) {
        Some(size) => bin(&a[0], size),
        None if a[0].ty.is_integer() => Ok(a[0].typed()),
        None => Ok(real_map("floor", &a[0], f64::floor)),
    });
    r.scalar("bin_at", 3..=3, "Rounds down to a bin size, with bins aligned to a fixed point.", |_, a| {
        let ty = a[0].ty;
        match ty {
            KqlType::DateTime | KqlType::Timespan => {
                let types = [ty, KqlType::Timespan, ty];
                Ok(call_row("bin_at", &a, &types, ty, move |v| {
                    let (Some(value), Some(size), Some(fixed)) = (v[0].as_i64(), v[1].as_i64(), v[2].as_i64()) else {
                        return Value::Null;
                    };
                    if size <= 0 {
                        return Value::Null;
                    }
                    let binned = fixed + (value - fixed).div_euclid(size) * size;
                    if ty == KqlType::DateTime { Value::DateTime(binned) } else { Value::Timespan(binned) }
                }))
            }
            _ => {
                expect_numeric("bin_at", 0, &a[0])?;
                let result = if ty.is_integer() && a[1].ty.is_integer() && a[2].ty.is_integer() { Long } else { Real };
                Ok(call_row("bin_at", &a, &[result, result, result], result, |v| {
                    match (v[0].as_f64(), v[1].as_f64(), v[2].as_f64()) {
                        (Some(value), Some(size), Some(fixed)) if size > 0.0 => {
                            let binned = fixed + ((value - fixed) / size).floor() * size;
                            match v[0] {
                                Value::Long(_) => Value::Long(binned as i64),
                                _ => Value::Real(binned),
                            }
                        }
                        _ => Value::Null,
                    }
                }))
            }
        }
    });
    r.scalar("isnan", 1..=1, "True when the number is NaN.", |_, a| {
        Ok(call_row("isnan", &a, &[Real], Bool, |v| {
            v[0].as_f64().map(|x| Value::Bool(x.is_nan())).unwrap_or(Value::Null)
        }))
    });
    r.scalar("isinf", 1..=1, "True when the number is infinite.", |_, a| {
        Ok(call_row("isinf", &a, &[Real], Bool, |v| {
            v[0].as_f64().map(|x| Value::Bool(x.is_infinite())).unwrap_or(Value::Null)
        }))
    });
    r.scalar("isfinite", 1..=1, "True when the number is neither infinite nor NaN.", |_, a| {
        Ok(call_row("isfinite", &a, &[Real], Bool, |v| {
            v[0].as_f64().map(|x| Value::Bool(x.is_finite())).unwrap_or(Value::Null)
        }))
    });
    r.scalar("rand", 0..=1, "A random number: real in [0, 1), or an integer below the argument.", |_, a| {
        let bound = a.first().and_then(Arg::constant_i64);
        let ty = if bound.is_some() { Long } else { Real };
        let kernel = Kernel::Row(Arc::new(move |_: &[Value]| {
            let mut bytes = [0u8; 8];
            super::strings::fill_random(&mut bytes);
            let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
            match bound {
                Some(n) if n > 0 => Value::Long((unit * n as f64) as i64),
                Some(_) => Value::Long(0),
                None => Value::Real(unit),
            }
        }));
        Ok(TypedExpr::new(KqlUdf::new("rand", vec![], ty, kernel).volatile().call(vec![]), ty))
    });
    r.scalar("max_of", 1..=64, "The largest argument, ignoring nulls.", |_, a| extreme_of(a, true));
    r.scalar("min_of", 1..=64, "The smallest argument, ignoring nulls.", |_, a| extreme_of(a, false));
    r.scalar("beta_cdf", 3..=3, "The beta cumulative distribution function.", |_, a| {
        Ok(call_row("beta_cdf", &a, &[Real, Real, Real], Real, |v| match reals3(v) {
            Some((x, alpha, beta)) if (0.0..=1.0).contains(&x) && alpha > 0.0 && beta > 0.0 => {
                Value::Real(regularized_incomplete_beta(x, alpha, beta))
            }
            Some(_) => Value::Real(f64::NAN),
            None => Value::Null,
        }))
    });
    r.scalar("beta_pdf", 3..=3, "The beta probability density function.", |_, a| {
        Ok(call_row("beta_pdf", &a, &[Real, Real, Real], Real, |v| match reals3(v) {
            Some((x, alpha, beta)) if (0.0..=1.0).contains(&x) && alpha > 0.0 && beta > 0.0 => {
                let log_density = (alpha - 1.0) * x.ln() + (beta - 1.0) * (1.0 - x).ln() - log_beta(alpha, beta);
                Value::Real(log_density.exp())
            }
            Some(_) => Value::Real(f64::NAN),
            None => Value::Null,
        }))
    });
    r.scalar("beta_inv", 3..=3, "The inverse of the beta cumulative distribution function.", |_, a| {
        Ok(call_row("beta_inv", &a, &[Real, Real, Real], Real, |v| match reals3(v) {
            Some((p, _, _)) if !(0.0..=1.0).contains(&p) => Value::Null,
            Some((p, alpha, beta)) if alpha > 0.0 && beta > 0.0 => Value::Real(inverse_beta(p, alpha, beta)),
            Some(_) => Value::Real(f64::NAN),
            None => Value::Null,
        }))
    });
    macro_rules! binary_bits {
        ($($name:literal => $f:expr;)*) => {$(
            r.scalar($name, 2..=2, "Bitwise operation on two integers.", |_, a| {
                Ok(call_row($name, &a, &[Long, Long], Long, |v| match (v[0].as_i64(), v[1].as_i64()) {
                    (Some(x), Some(y)) => Value::Long($f(x, y)),
                    _ => Value::Null,
                }))
            });
        )*};
    }
    binary_bits! {
        "binary_and" => |x: i64, y: i64| x & y;
        "binary_or" => |x: i64, y: i64| x | y;
        "binary_xor" => |x: i64, y: i64| x ^ y;
        "binary_shift_left" => |x: i64, y: i64| if (0..64).contains(&y) { x.wrapping_shl(y as u32) } else { 0 };
        "binary_shift_right" => |x: i64, y: i64| if (0..64).contains(&y) { x.wrapping_shr(y as u32) } else { 0 };
    }
    r.scalar("binary_not", 1..=1, "Bitwise negation.", |_, a| {
        Ok(call_row("binary_not", &a, &[Long], Long, |v| v[0].as_i64().map(|x| Value::Long(!x)).unwrap_or(Value::Null)))
    });
    r.scalar("bitset_count_ones", 1..=1, "The number of set bits.", |_, a| {
        Ok(call_row("bitset_count_ones", &a, &[Long], Long, |v| {
            v[0].as_i64().map(|x| Value::Long(i64::from(x.count_ones()))).unwrap_or(Value::Null)
        }))
    });
    macro_rules! unit_conversion {
        ($($name:literal, $description:literal => $convert:expr;)*) => {$(
            r.scalar($name, 3..=3, $description, |_, a| {
                Ok(call_row($name, &a, &[Real, KqlType::String, KqlType::String], Real, |v| {
                    let convert: fn(f64, &str, &str) -> Option<f64> = $convert;
                    let (Some(x), Some(from), Some(to)) = (v[0].as_f64(), v[1].as_str(), v[2].as_str()) else { return Value::Null };
                    convert(x, from, to).map(Value::Real).unwrap_or(Value::Null)
                }))
            });
        )*};
    }
    unit_conversion! {
        "convert_angle", "Converts an angle between units." => units::convert_angle;
        "convert_energy", "Converts an energy between units." =>
            |x, from, to| convert_units(units::ENERGY, x, from, to);
        "convert_force", "Converts a force between units." =>
            |x, from, to| convert_units(units::FORCE, x, from, to);
        "convert_length", "Converts a length between units." =>
            |x, from, to| convert_units(units::LENGTH, x, from, to);
        "convert_mass", "Converts a mass between units." =>
            |x, from, to| convert_units(units::MASS, x, from, to);
        "convert_speed", "Converts a speed between units." =>
            |x, from, to| convert_units(units::SPEED, x, from, to);
        "convert_volume", "Converts a volume between units." =>
            |x, from, to| convert_units(units::VOLUME, x, from, to);
        "convert_temperature", "Converts a temperature between units." => units::convert_temperature;
    }
}

fn numeric_or_timespan(function: &str, arg: &Arg) -> Result<KqlType, String> {
    match arg.ty {
        ty if ty.is_numeric() || ty == KqlType::Timespan => Ok(ty),
        KqlType::Dynamic => Ok(Real),
        other => Err(format!("{function}() takes a number or a timespan, not {other}")),
    }
}

fn reals3(v: &[Value]) -> Option<(f64, f64, f64)> {
    Some((v[0].as_f64()?, v[1].as_f64()?, v[2].as_f64()?))
}

/// Rounds half away from zero, as .NET's Math.Round with MidpointRounding.AwayFromZero.
fn round_half_away(x: f64, precision: i64) -> f64 {
    let factor = 10f64.powi(precision.clamp(-300, 300) as i32);
    (x * factor).round() / factor
}

/// A vectorized f64 → f64 function; integer input is widened to real first.
fn real_map(name: &str, arg: &Arg, f: fn(f64) -> f64) -> TypedExpr {
    let kernel = Kernel::Batch(Arc::new(move |args: &[ColumnarValue], rows| {
        let array = args[0].to_array(rows)?;
        let reals = cast(&array, &datafusion::arrow::datatypes::DataType::Float64)?;
        let reals = reals.as_any().downcast_ref::<Float64Array>().expect("cast to Float64");
        let result: Float64Array = datafusion::arrow::compute::kernels::arity::unary(reals, f);
        scalar_or_array(&args[0], Arc::new(result))
    }));
    let expr = KqlUdf::new(name, vec![Real], Real, kernel).call(vec![arg_as(arg, Real)]);
    TypedExpr::new(expr, Real)
}

fn scalar_or_array(input: &ColumnarValue, result: ArrayRef) -> Result<ColumnarValue> {
    match input {
        ColumnarValue::Scalar(_) => Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)),
        ColumnarValue::Array(_) => Ok(ColumnarValue::Array(result)),
    }
}

/// `bin(value, size)`: datetimes and timespans by a timespan, numbers by a number.
pub fn bin(value: &Arg, size: &Arg) -> Result<TypedExpr, String> {
    match value.ty {
        KqlType::DateTime | KqlType::Timespan => {
            let ty = value.ty;
            let size_expr = arg_as(size, KqlType::Timespan);
            let kernel =
                Kernel::Batch(Arc::new(move |args: &[ColumnarValue], rows| bin_ticks(&args[0], &args[1], rows, ty)));
            let expr =
                KqlUdf::new("bin", vec![ty, KqlType::Timespan], ty, kernel).call(vec![value.expr.clone(), size_expr]);
            Ok(TypedExpr::new(expr, ty))
        }
        ty if ty.is_numeric() || ty == KqlType::Dynamic => {
            let result = if ty.is_integer() && size.ty.is_integer() { Long } else { Real };
            let args = [value.clone(), size.clone()];
            Ok(call_row("bin", &args, &[result, result], result, |v| match (&v[0], &v[1]) {
                (Value::Long(x), Value::Long(s)) if *s > 0 => Value::Long(x.div_euclid(*s) * s),
                (x, s) => match (x.as_f64(), s.as_f64()) {
                    (Some(x), Some(s)) if s > 0.0 => {
                        let binned = (x / s).floor() * s;
                        if matches!(v[0], Value::Long(_)) { Value::Long(binned as i64) } else { Value::Real(binned) }
                    }
                    _ => Value::Null,
                },
            }))
        }
        other => Err(format!("bin() cannot round a {other}; it takes a number, datetime or timespan")),
    }
}

/// Floors nanosecond values to multiples of a nanosecond bin size, on whole arrays.
fn bin_ticks(values: &ColumnarValue, size: &ColumnarValue, rows: usize, ty: KqlType) -> Result<ColumnarValue> {
    let to_i64 = |v: &ColumnarValue, n: usize| -> Result<Int64Array> {
        let array = v.to_array(n)?;
        let longs = cast(&array, &datafusion::arrow::datatypes::DataType::Int64)?;
        Ok(longs.as_any().downcast_ref::<Int64Array>().expect("cast to Int64").clone())
    };
    let result: Int64Array = match size {
        ColumnarValue::Scalar(scalar) => {
            let step = match scalar {
                ScalarValue::DurationNanosecond(Some(step)) => *step,
                _ => 0,
            };
            let values = to_i64(values, rows)?;
            if step <= 0 {
                Int64Array::new_null(values.len())
            } else {
                datafusion::arrow::compute::kernels::arity::unary(&values, |v| v - v.rem_euclid(step))
            }
        }
        ColumnarValue::Array(_) => {
            let values = to_i64(values, rows)?;
            let steps = to_i64(size, rows)?;
            values
                .iter()
                .zip(steps.iter())
                .map(|(v, s)| match (v, s) {
                    (Some(v), Some(s)) if s > 0 => Some(v - v.rem_euclid(s)),
                    _ => None,
                })
                .collect()
        }
    };
    let result = cast(&result, &ty.arrow())?;
    match values {
        ColumnarValue::Scalar(_) if matches!(size, ColumnarValue::Scalar(_)) => {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        }
        _ => Ok(ColumnarValue::Array(result)),
    }
}

fn extreme_of(args: Vec<Arg>, max: bool) -> Result<TypedExpr, String> {
    let ty = common_type(args.iter().map(|a| (a.ty, super::conversion::is_null_constant(a))))?;
    let exprs: Vec<Expr> = args.iter().map(|a| arg_as(a, ty)).collect();
    let expr = if max {
        datafusion::functions::core::expr_fn::greatest(exprs)
    } else {
        datafusion::functions::core::expr_fn::least(exprs)
    };
    Ok(TypedExpr::new(expr, ty))
}

fn log_beta(a: f64, b: f64) -> f64 {
    libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b)
}

/// I_x(a, b) by the continued fraction of Numerical Recipes (Lentz's method).
pub fn regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (a * x.ln() + b * (1.0 - x).ln() - log_beta(a, b)).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_continued_fraction(1.0 - x, b, a) / b
    }
}

fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The x with I_x(a, b) = p, by bisection (monotone, and exact to the last bits).
fn inverse_beta(p: f64, a: f64, b: f64) -> f64 {
    let (mut low, mut high) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let middle = (low + high) / 2.0;
        if regularized_incomplete_beta(middle, a, b) < p {
            low = middle;
        } else {
            high = middle;
        }
    }
    (low + high) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_p_values_match_the_t_distribution() {
        // Equal means give 1.
        assert!((welch_p_value(5.0, 1.0, 10.0, 5.0, 1.0, 10.0).unwrap() - 1.0).abs() < 1e-12);
        let p = welch_p_value(1.0, 1.0, 6.0, 0.0, 1.0, 6.0).unwrap();
        // t = 1.7321, df = 10: two-sided p = 0.11393.
        assert!((p - 0.113_93).abs() < 5e-5, "{p}");
        let tiny = welch_p_value(5.0, 20.0, 1000.0, 7.0, 25.0, 1000.0).unwrap();
        assert!(tiny > 0.0 && tiny < 1e-18, "{tiny}");
        assert_eq!(welch_p_value(1.0, 1.0, 1.0, 0.0, 1.0, 5.0), None);
    }

    #[test]
    fn beta_functions_match_the_reference() {
        assert!((regularized_incomplete_beta(0.9, 10.0, 20.0) - 0.999_999_999_999_959).abs() < 1e-12);
        assert!((inverse_beta(0.1, 10.0, 20.0) - 0.226_415_022_388_749).abs() < 1e-9);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_half_away(2.5, 0), 3.0);
        assert_eq!(round_half_away(-2.5, 0), -3.0);
        assert_eq!(round_half_away(2.125, 2), 2.13);
    }
}
