//! IP geolocation for `geo_info_from_ip_address()`: a bundled range database (DB-IP Lite
//! country data with country names and representative points from world-countries) and its
//! reader.
//!
//! The database file is `geoip/geoip.bin` beside this crate's `src/`: a gzip stream whose
//! payload format is documented at the top of `geoip/build.py`, the script that makes it
//! (`geoip/README.md` says where the data comes from, its licences and how to regenerate it).
//!
//! Everything but [`decompress`] and [`bundled`] is std-only. Lookups are a binary search over
//! sorted range starts: entry `i` covers `starts[i] ..= starts[i + 1] - 1`, `starts[0]` is `0` and
//! the last entry runs to the family's highest address, so every address falls in exactly one
//! entry, whose location may be "no data".

use std::net::{IpAddr, Ipv4Addr};

/// The first four bytes of a decompressed database.
pub const MAGIC: [u8; 4] = *b"VGEO";
/// The payload format version this reader understands.
pub const FORMAT_VERSION: u16 = 1;
/// The location index that means "no data for this range".
pub const NO_LOCATION: u16 = 0xFFFF;

const HEADER_LEN: usize = 28;
const LOCATION_LEN: usize = 32;
/// Upper bound on the decompressed size [`decompress`] accepts (the real payload is ~8 MB).
pub const MAX_DECOMPRESSED: u64 = 256 << 20;

/// The location of an address, as `geo_info_from_ip_address()` reports it. For a country-level
/// database `state` and `city` are empty and the coordinates are a representative point of the
/// country.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoInfo {
    /// Country name, e.g. "United States".
    pub country: String,
    /// ISO 3166-1 alpha-2 code, e.g. "US".
    pub country_code: String,
    /// State or region; empty when the database has none.
    pub state: String,
    /// City; empty when the database has none.
    pub city: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A loaded, validated geolocation database.
#[derive(Debug, Clone)]
pub struct GeoDatabase {
    meta: String,
    locations: Vec<GeoInfo>,
    v4_starts: Vec<u32>,
    v4_locs: Vec<u16>,
    v6_starts: Vec<u128>,
    v6_locs: Vec<u16>,
}

/// A bounds-checked little-endian reader over the payload.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(len).filter(|&end| end <= self.data.len()).ok_or_else(|| {
            format!("geoip: truncated {what} (needs {len} bytes at offset {}, file has {})", self.pos, self.data.len())
        })?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        self.array::<2>(what).map(u16::from_le_bytes)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_i32(b: &[u8]) -> i32 {
    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_u128(b: &[u8]) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    u128::from_le_bytes(a)
}

fn section_len(count: usize, width: usize, what: &str) -> Result<usize, String> {
    count.checked_mul(width).ok_or_else(|| format!("geoip: {what} size overflows"))
}

/// Checks that starts begin at 0 and strictly ascend, and that every location index is valid.
fn check_ranges<T: Copy + Ord + Default>(
    family: &str,
    starts: &[T],
    locs: &[u16],
    loc_count: usize,
) -> Result<(), String> {
    if starts.first() != Some(&T::default()) {
        return Err(format!("geoip: {family} ranges do not start at address 0"));
    }
    if let Some(i) = starts.windows(2).position(|w| w[0] >= w[1]) {
        return Err(format!("geoip: {family} range starts are not strictly ascending at entry {}", i + 1));
    }
    if let Some(i) = locs.iter().position(|&l| l != NO_LOCATION && usize::from(l) >= loc_count) {
        return Err(format!("geoip: {family} entry {i} has location index {} of {loc_count}", locs[i]));
    }
    Ok(())
}

