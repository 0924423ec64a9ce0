//! IPv4 and IPv6 functions. Addresses are text, optionally with a `/prefix`; IPv4 addresses
//! take part in IPv6 comparisons as IPv4-mapped addresses (`::ffff:a.b.c.d`).

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::Value as Json;

use super::{call_row, call_row_as_is};
use crate::registry::Registry;
use crate::types::KqlType;
use crate::value::Value;

use KqlType::{Bool, Dynamic, Long, String as Str};

/// An IPv4 address with its prefix length (32 when none is written).
pub fn parse_ipv4_with_prefix(text: &str) -> Option<(u32, u32)> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, prefix.trim().parse::<u32>().ok().filter(|p| *p <= 32)?),
        None => (text, 32),
    };
    let address: Ipv4Addr = address.trim().parse().ok()?;
    Some((u32::from(address), prefix))
}

fn mask4(prefix: u32) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) }
}

/// An IPv6 (or IPv4-mapped) address with its prefix length over 128 bits.
pub fn parse_ipv6_with_prefix(text: &str) -> Option<(u128, u32)> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address.trim(), Some(prefix.trim().parse::<u32>().ok()?)),
        None => (text, None),
    };
    // `::a.b.c.d` is read as the IPv4 address it embeds, as Kusto reads it.
    let address = address.strip_prefix("::").filter(|v4| v4.parse::<Ipv4Addr>().is_ok()).unwrap_or(address);
    if let Ok(v4) = address.parse::<Ipv4Addr>() {
        let prefix = prefix.unwrap_or(32);
        if prefix > 32 {
            return None;
        }
        let mapped = u128::from(v4.to_ipv6_mapped());
        return Some((mapped, prefix + 96));
    }
    let v6: Ipv6Addr = address.parse().ok()?;
    let prefix = prefix.unwrap_or(128);
    (prefix <= 128).then_some((u128::from(v6), prefix))
}

fn mask6(prefix: u32) -> u128 {
    if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) }
}

fn compare4(a: &str, b: &str, prefix: Option<i64>) -> Option<i64> {
    let (x, px) = parse_ipv4_with_prefix(a)?;
    let (y, py) = parse_ipv4_with_prefix(b)?;
    let prefix = px.min(py).min(prefix.map(|p| p.clamp(0, 32) as u32).unwrap_or(32));
    let mask = mask4(prefix);
    Some(match (x & mask).cmp(&(y & mask)) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    })
}

fn compare6(a: &str, b: &str, prefix: Option<i64>) -> Option<i64> {
    let (x, px) = parse_ipv6_with_prefix(a)?;
    let (y, py) = parse_ipv6_with_prefix(b)?;
    let prefix = px.min(py).min(prefix.map(|p| p.clamp(0, 128) as u32).unwrap_or(128));
    let mask = mask6(prefix);
    Some(match (x & mask).cmp(&(y & mask)) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    })
}

fn in_range4(address: &str, range: &str) -> Option<bool> {
    let (ip, _) = parse_ipv4_with_prefix(address)?;
    let (network, prefix) = parse_ipv4_with_prefix(range)?;
    let mask = mask4(prefix);
    Some(ip & mask == network & mask)
}

fn in_range6(address: &str, range: &str) -> Option<bool> {
    let (ip, _) = parse_ipv6_with_prefix(address)?;
    let (network, prefix) = parse_ipv6_with_prefix(range)?;
    let mask = mask6(prefix);
    Some(ip & mask == network & mask)
}

/// The ranges of `ipv4_is_in_any_range`: separate arguments or one array of them.
fn range_list(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| match v {
            Value::Dynamic(Json::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
            other => other.as_str().map(|s| vec![s.to_string()]).unwrap_or_default(),
        })
        .collect()
}

fn is_private4(ip: u32) -> bool {
    let in_net = |network: u32, prefix: u32| ip & mask4(prefix) == network;
    in_net(0x0A00_0000, 8) || in_net(0xAC10_0000, 12) || in_net(0xC0A8_0000, 16)
}

/// The IPv4 addresses that appear in text as whole tokens.
fn ipv4_tokens(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.')) {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let end = if bytes[i - 1] == b'.' { i - 1 } else { i };
            let followed_by_word = i < bytes.len() && bytes[i].is_ascii_alphanumeric();
            if !followed_by_word && text[start..end].parse::<Ipv4Addr>().is_ok() {
                tokens.push(&text[start..end]);
            }
        } else {
            i += 1;
        }
    }
    tokens
}

