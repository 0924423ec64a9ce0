//! String functions.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Digest;
use regex::Regex;
use serde_json::Value as Json;

use super::{arg_as, call_row, expect_constant_str};
use crate::registry::{Arg, Registry, TypedExpr};
use crate::types::KqlType;
use crate::udf::row_call;
use crate::value::Value;

use KqlType::{Dynamic, Long, String as Str};

pub fn register(r: &mut Registry) {
    r.scalar("strlen", 1..=1, "Length of a string in characters.", |_, a| {
        Ok(call_row("strlen", &a, &[Str], Long, |v| Value::Long(text(&v[0]).chars().count() as i64)))
    });
    r.scalar("string_size", 1..=1, "Size of a string in bytes (UTF-8).", |_, a| {
        Ok(call_row("string_size", &a, &[Str], Long, |v| Value::Long(text(&v[0]).len() as i64)))
    });
    r.scalar("toupper", 1..=1, "Upper-case form of a string.", |_, a| {
        Ok(call_row("toupper", &a, &[Str], Str, |v| Value::String(text(&v[0]).to_uppercase())))
    });
    r.scalar("tolower", 1..=1, "Lower-case form of a string.", |_, a| {
        Ok(call_row("tolower", &a, &[Str], Str, |v| Value::String(text(&v[0]).to_lowercase())))
    });
    r.scalar("substring", 2..=3, "Part of a string: substring(text, start [, length]) in characters.", |_, a| {
        let types = [Str, Long, Long];
        Ok(call_row("substring", &a, &types[..a.len()], Str, |v| {
            let chars: Vec<char> = text(&v[0]).chars().collect();
            let Some(start) = v[1].as_i64() else { return Value::Null };
            let start = start.clamp(0, chars.len() as i64) as usize;
            let length = match v.get(2) {
                Some(length) => match length.as_i64() {
                    Some(length) => length.max(0) as usize,
                    None => return Value::Null,
                },
                None => chars.len(),
            };
            Value::String(chars[start..(start + length).min(chars.len())].iter().collect())
        }))
    });
    r.scalar("strcat", 1..=64, "Concatenates the text forms of its arguments.", |_, a| {
        let types = vec![Str; a.len()];
        Ok(call_row("strcat", &a, &types, Str, |v| Value::String(v.iter().map(text).collect())))
    });
    r.scalar("strcat_delim", 2..=65, "Concatenates its arguments with a delimiter.", |_, a| {
        let types = vec![Str; a.len()];
        Ok(call_row("strcat_delim", &a, &types, Str, |v| {
            let delimiter = text(&v[0]);
            Value::String(v[1..].iter().map(text).collect::<Vec<_>>().join(delimiter))
        }))
    });
    r.scalar("strcat_array", 2..=2, "Joins the elements of an array with a delimiter.", |_, a| {
        Ok(call_row("strcat_array", &a, &[Dynamic, Str], Str, |v| {
            let Some(items) = array_of(&v[0]) else { return Value::String(String::new()) };
            let parts: Vec<String> = items.iter().map(json_text).collect();
            Value::String(parts.join(text(&v[1])))
        }))
    });
    r.scalar("split", 2..=3, "Splits a string by a delimiter into an array.", |_, a| {
        let types = [Str, Str, Long];
        Ok(call_row("split", &a, &types[..a.len()], Dynamic, |v| {
            let source = text(&v[0]);
            let delimiter = text(&v[1]);
            let parts: Vec<Json> = if delimiter.is_empty() {
                vec![Json::String(source.to_string())]
            } else {
                source.split(delimiter).map(|p| Json::String(p.to_string())).collect()
            };
            match v.get(2) {
                None => Value::Dynamic(Json::Array(parts)),
                Some(index) => match index.as_i64().and_then(|i| usize::try_from(i).ok()).and_then(|i| parts.get(i)) {
                    Some(part) => Value::Dynamic(Json::Array(vec![part.clone()])),
                    None => Value::Dynamic(Json::Array(vec![])),
                },
            }
        }))
    });
    r.scalar("replace_string", 3..=3, "Replaces every occurrence of a string with another.", |_, a| {
        Ok(call_row("replace_string", &a, &[Str, Str, Str], Str, |v| {
            let lookup = text(&v[1]);
            if lookup.is_empty() {
                return Value::String(text(&v[0]).to_string());
            }
            Value::String(text(&v[0]).replace(lookup, text(&v[2])))
        }))
    });
    r.scalar("replace_regex", 3..=3, "Replaces every match of a regular expression.", |_, a| {
        replace_regex(&a[0], &a[1], &a[2])
    });
    r.scalar(
        "replace",
        3..=3,
        "Replaces every match of a regular expression (replace(regex, rewrite, text)).",
        |_, a| replace_regex(&a[2], &a[0], &a[1]),
    );
    r.scalar("trim", 2..=2, "Removes leading and trailing matches of a regular expression.", |_, a| {
        trim(&a, true, true)
    });
    r.scalar("trim_start", 2..=2, "Removes leading matches of a regular expression.", |_, a| trim(&a, true, false));
    r.scalar("trim_end", 2..=2, "Removes trailing matches of a regular expression.", |_, a| trim(&a, false, true));
    r.scalar("reverse", 1..=1, "Reverses the characters of the text form of a value.", |_, a| {
        Ok(call_row("reverse", &a, &[Str], Str, |v| Value::String(text(&v[0]).chars().rev().collect())))
    });
    r.scalar(
        "indexof",
        2..=5,
        "Position of a substring: indexof(text, lookup [, start, length, occurrence]).",
        |_, a| {
            let types = [Str, Str, Long, Long, Long];
            Ok(call_row("indexof", &a, &types[..a.len()], Long, |v| {
                let haystack: Vec<char> = text(&v[0]).chars().collect();
                let needle: Vec<char> = text(&v[1]).chars().collect();
                index_of(
                    &haystack,
                    &needle,
                    (optional_i64(v, 2, 0), optional_i64(v, 3, -1), optional_i64(v, 4, 1)),
                    true,
                    |h, n| h == n,
                )
            }))
        },
    );
    r.scalar("indexof_regex", 2..=5, "Position of a regular expression match.", |_, a| {
        let types = [Str, Str, Long, Long, Long];
        let regex = constant_regex(&a[1])?;
        Ok(call_row("indexof_regex", &a, &types[..a.len()], Long, move |v| {
            let Some(regex) = regex.clone().or_else(|| Regex::new(text(&v[1])).ok().map(Arc::new)) else {
                return Value::Null;
            };
            let source = text(&v[0]);
            let (start, length, occurrence) = (optional_i64(v, 2, 0), optional_i64(v, 3, -1), optional_i64(v, 4, 1));
            if start < 0 || length < -1 || occurrence < 0 {
                return Value::Null;
            }
            let byte_at = |chars: usize| source.char_indices().nth(chars).map(|(i, _)| i).unwrap_or(source.len());
            let start_byte = byte_at(start as usize);
            let end_byte = if length == -1 { source.len() } else { byte_at(start as usize + length as usize) };
            match regex.find_iter(&source[start_byte..end_byte]).nth(occurrence.max(1) as usize - 1) {
                Some(m) => Value::Long(source[..start_byte + m.start()].chars().count() as i64),
                None => Value::Long(-1),
            }
        }))
    });
    r.scalar("countof", 2..=3, "Number of occurrences of a substring (or regular expression with 'regex').", |_, a| {
        let types = [Str, Str, Str];
        Ok(call_row("countof", &a, &types[..a.len()], Long, |v| {
            let source = text(&v[0]);
            let search = text(&v[1]);
            if search.is_empty() {
                return Value::Long(0);
            }
            if v.get(2).map(text) == Some("regex") {
                return match Regex::new(search) {
                    Ok(regex) => Value::Long(regex.find_iter(source).count() as i64),
                    Err(_) => Value::Null,
                };
            }
            // Overlapping occurrences count, as in Kusto's 'normal' kind.
            let mut count = 0;
            let mut from = 0;
            while let Some(offset) = source[from..].find(search) {
                count += 1;
                from += offset + search.chars().next().map_or(1, char::len_utf8);
            }
            Value::Long(count)
        }))
    });
    r.scalar(
        "extract",
        3..=4,
        "A capture group of a regular expression match: extract(regex, group, text [, typeof]).",
        |_, a| {
            let ty = a.get(3).and_then(|t| t.type_literal).unwrap_or(Str);
            let regex = constant_regex(&a[0])?;
            Ok(call_row("extract", &a[..3], &[Str, Long, Str], ty, move |v| {
                let Some(regex) = regex.clone().or_else(|| Regex::new(text(&v[0])).ok().map(Arc::new)) else {
                    return Value::Null;
                };
                let group = v[1].as_i64().unwrap_or(0).max(0) as usize;
                match regex.captures(text(&v[2])).and_then(|c| c.get(group)) {
                    Some(m) => crate::value::convert(&Value::String(m.as_str().to_string()), ty),
                    None if ty == Str => Value::String(String::new()),
                    None => Value::Null,
                }
            }))
        },
    );
    r.scalar("extract_all", 2..=3, "All matches of a regular expression's capture groups, as an array.", |_, a| {
        let (regex_arg, groups_arg, text_arg) =
            if a.len() == 3 { (&a[0], Some(&a[1]), &a[2]) } else { (&a[0], None, &a[1]) };
        let regex = constant_regex(regex_arg)?;
        let groups: Option<Vec<usize>> = match groups_arg {
            Some(arg) => match &arg.constant {
                Some(Value::Dynamic(Json::Array(items))) => {
                    Some(items.iter().filter_map(|i| i.as_u64().map(|i| i as usize)).collect())
                }
                _ => return Err("the groups argument of extract_all() must be a constant dynamic array".into()),
            },
            None => None,
        };
        let args = [regex_arg.clone(), text_arg.clone()];
        Ok(call_row("extract_all", &args, &[Str, Str], Dynamic, move |v| {
            let Some(regex) = regex.clone().or_else(|| Regex::new(text(&v[0])).ok().map(Arc::new)) else {
                return Value::Null;
            };
            let mut matches = Vec::new();
            for captures in regex.captures_iter(text(&v[1])) {
                let group_text =
                    |g: usize| Json::String(captures.get(g).map(|m| m.as_str().to_string()).unwrap_or_default());
                let item = match &groups {
                    Some(groups) => Json::Array(groups.iter().map(|g| group_text(*g)).collect()),
                    None if captures.len() <= 2 => group_text(captures.len() - 1),
                    None => Json::Array((1..captures.len()).map(group_text).collect()),
                };
                matches.push(item);
            }
            if matches.is_empty() { Value::Null } else { Value::Dynamic(Json::Array(matches)) }
        }))
    });
    r.scalar("strrep", 2..=3, "Repeats a string: strrep(value, count [, delimiter]).", |_, a| {
        let types = [Str, Long, Str];
        Ok(call_row("strrep", &a, &types[..a.len()], Str, |v| {
            let count = v[1].as_i64().unwrap_or(0).clamp(0, 1024) as usize;
            let delimiter = v.get(2).map(text).unwrap_or("");
            Value::String(vec![text(&v[0]); count].join(delimiter))
        }))
    });
    r.scalar("translate", 3..=3, "Replaces characters: translate(from, to, text).", |_, a| {
        Ok(call_row("translate", &a, &[Str, Str, Str], Str, |v| {
            let from: Vec<char> = text(&v[0]).chars().collect();
            let to: Vec<char> = text(&v[1]).chars().collect();
            let result = text(&v[2])
                .chars()
                .filter_map(|c| match from.iter().position(|f| *f == c) {
                    None => Some(c),
                    Some(_) if to.is_empty() => None,
                    Some(i) => Some(*to.get(i).unwrap_or(to.last().expect("not empty"))),
                })
                .collect();
            Value::String(result)
        }))
    });
    r.scalar("strcmp", 2..=2, "Compares two strings: -1, 0 or 1.", |_, a| {
        Ok(call_row("strcmp", &a, &[Str, Str], Long, |v| {
            Value::Long(match text(&v[0]).cmp(text(&v[1])) {
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Greater => 1,
            })
        }))
    });
    r.scalar("has_any_index", 2..=2, "Index of the first lookup term found in the text, or -1.", |_, a| {
        Ok(call_row("has_any_index", &a, &[Str, Dynamic], Long, |v| {
            let Some(items) = array_of(&v[1]) else { return Value::Long(-1) };
            let source = text(&v[0]);
            for (index, item) in items.iter().enumerate() {
                let needle = crate::strings::CaseInsensitiveNeedle::new(&json_text(item));
                if !needle.is_empty() && crate::strings::has_term(source, &needle, false, false) {
                    return Value::Long(index as i64);
                }
            }
            Value::Long(-1)
        }))
    });
    r.scalar("base64_encode_tostring", 1..=1, "Base64 of a string's UTF-8 bytes.", |_, a| {
        Ok(call_row("base64_encode_tostring", &a, &[Str], Str, |v| Value::String(BASE64.encode(text(&v[0])))))
    });
    r.scalar("base64_encodestring", 1..=1, "Alias of base64_encode_tostring.", |_, a| {
        Ok(call_row("base64_encodestring", &a, &[Str], Str, |v| Value::String(BASE64.encode(text(&v[0])))))
    });
    r.scalar("base64_decode_tostring", 1..=1, "The UTF-8 text of base64; null when it is not valid UTF-8.", |_, a| {
        Ok(call_row("base64_decode_tostring", &a, &[Str], Str, |v| match decode_base64(text(&v[0])) {
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(decoded) => Value::String(decoded),
                Err(_) => Value::String(String::new()),
            },
            None => Value::String(String::new()),
        }))
    });
    r.scalar("base64_decodestring", 1..=1, "Alias of base64_decode_tostring.", |_, a| {
        Ok(call_row("base64_decodestring", &a, &[Str], Str, |v| {
            Value::String(decode_base64(text(&v[0])).and_then(|b| String::from_utf8(b).ok()).unwrap_or_default())
        }))
    });
    r.scalar("base64_decode_toarray", 1..=1, "The bytes of base64 as an array of numbers.", |_, a| {
        Ok(call_row("base64_decode_toarray", &a, &[Str], Dynamic, |v| match decode_base64(text(&v[0])) {
            Some(bytes) => Value::Dynamic(Json::Array(bytes.into_iter().map(Json::from).collect())),
            None => Value::Null,
        }))
    });
    r.scalar("base64_encode_fromarray", 1..=1, "Base64 of an array of byte values.", |_, a| {
        Ok(call_row("base64_encode_fromarray", &a, &[Dynamic], Str, |v| {
            let Some(items) = array_of(&v[0]) else { return Value::Null };
            let bytes: Option<Vec<u8>> = items.iter().map(|i| i.as_u64().and_then(|b| u8::try_from(b).ok())).collect();
            match bytes {
                Some(bytes) => Value::String(BASE64.encode(bytes)),
                None => Value::Null,
            }
        }))
    });
    r.scalar("base64_encode_fromguid", 1..=1, "Base64 of a GUID's bytes.", |_, a| {
        Ok(call_row("base64_encode_fromguid", &a, &[KqlType::Guid], Str, |v| {
            match v[0].as_str().and_then(guid_bytes) {
                Some(bytes) => Value::String(BASE64.encode(bytes)),
                None => Value::Null,
            }
        }))
    });
    r.scalar("base64_decode_toguid", 1..=1, "The GUID of a base64 string of 16 bytes.", |_, a| {
        Ok(call_row("base64_decode_toguid", &a, &[Str], KqlType::Guid, |v| match decode_base64(text(&v[0])) {
            Some(bytes) if bytes.len() == 16 => Value::Guid(guid_from_bytes(&bytes)),
            _ => Value::Null,
        }))
    });
    r.scalar("url_encode", 1..=1, "Encodes a URL: reserved characters as %XX, spaces as +.", |_, a| {
        Ok(call_row("url_encode", &a, &[Str], Str, |v| Value::String(percent_encode(text(&v[0]), true))))
    });
    r.scalar(
        "url_encode_component",
        1..=1,
        "Encodes a URL component: reserved characters and spaces as %XX.",
        |_, a| {
            Ok(call_row("url_encode_component", &a, &[Str], Str, |v| Value::String(percent_encode(text(&v[0]), false))))
        },
    );
    r.scalar("url_decode", 1..=1, "Decodes %XX escapes (and + as space).", |_, a| {
        Ok(call_row("url_decode", &a, &[Str], Str, |v| match percent_decode(text(&v[0])) {
            Some(decoded) => Value::String(decoded),
            None => Value::Null,
        }))
    });
    r.scalar("parse_url", 1..=1, "The parts of a URL as a property bag.", |_, a| {
        Ok(call_row("parse_url", &a, &[Str], Dynamic, |v| Value::Dynamic(parse_url(text(&v[0])))))
    });
    r.scalar("parse_urlquery", 1..=1, "The parameters of a URL query string as a property bag.", |_, a| {
        Ok(call_row("parse_urlquery", &a, &[Str], Dynamic, |v| {
            let query = text(&v[0]);
            let query = query.split_once('?').map(|(_, q)| q).unwrap_or(query);
            let mut bag = serde_json::Map::new();
            bag.insert("Query Parameters".into(), Json::Object(query_parameters(query)));
            Value::Dynamic(Json::Object(bag))
        }))
    });
    r.scalar("parse_path", 1..=1, "The parts of a file path as a property bag.", |_, a| {
        Ok(call_row("parse_path", &a, &[Str], Dynamic, |v| Value::Dynamic(parse_path(text(&v[0])))))
    });
    r.scalar("parse_command_line", 2..=2, "Splits a command line into arguments (windows rules).", |_, a| {
        Ok(call_row("parse_command_line", &a, &[Str, Str], Dynamic, |v| {
            Value::Dynamic(Json::Array(parse_command_line(text(&v[0])).into_iter().map(Json::String).collect()))
        }))
    });
    r.scalar("parse_csv", 1..=1, "The fields of one CSV record as an array.", |_, a| {
        Ok(call_row("parse_csv", &a, &[Str], Dynamic, |v| {
            Value::Dynamic(Json::Array(parse_csv_record(text(&v[0])).into_iter().map(Json::String).collect()))
        }))
    });
    r.scalar("parse_version", 1..=1, "A version string as a comparable decimal.", |_, a| {
        Ok(call_row("parse_version", &a, &[Str], KqlType::Decimal, |v| {
            let parts: Vec<&str> = text(&v[0]).trim().split('.').collect();
            if parts.is_empty() || parts.len() > 4 {
                return Value::Null;
            }
            let mut value: i128 = 0;
            for index in 0..4 {
                let part = match parts.get(index) {
                    Some(part) => match part.parse::<i128>() {
                        Ok(n) if n < 100_000_000 => n,
                        _ => return Value::Null,
                    },
                    None => 0,
                };
                value = value * 100_000_000 + part;
            }
            Value::Decimal(value * crate::types::DECIMAL_ONE)
        }))
    });
    r.scalar("unicode_codepoints_from_string", 1..=1, "The Unicode code points of a string.", |_, a| {
        Ok(call_row("unicode_codepoints_from_string", &a, &[Str], Dynamic, |v| {
            Value::Dynamic(Json::Array(text(&v[0]).chars().map(|c| Json::from(c as u32)).collect()))
        }))
    });
    r.scalar(
        "unicode_codepoints_to_string",
        1..=64,
        "A string of Unicode code points (numbers or arrays of numbers).",
        |_, a| {
            Ok(super::call_row_as_is("unicode_codepoints_to_string", &a, Str, |v| {
                let mut out = String::new();
                for value in v {
                    let points: Vec<i64> = match value {
                        Value::Dynamic(Json::Array(items)) => items.iter().filter_map(Json::as_i64).collect(),
                        other => other.as_i64().into_iter().collect(),
                    };
                    for point in points {
                        match u32::try_from(point).ok().and_then(char::from_u32) {
                            Some(c) => out.push(c),
                            None => return Value::Null,
                        }
                    }
                }
                Value::String(out)
            }))
        },
    );
    r.scalar("to_utf8", 1..=1, "The UTF-8 bytes of a string as an array.", |_, a| {
        Ok(call_row("to_utf8", &a, &[Str], Dynamic, |v| {
            Value::Dynamic(Json::Array(text(&v[0]).bytes().map(Json::from).collect()))
        }))
    });
    r.scalar("isascii", 1..=1, "True when the string is ASCII.", |_, a| {
        Ok(call_row("isascii", &a, &[Str], KqlType::Bool, |v| Value::Bool(text(&v[0]).is_ascii())))
    });
    r.scalar("isutf8", 1..=1, "True when the string is valid UTF-8 (always, here).", |_, a| {
        Ok(call_row("isutf8", &a, &[Str], KqlType::Bool, |_| Value::Bool(true)))
    });
    r.scalar("hash_md5", 1..=1, "MD5 of the value's text, in hexadecimal.", |_, a| {
        Ok(hash_call("hash_md5", &a[0], |bytes| hex(&md5::Md5::digest(bytes))))
    });
    r.scalar("hash_sha1", 1..=1, "SHA-1 of the value's text, in hexadecimal.", |_, a| {
        Ok(hash_call("hash_sha1", &a[0], |bytes| hex(&sha1::Sha1::digest(bytes))))
    });
    r.scalar("hash_sha256", 1..=1, "SHA-256 of the value's text, in hexadecimal.", |_, a| {
        Ok(hash_call("hash_sha256", &a[0], |bytes| hex(&sha2::Sha256::digest(bytes))))
    });
    r.scalar("new_guid", 0..=0, "A new random GUID.", |_, _| {
        let kernel = crate::udf::Kernel::Row(Arc::new(|_: &[Value]| Value::Guid(random_guid())));
        let udf = crate::udf::KqlUdf::new("new_guid", vec![], KqlType::Guid, kernel).volatile();
        Ok(TypedExpr::new(udf.call(vec![]), KqlType::Guid))
    });
    r.scalar("current_principal", 0..=0, "The identity running the query.", |context, _| {
        Ok(TypedExpr::new(datafusion::logical_expr::lit(context.principal.clone()), Str))
    });
    r.scalar("current_principal_details", 0..=0, "Details of the identity running the query.", |context, _| {
        let details =
            serde_json::json!({ "IdentityProvider": "vigil", "FQN": context.principal, "Type": "Application" });
        Ok(TypedExpr::new(datafusion::logical_expr::lit(details.to_string()), Dynamic))
    });
    r.scalar("current_principal_is_member_of", 1..=64, "Whether the identity is in any of the groups.", |_, _| {
        Ok(TypedExpr::new(datafusion::logical_expr::lit(false), KqlType::Bool))
    });
    r.scalar("current_cluster_endpoint", 0..=0, "The address of this Vigil.", |_, _| {
        Ok(TypedExpr::new(datafusion::logical_expr::lit("vigil"), Str))
    });
    r.scalar("current_database", 0..=0, "The name of the workspace being queried.", |_, _| {
        Ok(TypedExpr::new(datafusion::logical_expr::lit("default"), Str))
    });
}