impl GeoDatabase {
    /// Parses and validates a decompressed database. Errors (never panics) on anything malformed:
    /// wrong magic or version, counts that disagree with the length, out-of-bounds or non-UTF-8
    /// strings, coordinates out of range, unsorted ranges or dangling location indices.
    pub fn from_bytes(data: &[u8]) -> Result<GeoDatabase, String> {
        let mut r = Reader { data, pos: 0 };
        if data.len() < HEADER_LEN {
            return Err(format!("geoip: {} bytes is shorter than the {HEADER_LEN}-byte header", data.len()));
        }
        if r.array::<4>("magic")? != MAGIC {
            return Err("geoip: bad magic (not a Vigil geoip database, or still compressed)".to_string());
        }
        let version = r.u16("version")?;
        if version != FORMAT_VERSION {
            return Err(format!("geoip: format version {version} is not supported (expected {FORMAT_VERSION})"));
        }
        let reserved = r.u16("reserved")?;
        if reserved != 0 {
            return Err(format!("geoip: reserved header field is {reserved}, expected 0"));
        }
        let loc_count = r.u32("location count")? as usize;
        let v4_count = r.u32("IPv4 count")? as usize;
        let v6_count = r.u32("IPv6 count")? as usize;
        let meta_len = r.u32("metadata length")? as usize;
        let str_len = r.u32("string pool length")? as usize;
        if loc_count > usize::from(NO_LOCATION) {
            return Err(format!("geoip: {loc_count} locations, at most {} allowed", NO_LOCATION));
        }
        if v4_count == 0 || v6_count == 0 {
            return Err("geoip: a family has no ranges (each needs at least the entry at address 0)".to_string());
        }

        // Check the total length before allocating anything sized by the header.
        let expected = [
            Ok(HEADER_LEN),
            Ok(meta_len),
            Ok(str_len),
            section_len(loc_count, LOCATION_LEN, "location table"),
            section_len(v4_count, 4 + 2, "IPv4 section"),
            section_len(v6_count, 16 + 2, "IPv6 section"),
        ]
        .into_iter()
        .try_fold(0usize, |acc, len| acc.checked_add(len?).ok_or_else(|| "geoip: total size overflows".to_string()))?;
        if expected != data.len() {
            return Err(format!("geoip: header describes {expected} bytes but the payload has {}", data.len()));
        }

        let meta = std::str::from_utf8(r.take(meta_len, "metadata")?)
            .map_err(|e| format!("geoip: metadata is not UTF-8: {e}"))?
            .to_string();
        let pool = r.take(str_len, "string pool")?;
        let string = |off: u32, len: u16, what: &str, i: usize| -> Result<String, String> {
            let start = off as usize;
            let end = start.saturating_add(usize::from(len));
            let bytes = pool.get(start..end).ok_or_else(|| {
                format!("geoip: location {i} {what} ({start}..{end}) is outside the {str_len}-byte string pool")
            })?;
            std::str::from_utf8(bytes)
                .map(str::to_string)
                .map_err(|e| format!("geoip: location {i} {what} is not UTF-8: {e}"))
        };

        let table = r.take(loc_count * LOCATION_LEN, "location table")?;
        let mut locations = Vec::with_capacity(loc_count);
        for (i, rec) in table.chunks_exact(LOCATION_LEN).enumerate() {
            let field = |k: usize| (le_u32(&rec[6 * k..]), le_u16(&rec[6 * k + 4..]));
            let (country, code, state, city) = (field(0), field(1), field(2), field(3));
            let lat = le_i32(&rec[24..]);
            let lon = le_i32(&rec[28..]);
            if !(-90_000_000..=90_000_000).contains(&lat) || !(-180_000_000..=180_000_000).contains(&lon) {
                return Err(format!("geoip: location {i} has coordinates out of range ({lat}, {lon} microdegrees)"));
            }
            locations.push(GeoInfo {
                country: string(country.0, country.1, "country", i)?,
                country_code: string(code.0, code.1, "country code", i)?,
                state: string(state.0, state.1, "state", i)?,
                city: string(city.0, city.1, "city", i)?,
                latitude: f64::from(lat) / 1e6,
                longitude: f64::from(lon) / 1e6,
            });
        }

        let v4_starts: Vec<u32> = r.take(v4_count * 4, "IPv4 starts")?.chunks_exact(4).map(le_u32).collect();
        let v4_locs: Vec<u16> = r.take(v4_count * 2, "IPv4 locations")?.chunks_exact(2).map(le_u16).collect();
        let v6_starts: Vec<u128> = r.take(v6_count * 16, "IPv6 starts")?.chunks_exact(16).map(le_u128).collect();
        let v6_locs: Vec<u16> = r.take(v6_count * 2, "IPv6 locations")?.chunks_exact(2).map(le_u16).collect();
        check_ranges("IPv4", &v4_starts, &v4_locs, loc_count)?;
        check_ranges("IPv6", &v6_starts, &v6_locs, loc_count)?;

        Ok(GeoDatabase { meta, locations, v4_starts, v4_locs, v6_starts, v6_locs })
    }