pub fn register(r: &mut Registry) {
    r.scalar(
        "geo_info_from_ip_address",
        1..=1,
        "Country, state, city, latitude and longitude of an IPv4 or IPv6 address (DB-IP Lite, country level).",
        |_, a| Ok(call_row("geo_info_from_ip_address", &a, &[Str], Dynamic, |v| geo_info(text(&v[0])))),
    );
    r.scalar("ipv4_is_in_range", 2..=2, "Whether an IPv4 address is in a range (CIDR).", |_, a| {
        Ok(call_row("ipv4_is_in_range", &a, &[Str, Str], Bool, |v| {
            in_range4(text(&v[0]), text(&v[1])).map(Value::Bool).unwrap_or(Value::Null)
        }))
    });
    r.scalar("ipv4_is_in_any_range", 2..=64, "Whether an IPv4 address is in any of the ranges.", |_, a| {
        Ok(call_row_as_is("ipv4_is_in_any_range", &a, Bool, |v| {
            let address = text(&v[0]);
            if parse_ipv4_with_prefix(address).is_none() {
                return Value::Null;
            }
            Value::Bool(range_list(&v[1..]).iter().any(|range| in_range4(address, range) == Some(true)))
        }))
    });
    r.scalar("ipv4_is_match", 2..=3, "Whether two IPv4 addresses match, over a prefix.", |_, a| {
        let types = [Str, Str, Long];
        Ok(call_row("ipv4_is_match", &a, &types[..a.len()], Bool, |v| {
            compare4(text(&v[0]), text(&v[1]), v.get(2).and_then(Value::as_i64))
                .map(|c| Value::Bool(c == 0))
                .unwrap_or(Value::Null)
        }))
    });
    r.scalar("ipv4_compare", 2..=3, "Compares two IPv4 addresses: -1, 0 or 1.", |_, a| {
        let types = [Str, Str, Long];
        Ok(call_row("ipv4_compare", &a, &types[..a.len()], Long, |v| {
            compare4(text(&v[0]), text(&v[1]), v.get(2).and_then(Value::as_i64)).map(Value::Long).unwrap_or(Value::Null)
        }))
    });
    r.scalar("ipv4_is_private", 1..=1, "Whether an IPv4 address is in a private network (RFC 1918).", |_, a| {
        Ok(call_row("ipv4_is_private", &a, &[Str], Bool, |v| {
            parse_ipv4_with_prefix(text(&v[0])).map(|(ip, _)| Value::Bool(is_private4(ip))).unwrap_or(Value::Null)
        }))
    });
    r.scalar("ipv4_netmask_suffix", 1..=1, "The prefix length of an IPv4 address.", |_, a| {
        Ok(call_row("ipv4_netmask_suffix", &a, &[Str], KqlType::Int, |v| {
            parse_ipv4_with_prefix(text(&v[0])).map(|(_, p)| Value::Int(p as i32)).unwrap_or(Value::Null)
        }))
    });
    r.scalar("parse_ipv4", 1..=1, "An IPv4 address as a number.", |_, a| {
        Ok(call_row("parse_ipv4", &a, &[Str], Long, |v| {
            parse_ipv4_with_prefix(text(&v[0]))
                .map(|(ip, p)| Value::Long(i64::from(ip & mask4(p))))
                .unwrap_or(Value::Null)
        }))
    });
    r.scalar("parse_ipv4_mask", 2..=2, "An IPv4 address masked by a prefix, as a number.", |_, a| {
        Ok(call_row("parse_ipv4_mask", &a, &[Str, Long], Long, |v| {
            let Some((ip, p)) = parse_ipv4_with_prefix(text(&v[0])) else { return Value::Null };
            let Some(mask) = v[1].as_i64().filter(|m| (0..=32).contains(m)) else { return Value::Null };
            Value::Long(i64::from(ip & mask4(p.min(mask as u32))))
        }))
    });
    r.scalar("format_ipv4", 1..=2, "An IPv4 address (text or number) in dotted form, masked by a prefix.", |_, a| {
        Ok(call_row_as_is("format_ipv4", &a, Str, |v| format_ipv4(v, false)))
    });
    r.scalar("format_ipv4_mask", 1..=2, "An IPv4 network in CIDR form.", |_, a| {
        Ok(call_row_as_is("format_ipv4_mask", &a, Str, |v| format_ipv4(v, true)))
    });
    r.scalar("ipv4_range_to_cidr_list", 2..=2, "The CIDR blocks that cover a range of IPv4 addresses.", |_, a| {
        Ok(call_row("ipv4_range_to_cidr_list", &a, &[Str, Str], Dynamic, |v| {
            let (Some((start, _)), Some((end, _))) =
                (parse_ipv4_with_prefix(text(&v[0])), parse_ipv4_with_prefix(text(&v[1])))
            else {
                return Value::Null;
            };
            Value::Dynamic(Json::Array(cidr_cover(start, end).into_iter().map(Json::String).collect()))
        }))
    });
    r.scalar("has_ipv4", 2..=2, "Whether text contains an IPv4 address as a whole token.", |_, a| {
        Ok(call_row("has_ipv4", &a, &[Str, Str], Bool, |v| {
            let wanted = text(&v[1]);
            Value::Bool(ipv4_tokens(text(&v[0])).contains(&wanted))
        }))
    });
    r.scalar("has_ipv4_prefix", 2..=2, "Whether text contains an IPv4 address starting with a prefix.", |_, a| {
        Ok(call_row("has_ipv4_prefix", &a, &[Str, Str], Bool, |v| {
            let prefix = text(&v[1]);
            Value::Bool(ipv4_tokens(text(&v[0])).iter().any(|t| t.starts_with(prefix)))
        }))
    });
    r.scalar("has_any_ipv4", 2..=64, "Whether text contains any of the IPv4 addresses.", |_, a| {
        Ok(call_row_as_is("has_any_ipv4", &a, Bool, |v| {
            let tokens = ipv4_tokens(text(&v[0]));
            Value::Bool(range_list(&v[1..]).iter().any(|ip| tokens.contains(&ip.as_str())))
        }))
    });
    r.scalar(
        "has_any_ipv4_prefix",
        2..=64,
        "Whether text contains an IPv4 address with any of the prefixes.",
        |_, a| {
            Ok(call_row_as_is("has_any_ipv4_prefix", &a, Bool, |v| {
                let tokens = ipv4_tokens(text(&v[0]));
                Value::Bool(range_list(&v[1..]).iter().any(|p| tokens.iter().any(|t| t.starts_with(p.as_str()))))
            }))
        },
    );
    r.scalar("ipv6_compare", 2..=3, "Compares two IPv6 (or IPv4) addresses: -1, 0 or 1.", |_, a| {
        let types = [Str, Str, Long];
        Ok(call_row("ipv6_compare", &a, &types[..a.len()], Long, |v| {
            compare6(text(&v[0]), text(&v[1]), v.get(2).and_then(Value::as_i64)).map(Value::Long).unwrap_or(Value::Null)
        }))
    });
    r.scalar("ipv6_is_match", 2..=3, "Whether two IPv6 (or IPv4) addresses match, over a prefix.", |_, a| {
        let types = [Str, Str, Long];
        Ok(call_row("ipv6_is_match", &a, &types[..a.len()], Bool, |v| {
            compare6(text(&v[0]), text(&v[1]), v.get(2).and_then(Value::as_i64))
                .map(|c| Value::Bool(c == 0))
                .unwrap_or(Value::Null)
        }))
    });
    r.scalar("ipv6_is_in_range", 2..=2, "Whether an IPv6 address is in a range.", |_, a| {
        Ok(call_row("ipv6_is_in_range", &a, &[Str, Str], Bool, |v| {
            in_range6(text(&v[0]), text(&v[1])).map(Value::Bool).unwrap_or(Value::Null)
        }))
    });
    r.scalar("ipv6_is_in_any_range", 2..=64, "Whether an IPv6 address is in any of the ranges.", |_, a| {
        Ok(call_row_as_is("ipv6_is_in_any_range", &a, Bool, |v| {
            let address = text(&v[0]);
            if parse_ipv6_with_prefix(address).is_none() {
                return Value::Null;
            }
            Value::Bool(range_list(&v[1..]).iter().any(|range| in_range6(address, range) == Some(true)))
        }))
    });
    r.scalar("parse_ipv6", 1..=1, "An IPv6 (or IPv4) address in canonical IPv6 form.", |_, a| {
        Ok(call_row("parse_ipv6", &a, &[Str], Str, |v| {
            parse_ipv6_with_prefix(text(&v[0]))
                .map(|(ip, p)| Value::String(full_ipv6(ip & mask6(p))))
                .unwrap_or(Value::Null)
        }))
    });
    r.scalar("parse_ipv6_mask", 2..=2, "An IPv6 address masked by a prefix, in canonical form.", |_, a| {
        Ok(call_row("parse_ipv6_mask", &a, &[Str, Long], Str, |v| {
            let Some((ip, p)) = parse_ipv6_with_prefix(text(&v[0])) else { return Value::Null };
            let Some(mask) = v[1].as_i64().filter(|m| (0..=128).contains(m)) else { return Value::Null };
            Value::String(full_ipv6(ip & mask6(p.min(mask as u32))))
        }))
    });
}

