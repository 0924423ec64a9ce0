//! Functions on dynamic values: property access, arrays, property bags and sets.

use std::sync::Arc;

use datafusion::logical_expr::{ColumnarValue, Expr};
use serde_json::{Map, Value as Json};

use super::strings::{array_index_of, array_of};
use super::{call_row, call_row_as_is};
use crate::conversion::map_text_column;
use crate::dynamic::{PathStep, extract_path, json_equal, json_slice_to_dynamic, json_slice_to_string};
use crate::registry::Registry;
use crate::types::KqlType;
use crate::udf::{Kernel, KqlUdf};
use crate::value::{Value, real_json};

use KqlType::{Bool, Dynamic, Long, String as Str};

/// `d.a.b[0]`: the value at a constant path, as dynamic.
pub fn path_get(expr: Expr, path: Vec<PathStep>) -> Expr {
    let identity = format!("{path:?}");
    let kernel = Kernel::Batch(Arc::new(move |args: &[ColumnarValue], _rows| {
        map_text_column(&args[0], |text, out| {
            match text.and_then(|t| extract_path(t, &path)).and_then(json_slice_to_dynamic) {
                Some(json) => out.append_value(json),
                None => out.append_null(),
            }
        })
    }));
    KqlUdf::new("dynamic_path", vec![Dynamic], Dynamic, kernel).with_identity(identity).call(vec![expr])
}

/// `tostring(d.a.b)`: the text at a constant path, without building the intermediate value.
pub fn path_get_string(expr: Expr, path: Vec<PathStep>) -> Expr {
    let identity = format!("{path:?}");
    let kernel = Kernel::Batch(Arc::new(move |args: &[ColumnarValue], _rows| {
        map_text_column(&args[0], |text, out| match text.and_then(|t| extract_path(t, &path)) {
            Some(slice) => out.append_value(json_slice_to_string(slice)),
            None => out.append_value(""),
        })
    }));
    KqlUdf::new("dynamic_path_string", vec![Dynamic], Str, kernel).with_identity(identity).call(vec![expr])
}

/// `d[index]` where the index is computed per row.
pub fn index_get(target: Expr, index: Expr, index_type: KqlType) -> Expr {
    crate::udf::row_call("dynamic_index", vec![target, index], vec![Dynamic, index_type], Dynamic, |v| {
        let Value::Dynamic(json) = &v[0] else { return Value::Null };
        let found = match (&v[1], json) {
            (Value::String(key), Json::Object(map)) => map.get(key),
            (index, Json::Array(items)) => index.as_i64().and_then(|i| {
                let i = if i < 0 { items.len() as i64 + i } else { i };
                usize::try_from(i).ok().and_then(|i| items.get(i))
            }),
            _ => None,
        };
        found.map(|j| Value::Dynamic(j.clone())).unwrap_or(Value::Null)
    })
}