    /// The location recorded for an address, if any. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) are looked up as IPv4. No address is filtered out here; see
    /// [`GeoDatabase::lookup_text`] for Kusto's treatment of private addresses.
    pub fn lookup(&self, ip: IpAddr) -> Option<&GeoInfo> {
        let loc = match ip {
            IpAddr::V4(v4) => find(&self.v4_starts, &self.v4_locs, u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => find(&self.v4_starts, &self.v4_locs, u32::from(v4)),
                None => find(&self.v6_starts, &self.v6_locs, u128::from(v6)),
            },
        }?;
        self.locations.get(usize::from(loc))
    }

    /// `geo_info_from_ip_address()`'s lookup: parses an IPv4 or IPv6 address (surrounding
    /// whitespace allowed) and returns its location. Text that is not an address, and
    /// addresses that are not public (private, loopback, link-local, unspecified and the like,
    /// for which Kusto returns an empty result), give `None`.
    pub fn lookup_text(&self, text: &str) -> Option<&GeoInfo> {
        let ip: IpAddr = text.trim().parse().ok()?;
        if is_non_public(ip) {
            return None;
        }
        self.lookup(ip)
    }

    /// Text naming the data's sources, versions and licences, as stored in the file.
    pub fn meta(&self) -> &str {
        &self.meta
    }

    /// All locations in the database.
    pub fn locations(&self) -> &[GeoInfo] {
        &self.locations
    }

    /// Number of IPv4 entries (ranges and gaps).
    pub fn v4_entries(&self) -> usize {
        self.v4_starts.len()
    }

    /// Number of IPv6 entries (ranges and gaps).
    pub fn v6_entries(&self) -> usize {
        self.v6_starts.len()
    }
}

/// The location index of the entry holding `addr`; `None` for a "no data" entry.
fn find<T: Copy + Ord>(starts: &[T], locs: &[u16], addr: T) -> Option<u16> {
    // starts[0] == 0 (validated), so at least one start is <= addr.
    let i = starts.partition_point(|&s| s <= addr).checked_sub(1)?;
    locs.get(i).copied().filter(|&l| l != NO_LOCATION)
}

/// Whether an address is one Kusto gives no location for: unspecified, loopback, private
/// (RFC 1918), shared (100.64.0.0/10), link-local, broadcast, documentation, multicast, or
/// their IPv6 counterparts (unique local fc00::/7, link-local fe80::/10). IPv4-mapped IPv6
/// addresses are judged as IPv4.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_non_public_v4(v4),
            None => {
                let first = v6.segments()[0];
                v6.is_unspecified()
                    || v6.is_loopback()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                    || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                    || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation 2001:db8::/32
            }
        },
    }
}

fn is_non_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_unspecified()
        || a == 0 // "this network" 0.0.0.0/8
        || v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_multicast()
        || (a == 100 && (b & 0xc0) == 64) // shared address space 100.64.0.0/10
}

/// Inflates a gzip-compressed database (as `geoip.bin` is stored), refusing payloads larger
/// than [`MAX_DECOMPRESSED`].
pub fn decompress(gz: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("geoip: cannot decompress: {e}"))?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(format!("geoip: decompressed database exceeds {MAX_DECOMPRESSED} bytes"));
    }
    Ok(out)
}

/// The compressed database bundled into the binary.
pub static BUNDLED_GZ: &[u8] = include_bytes!("../geoip/geoip.bin");