/// The KQL text of a value (null reads as empty).
pub fn text(value: &Value) -> &str {
    match value {
        Value::String(s) | Value::Guid(s) => s,
        Value::Dynamic(Json::String(s)) => s,
        _ => "",
    }
}

/// The text of a JSON array element as `strcat_array` and `has_any_index` read it.
pub fn json_text(item: &Json) -> String {
    match item {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn array_of(value: &Value) -> Option<&Vec<Json>> {
    match value {
        Value::Dynamic(Json::Array(items)) => Some(items),
        _ => None,
    }
}

fn optional_i64(values: &[Value], index: usize, default: i64) -> i64 {
    values.get(index).map(|v| v.as_i64().unwrap_or(default)).unwrap_or(default)
}

/// Kusto's search for the nth occurrence of `needle` from `start` over `length` items. For
/// strings (`indexof`) the item at `start + length` is still searched; for arrays
/// (`array_index_of`) it is not, as the reference's examples show.
fn index_of<T>(
    haystack: &[T],
    needle: &[T],
    (start, length, occurrence): (i64, i64, i64),
    end_inclusive: bool,
    eq: impl Fn(&T, &T) -> bool,
) -> Value {
    let len = haystack.len() as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    if start > len || occurrence < 1 || length < -1 {
        return Value::Long(-1);
    }
    let end = if length == -1 { len } else { (start + length + i64::from(end_inclusive)).min(len) };
    let mut found = 0;
    let mut position = start;
    while position + needle.len() as i64 <= end {
        let p = position as usize;
        if needle.iter().enumerate().all(|(i, n)| eq(&haystack[p + i], n)) {
            found += 1;
            if found == occurrence {
                return Value::Long(position);
            }
        }
        position += 1;
    }
    Value::Long(-1)
}

/// `array_index_of` shares `indexof`'s search rules over array elements.
pub fn array_index_of(items: &[Json], lookup: &Json, start: i64, length: i64, occurrence: i64) -> Value {
    index_of(items, std::slice::from_ref(lookup), (start, length, occurrence), false, crate::dynamic::json_equal)
}

/// A compiled pattern when the argument is a constant; an error when the constant is invalid.
pub fn constant_regex(arg: &Arg) -> Result<Option<Arc<Regex>>, String> {
    match arg.constant_str() {
        Some(pattern) => Regex::new(&pattern)
            .map(|r| Some(Arc::new(r)))
            .map_err(|e| format!("invalid regular expression '{pattern}': {e}")),
        None => Ok(None),
    }
}

fn replace_regex(source: &Arg, pattern: &Arg, rewrite: &Arg) -> Result<TypedExpr, String> {
    let regex = constant_regex(pattern)?;
    let args = [source.clone(), pattern.clone(), rewrite.clone()];
    Ok(call_row("replace_regex", &args, &[Str, Str, Str], Str, move |v| {
        let Some(regex) = regex.clone().or_else(|| Regex::new(text(&v[1])).ok().map(Arc::new)) else {
            return Value::Null;
        };
        let rewrite = kusto_rewrite_to_rust(text(&v[2]));
        Value::String(regex.replace_all(text(&v[0]), rewrite.as_str()).into_owned())
    }))
}

/// Kusto writes capture references as `\1`; the regex crate as `${1}`.
fn kusto_rewrite_to_rust(rewrite: &str) -> String {
    let mut out = String::with_capacity(rewrite.len());
    let mut chars = rewrite.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                out.push(chars.next().expect("digit"));
                out.push('}');
            }
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

fn trim(args: &[Arg], start: bool, end: bool) -> Result<TypedExpr, String> {
    let pattern = expect_constant_str("trim", 0, &args[0])?;
    let leading = Regex::new(&format!("^(?:{pattern})+")).map_err(|e| format!("invalid regular expression: {e}"))?;
    let trailing = Regex::new(&format!("(?:{pattern})+$")).map_err(|e| format!("invalid regular expression: {e}"))?;
    let name = match (start, end) {
        (true, true) => "trim",
        (true, false) => "trim_start",
        _ => "trim_end",
    };
    let expr = row_call(name, vec![arg_as(&args[1], Str)], vec![Str], Str, move |v| {
        let mut result = text(&v[0]);
        if start && let Some(m) = leading.find(result) {
            result = &result[m.end()..];
        }
        if end && let Some(m) = trailing.find(result) {
            result = &result[..m.start()];
        }
        Value::String(result.to_string())
    });
    Ok(TypedExpr::new(expr, Str))
}

/// Strict base64: text without its padding is not valid, as in Kusto.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text.trim()).ok()
}

/// The bytes of a GUID in .NET's order (first three groups little-endian).
fn guid_bytes(guid: &str) -> Option<Vec<u8>> {
    let hex: String = guid.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let raw: Vec<u8> =
        (0..16).map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16)).collect::<Result<_, _>>().ok()?;
    let mut bytes = raw.clone();
    bytes[0..4].reverse();
    bytes[4..6].reverse();
    bytes[6..8].reverse();
    Some(bytes)
}