fn text(value: &Value) -> &str {
    super::strings::text(value)
}

/// Kusto's `{"country","state","city","latitude","longitude"}` for a public address, from the
/// bundled database (country level: `state` and `city` are empty); null for anything else.
fn geo_info(address: &str) -> Value {
    let Ok(database) = crate::geoip::bundled() else {
        return Value::Null;
    };
    match database.lookup_text(address) {
        Some(info) => Value::Dynamic(serde_json::json!({
            "country": info.country,
            "state": info.state,
            "city": info.city,
            "latitude": info.latitude,
            "longitude": info.longitude,
        })),
        None => Value::Null,
    }
}

/// The eight groups of an IPv6 address, four hexadecimal digits each, as Kusto prints them.
fn full_ipv6(ip: u128) -> String {
    (0..8).rev().map(|i| format!("{:04x}", (ip >> (i * 16)) & 0xffff)).collect::<Vec<_>>().join(":")
}

fn format_ipv4(v: &[Value], with_mask: bool) -> Value {
    let (ip, own_prefix) = match &v[0] {
        Value::String(s) => match parse_ipv4_with_prefix(s) {
            Some(parsed) => parsed,
            None => return Value::String(String::new()),
        },
        other => match other.as_i64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => (n, 32),
            None => return Value::String(String::new()),
        },
    };
    let prefix = match v.get(1) {
        Some(mask) => match mask.as_i64() {
            Some(m) if (0..=32).contains(&m) => own_prefix.min(m as u32),
            _ => return Value::String(String::new()),
        },
        None => own_prefix,
    };
    let network = Ipv4Addr::from(ip & mask4(prefix));
    Value::String(if with_mask { format!("{network}/{prefix}") } else { network.to_string() })
}

