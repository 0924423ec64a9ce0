//! Hashing, compression, byte formatting, user agents, XML, punycode and the smaller string
//! helpers.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value as Json};

use super::strings::{array_of, text};
use super::{call_row, call_row_as_is};
use crate::registry::Registry;
use crate::types::KqlType;
use crate::value::Value;

use KqlType::{Bool, Dynamic, Long, String as Str};

/// XXH64 with seed 0: the algorithm of Kusto's `hash()`.
pub fn xxhash64(bytes: &[u8]) -> u64 {
    twox_hash::XxHash64::oneshot(0, bytes)
}

/// The bytes a value is hashed as: its text form.
fn hash_bytes(value: &Value) -> Vec<u8> {
    value.to_kql_string().into_bytes()
}

fn compress(text: &str, gzip: bool) -> Option<String> {
    let compressed = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).ok()?;
        encoder.finish().ok()?
    } else {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).ok()?;
        encoder.finish().ok()?
    };
    Some(BASE64.encode(compressed))
}

fn decompress(encoded: &str, gzip: bool) -> Option<String> {
    let bytes = BASE64.decode(encoded.trim()).ok()?;
    let mut out = String::new();
    if gzip {
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_string(&mut out).ok()?;
    } else {
        flate2::read::ZlibDecoder::new(bytes.as_slice()).read_to_string(&mut out).ok()?;
    }
    Some(out)
}

/// `format_bytes`: a size with a binary unit (`19.08 MB`).
fn format_bytes(size: f64, precision: usize, unit: Option<&str>) -> String {
    const UNITS: [&str; 7] = ["Bytes", "KB", "MB", "GB", "TB", "PB", "EB"];
    let index = match unit.and_then(|u| UNITS.iter().position(|x| x.eq_ignore_ascii_case(u))) {
        Some(index) => index,
        None => {
            let mut index = 0;
            let mut scaled = size.abs();
            while scaled >= 1024.0 && index < UNITS.len() - 1 {
                scaled /= 1024.0;
                index += 1;
            }
            index
        }
    };
    let scaled = size / 1024f64.powi(index as i32);
    format!("{scaled:.precision$} {}", UNITS[index])
}

/// A browser, operating system and device read from a user agent string.
fn parse_user_agent(agent: &str) -> Json {
    let version = |text: &str, prefix: &str| -> Option<(String, Vec<String>)> {
        let start = text.find(prefix)? + prefix.len();
        let rest = &text[start..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '_').collect();
        Some((prefix.trim_end_matches(['/', ' ']).to_string(), digits.split(['.', '_']).map(str::to_string).collect()))
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
        ("MSIE ", "IE"),
        ("Trident/", "IE"),
    ]
    .iter()
    .find_map(|(marker, family)| version(agent, marker).map(|(_, parts)| (family.to_string(), parts)))
    .unwrap_or_else(|| ("Other".to_string(), vec![]));
    let os = [
        ("Windows NT ", "Windows"),
        ("Mac OS X ", "Mac OS X"),
        ("Android ", "Android"),
        ("iPhone OS ", "iOS"),
        ("CPU OS ", "iOS"),
    ]
    .iter()
    .find_map(|(marker, family)| version(agent, marker).map(|(_, parts)| (family.to_string(), parts)))
    .or_else(|| agent.contains("Linux").then(|| ("Linux".to_string(), vec![])))
    .unwrap_or_else(|| ("Other".to_string(), vec![]));
    let device = if agent.contains("iPhone") {
        "iPhone"
    } else if agent.contains("iPad") {
        "iPad"
    } else if agent.contains("Android") && agent.contains("Mobile") {
        "Generic Smartphone"
    } else {
        "Other"
    };
    let part = |parts: &[String], i: usize| Json::String(parts.get(i).cloned().unwrap_or_default());
    let mut result = Map::new();
    result.insert(
        "Browser".into(),
        serde_json::json!({"Family": browser.0, "MajorVersion": part(&browser.1, 0), "MinorVersion": part(&browser.1, 1), "Patch": part(&browser.1, 2)}),
    );
    result.insert(
        "OperatingSystem".into(),
        serde_json::json!({"Family": os.0, "MajorVersion": part(&os.1, 0), "MinorVersion": part(&os.1, 1), "Patch": part(&os.1, 2), "PatchMinor": ""}),
    );
    result.insert("Device".into(), serde_json::json!({"Family": device, "Brand": "", "Model": ""}));
    Json::Object(result)
}