fn guid_from_bytes(bytes: &[u8]) -> String {
    let mut raw = bytes.to_vec();
    raw[0..4].reverse();
    raw[4..6].reverse();
    raw[6..8].reverse();
    let hex = hex(&raw);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_call(name: &str, arg: &Arg, digest: fn(&[u8]) -> String) -> TypedExpr {
    call_row(name, std::slice::from_ref(arg), &[Str], Str, move |v| Value::String(digest(text(&v[0]).as_bytes())))
}

/// A version 4 GUID from the operating system's randomness.
pub fn random_guid() -> String {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex(&bytes);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Randomness from std's per-process hasher keys mixed with a counter and the clock: not for
/// secrets, only for `new_guid()` and `rand()`.
pub fn fill_random(out: &mut [u8]) {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for chunk in out.chunks_mut(8) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
        );
        let bytes = hasher.finish().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

fn percent_encode(text: &str, plus_for_space: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'*' | b'(' | b')' => {
                out.push(byte as char)
            }
            b' ' if plus_for_space => out.push('+'),
            other => out.push_str(&format!("%{other:02x}")),
        }
    }
    out
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn query_parameters(query: &str) -> serde_json::Map<String, Json> {
    let mut parameters = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key).unwrap_or_else(|| key.to_string());
        let value = percent_decode(value).unwrap_or_else(|| value.to_string());
        parameters.insert(key, Json::String(value));
    }
    parameters
}