pub fn register(r: &mut Registry) {
    r.scalar("array_length", 1..=1, "The number of elements of an array (null when not an array).", |_, a| {
        Ok(call_row("array_length", &a, &[Dynamic], Long, |v| match array_of(&v[0]) {
            Some(items) => Value::Long(items.len() as i64),
            None => Value::Null,
        }))
    });
    r.scalar("pack_array", 1..=64, "An array of the arguments.", |_, a| {
        Ok(call_row_as_is("pack_array", &a, Dynamic, |v| {
            Value::Dynamic(Json::Array(v.iter().map(Value::to_json).collect()))
        }))
    });
    r.scalar("bag_pack", 0..=128, "A property bag of key/value argument pairs.", |_, a| bag_pack(a));
    r.scalar("pack", 0..=128, "Alias of bag_pack.", |_, a| bag_pack(a));
    r.scalar("pack_dictionary", 0..=128, "Alias of bag_pack.", |_, a| bag_pack(a));
    r.scalar("array_concat", 1..=64, "The concatenation of arrays.", |_, a| {
        let types = vec![Dynamic; a.len()];
        Ok(call_row("array_concat", &a, &types, Dynamic, |v| {
            let mut result = Vec::new();
            for value in v {
                match array_of(value) {
                    Some(items) => result.extend(items.iter().cloned()),
                    None => return Value::Null,
                }
            }
            Value::Dynamic(Json::Array(result))
        }))
    });
    r.scalar(
        "array_slice",
        3..=3,
        "The elements of an array from a start to an end index (inclusive; negative from the end).",
        |_, a| {
            Ok(call_row("array_slice", &a, &[Dynamic, Long, Long], Dynamic, |v| {
                let (Some(items), Some(start), Some(end)) = (array_of(&v[0]), v[1].as_i64(), v[2].as_i64()) else {
                    return Value::Null;
                };
                let len = items.len() as i64;
                let start = if start < 0 { (len + start).max(0) } else { start };
                let end = if end < 0 { len + end } else { end.min(len - 1) };
                if start > end || start >= len {
                    return Value::Dynamic(Json::Array(vec![]));
                }
                Value::Dynamic(Json::Array(items[start as usize..=end as usize].to_vec()))
            }))
        },
    );
    r.scalar("array_reverse", 1..=1, "An array in reverse order.", |_, a| {
        Ok(call_row("array_reverse", &a, &[Dynamic], Dynamic, |v| match array_of(&v[0]) {
            Some(items) => Value::Dynamic(Json::Array(items.iter().rev().cloned().collect())),
            None => Value::Null,
        }))
    });
    r.scalar("array_rotate_left", 2..=2, "Rotates an array left by a number of positions.", |_, a| {
        Ok(call_row("array_rotate_left", &a, &[Dynamic, Long], Dynamic, |v| rotate(&v[0], v[1].as_i64(), true)))
    });
    r.scalar("array_rotate_right", 2..=2, "Rotates an array right by a number of positions.", |_, a| {
        Ok(call_row("array_rotate_right", &a, &[Dynamic, Long], Dynamic, |v| rotate(&v[0], v[1].as_i64(), false)))
    });
    r.scalar("array_shift_left", 2..=3, "Shifts an array left, filling with a value (null by default).", |_, a| {
        Ok(call_row_as_is("array_shift_left", &a, Dynamic, |v| shift(v, true)))
    });
    r.scalar("array_shift_right", 2..=3, "Shifts an array right, filling with a value (null by default).", |_, a| {
        Ok(call_row_as_is("array_shift_right", &a, Dynamic, |v| shift(v, false)))
    });
    r.scalar("array_sort_asc", 1..=64, "Sorts one or more arrays by the first, ascending.", |_, a| {
        Ok(call_row_as_is("array_sort_asc", &a, Dynamic, |v| sort_arrays(v, true)))
    });
    r.scalar("array_sort_desc", 1..=64, "Sorts one or more arrays by the first, descending.", |_, a| {
        Ok(call_row_as_is("array_sort_desc", &a, Dynamic, |v| sort_arrays(v, false)))
    });
    r.scalar("array_split", 2..=2, "Splits an array at the given indexes.", |_, a| {
        Ok(call_row("array_split", &a, &[Dynamic, Dynamic], Dynamic, |v| {
            let Some(items) = array_of(&v[0]) else { return Value::Null };
            let indexes: Vec<i64> = match &v[1] {
                Value::Dynamic(Json::Array(list)) => list.iter().filter_map(Json::as_i64).collect(),
                other => other.as_i64().into_iter().collect(),
            };
            let len = items.len() as i64;
            let mut cuts: Vec<usize> =
                indexes.iter().map(|i| (if *i < 0 { len + i } else { *i }).clamp(0, len) as usize).collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut previous = 0;
            for cut in cuts.into_iter().chain(std::iter::once(items.len())) {
                parts.push(Json::Array(items[previous..cut.max(previous)].to_vec()));
                previous = cut.max(previous);
            }
            Value::Dynamic(Json::Array(parts))
        }))
    });
    r.scalar("array_sum", 1..=1, "The sum of an array's numbers.", |_, a| {
        Ok(call_row("array_sum", &a, &[Dynamic], KqlType::Real, |v| match array_of(&v[0]) {
            Some(items) => Value::Real(items.iter().filter_map(Json::as_f64).sum()),
            None => Value::Null,
        }))
    });
    r.scalar("array_index_of", 2..=5, "Index of a value in an array, or -1.", |_, a| {
        Ok(call_row_as_is("array_index_of", &a, Long, |v| {
            let Some(items) = array_of(&v[0]) else { return Value::Null };
            let optional = |i: usize, default: i64| v.get(i).map(|x| x.as_i64().unwrap_or(default)).unwrap_or(default);
            array_index_of(items, &v[1].to_json(), optional(2, 0), optional(3, -1), optional(4, 1))
        }))
    });
    r.scalar("array_iff", 3..=3, "Element-wise iff over arrays.", |_, a| array_iff(a));
    r.scalar("array_iif", 3..=3, "Alias of array_iff.", |_, a| array_iff(a));
    r.scalar("bag_keys", 1..=1, "The keys of a property bag.", |_, a| {
        Ok(call_row("bag_keys", &a, &[Dynamic], Dynamic, |v| match &v[0] {
            Value::Dynamic(Json::Object(map)) => {
                Value::Dynamic(Json::Array(map.keys().map(|k| Json::String(k.clone())).collect()))
            }
            _ => Value::Null,
        }))
    });
    r.scalar("bag_has_key", 2..=2, "Whether a property bag has a key (or a path like '$.a.b').", |_, a| {
        Ok(call_row("bag_has_key", &a, &[Dynamic, Str], Bool, |v| match (&v[0], v[1].as_str()) {
            (Value::Dynamic(json @ Json::Object(_)), Some(key)) => Value::Bool(json_path_get(json, key).is_some()),
            _ => Value::Null,
        }))
    });
    r.scalar("bag_merge", 1..=64, "Merges property bags; the first bag wins on conflicts.", |_, a| {
        let types = vec![Dynamic; a.len()];
        Ok(call_row("bag_merge", &a, &types, Dynamic, |v| {
            let mut merged = Map::new();
            for value in v {
                if let Value::Dynamic(Json::Object(map)) = value {
                    for (key, item) in map {
                        merged.entry(key.clone()).or_insert_with(|| item.clone());
                    }
                }
            }
            Value::Dynamic(Json::Object(merged))
        }))
    });
    r.scalar("bag_remove_keys", 2..=2, "A property bag without the given keys (or '$.a.b' paths).", |_, a| {
        Ok(call_row("bag_remove_keys", &a, &[Dynamic, Dynamic], Dynamic, |v| {
            let (Value::Dynamic(Json::Object(map)), Some(keys)) = (&v[0], array_of(&v[1])) else { return v[0].clone() };
            let mut result = Json::Object(map.clone());
            for key in keys.iter().filter_map(Json::as_str) {
                remove_path(&mut result, key);
            }
            Value::Dynamic(result)
        }))
    });
    r.scalar("bag_set_key", 3..=3, "A property bag with a key set to a value.", |_, a| {
        Ok(call_row_as_is("bag_set_key", &a, Dynamic, |v| {
            let (Value::Dynamic(Json::Object(map)), Some(key)) = (&v[0], v[1].as_str()) else { return Value::Null };
            let mut map = map.clone();
            map.insert(key.trim_start_matches("$.").to_string(), v[2].to_json());
            Value::Dynamic(Json::Object(map))
        }))
    });
    r.scalar("set_difference", 2..=64, "The distinct values of the first array not in the others.", |_, a| {
        let types = vec![Dynamic; a.len()];
        Ok(call_row("set_difference", &a, &types, Dynamic, |v| {
            let Some(first) = array_of(&v[0]) else { return Value::Null };
            let others: Vec<&Vec<Json>> = v[1..].iter().filter_map(array_of).collect();
            let result =
                distinct(first.iter().filter(|item| !others.iter().any(|o| o.iter().any(|x| json_equal(x, item)))));
            Value::Dynamic(Json::Array(result))
        }))
    });
    r.scalar("set_intersect", 2..=64, "The distinct values found in all arrays.", |_, a| {
        let types = vec![Dynamic; a.len()];
        Ok(call_row("set_intersect", &a, &types, Dynamic, |v| {
            let Some(first) = array_of(&v[0]) else { return Value::Null };
            let others: Vec<&Vec<Json>> = v[1..].iter().filter_map(array_of).collect();
            let result =
                distinct(first.iter().filter(|item| others.iter().all(|o| o.iter().any(|x| json_equal(x, item)))));
            Value::Dynamic(Json::Array(result))
        }))
    });
    r.scalar("set_union", 2..=64, "The distinct values of all arrays.", |_, a| {
        let types = vec![Dynamic; a.len()];
        Ok(call_row("set_union", &a, &types, Dynamic, |v| {
            let all: Vec<&Json> = v.iter().filter_map(array_of).flatten().collect();
            Value::Dynamic(Json::Array(distinct(all.into_iter())))
        }))
    });
    r.scalar("set_has_element", 2..=2, "Whether an array contains a value.", |_, a| {
        Ok(call_row_as_is("set_has_element", &a, Bool, |v| match array_of(&v[0]) {
            Some(items) => Value::Bool(items.iter().any(|x| json_equal(x, &v[1].to_json()))),
            None => Value::Null,
        }))
    });
    r.scalar("jaccard_index", 2..=2, "The Jaccard index of two sets.", |_, a| {
        Ok(call_row("jaccard_index", &a, &[Dynamic, Dynamic], KqlType::Real, |v| {
            let (Some(x), Some(y)) = (array_of(&v[0]), array_of(&v[1])) else { return Value::Null };
            let x = distinct(x.iter());
            let y = distinct(y.iter());
            let common = x.iter().filter(|i| y.iter().any(|j| json_equal(i, j))).count();
            let union = x.len() + y.len() - common;
            Value::Real(if union == 0 { f64::NAN } else { common as f64 / union as f64 })
        }))
    });
    r.scalar("zip", 2..=64, "Zips arrays into an array of arrays, padding with nulls.", |_, a| {
        let types = vec![Dynamic; a.len()];
        Ok(call_row("zip", &a, &types, Dynamic, |v| {
            let arrays: Option<Vec<&Vec<Json>>> = v.iter().map(array_of).collect();
            let Some(arrays) = arrays else { return Value::Null };
            let longest = arrays.iter().map(|a| a.len()).max().unwrap_or(0);
            let rows = (0..longest)
                .map(|i| Json::Array(arrays.iter().map(|a| a.get(i).cloned().unwrap_or(Json::Null)).collect()));
            Value::Dynamic(Json::Array(rows.collect()))
        }))
    });
    r.scalar("repeat", 2..=2, "An array of a value repeated.", |_, a| {
        Ok(call_row_as_is("repeat", &a, Dynamic, |v| {
            let count = v[1].as_i64().unwrap_or(0).clamp(0, 1 << 20) as usize;
            Value::Dynamic(Json::Array(vec![v[0].to_json(); count]))
        }))
    });
    r.scalar("range", 2..=3, "An array of values from start to stop by step.", |_, a| {
        let ty = a[0].ty;
        let step_type = if matches!(ty, KqlType::DateTime | KqlType::Timespan) {
            KqlType::Timespan
        } else {
            a.get(2).map(|s| s.ty).unwrap_or(Long)
        };
        let types = [ty, ty, step_type];
        Ok(call_row("range", &a, &types[..a.len()], Dynamic, move |v| {
            let step = v.get(2).cloned().unwrap_or(Value::Long(1));
            range_values(&v[0], &v[1], &step).map(|items| Value::Dynamic(Json::Array(items))).unwrap_or(Value::Null)
        }))
    });
    r.scalar("treepath", 1..=1, "The paths of all leaves of a dynamic value.", |_, a| {
        Ok(call_row("treepath", &a, &[Dynamic], Dynamic, |v| {
            let Value::Dynamic(json) = &v[0] else { return Value::Null };
            let mut paths = Vec::new();
            tree_paths(json, "$".to_string(), &mut paths);
            Value::Dynamic(Json::Array(paths.into_iter().map(Json::String).collect()))
        }))
    });
    r.scalar("extract_json", 2..=3, "The value at a JSONPath in a JSON text.", |_, a| extract_json(a));
    r.scalar("extractjson", 2..=3, "Alias of extract_json.", |_, a| extract_json(a));
}