/// The bundled database, decompressed and parsed on first use (about 8 MB of payload, tens of
/// milliseconds) and kept for the life of the process.
pub fn bundled() -> Result<&'static GeoDatabase, String> {
    static DB: std::sync::OnceLock<Result<GeoDatabase, String>> = std::sync::OnceLock::new();
    DB.get_or_init(|| decompress(BUNDLED_GZ).and_then(|raw| GeoDatabase::from_bytes(&raw)))
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    /// (country, code, state, city, lat µdeg, lon µdeg)
    type Loc<'a> = (&'a str, &'a str, &'a str, &'a str, i32, i32);

    /// Writes a payload in format 1, as build.py does (without compression).
    fn build(locs: &[Loc], v4: &[(u32, u16)], v6: &[(u128, u16)]) -> Vec<u8> {
        let mut pool = Vec::new();
        let mut table = Vec::new();
        for &(country, code, state, city, lat, lon) in locs {
            for s in [country, code, state, city] {
                table.extend_from_slice(&(pool.len() as u32).to_le_bytes());
                table.extend_from_slice(&(s.len() as u16).to_le_bytes());
                pool.extend_from_slice(s.as_bytes());
            }
            table.extend_from_slice(&lat.to_le_bytes());
            table.extend_from_slice(&lon.to_le_bytes());
        }
        let meta = b"test database";
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        for n in [locs.len(), v4.len(), v6.len(), meta.len(), pool.len()] {
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        out.extend_from_slice(meta);
        out.extend_from_slice(&pool);
        out.extend_from_slice(&table);
        v4.iter().for_each(|(s, _)| out.extend_from_slice(&s.to_le_bytes()));
        v4.iter().for_each(|(_, l)| out.extend_from_slice(&l.to_le_bytes()));
        v6.iter().for_each(|(s, _)| out.extend_from_slice(&s.to_le_bytes()));
        v6.iter().for_each(|(_, l)| out.extend_from_slice(&l.to_le_bytes()));
        out
    }

    const LOCS: &[Loc] = &[
        ("Australia", "AU", "", "", -27_000_000, 133_000_000),
        ("China", "CN", "", "", 35_000_000, 105_000_000),
        ("United States", "US", "Washington", "Redmond", 47_600_000, -122_100_000),
        ("Côte d'Ivoire", "CI", "", "", 8_000_000, -5_000_000),
    ];

    fn v4(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    fn v6(s: &str) -> u128 {
        u128::from(s.parse::<Ipv6Addr>().unwrap())
    }

    fn sample() -> Vec<u8> {
        build(
            LOCS,
            &[
                (0, NO_LOCATION),
                (v4("1.0.0.0"), 0),
                (v4("1.0.1.0"), 1),
                (v4("1.0.4.0"), NO_LOCATION),
                (v4("8.8.8.0"), 2),
                (v4("8.8.9.0"), NO_LOCATION),
                (v4("223.0.0.0"), 3),
            ],
            &[(0, NO_LOCATION), (v6("2001:200::"), 1), (v6("2001:201::"), NO_LOCATION), (v6("2c0f:ffff::"), 3)],
        )
    }

    fn db() -> GeoDatabase {
        GeoDatabase::from_bytes(&sample()).expect("sample database is valid")
    }

    fn code(db: &GeoDatabase, ip: &str) -> Option<String> {
        db.lookup(ip.parse().unwrap()).map(|g| g.country_code.clone())
    }

    #[test]
    fn parses_header_and_locations() {
        let db = db();
        assert_eq!(db.meta(), "test database");
        assert_eq!(db.locations().len(), 4);
        assert_eq!((db.v4_entries(), db.v6_entries()), (7, 4));
        let us = &db.locations()[2];
        assert_eq!(
            us,
            &GeoInfo {
                country: "United States".into(),
                country_code: "US".into(),
                state: "Washington".into(),
                city: "Redmond".into(),
                latitude: 47.6,
                longitude: -122.1,
            }
        );
        assert_eq!(db.locations()[3].country, "Côte d'Ivoire");
    }

    #[test]
    fn ipv4_range_boundaries() {
        let db = db();
        assert_eq!(code(&db, "0.255.255.255"), None);
        assert_eq!(code(&db, "1.0.0.0").as_deref(), Some("AU"));
        assert_eq!(code(&db, "1.0.0.255").as_deref(), Some("AU"));
        assert_eq!(code(&db, "1.0.1.0").as_deref(), Some("CN"));
        assert_eq!(code(&db, "1.0.3.255").as_deref(), Some("CN"));
        assert_eq!(code(&db, "1.0.4.0"), None);
        assert_eq!(code(&db, "8.8.7.255"), None);
        assert_eq!(code(&db, "8.8.8.0").as_deref(), Some("US"));
        assert_eq!(code(&db, "8.8.8.8").as_deref(), Some("US"));
        assert_eq!(code(&db, "8.8.8.255").as_deref(), Some("US"));
        assert_eq!(code(&db, "8.8.9.0"), None);
        assert_eq!(code(&db, "222.255.255.255"), None);
    }

    #[test]
    fn first_and_last_addresses() {
        let db = db();
        assert_eq!(code(&db, "0.0.0.0"), None);
        assert_eq!(code(&db, "223.0.0.0").as_deref(), Some("CI"));
        assert_eq!(code(&db, "255.255.255.255").as_deref(), Some("CI"));
        assert_eq!(code(&db, "::"), None);
        assert_eq!(code(&db, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").as_deref(), Some("CI"));

        // A database whose first entry has data answers for address 0 too.
        let all = GeoDatabase::from_bytes(&build(LOCS, &[(0, 0)], &[(0, 1)])).unwrap();
        assert_eq!(code(&all, "0.0.0.0").as_deref(), Some("AU"));
        assert_eq!(code(&all, "255.255.255.255").as_deref(), Some("AU"));
        assert_eq!(code(&all, "::").as_deref(), Some("CN"));
        assert_eq!(code(&all, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").as_deref(), Some("CN"));
    }

    #[test]
    fn ipv6_range_boundaries_and_mapped_ipv4() {
        let db = db();
        assert_eq!(code(&db, "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"), None);
        assert_eq!(code(&db, "2001:200::").as_deref(), Some("CN"));
        assert_eq!(code(&db, "2001:200:ffff:ffff:ffff:ffff:ffff:ffff").as_deref(), Some("CN"));
        assert_eq!(code(&db, "2001:201::"), None);
        assert_eq!(code(&db, "2c0f:fffe:ffff:ffff:ffff:ffff:ffff:ffff"), None);
        assert_eq!(code(&db, "2c0f:ffff::1").as_deref(), Some("CI"));
        // IPv4-mapped addresses use the IPv4 table.
        assert_eq!(code(&db, "::ffff:8.8.8.8").as_deref(), Some("US"));
        assert_eq!(code(&db, "::ffff:1.0.0.0").as_deref(), Some("AU"));
    }

    #[test]
    fn lookup_text_parses_and_filters() {
        let db = db();
        let g = db.lookup_text(" 8.8.8.8 ").unwrap();
        assert_eq!((g.country.as_str(), g.state.as_str(), g.city.as_str()), ("United States", "Washington", "Redmond"));
        assert_eq!(db.lookup_text("2001:200::1").map(|g| g.country_code.as_str()), Some("CN"));
        for bad in ["", "8.8.8", "8.8.8.256", "hello", "2001:200::1::2", "8.8.8.8/24"] {
            assert!(db.lookup_text(bad).is_none(), "{bad}");
        }

        // Everywhere mapped to a location, yet non-public addresses still give nothing.
        let all = GeoDatabase::from_bytes(&build(LOCS, &[(0, 0)], &[(0, 1)])).unwrap();
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(all.lookup_text(ip).is_none(), "{ip} should have no location");
        }
        for ip in ["1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2a00::1", "::ffff:8.8.8.8"] {
            assert!(all.lookup_text(ip).is_some(), "{ip} should have a location");
        }
    }

    #[test]
    fn rejects_corrupt_input() {
        let good = sample();
        let err = |bytes: &[u8]| GeoDatabase::from_bytes(bytes).unwrap_err();

        assert!(err(&[]).contains("header"));
        assert!(err(&good[..HEADER_LEN - 1]).contains("header"));
        // Every truncation, and any trailing byte, is an error.
        for n in 0..good.len() {
            assert!(GeoDatabase::from_bytes(&good[..n]).is_err(), "truncated to {n}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(err(&long).contains("describes"));

        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(err(&bad).contains("magic"));
        let mut bad = good.clone();
        bad[4] = 2;
        assert!(err(&bad).contains("version"));
        let mut bad = good.clone();
        bad[6] = 1;
        assert!(err(&bad).contains("reserved"));
        // A huge count is caught by the length check before any allocation.
        let mut bad = good.clone();
        bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(err(&bad).contains("describes"));
        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&70_000u32.to_le_bytes());
        assert!(err(&bad).contains("locations"));
        // Gzip data is not a payload.
        assert!(
            err(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18])
                .contains("magic")
        );

        // Empty families.
        assert!(err(&build(LOCS, &[], &[(0, 0)])).contains("no ranges"));
        assert!(err(&build(LOCS, &[(0, 0)], &[])).contains("no ranges"));
        // Ranges that do not start at 0, that are unsorted or duplicated, or point nowhere.
        assert!(err(&build(LOCS, &[(1, 0)], &[(0, 0)])).contains("address 0"));
        assert!(err(&build(LOCS, &[(0, 0)], &[(5, 0)])).contains("address 0"));
        assert!(err(&build(LOCS, &[(0, 0), (10, 1), (5, 2)], &[(0, 0)])).contains("ascending"));
        assert!(err(&build(LOCS, &[(0, 0), (10, 1), (10, 2)], &[(0, 0)])).contains("ascending"));
        assert!(err(&build(LOCS, &[(0, 0)], &[(0, 0), (1 << 100, 0), (1 << 99, 0)])).contains("ascending"));
        assert!(err(&build(LOCS, &[(0, 4)], &[(0, 0)])).contains("location index"));
        assert!(err(&build(LOCS, &[(0, 0)], &[(0, 0xFFFE)])).contains("location index"));
        // Coordinates out of range.
        assert!(err(&build(&[("X", "XX", "", "", 90_000_001, 0)], &[(0, 0)], &[(0, 0)])).contains("coordinates"));
        assert!(err(&build(&[("X", "XX", "", "", 0, -180_000_001)], &[(0, 0)], &[(0, 0)])).contains("coordinates"));

        // A string reference outside the pool, and one that splits a UTF-8 character.
        let with_pool = |patch: &dyn Fn(&mut Vec<u8>, usize)| {
            let mut b = build(&[("Côte", "CI", "", "", 0, 0)], &[(0, 0)], &[(0, 0)]);
            let table = HEADER_LEN + "test database".len() + "CôteCI".len();
            patch(&mut b, table);
            GeoDatabase::from_bytes(&b).unwrap_err()
        };
        assert!(with_pool(&|b, t| b[t..t + 4].copy_from_slice(&100u32.to_le_bytes())).contains("outside"));
        assert!(with_pool(&|b, t| b[t + 4..t + 6].copy_from_slice(&2u16.to_le_bytes())).contains("UTF-8"));
        // Non-UTF-8 metadata.
        let mut bad = good.clone();
        bad[HEADER_LEN] = 0xff;
        assert!(err(&bad).contains("metadata"));
    }

    #[test]
    fn never_panics_on_flipped_bytes() {
        let good = sample();
        for i in 0..good.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] ^= x;
                if let Ok(db) = GeoDatabase::from_bytes(&b) {
                    for ip in ["0.0.0.0", "8.8.8.8", "255.255.255.255", "::", "2001:200::", "ffff::"] {
                        let _ = db.lookup_text(ip);
                    }
                }
            }
        }
    }

    #[test]
    fn decompress_roundtrip_and_garbage() {
        assert!(decompress(b"not gzip").is_err());
        let db = bundled().expect("bundled database loads");
        assert!(db.meta().contains("DB-IP"));
        assert!(db.locations().len() > 200);
    }
}