fn parse_url(url: &str) -> Json {
    let mut bag = serde_json::Map::new();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Json::Object(bag);
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (user_info, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (username, password) = user_info.split_once(':').unwrap_or((user_info, ""));
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (host, port),
        _ => (host_port, ""),
    };
    let mut insert = |key: &str, value: Json| {
        bag.insert(key.to_string(), value);
    };
    insert("Scheme", Json::String(scheme.to_string()));
    insert("Host", Json::String(host.to_string()));
    insert("Port", Json::String(port.to_string()));
    insert("Path", Json::String(path.to_string()));
    insert("Username", Json::String(username.to_string()));
    insert("Password", Json::String(password.to_string()));
    insert("Query Parameters", Json::Object(query_parameters(query)));
    insert("Fragment", Json::String(fragment.to_string()));
    Json::Object(bag)
}

fn parse_path(path: &str) -> Json {
    // `file://C:/x`: a scheme of two letters or more (one letter is a drive).
    let (scheme, path) = match path.split_once("://") {
        Some((scheme, rest))
            if scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) =>
        {
            (scheme, rest)
        }
        _ => ("", path),
    };
    let separator_at = path.rfind(['/', '\\']);
    let (directory, filename) = match separator_at {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    // `file.txt:stream`: an NTFS alternate data stream.
    let (filename, stream) = filename.split_once(':').unwrap_or((filename, ""));
    let extension = filename.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let root = if path.len() >= 2 && path.as_bytes()[1] == b':' && path.as_bytes()[0].is_ascii_alphabetic() {
        &path[..2]
    } else {
        ""
    };
    serde_json::json!({
        "Scheme": scheme,
        "RootPath": root,
        "DirectoryPath": directory,
        "DirectoryName": directory.rsplit(['/', '\\']).next().unwrap_or(""),
        "Filename": filename,
        "Extension": extension,
        "AlternateDataStreamName": stream,
    })
}