fn bag_pack(args: Vec<crate::registry::Arg>) -> Result<crate::registry::TypedExpr, String> {
    if !args.len().is_multiple_of(2) {
        return Err("bag_pack() takes pairs of key and value".into());
    }
    Ok(call_row_as_is("bag_pack", &args, Dynamic, |v| {
        let mut map = Map::new();
        for pair in v.chunks(2) {
            map.insert(pair[0].to_kql_string(), pair[1].to_json());
        }
        Value::Dynamic(Json::Object(map))
    }))
}

fn array_iff(args: Vec<crate::registry::Arg>) -> Result<crate::registry::TypedExpr, String> {
    Ok(call_row_as_is("array_iff", &args, Dynamic, |v| {
        let Some(conditions) = array_of(&v[0]) else { return Value::Null };
        let pick = |value: &Value, i: usize| match value {
            Value::Dynamic(Json::Array(items)) => items.get(i).cloned().unwrap_or(Json::Null),
            other => other.to_json(),
        };
        let result = conditions
            .iter()
            .enumerate()
            .map(|(i, condition)| match condition {
                Json::Bool(true) => pick(&v[1], i),
                Json::Bool(false) => pick(&v[2], i),
                Json::Number(n) if n.as_f64().is_some_and(|x| x != 0.0) => pick(&v[1], i),
                Json::Number(_) => pick(&v[2], i),
                _ => Json::Null,
            })
            .collect();
        Value::Dynamic(Json::Array(result))
    }))
}

