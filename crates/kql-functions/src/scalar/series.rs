//! The `series_*` functions over dynamic arrays of numbers: element-wise arithmetic,
//! filling, filtering, regression, seasonality and anomaly detection.

use serde_json::{Map, Value as Json};

use super::strings::array_of;
use super::{call_row, call_row_as_is};
use crate::registry::Registry;
use crate::types::KqlType;
use crate::value::{Value, real_json};

use KqlType::Dynamic;

/// The numbers of a series; non-numbers (nulls, text) are `None`.
pub fn numbers(value: &Value) -> Option<Vec<Option<f64>>> {
    Some(array_of(value)?.iter().map(Json::as_f64).collect())
}

fn reals(values: &[Option<f64>]) -> Json {
    Json::Array(values.iter().map(|v| v.map(real_json).unwrap_or(Json::Null)).collect())
}

fn real_series(values: impl IntoIterator<Item = f64>) -> Json {
    Json::Array(values.into_iter().map(real_json).collect())
}

/// A second operand: a series, or a scalar applied to every element.
fn operand(value: &Value, len: usize) -> Option<Vec<Option<f64>>> {
    match value {
        Value::Dynamic(Json::Array(_)) => numbers(value),
        other => Some(vec![other.as_f64(); len]),
    }
}

fn elementwise(v: &[Value], f: fn(f64, f64) -> Json) -> Value {
    let Some(left) = numbers(&v[0]) else { return Value::Null };
    let Some(right) = operand(&v[1], left.len()) else { return Value::Null };
    let len = left.len().max(right.len());
    let items = (0..len)
        .map(|i| match (left.get(i).copied().flatten(), right.get(i).copied().flatten()) {
            (Some(a), Some(b)) => f(a, b),
            _ => Json::Null,
        })
        .collect();
    Value::Dynamic(Json::Array(items))
}

fn unary(v: &[Value], f: fn(f64) -> f64) -> Value {
    match numbers(&v[0]) {
        Some(values) => Value::Dynamic(reals(&values.iter().map(|x| x.map(f)).collect::<Vec<_>>())),
        None => Value::Null,
    }
}

fn present(values: &[Option<f64>]) -> Vec<f64> {
    values.iter().flatten().copied().collect()
}