/// Windows command-line splitting (CommandLineToArgvW rules).
fn parse_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut has_token = false;
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let mut backslashes = 0;
                while i < chars.len() && chars[i] == '\\' {
                    backslashes += 1;
                    i += 1;
                }
                if i < chars.len() && chars[i] == '"' {
                    current.extend(std::iter::repeat_n('\\', backslashes / 2));
                    if backslashes % 2 == 1 {
                        current.push('"');
                        i += 1;
                    }
                } else {
                    current.extend(std::iter::repeat_n('\\', backslashes));
                }
                has_token = true;
                continue;
            }
            '"' => {
                in_quotes = !in_quotes;
                has_token = true;
            }
            ' ' | '\t' if !in_quotes => {
                if has_token {
                    args.push(std::mem::take(&mut current));
                    has_token = false;
                }
            }
            other => {
                current.push(other);
                has_token = true;
            }
        }
        i += 1;
    }
    if has_token {
        args.push(current);
    }
    args
}

fn parse_csv_record(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => fields.push(std::mem::take(&mut current)),
            // Only the first record of several is returned.
            '\n' if !in_quotes => break,
            '\r' if !in_quotes && chars.peek() == Some(&'\n') => break,
            other => current.push(other),
        }
    }
    fields.push(current);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_windows() {
        assert_eq!(parse_command_line(r#"echo "hello world!""#), ["echo", "hello world!"]);
        assert_eq!(parse_command_line(r#"a\\"b c" d"#), [r#"a\b c"#, "d"]);
    }

    #[test]
    fn url_encoding_round_trips() {
        assert_eq!(
            percent_encode("https://www.bing.com/hello world/", false),
            "https%3a%2f%2fwww.bing.com%2fhello%20world%2f"
        );
        assert_eq!(percent_decode("https%3a%2f%2fwww.bing.com%2f").as_deref(), Some("https://www.bing.com/"));
    }

    #[test]
    fn rewrite_references() {
        assert_eq!(kusto_rewrite_to_rust(r"\1-$x"), "${1}-$$x");
    }
}