fn rotate(value: &Value, count: Option<i64>, left: bool) -> Value {
    let (Some(items), Some(count)) = (array_of(value), count) else { return Value::Null };
    if items.is_empty() {
        return Value::Dynamic(Json::Array(vec![]));
    }
    let len = items.len() as i64;
    let shift = if left { count } else { -count }.rem_euclid(len) as usize;
    let mut rotated = items.clone();
    rotated.rotate_left(shift);
    Value::Dynamic(Json::Array(rotated))
}

fn shift(v: &[Value], left: bool) -> Value {
    let (Some(items), Some(count)) = (array_of(&v[0]), v[1].as_i64()) else { return Value::Null };
    let fill = v.get(2).map(Value::to_json).unwrap_or(Json::Null);
    let len = items.len() as i64;
    let offset = if left { count } else { -count };
    let result = (0..len)
        .map(|i| {
            let source = i + offset;
            if (0..len).contains(&source) { items[source as usize].clone() } else { fill.clone() }
        })
        .collect();
    Value::Dynamic(Json::Array(result))
}

/// Orders JSON values as Kusto's array sorts do: numbers, then strings, with nulls placed
/// first or last.
fn compare_json(a: &Json, b: &Json) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal),
        (Json::String(x), Json::String(y)) => x.cmp(y),
        (Json::Bool(x), Json::Bool(y)) => x.cmp(y),
        (Json::Number(_), _) => Ordering::Less,
        (_, Json::Number(_)) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn sort_arrays(v: &[Value], ascending: bool) -> Value {
    let nulls_last = match v.last() {
        Some(Value::Bool(flag)) if v.len() > 1 => Some(*flag),
        _ => None,
    };
    let arrays: Vec<&Value> = if nulls_last.is_some() { v[..v.len() - 1].iter().collect() } else { v.iter().collect() };
    let Some(keys) = array_of(arrays[0]) else { return Value::Null };
    // Nulls go last unless the call says otherwise, in both directions (the reference says so).
    let nulls_last = nulls_last.unwrap_or(true);
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&i, &j| {
        let (a, b) = (&keys[i], &keys[j]);
        match (a.is_null(), b.is_null()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => {
                if nulls_last {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                }
            }
            (false, true) => {
                if nulls_last {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            }
            _ => {
                let ordering = compare_json(a, b);
                if ascending { ordering } else { ordering.reverse() }
            }
        }
    });
    let sorted: Vec<Json> = arrays
        .iter()
        .map(|array| match array_of(array) {
            Some(items) if items.len() == keys.len() => Json::Array(order.iter().map(|&i| items[i].clone()).collect()),
            _ => Json::Null,
        })
        .collect();
    if sorted.len() == 1 {
        Value::Dynamic(sorted.into_iter().next().expect("one array"))
    } else {
        Value::Dynamic(Json::Array(sorted))
    }
}