/// The fewest CIDR blocks covering `[start, end]`.
fn cidr_cover(start: u32, end: u32) -> Vec<String> {
    let mut blocks = Vec::new();
    let (mut current, end) = (u64::from(start), u64::from(end));
    while current <= end {
        let mut size = if current == 0 { 32 } else { current.trailing_zeros().min(32) };
        while size > 0 && current + (1u64 << size) - 1 > end {
            size -= 1;
        }
        blocks.push(format!("{}/{}", Ipv4Addr::from(current as u32), 32 - size));
        current += 1u64 << size;
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_matches() {
        assert_eq!(in_range4("192.168.1.1", "192.168.1.255/24"), Some(true));
        assert_eq!(compare4("192.168.1.1/30", "192.168.1.255/24", None), Some(0));
        assert_eq!(compare6("192.168.1.1", "::ffff:c0a8:0101", None), Some(0));
        assert_eq!(compare6("fe80::85d:e82c:9446:7994/120", "fe80::85d:e82c:9446:7998", None), Some(0));
        assert_eq!(in_range6("a5e:f127:8a9d:146d:e102:b5d3:c755:abcd", "0:0:0:0:0:ffff:c0a8:ac/60"), Some(false));
        assert!(is_private4(parse_ipv4_with_prefix("10.1.2.3").unwrap().0));
        assert!(!is_private4(parse_ipv4_with_prefix("127.0.0.1").unwrap().0));
    }

    #[test]
    fn cidr_cover_of_a_range() {
        let start = parse_ipv4_with_prefix("1.1.128.0").unwrap().0;
        let end = parse_ipv4_with_prefix("1.1.140.255").unwrap().0;
        assert_eq!(cidr_cover(start, end), ["1.1.128.0/21", "1.1.136.0/22", "1.1.140.0/24"]);
    }

    #[test]
    fn addresses_in_text() {
        assert_eq!(ipv4_tokens("from 10.0.0.1, to 10.0.0.256 and 1.2.3.4."), ["10.0.0.1", "1.2.3.4"]);
    }
}