/// JSON with the keys of every bag sorted, as `dynamic_to_json` writes it.
fn sorted_json(json: &Json) -> Json {
    match json {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Json::Object(keys.into_iter().map(|k| (k.clone(), sorted_json(&map[k]))).collect())
        }
        Json::Array(items) => Json::Array(items.iter().map(sorted_json).collect()),
        other => other.clone(),
    }
}

/// An XML document as Kusto's `parse_xml` converts it: `{"root": value}`, where an element with
/// neither attributes nor children is its text (or null when empty), and otherwise a bag of
/// `@attribute`s, `#text` and its children (children of the same name become an array). Only
/// elements, attributes and text count; `None` for anything that is not well-formed XML.
pub fn xml_to_json(xml: &str) -> Option<Json> {
    use quick_xml::events::Event;

    struct Element {
        name: String,
        attributes: Map<String, Json>,
        children: Map<String, Json>,
        text: String,
    }
    fn open(start: &quick_xml::events::BytesStart) -> Option<Element> {
        let mut attributes = Map::new();
        for attribute in start.attributes() {
            let attribute = attribute.ok()?;
            let key = format!("@{}", String::from_utf8_lossy(attribute.key.as_ref()));
            attributes.insert(key, Json::String(attribute.unescape_value().ok()?.into_owned()));
        }
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        Some(Element { name, attributes, children: Map::new(), text: String::new() })
    }
    fn close(element: Element) -> (String, Json) {
        let text = element.text.trim().to_string();
        let value = if element.attributes.is_empty() && element.children.is_empty() {
            if text.is_empty() { Json::Null } else { Json::String(text) }
        } else {
            let mut bag = element.attributes;
            if !text.is_empty() {
                bag.insert("#text".into(), Json::String(text));
            }
            bag.extend(element.children);
            Json::Object(bag)
        };
        (element.name, value)
    }
    fn attach(parent: &mut Element, name: String, value: Json) {
        match parent.children.get_mut(&name) {
            Some(Json::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Json::Array(vec![first, value]);
            }
            None => {
                parent.children.insert(name, value);
            }
        }
    }

    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Json> = None;
    let mut finish = |stack: &mut Vec<Element>, element: Element| -> Option<()> {
        let (name, value) = close(element);
        match stack.last_mut() {
            Some(parent) => attach(parent, name, value),
            None if root.is_none() => root = Some(Json::Object(Map::from_iter([(name, value)]))),
            None => return None,
        }
        Some(())
    };
    loop {
        match reader.read_event().ok()? {
            Event::Start(start) => stack.push(open(&start)?),
            Event::Empty(start) => {
                let element = open(&start)?;
                finish(&mut stack, element)?;
            }
            Event::End(_) => {
                let element = stack.pop()?;
                finish(&mut stack, element)?;
            }
            Event::Text(text) => {
                let text = text.unescape().ok()?;
                match stack.last_mut() {
                    Some(element) => element.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return None,
                }
            }
            Event::CData(data) => stack.last_mut()?.text.push_str(&String::from_utf8_lossy(&data.into_inner())),
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return None;
    }
    root
}

/// The labels of a domain name, split at any of the dots IDNA accepts.
fn domain_labels(domain: &str) -> impl Iterator<Item = &str> {
    domain.split(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'])
}

/// Each non-ASCII label as `xn--` and its punycode; `None` if a label cannot be encoded.
fn punycode_domain_encode(domain: &str) -> Option<String> {
    let labels: Option<Vec<String>> = domain_labels(domain)
        .map(|label| {
            if label.is_ascii() {
                Some(label.to_string())
            } else {
                idna::punycode::encode_str(label).map(|p| format!("xn--{p}"))
            }
        })
        .collect();
    Some(labels?.join("."))
}

/// Each `xn--` label decoded from punycode; `None` if one is not valid punycode.
fn punycode_domain_decode(domain: &str) -> Option<String> {
    let labels: Option<Vec<String>> = domain_labels(domain)
        .map(|label| match label.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("xn--") => idna::punycode::decode_to_string(&label[4..]),
            _ => Some(label.to_string()),
        })
        .collect();
    Some(labels?.join("."))
}

pub fn register(r: &mut Registry) {
    r.scalar("parse_xml", 1..=1, "An XML string as a dynamic value (null if it is not XML).", |_, a| {
        Ok(call_row("parse_xml", &a, &[Str], Dynamic, |v| {
            let xml = text(&v[0]);
            // Kusto's limit: longer documents are not parsed.
            if xml.len() > 1_048_576 {
                return Value::Null;
            }
            xml_to_json(xml).map(Value::Dynamic).unwrap_or(Value::Null)
        }))
    });
    r.scalar("punycode_from_string", 1..=1, "A string encoded as punycode (without xn--).", |_, a| {
        Ok(call_row("punycode_from_string", &a, &[Str], Str, |v| {
            Value::String(idna::punycode::encode_str(text(&v[0])).unwrap_or_default())
        }))
    });
    r.scalar("punycode_to_string", 1..=1, "A punycode string (without xn--) decoded.", |_, a| {
        Ok(call_row("punycode_to_string", &a, &[Str], Str, |v| {
            Value::String(idna::punycode::decode_to_string(text(&v[0])).unwrap_or_default())
        }))
    });
    r.scalar(
        "punycode_domain_to_string",
        1..=1,
        "A domain name with its non-ASCII labels encoded as xn-- punycode.",
        |_, a| {
            Ok(call_row("punycode_domain_to_string", &a, &[Str], Str, |v| {
                Value::String(punycode_domain_encode(text(&v[0])).unwrap_or_default())
            }))
        },
    );
    r.scalar("punycode_domain_from_string", 1..=1, "A domain name with its xn-- punycode labels decoded.", |_, a| {
        Ok(call_row("punycode_domain_from_string", &a, &[Str], Str, |v| {
            Value::String(punycode_domain_decode(text(&v[0])).unwrap_or_default())
        }))
    });
    r.scalar("hash", 1..=2, "The XXH64 hash of a value, optionally modulo a number.", |_, a| {
        Ok(call_row_as_is("hash", &a, Long, |v| {
            let hash = xxhash64(&hash_bytes(&v[0])) as i64;
            match v.get(1).and_then(Value::as_i64) {
                Some(modulo) if modulo > 0 => Value::Long(hash.rem_euclid(modulo)),
                Some(_) => Value::Null,
                None => Value::Long(hash),
            }
        }))
    });
    r.scalar("hash_xxhash64", 1..=1, "The XXH64 hash of a value.", |_, a| {
        Ok(call_row_as_is("hash_xxhash64", &a, Long, |v| Value::Long(xxhash64(&hash_bytes(&v[0])) as i64)))
    });
    r.scalar("hash_combine", 2..=64, "Combines hash values.", |_, a| {
        let types = vec![Long; a.len()];
        Ok(call_row("hash_combine", &a, &types, Long, |v| {
            let mut combined: u64 = 0;
            for value in v {
                let Some(h) = value.as_i64() else { return Value::Null };
                combined = xxhash64(&[combined.to_le_bytes(), (h as u64).to_le_bytes()].concat());
            }
            Value::Long(combined as i64)
        }))
    });
    r.scalar("hash_many", 1..=64, "A hash of several values.", |_, a| {
        Ok(call_row_as_is("hash_many", &a, Long, |v| {
            let joined: Vec<u8> = v.iter().flat_map(|x| [hash_bytes(x), vec![0]].concat()).collect();
            Value::Long(xxhash64(&joined) as i64)
        }))
    });
    r.scalar("gzip_compress_to_base64_string", 1..=1, "Base64 of the gzip of a string.", |_, a| {
        Ok(call_row("gzip_compress_to_base64_string", &a, &[Str], Str, |v| {
            compress(text(&v[0]), true).map(Value::String).unwrap_or(Value::Null)
        }))
    });
    r.scalar("gzip_decompress_from_base64_string", 1..=1, "The string of base64 gzip data.", |_, a| {
        Ok(call_row("gzip_decompress_from_base64_string", &a, &[Str], Str, |v| {
            decompress(text(&v[0]), true).map(Value::String).unwrap_or(Value::Null)
        }))
    });
    r.scalar("zlib_compress_to_base64_string", 1..=1, "Base64 of the zlib compression of a string.", |_, a| {
        Ok(call_row("zlib_compress_to_base64_string", &a, &[Str], Str, |v| {
            compress(text(&v[0]), false).map(Value::String).unwrap_or(Value::Null)
        }))
    });
    r.scalar("zlib_decompress_from_base64_string", 1..=1, "The string of base64 zlib data.", |_, a| {
        Ok(call_row("zlib_decompress_from_base64_string", &a, &[Str], Str, |v| {
            decompress(text(&v[0]), false).map(Value::String).unwrap_or(Value::Null)
        }))
    });
    r.scalar("format_bytes", 1..=3, "A size in bytes with a unit: format_bytes(size [, precision, unit]).", |_, a| {
        let types = [KqlType::Real, Long, Str];
        Ok(call_row("format_bytes", &a, &types[..a.len()], Str, |v| {
            let Some(size) = v[0].as_f64() else { return Value::String(String::new()) };
            let precision = v.get(1).and_then(Value::as_i64).unwrap_or(0).clamp(0, 15) as usize;
            Value::String(format_bytes(size, precision, v.get(2).and_then(Value::as_str).filter(|u| !u.is_empty())))
        }))
    });
    r.scalar("parse_user_agent", 2..=2, "The browser, operating system and device of a user agent string.", |_, a| {
        Ok(call_row("parse_user_agent", &a, &[Str, Dynamic], Dynamic, |v| {
            Value::Dynamic(parse_user_agent(text(&v[0])))
        }))
    });
    r.scalar("regex_quote", 1..=1, "A string with regular expression characters escaped.", |_, a| {
        Ok(call_row("regex_quote", &a, &[Str], Str, |v| Value::String(regex::escape(text(&v[0])))))
    });
    r.scalar(
        "replace_strings",
        3..=3,
        "Replaces several strings at once: replace_strings(text, lookups, rewrites).",
        |_, a| {
            Ok(call_row("replace_strings", &a, &[Str, Dynamic, Dynamic], Str, |v| {
                let (Some(lookups), Some(rewrites)) = (array_of(&v[1]), array_of(&v[2])) else { return Value::Null };
                let pairs: Vec<(String, String)> = lookups
                    .iter()
                    .zip(rewrites.iter().chain(std::iter::repeat(&Json::String(String::new()))))
                    .filter_map(|(l, r)| Some((l.as_str()?.to_string(), r.as_str().unwrap_or("").to_string())))
                    .filter(|(l, _)| !l.is_empty())
                    .collect();
                let source = text(&v[0]);
                let mut out = String::with_capacity(source.len());
                let mut at = 0;
                'scan: while at < source.len() {
                    for (lookup, rewrite) in &pairs {
                        if source[at..].starts_with(lookup.as_str()) {
                            out.push_str(rewrite);
                            at += lookup.len();
                            continue 'scan;
                        }
                    }
                    let c = source[at..].chars().next().expect("inside the string");
                    out.push(c);
                    at += c.len_utf8();
                }
                Value::String(out)
            }))
        },
    );
    r.scalar("set_equals", 2..=64, "Whether arrays hold the same set of values.", |_, a| {
        let types = vec![Dynamic; a.len()];
        Ok(call_row("set_equals", &a, &types, Bool, |v| {
            let sets: Option<Vec<Vec<String>>> = v
                .iter()
                .map(|x| {
                    array_of(x).map(|items| {
                        let mut set: Vec<String> = items.iter().map(Json::to_string).collect();
                        set.sort();
                        set.dedup();
                        set
                    })
                })
                .collect();
            match sets {
                Some(sets) => Value::Bool(sets.windows(2).all(|w| w[0] == w[1])),
                None => Value::Null,
            }
        }))
    });
    r.scalar("bag_zip", 2..=2, "A property bag of keys and values from two arrays.", |_, a| {
        Ok(call_row("bag_zip", &a, &[Dynamic, Dynamic], Dynamic, |v| {
            let (Some(keys), Some(values)) = (array_of(&v[0]), array_of(&v[1])) else { return Value::Null };
            let bag = keys
                .iter()
                .enumerate()
                .filter_map(|(i, k)| k.as_str().map(|k| (k.to_string(), values.get(i).cloned().unwrap_or(Json::Null))))
                .collect();
            Value::Dynamic(Json::Object(bag))
        }))
    });
    r.scalar("dynamic_to_json", 1..=1, "Canonical JSON text of a dynamic value (keys sorted).", |_, a| {
        Ok(call_row("dynamic_to_json", &a, &[Dynamic], Str, |v| match &v[0] {
            Value::Dynamic(json) => Value::String(sorted_json(json).to_string()),
            _ => Value::String("null".into()),
        }))
    });
    r.scalar("hll_isvalid", 1..=1, "Whether a value is a sketch made by hll().", |_, a| {
        Ok(call_row("hll_isvalid", &a, &[Dynamic], Bool, |v| Value::Bool(array_of(&v[0]).is_some())))
    });
    r.scalar("tdigest_isvalid", 1..=1, "Whether a value is a digest made by tdigest().", |_, a| {
        Ok(call_row("tdigest_isvalid", &a, &[Dynamic], Bool, |v| {
            Value::Bool(
                array_of(&v[0]).is_some_and(|items| items.iter().all(|i| i.as_array().is_some_and(|p| p.len() == 2))),
            )
        }))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_converts_as_kusto_documents() {
        let convert = |xml: &str| xml_to_json(xml).map(|j| j.to_string());
        assert_eq!(convert("<e/>").as_deref(), Some(r#"{"e":null}"#));
        assert_eq!(convert("<e>text</e>").as_deref(), Some(r#"{"e":"text"}"#));
        assert_eq!(convert(r#"<e name="value" />"#).as_deref(), Some(r#"{"e":{"@name":"value"}}"#));
        assert_eq!(
            convert(r#"<e name="value">text</e>"#).as_deref(),
            Some(r##"{"e":{"@name":"value","#text":"text"}}"##)
        );
        assert_eq!(convert("<e> <a>text</a> <b>text</b> </e>").as_deref(), Some(r#"{"e":{"a":"text","b":"text"}}"#));
        assert_eq!(convert("<e> <a>1</a> <a>2</a> <a>3</a> </e>").as_deref(), Some(r#"{"e":{"a":["1","2","3"]}}"#));
        assert_eq!(convert("<e> text <a>text</a> </e>").as_deref(), Some(r##"{"e":{"#text":"text","a":"text"}}"##));
        assert_eq!(
            convert("<?xml version=\"1.0\"?><!-- note --><d><v>1 &lt; 2</v><![CDATA[raw]]></d>").as_deref(),
            Some(r##"{"d":{"#text":"raw","v":"1 < 2"}}"##)
        );
        for broken in ["<a><b></a>", "<a>", "text", "<a/><b/>", "<a x=1/>", ""] {
            assert_eq!(convert(broken), None, "{broken}");
        }
    }

    #[test]
    fn punycode_round_trips_as_the_reference_shows() {
        assert_eq!(idna::punycode::encode_str("académie-française").as_deref(), Some("acadmie-franaise-npb1a"));
        assert_eq!(
            punycode_domain_encode("Riðill\u{3002}Skáldskaparmál\u{3002}org").as_deref(),
            Some("xn--Riill-jta.xn--Skldskaparml-dbbj.org")
        );
        assert_eq!(
            punycode_domain_encode("Kaledvoulc'h.Artorījos.edu").as_deref(),
            Some("Kaledvoulc'h.xn--Artorjos-ejb.edu")
        );
        assert_eq!(
            punycode_domain_decode("xn--Ry-lja8c.xn--Jng-uta63a.xn--Bng-9ka.com").as_deref(),
            Some("Rúyì.Jīngū.Bàng.com")
        );
    }

    #[test]
    fn xxhash64_matches_the_reference() {
        // The KQL reference: hash("World") is 1846988464401551951.
        assert_eq!(xxhash64(b"World") as i64, 1_846_988_464_401_551_951);
        assert_eq!(xxhash64(b""), 0xEF46_DB37_51D8_E999);
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(format_bytes(564.0, 0, None), "564 Bytes");
        assert_eq!(format_bytes(10_332.0, 1, None), "10.1 KB");
        assert_eq!(format_bytes(20_010_332.0, 2, None), "19.08 MB");
        assert_eq!(format_bytes(20_010_332.0, 0, Some("KB")), "19541 KB");
    }

    #[test]
    fn compression_round_trips() {
        let compressed = compress("hello", true).unwrap();
        assert_eq!(decompress(&compressed, true).as_deref(), Some("hello"));
    }
}