fn distinct<'a>(items: impl Iterator<Item = &'a Json>) -> Vec<Json> {
    let mut result: Vec<Json> = Vec::new();
    for item in items {
        if !result.iter().any(|x| json_equal(x, item)) {
            result.push(item.clone());
        }
    }
    result
}

/// `$.a.b` or `a` in a property bag.
fn json_path_get<'a>(json: &'a Json, path: &str) -> Option<&'a Json> {
    let path = path.strip_prefix("$.").or_else(|| path.strip_prefix('$')).unwrap_or(path);
    let mut current = json;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn remove_path(json: &mut Json, path: &str) {
    let path = path.strip_prefix("$.").unwrap_or(path);
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut current = json;
    for part in parts {
        match current.as_object_mut().and_then(|m| m.get_mut(part)) {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Some(map) = current.as_object_mut() {
        map.remove(last);
    }
}

fn range_values(start: &Value, stop: &Value, step: &Value) -> Option<Vec<Json>> {
    const LIMIT: usize = 1 << 20;
    let mut items = Vec::new();
    match (start, stop, step) {
        (Value::DateTime(a), Value::DateTime(b), Value::Timespan(s))
        | (Value::Timespan(a), Value::Timespan(b), Value::Timespan(s)) => {
            if *s == 0 {
                return None;
            }
            let mut current = *a;
            while (*s > 0 && current <= *b || *s < 0 && current >= *b) && items.len() < LIMIT {
                items.push(match start {
                    Value::DateTime(_) => Value::DateTime(current).to_json(),
                    _ => Value::Timespan(current).to_json(),
                });
                current += s;
            }
        }
        (Value::Long(a), Value::Long(b), Value::Long(s)) => {
            if *s == 0 {
                return None;
            }
            let mut current = *a;
            while (*s > 0 && current <= *b || *s < 0 && current >= *b) && items.len() < LIMIT {
                items.push(Json::from(current));
                current += s;
            }
        }
        _ => {
            let (a, b, s) = (start.as_f64()?, stop.as_f64()?, step.as_f64()?);
            if s == 0.0 {
                return None;
            }
            let mut i = 0.0;
            loop {
                let current = a + i * s;
                if !(s > 0.0 && current <= b || s < 0.0 && current >= b) || items.len() >= LIMIT {
                    break;
                }
                items.push(real_json(current));
                i += 1.0;
            }
        }
    }
    Some(items)
}

fn tree_paths(json: &Json, prefix: String, out: &mut Vec<String>) {
    match json {
        Json::Object(map) => {
            for (key, value) in map {
                let path = format!("{prefix}['{key}']");
                out.push(path.clone());
                tree_paths(value, path, out);
            }
        }
        Json::Array(items) => {
            if let Some(first) = items.first() {
                let path = format!("{prefix}[0]");
                tree_paths(first, path, out);
            }
        }
        _ => {}
    }
}

fn extract_json(args: Vec<crate::registry::Arg>) -> Result<crate::registry::TypedExpr, String> {
    let ty = args.get(2).and_then(|t| t.type_literal).unwrap_or(Str);
    Ok(call_row("extract_json", &args[..2], &[Str, Str], ty, move |v| {
        let Some(path) = v[0].as_str() else { return Value::Null };
        let Some(steps) = parse_json_path(path) else { return Value::Null };
        let Some(text) = v[1].as_str() else { return Value::Null };
        match extract_path(text, &steps) {
            Some(slice) => crate::value::convert(&Value::String(json_slice_to_string(slice)), ty),
            None if ty == Str => Value::String(String::new()),
            None => Value::Null,
        }
    }))
}

/// `$.a.b[0]['c']` to path steps.
pub fn parse_json_path(path: &str) -> Option<Vec<PathStep>> {
    let rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                steps.push(PathStep::Key(chars[start..i].iter().collect()));
            }
            '[' => {
                let end = chars[i..].iter().position(|c| *c == ']')? + i;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                if let Some(quoted) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(PathStep::Key(quoted.to_string()));
                } else if let Some(quoted) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(PathStep::Key(quoted.to_string()));
                } else {
                    steps.push(PathStep::Index(inner.parse().ok()?));
                }
                i = end + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}