/// Sample statistics as `series_stats` reports them.
pub fn stats(values: &[Option<f64>]) -> Map<String, Json> {
    let mut bag = Map::new();
    let present_values: Vec<(usize, f64)> = values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    let n = present_values.len() as f64;
    let min = present_values.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
    let max = present_values.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
    let sum: f64 = present_values.iter().map(|(_, v)| v).sum();
    let avg = sum / n;
    let variance =
        if n > 1.0 { present_values.iter().map(|(_, v)| (v - avg).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    let optional = |x: Option<f64>| x.map(real_json).unwrap_or(Json::Null);
    bag.insert("min".into(), optional(min.map(|m| m.1)));
    bag.insert("min_idx".into(), min.map(|m| Json::from(m.0)).unwrap_or(Json::Null));
    bag.insert("max".into(), optional(max.map(|m| m.1)));
    bag.insert("max_idx".into(), max.map(|m| Json::from(m.0)).unwrap_or(Json::Null));
    bag.insert("avg".into(), optional((n > 0.0).then_some(avg)));
    bag.insert("stdev".into(), optional((n > 0.0).then_some(variance.sqrt())));
    bag.insert("variance".into(), optional((n > 0.0).then_some(variance)));
    bag
}

/// Least-squares line through `(i, y_i)`: slope, intercept, and the fit's quality.
struct LineFit {
    slope: f64,
    intercept: f64,
    rsquare: f64,
    variance: f64,
    rvariance: f64,
}

fn fit_line(values: &[f64], offset: usize) -> LineFit {
    let n = values.len() as f64;
    let xs: Vec<f64> = (0..values.len()).map(|i| (i + offset) as f64).collect();
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = values.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mean_x).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(values).map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let slope = if sxx == 0.0 { 0.0 } else { sxy / sxx };
    let intercept = mean_y - slope * mean_x;
    let ss_total: f64 = values.iter().map(|y| (y - mean_y).powi(2)).sum();
    let ss_residual: f64 = xs.iter().zip(values).map(|(x, y)| (y - (slope * x + intercept)).powi(2)).sum();
    let rsquare = if ss_total == 0.0 { 1.0 } else { 1.0 - ss_residual / ss_total };
    let divisor = if n > 1.0 { n - 1.0 } else { 1.0 };
    LineFit { slope, intercept, rsquare, variance: ss_total / divisor, rvariance: ss_residual / divisor }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// Outlier scores by Tukey's fences: 0 inside `[Q_low, Q_high]`, else the distance beyond
/// the fence in units of the inter-quantile range.
fn tukey_scores(values: &[f64], low_q: f64, high_q: f64) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (low, high) = (quantile(&sorted, low_q), quantile(&sorted, high_q));
    let range = high - low;
    values
        .iter()
        .map(|v| {
            if range == 0.0 {
                0.0
            } else if *v > high {
                (v - high) / range
            } else if *v < low {
                (v - low) / range
            } else {
                0.0
            }
        })
        .collect()
}

/// The dominant period of a series by autocorrelation, when it explains enough of it. A
/// period is only trusted when the series holds at least four cycles of it, and periods below
/// four points are too short to tell from noise.
fn detect_period(values: &[f64], threshold: f64) -> Option<usize> {
    const MIN_PERIOD: usize = 4;
    const MIN_CYCLES: usize = 4;
    let n = values.len();
    if n < MIN_PERIOD * MIN_CYCLES {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let denominator: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    if denominator == 0.0 {
        return None;
    }
    let mut best: Option<(usize, f64)> = None;
    for period in MIN_PERIOD..=n / MIN_CYCLES {
        let numerator: f64 = (0..n - period).map(|i| (values[i] - mean) * (values[i + period] - mean)).sum();
        let score = numerator / denominator * n as f64 / (n - period) as f64;
        if score >= threshold && best.is_none_or(|(_, s)| score > s + 1e-9) {
            best = Some((period, score));
        }
    }
    best.map(|(period, _)| period)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    quantile(values, 0.5)
}

/// The seasonal component: the median of each phase of the period.
fn seasonal(values: &[f64], period: usize) -> Vec<f64> {
    if period < 2 {
        return vec![0.0; values.len()];
    }
    let medians: Vec<f64> = (0..period)
        .map(|phase| {
            let mut phase_values: Vec<f64> = values.iter().skip(phase).step_by(period).copied().collect();
            median(&mut phase_values)
        })
        .collect();
    (0..values.len()).map(|i| medians[i % period]).collect()
}

/// Baseline, seasonal, trend and residual of `series_decompose`.
fn decompose(values: &[f64], seasonality: i64, trend: &str) -> [Vec<f64>; 4] {
    let period = match seasonality {
        -1 => detect_period(values, 0.6).unwrap_or(0),
        p if p > 1 => p as usize,
        _ => 0,
    };
    let seasonal_part = seasonal(values, period);
    let deseasoned: Vec<f64> = values.iter().zip(&seasonal_part).map(|(v, s)| v - s).collect();
    let trend_part: Vec<f64> = match trend {
        "none" => vec![0.0; values.len()],
        "avg" => vec![deseasoned.iter().sum::<f64>() / deseasoned.len().max(1) as f64; values.len()],
        _ => {
            let fit = fit_line(&deseasoned, 0);
            (0..values.len()).map(|i| fit.slope * i as f64 + fit.intercept).collect()
        }
    };
    let baseline: Vec<f64> = seasonal_part.iter().zip(&trend_part).map(|(s, t)| s + t).collect();
    let residual: Vec<f64> = values.iter().zip(&baseline).map(|(v, b)| v - b).collect();
    [baseline, seasonal_part, trend_part, residual]
}

fn bag(entries: Vec<(&str, Json)>) -> Value {
    Value::Dynamic(Json::Object(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn filled(values: &[Value], index: usize) -> Option<Vec<f64>> {
    numbers(&values[index]).map(|v| v.into_iter().map(|x| x.unwrap_or(0.0)).collect())
}

/// Least-squares polynomial of `degree` through `(x_i, y_i)`, by Householder QR of the
/// Vandermonde matrix (better conditioned than the normal equations). Coefficients are returned
/// from the highest power down, as Kusto's `series_fit_poly` does; `None` when there are fewer
/// points than coefficients.
fn fit_polynomial(xs: &[f64], ys: &[f64], degree: usize) -> Option<Vec<f64>> {
    let (rows, columns) = (ys.len(), degree + 1);
    if rows < columns {
        return None;
    }
    // Column-major Vandermonde matrix: column j holds x^j.
    let mut matrix: Vec<Vec<f64>> = (0..columns).map(|j| xs.iter().map(|x| x.powi(j as i32)).collect()).collect();
    let mut rhs = ys.to_vec();
    for k in 0..columns {
        let norm = matrix[k][k..].iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            return None;
        }
        let alpha = if matrix[k][k] > 0.0 { -norm } else { norm };
        let mut reflector: Vec<f64> = matrix[k][k..].to_vec();
        reflector[0] -= alpha;
        let length = reflector.iter().map(|v| v * v).sum::<f64>();
        if length == 0.0 {
            continue;
        }
        let reflect = |target: &mut [f64]| {
            let dot: f64 = reflector.iter().zip(target.iter()).map(|(a, b)| a * b).sum();
            let factor = 2.0 * dot / length;
            target.iter_mut().zip(&reflector).for_each(|(t, r)| *t -= factor * r);
        };
        for column in matrix.iter_mut().skip(k) {
            reflect(&mut column[k..]);
        }
        reflect(&mut rhs[k..]);
    }
    let mut coefficients = vec![0.0; columns];
    for k in (0..columns).rev() {
        let known: f64 = (k + 1..columns).map(|j| matrix[j][k] * coefficients[j]).sum();
        coefficients[k] = (rhs[k] - known) / matrix[k][k];
    }
    coefficients.reverse();
    Some(coefficients)
}

fn fit_poly_bag(v: &[Value]) -> Value {
    let Some(ys) = filled(v, 0) else { return Value::Null };
    let xs = match v.get(1) {
        Some(Value::Dynamic(Json::Array(_))) => match filled(v, 1) {
            Some(xs) if xs.len() == ys.len() => xs,
            _ => return Value::Null,
        },
        _ => (1..=ys.len()).map(|i| i as f64).collect(),
    };
    let degree = v.get(2).and_then(Value::as_i64).unwrap_or(1);
    let Some(coefficients) = usize::try_from(degree).ok().and_then(|d| fit_polynomial(&xs, &ys, d)) else {
        return Value::Null;
    };
    let fitted: Vec<f64> = xs.iter().map(|x| coefficients.iter().fold(0.0, |sum, c| sum * x + c)).collect();
    let n = ys.len() as f64;
    let mean = ys.iter().sum::<f64>() / n;
    let ss_total: f64 = ys.iter().map(|y| (y - mean).powi(2)).sum();
    let ss_residual: f64 = ys.iter().zip(&fitted).map(|(y, f)| (y - f).powi(2)).sum();
    let divisor = if n > 1.0 { n - 1.0 } else { 1.0 };
    bag(vec![
        ("rsquare", real_json(if ss_total == 0.0 { 1.0 } else { 1.0 - ss_residual / ss_total })),
        ("coefficients", real_series(coefficients)),
        ("variance", real_json(ss_total / divisor)),
        ("rvariance", real_json(ss_residual / divisor)),
        ("poly_fit", real_series(fitted)),
    ])
}

/// The discrete Fourier transform of a complex series (`inverse`: the inverse transform,
/// scaled by 1/n). Radix-2 FFT when the length is a power of two, the direct sum otherwise.
fn fourier(real: &[f64], imaginary: &[f64], inverse: bool) -> (Vec<f64>, Vec<f64>) {
    let n = real.len();
    let sign = if inverse { 1.0 } else { -1.0 };
    let (mut re, mut im) = (real.to_vec(), imaginary.to_vec());
    if n.is_power_of_two() && n > 1 {
        let bits = n.trailing_zeros();
        for i in 0..n {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if i < j {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut size = 2;
        while size <= n {
            let angle = sign * 2.0 * std::f64::consts::PI / size as f64;
            for start in (0..n).step_by(size) {
                for k in 0..size / 2 {
                    let (w_re, w_im) = ((angle * k as f64).cos(), (angle * k as f64).sin());
                    let (a, b) = (start + k, start + k + size / 2);
                    let (t_re, t_im) = (w_re * re[b] - w_im * im[b], w_re * im[b] + w_im * re[b]);
                    (re[b], im[b]) = (re[a] - t_re, im[a] - t_im);
                    (re[a], im[a]) = (re[a] + t_re, im[a] + t_im);
                }
            }
            size *= 2;
        }
    } else {
        (re, im) = (0..n)
            .map(|k| {
                (0..n).fold((0.0, 0.0), |(sum_re, sum_im), t| {
                    let angle = sign * 2.0 * std::f64::consts::PI * ((k * t) % n) as f64 / n as f64;
                    let (c, s) = (angle.cos(), angle.sin());
                    (sum_re + real[t] * c - imaginary[t] * s, sum_im + real[t] * s + imaginary[t] * c)
                })
            })
            .unzip();
    }
    if inverse && n > 0 {
        re.iter_mut().chain(im.iter_mut()).for_each(|v| *v /= n as f64);
    }
    (re, im)
}

fn fourier_bag(v: &[Value], inverse: bool) -> Value {
    let Some(real) = filled(v, 0) else { return Value::Null };
    let imaginary = match v.get(1) {
        Some(value @ Value::Dynamic(Json::Array(_))) => match filled(std::slice::from_ref(value), 0) {
            Some(imaginary) if imaginary.len() == real.len() => imaginary,
            _ => return Value::Null,
        },
        _ => vec![0.0; real.len()],
    };
    let (re, im) = fourier(&real, &imaginary, inverse);
    bag(vec![("real", real_series(re)), ("imaginary", real_series(im))])
}

pub fn register(r: &mut Registry) {
    macro_rules! binary {
        ($($name:literal => $f:expr;)*) => {$(
            r.scalar($name, 2..=2, "Element-wise operation on two series (or a series and a number).", |_, a| {
                Ok(call_row_as_is($name, &a, Dynamic, |v| elementwise(v, $f)))
            });
        )*};
    }
    binary! {
        "series_add" => |a, b| real_json(a + b);
        "series_subtract" => |a, b| real_json(a - b);
        "series_multiply" => |a, b| real_json(a * b);
        "series_divide" => |a, b| real_json(a / b);
        "series_pow" => |a, b| real_json(a.powf(b));
        "series_greater" => |a, b| Json::Bool(a > b);
        "series_greater_equals" => |a, b| Json::Bool(a >= b);
        "series_less" => |a, b| Json::Bool(a < b);
        "series_less_equals" => |a, b| Json::Bool(a <= b);
        "series_equals" => |a, b| Json::Bool(a == b);
        "series_not_equals" => |a, b| Json::Bool(a != b);
        "series_max" => |a, b| real_json(a.max(b));
        "series_min" => |a, b| real_json(a.min(b));
    }
    macro_rules! unary_series {
        ($($name:literal => $f:expr;)*) => {$(
            r.scalar($name, 1..=1, "Element-wise function of a series.", |_, a| {
                Ok(call_row($name, &a, &[Dynamic], Dynamic, |v| unary(v, $f)))
            });
        )*};
    }
    unary_series! {
        "series_abs" => f64::abs;
        "series_acos" => f64::acos;
        "series_asin" => f64::asin;
        "series_atan" => f64::atan;
        "series_ceiling" => f64::ceil;
        "series_cos" => f64::cos;
        "series_exp" => f64::exp;
        "series_floor" => f64::floor;
        "series_log" => f64::ln;
        "series_sin" => f64::sin;
        "series_tan" => f64::tan;
    }
    r.scalar("series_sign", 1..=1, "The sign of each element.", |_, a| {
        Ok(call_row("series_sign", &a, &[Dynamic], Dynamic, |v| match numbers(&v[0]) {
            Some(values) => Value::Dynamic(Json::Array(
                values
                    .iter()
                    .map(|x| {
                        x.map(|x| {
                            Json::from(if x > 0.0 {
                                1
                            } else if x < 0.0 {
                                -1
                            } else {
                                0
                            })
                        })
                        .unwrap_or(Json::Null)
                    })
                    .collect(),
            )),
            None => Value::Null,
        }))
    });
    macro_rules! reduce {
        ($($name:literal => $f:expr;)*) => {$(
            r.scalar($name, 1..=1, "A number computed from a series.", |_, a| {
                Ok(call_row($name, &a, &[Dynamic], KqlType::Real, |v| match numbers(&v[0]) {
                    Some(values) => Value::Real($f(&present(&values))),
                    None => Value::Null,
                }))
            });
        )*};
    }
    reduce! {
        "series_sum" => |x: &[f64]| x.iter().sum::<f64>();
        "series_product" => |x: &[f64]| x.iter().product::<f64>();
        "series_magnitude" => |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
    }
    macro_rules! pairwise {
        ($($name:literal => $f:expr;)*) => {$(
            r.scalar($name, 2..=2, "A number computed from two series.", |_, a| {
                Ok(call_row($name, &a, &[Dynamic, Dynamic], KqlType::Real, |v| match (filled(v, 0), filled(v, 1)) {
                    (Some(x), Some(y)) => Value::Real($f(&x, &y)),
                    _ => Value::Null,
                }))
            });
        )*};
    }
    pairwise! {
        "series_dot_product" => |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
        "series_cosine_similarity" => |x: &[f64], y: &[f64]| {
            let dot: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
            let norm = |s: &[f64]| s.iter().map(|v| v * v).sum::<f64>().sqrt();
            dot / (norm(x) * norm(y))
        };
        "series_pearson_correlation" => |x: &[f64], y: &[f64]| {
            let n = x.len().min(y.len()) as f64;
            let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
            let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
            let sx = x.iter().map(|a| (a - mx).powi(2)).sum::<f64>().sqrt();
            let sy = y.iter().map(|b| (b - my).powi(2)).sum::<f64>().sqrt();
            cov / (sx * sy)
        };
    }
    r.scalar("series_stats_dynamic", 1..=2, "Statistics of a series as a property bag.", |_, a| {
        Ok(call_row("series_stats_dynamic", &a[..1], &[Dynamic], Dynamic, |v| match numbers(&v[0]) {
            Some(values) => {
                let mut bag = stats(&values);
                let present = present(&values);
                bag.insert("sum".into(), real_json(present.iter().sum()));
                bag.insert("len".into(), Json::from(values.len()));
                Value::Dynamic(Json::Object(bag))
            }
            None => Value::Null,
        }))
    });
    r.scalar("series_fill_const", 2..=3, "Replaces missing values with a constant.", |_, a| {
        Ok(call_row_as_is("series_fill_const", &a, Dynamic, |v| {
            let Some(items) = array_of(&v[0]) else { return Value::Null };
            let fill = v[1].to_json();
            let missing = v.get(2).map(Value::to_json);
            let result = items
                .iter()
                .map(|item| if is_missing(item, missing.as_ref()) { fill.clone() } else { item.clone() })
                .collect();
            Value::Dynamic(Json::Array(result))
        }))
    });
    r.scalar("series_fill_forward", 1..=2, "Replaces missing values with the previous value.", |_, a| {
        Ok(call_row_as_is("series_fill_forward", &a, Dynamic, |v| fill_direction(v, true)))
    });
    r.scalar("series_fill_backward", 1..=2, "Replaces missing values with the next value.", |_, a| {
        Ok(call_row_as_is("series_fill_backward", &a, Dynamic, |v| fill_direction(v, false)))
    });
    r.scalar("series_fill_linear", 1..=4, "Replaces missing values by linear interpolation.", |_, a| {
        Ok(call_row_as_is("series_fill_linear", &a, Dynamic, |v| {
            let Some(items) = array_of(&v[0]) else { return Value::Null };
            let missing = v.get(1).map(Value::to_json);
            let fill_edges = v.get(2).and_then(Value::as_bool).unwrap_or(true);
            let known: Vec<(usize, f64)> = items
                .iter()
                .enumerate()
                .filter(|(_, x)| !is_missing(x, missing.as_ref()))
                .filter_map(|(i, x)| x.as_f64().map(|f| (i, f)))
                .collect();
            if known.is_empty() {
                // Nothing to interpolate from: the constant (0 unless given; a null keeps the nulls).
                let constant = match v.get(3) {
                    Some(value) => value.to_json(),
                    None => real_json(0.0),
                };
                return Value::Dynamic(Json::Array(vec![constant; items.len()]));
            }
            // An array of integers stays one: interpolated values are truncated.
            let integers = items.iter().filter(|x| !is_missing(x, missing.as_ref())).all(|x| x.is_i64());
            let number = |value: f64| if integers { Json::from(value.trunc() as i64) } else { real_json(value) };
            let result = (0..items.len())
                .map(|i| {
                    if let Some((_, value)) = known.iter().find(|(k, _)| *k == i) {
                        return number(*value);
                    }
                    let before = known.iter().rev().find(|(k, _)| *k < i);
                    let after = known.iter().find(|(k, _)| *k > i);
                    match (before, after) {
                        (Some((i0, y0)), Some((i1, y1))) => number(y0 + (y1 - y0) * (i - i0) as f64 / (i1 - i0) as f64),
                        (Some((_, y)), None) | (None, Some((_, y))) if fill_edges => number(*y),
                        _ => items[i].clone(),
                    }
                })
                .collect();
            Value::Dynamic(Json::Array(result))
        }))
    });
    r.scalar("series_iir", 3..=3, "Applies an infinite impulse response filter.", |_, a| {
        Ok(call_row("series_iir", &a, &[Dynamic, Dynamic, Dynamic], Dynamic, |v| {
            let (Some(x), Some(b), Some(den)) = (filled(v, 0), filled(v, 1), filled(v, 2)) else { return Value::Null };
            if den.is_empty() || den[0] == 0.0 {
                return Value::Null;
            }
            let mut y: Vec<f64> = Vec::with_capacity(x.len());
            for n in 0..x.len() {
                let feed_forward: f64 =
                    b.iter().enumerate().filter(|(k, _)| *k <= n).map(|(k, bk)| bk * x[n - k]).sum();
                let feedback: f64 =
                    den.iter().enumerate().skip(1).filter(|(k, _)| *k <= n).map(|(k, ak)| ak * y[n - k]).sum();
                y.push((feed_forward - feedback) / den[0]);
            }
            Value::Dynamic(real_series(y))
        }))
    });
    r.scalar("series_fir", 2..=4, "Applies a finite impulse response filter.", |_, a| {
        Ok(call_row_as_is("series_fir", &a, Dynamic, |v| {
            let (Some(x), Some(filter)) = (filled(v, 0), filled(v, 1)) else { return Value::Null };
            let normalize = v.get(2).and_then(Value::as_bool).unwrap_or(true);
            let center = v.get(3).and_then(Value::as_bool).unwrap_or(false);
            let sum: f64 = filter.iter().sum();
            let scale = if normalize && sum != 0.0 { sum } else { 1.0 };
            let shift = if center { filter.len() / 2 } else { 0 };
            let y = (0..x.len()).map(|n| {
                let position = n + shift;
                let total: f64 = filter
                    .iter()
                    .enumerate()
                    .filter_map(|(k, f)| position.checked_sub(k).and_then(|i| x.get(i)).map(|xi| f * xi))
                    .sum();
                total / scale
            });
            Value::Dynamic(real_series(y))
        }))
    });
    r.scalar("series_seasonal", 1..=2, "The seasonal component of a series (period detected when -1).", |_, a| {
        Ok(call_row_as_is("series_seasonal", &a, Dynamic, |v| {
            let Some(x) = filled(v, 0) else { return Value::Null };
            let period = match v.get(1).and_then(Value::as_i64).unwrap_or(-1) {
                -1 => detect_period(&x, 0.6).unwrap_or(0),
                p => p.max(0) as usize,
            };
            Value::Dynamic(real_series(seasonal(&x, period)))
        }))
    });
    r.scalar("series_outliers", 1..=5, "Outlier scores of each point by Tukey's test.", |_, a| {
        Ok(call_row_as_is("series_outliers", &a, Dynamic, |v| {
            let Some(x) = filled(v, 0) else { return Value::Null };
            let kind = v.get(1).map(Value::to_kql_string).unwrap_or_else(|| "ctukey".into());
            let low = v.get(3).and_then(Value::as_f64).unwrap_or(10.0) / 100.0;
            let high = v.get(4).and_then(Value::as_f64).unwrap_or(90.0) / 100.0;
            let (low, high) = if kind == "tukey" { (0.25, 0.75) } else { (low, high) };
            Value::Dynamic(real_series(tukey_scores(&x, low, high)))
        }))
    });
    r.scalar_tuple(
        "series_periods_detect",
        4..=6,
        "The most significant periods of a series, and their scores; zeros where fewer are found.",
        // Kusto names the second column `<prefix>_periods_scores`.
        &[("periods", Dynamic), ("periods_scores", Dynamic)],
        |_, a| {
            Ok(call_row_as_is("series_periods_detect", &a, Dynamic, |v| {
                let Some(x) = filled(v, 0) else { return Value::Null };
                let min_period = v[1].as_f64().unwrap_or(2.0).max(2.0) as usize;
                let max_period = v[2].as_f64().unwrap_or(x.len() as f64 / 2.0) as usize;
                let count = v[3].as_i64().unwrap_or(1).clamp(0, 1024) as usize;
                let mut periods: Vec<(f64, f64)> = period_scores(&x, min_period, max_period)
                    .into_iter()
                    .take(count)
                    .map(|(period, score)| (period as f64, score.min(1.0)))
                    .collect();
                periods.resize(count, (0.0, 0.0));
                periods_bag("periods_scores", &periods)
            }))
        },
    );
    r.scalar_tuple(
        "series_periods_validate",
        2..=17,
        "How strongly a series repeats with each of the given periods (scores from 0 to 1).",
        &[("periods", Dynamic), ("scores", Dynamic)],
        |_, a| {
            Ok(call_row_as_is("series_periods_validate", &a, Dynamic, |v| {
                let Some(x) = filled(v, 0) else { return Value::Null };
                let autocorrelation = Autocorrelation::of(&x);
                let scored: Vec<(f64, f64)> = v[1..]
                    .iter()
                    .map(|period| {
                        let period = period.as_f64().unwrap_or(0.0);
                        (period, autocorrelation.at(period.round() as usize).clamp(0.0, 1.0))
                    })
                    .collect();
                periods_bag("scores", &scored)
            }))
        },
    );
    r.scalar_tuple(
        "series_stats",
        1..=2,
        "Statistics of a series: min, min_idx, max, max_idx, avg, stdev, variance.",
        &[
            ("min", KqlType::Real),
            ("min_idx", KqlType::Long),
            ("max", KqlType::Real),
            ("max_idx", KqlType::Long),
            ("avg", KqlType::Real),
            ("stdev", KqlType::Real),
            ("variance", KqlType::Real),
        ],
        |_, a| {
            Ok(call_row("series_stats", &a[..1], &[Dynamic], Dynamic, |v| match numbers(&v[0]) {
                Some(values) => Value::Dynamic(Json::Object(stats(&values))),
                None => Value::Null,
            }))
        },
    );
    r.scalar_tuple(
        "series_fit_line",
        1..=1,
        "Linear regression of a series: rsquare, slope, variance, rvariance, interception, line_fit.",
        &[
            ("rsquare", KqlType::Real),
            ("slope", KqlType::Real),
            ("variance", KqlType::Real),
            ("rvariance", KqlType::Real),
            ("interception", KqlType::Real),
            ("line_fit", Dynamic),
        ],
        |_, a| Ok(call_row("series_fit_line", &a, &[Dynamic], Dynamic, fit_line_bag)),
    );
    r.scalar_tuple(
        "series_fit_poly",
        1..=3,
        "Polynomial regression: series_fit_poly(y [, x, degree]) gives rsquare, coefficients, variance, rvariance, poly_fit.",
        &[
            ("rsquare", KqlType::Real),
            ("coefficients", Dynamic),
            ("variance", KqlType::Real),
            ("rvariance", KqlType::Real),
            ("poly_fit", Dynamic),
        ],
        |_, a| {
            let types = [Dynamic, Dynamic, KqlType::Long];
            Ok(call_row("series_fit_poly", &a, &types[..a.len()], Dynamic, fit_poly_bag))
        },
    );
    r.scalar_tuple(
        "series_fft",
        1..=2,
        "The Fourier transform of a series (real part [, imaginary part]): two series.",
        &[("real", Dynamic), ("imaginary", Dynamic)],
        |_, a| Ok(call_row_as_is("series_fft", &a, Dynamic, |v| fourier_bag(v, false))),
    );
    r.scalar_tuple(
        "series_ifft",
        1..=2,
        "The inverse Fourier transform of a series (real part [, imaginary part]): two series.",
        &[("real", Dynamic), ("imaginary", Dynamic)],
        |_, a| Ok(call_row_as_is("series_ifft", &a, Dynamic, |v| fourier_bag(v, true))),
    );
    r.scalar("series_fit_line_dynamic", 1..=1, "series_fit_line as a property bag.", |_, a| {
        Ok(call_row("series_fit_line_dynamic", &a, &[Dynamic], Dynamic, fit_line_bag))
    });
    r.scalar_tuple(
        "series_fit_2lines",
        1..=1,
        "Two-segment linear regression of a series.",
        &[
            ("rsquare", KqlType::Real),
            ("split_idx", KqlType::Long),
            ("variance", KqlType::Real),
            ("rvariance", KqlType::Real),
            ("line_fit", Dynamic),
            ("right_rsquare", KqlType::Real),
            ("right_slope", KqlType::Real),
            ("right_interception", KqlType::Real),
            ("right_variance", KqlType::Real),
            ("right_rvariance", KqlType::Real),
            ("left_rsquare", KqlType::Real),
            ("left_slope", KqlType::Real),
            ("left_interception", KqlType::Real),
            ("left_variance", KqlType::Real),
            ("left_rvariance", KqlType::Real),
        ],
        |_, a| Ok(call_row("series_fit_2lines", &a, &[Dynamic], Dynamic, fit_2lines_bag)),
    );
    r.scalar("series_fit_2lines_dynamic", 1..=1, "series_fit_2lines as a property bag.", |_, a| {
        Ok(call_row("series_fit_2lines_dynamic", &a, &[Dynamic], Dynamic, fit_2lines_bag))
    });
    r.scalar_tuple(
        "series_decompose",
        1..=5,
        "Decomposes a series into baseline, seasonal, trend and residual.",
        &[("baseline", Dynamic), ("seasonal", Dynamic), ("trend", Dynamic), ("residual", Dynamic)],
        |_, a| {
            Ok(call_row_as_is("series_decompose", &a, Dynamic, |v| {
                let Some(x) = filled(v, 0) else { return Value::Null };
                let seasonality = v.get(1).and_then(Value::as_i64).unwrap_or(-1);
                let trend = v.get(2).map(Value::to_kql_string).unwrap_or_else(|| "avg".into());
                let [baseline, seasonal, trend, residual] = decompose(&x, seasonality, &trend);
                bag(vec![
                    ("baseline", real_series(baseline)),
                    ("seasonal", real_series(seasonal)),
                    ("trend", real_series(trend)),
                    ("residual", real_series(residual)),
                ])
            }))
        },
    );
    r.scalar_tuple(
        "series_decompose_anomalies",
        1..=7,
        "Anomalies of a series: ad_flag (-1, 0, 1), ad_score and baseline.",
        &[("ad_flag", Dynamic), ("ad_score", Dynamic), ("baseline", Dynamic)],
        |_, a| {
            Ok(call_row_as_is("series_decompose_anomalies", &a, Dynamic, |v| {
                let Some(x) = filled(v, 0) else { return Value::Null };
                let threshold = v.get(1).and_then(Value::as_f64).unwrap_or(1.5);
                let seasonality = v.get(2).and_then(Value::as_i64).unwrap_or(-1);
                let trend = v.get(3).map(Value::to_kql_string).unwrap_or_else(|| "linefit".into());
                let method = v.get(5).map(Value::to_kql_string).unwrap_or_else(|| "ctukey".into());
                let [baseline, _, _, residual] = decompose(&x, seasonality, &trend);
                let (low, high) = if method == "tukey" { (0.25, 0.75) } else { (0.1, 0.9) };
                let scores = tukey_scores(&residual, low, high);
                let flags = scores.iter().map(|s| {
                    Json::from(if *s > threshold {
                        1
                    } else if *s < -threshold {
                        -1
                    } else {
                        0
                    })
                });
                bag(vec![
                    ("ad_flag", Json::Array(flags.collect())),
                    ("ad_score", real_series(scores)),
                    ("baseline", real_series(baseline)),
                ])
            }))
        },
    );
    r.scalar_tuple(
        "series_decompose_forecast",
        2..=5,
        "Forecasts a series by decomposition: baseline, seasonal, trend, residual.",
        &[("baseline", Dynamic), ("seasonal", Dynamic), ("trend", Dynamic), ("residual", Dynamic)],
        |_, a| {
            Ok(call_row_as_is("series_decompose_forecast", &a, Dynamic, |v| {
                let Some(x) = filled(v, 0) else { return Value::Null };
                let points = v[1].as_i64().unwrap_or(0).clamp(0, x.len() as i64) as usize;
                let training = &x[..x.len() - points];
                let seasonality = v.get(2).and_then(Value::as_i64).unwrap_or(-1);
                let trend = v.get(3).map(Value::to_kql_string).unwrap_or_else(|| "linefit".into());
                let period = match seasonality {
                    -1 => detect_period(training, 0.6).unwrap_or(0),
                    p => p.max(0) as usize,
                };
                let seasonal_part = seasonal(training, period);
                let deseasoned: Vec<f64> = training.iter().zip(&seasonal_part).map(|(v, s)| v - s).collect();
                let fit = fit_line(&deseasoned, 0);
                let trend_at = |i: usize| if trend == "none" { 0.0 } else { fit.slope * i as f64 + fit.intercept };
                let season_at = |i: usize| if period < 2 { 0.0 } else { seasonal_part[i % period] };
                let baseline: Vec<f64> = (0..x.len()).map(|i| trend_at(i) + season_at(i)).collect();
                bag(vec![
                    ("baseline", real_series(baseline.clone())),
                    ("seasonal", real_series((0..x.len()).map(season_at))),
                    ("trend", real_series((0..x.len()).map(trend_at))),
                    ("residual", real_series(x.iter().zip(&baseline).map(|(a, b)| a - b))),
                ])
            }))
        },
    );
}

fn is_missing(item: &Json, placeholder: Option<&Json>) -> bool {
    match placeholder {
        Some(Json::Null) | None => item.is_null() || item.as_f64().is_some_and(f64::is_nan),
        Some(placeholder) => crate::dynamic::json_equal(item, placeholder),
    }
}

fn fill_direction(v: &[Value], forward: bool) -> Value {
    let Some(items) = array_of(&v[0]) else { return Value::Null };
    let missing = v.get(1).map(Value::to_json);
    let mut result = items.clone();
    let mut last: Option<Json> = None;
    let indexes: Box<dyn Iterator<Item = usize>> =
        if forward { Box::new(0..items.len()) } else { Box::new((0..items.len()).rev()) };
    for i in indexes {
        if is_missing(&items[i], missing.as_ref()) {
            if let Some(value) = &last {
                result[i] = value.clone();
            }
        } else {
            last = Some(items[i].clone());
        }
    }
    Value::Dynamic(Json::Array(result))
}

fn fit_line_bag(v: &[Value]) -> Value {
    let Some(x) = filled(v, 0) else { return Value::Null };
    if x.is_empty() {
        return Value::Null;
    }
    let fit = fit_line(&x, 0);
    let line = (0..x.len()).map(|i| fit.slope * i as f64 + fit.intercept);
    bag(vec![
        ("rsquare", real_json(fit.rsquare)),
        ("slope", real_json(fit.slope)),
        ("variance", real_json(fit.variance)),
        ("rvariance", real_json(fit.rvariance)),
        ("interception", real_json(fit.intercept)),
        ("line_fit", real_series(line)),
    ])
}

fn fit_2lines_bag(v: &[Value]) -> Value {
    let Some(x) = filled(v, 0) else { return Value::Null };
    let n = x.len();
    if n < 4 {
        return Value::Null;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let ss_total: f64 = x.iter().map(|y| (y - mean).powi(2)).sum();
    let mut best: Option<(usize, f64, LineFit, LineFit, f64)> = None;
    for split in 2..=n - 2 {
        let left = fit_line(&x[..split], 0);
        let right = fit_line(&x[split..], split);
        let residual: f64 = (0..n)
            .map(|i| {
                let fit = if i < split { &left } else { &right };
                (x[i] - (fit.slope * i as f64 + fit.intercept)).powi(2)
            })
            .sum();
        let rsquare = if ss_total == 0.0 { 1.0 } else { 1.0 - residual / ss_total };
        if best.as_ref().is_none_or(|b| rsquare > b.1) {
            best = Some((split, rsquare, left, right, residual));
        }
    }
    let (split, rsquare, left, right, residual) = best.expect("at least one split");
    let line = (0..n).map(|i| {
        let fit = if i < split { &left } else { &right };
        fit.slope * i as f64 + fit.intercept
    });
    let divisor = (n - 1) as f64;
    bag(vec![
        ("rsquare", real_json(rsquare)),
        ("split_idx", Json::from(split as i64 - 1)),
        ("variance", real_json(ss_total / divisor)),
        ("rvariance", real_json(residual / divisor)),
        ("line_fit", real_series(line)),
        ("right_rsquare", real_json(right.rsquare)),
        ("right_slope", real_json(right.slope)),
        ("right_interception", real_json(right.intercept)),
        ("right_variance", real_json(right.variance)),
        ("right_rvariance", real_json(right.rvariance)),
        ("left_rsquare", real_json(left.rsquare)),
        ("left_slope", real_json(left.slope)),
        ("left_interception", real_json(left.intercept)),
        ("left_variance", real_json(left.variance)),
        ("left_rvariance", real_json(left.rvariance)),
    ])
}

/// The periods between `min_period` and `max_period` that the series repeats with, best first,
/// scored by the autocorrelation at that lag.
fn period_scores(values: &[f64], min_period: usize, max_period: usize) -> Vec<(usize, f64)> {
    let autocorrelation = Autocorrelation::of(values);
    let mut scores: Vec<(usize, f64)> = (min_period..=max_period.min(values.len().saturating_sub(1)))
        .map(|period| (period, autocorrelation.at(period)))
        .filter(|(_, score)| *score > 0.0)
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    scores
}

/// A series' autocorrelation by lag, with its mean and variance computed once.
struct Autocorrelation<'a> {
    values: &'a [f64],
    mean: f64,
    /// The sum of squared deviations from the mean.
    denominator: f64,
}

impl<'a> Autocorrelation<'a> {
    fn of(values: &'a [f64]) -> Autocorrelation<'a> {
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        let denominator = values.iter().map(|v| (v - mean).powi(2)).sum();
        Autocorrelation { values, mean, denominator }
    }

    /// The autocorrelation at lag `period`, corrected for the shorter overlap; 0 for a constant
    /// series or a lag the series is too short for.
    fn at(&self, period: usize) -> f64 {
        let (values, mean, n) = (self.values, self.mean, self.values.len());
        if period == 0 || period >= n || self.denominator == 0.0 {
            return 0.0;
        }
        let numerator: f64 = (0..n - period).map(|i| (values[i] - mean) * (values[i + period] - mean)).sum();
        numerator / self.denominator * n as f64 / (n - period) as f64
    }
}

fn periods_bag(scores_field: &str, periods: &[(f64, f64)]) -> Value {
    bag(vec![
        ("periods", Json::Array(periods.iter().map(|(period, _)| real_json(*period)).collect())),
        (scores_field, Json::Array(periods.iter().map(|(_, score)| real_json(*score)).collect())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_fit_recovers_exact_coefficients() {
        let xs: Vec<f64> = (0..20).map(|i| f64::from(i) / 4.0 - 2.0).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 2.0 * x.powi(3) - x + 0.5).collect();
        let coefficients = fit_polynomial(&xs, &ys, 3).expect("enough points");
        for (got, want) in coefficients.iter().zip([2.0, 0.0, -1.0, 0.5]) {
            assert!((got - want).abs() < 1e-9, "{coefficients:?}");
        }
        assert_eq!(fit_polynomial(&xs[..3], &ys[..3], 3), None);
    }

    #[test]
    fn fourier_transforms_agree_and_invert() {
        for n in [8usize, 12] {
            let real: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin() + i as f64 / 3.0).collect();
            let imaginary: Vec<f64> = (0..n).map(|i| (i as f64 * 0.3).cos()).collect();
            let (re, im) = fourier(&real, &imaginary, false);
            // The zero frequency is the sum of the series.
            assert!((re[0] - real.iter().sum::<f64>()).abs() < 1e-9);
            assert!((im[0] - imaginary.iter().sum::<f64>()).abs() < 1e-9);
            let (back_re, back_im) = fourier(&re, &im, true);
            for i in 0..n {
                assert!((back_re[i] - real[i]).abs() < 1e-9 && (back_im[i] - imaginary[i]).abs() < 1e-9, "n={n}");
            }
        }
    }

    #[test]
    fn seasonal_component_uses_phase_medians() {
        let series = [
            2.0, 5.0, 3.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0,
            4.0, 3.0, 2.0, 1.0,
        ];
        assert_eq!(detect_period(&series, 0.6), Some(6));
        assert_eq!(detect_period(&[1.0, 3.0, 5.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 2.0, 4.0, 6.0], 0.6), None);
        assert_eq!(&seasonal(&series, 6)[..6], &[1.0, 2.0, 3.0, 4.0, 3.0, 2.0]);
    }

    #[test]
    fn line_fit_of_a_line_is_exact() {
        let fit = fit_line(&[1.0, 3.0, 5.0, 7.0], 0);
        assert!(
            (fit.slope - 2.0).abs() < 1e-12 && (fit.intercept - 1.0).abs() < 1e-12 && (fit.rsquare - 1.0).abs() < 1e-12
        );
    }
}
