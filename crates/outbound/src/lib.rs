//! Where the server may connect when a user chose the destination: a playbook's webhook or SMTP
//! relay, an `externaldata` URL, an issuer's keys. A Contributor must not be able to make the
//! server call its own machine, the private network around it or a cloud's metadata service,
//! so a destination is resolved first and refused when any of its addresses is not public,
//! unless the operator's allow-list (`[outbound] allow` in the configuration) names it. The
//! caller then connects to the addresses checked here, never to a second resolution of the
//! name (which a hostile DNS server could answer differently).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The addresses outbound calls may reach besides public ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundPolicy {
    allowed: Vec<IpNet>,
}

/// Why a destination was refused.
#[derive(Debug)]
pub enum OutboundError {
    Resolve { host: String, source: std::io::Error },
    NoAddress { host: String },
    Internal { host: String, address: IpAddr },
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundError::Resolve { host, source } => write!(f, "cannot resolve {host}: {source}"),
            OutboundError::NoAddress { host } => write!(f, "{host} has no address"),
            OutboundError::Internal { host, address } => write!(
                f,
                "{host} resolves to {address}, which is not a public address; an operator can allow it with \
                 [outbound] allow in the configuration"
            ),
        }
    }
}

impl std::error::Error for OutboundError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OutboundError::Resolve { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl OutboundPolicy {
    /// Public addresses and the networks of `allowed`: CIDR blocks (`10.0.0.0/8`) or single
    /// addresses (`127.0.0.1`, `::1`).
    pub fn allowing<S: AsRef<str>>(allowed: &[S]) -> Result<OutboundPolicy, String> {
        let allowed = allowed
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("'{entry}' is neither an address nor a CIDR block (10.0.0.0/8)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OutboundPolicy { allowed })
    }

    pub fn permits(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        is_public(address) || self.allowed.iter().any(|net| net.contains(&address))
    }

    /// Checks every address a host resolved to.
    pub fn check(&self, host: &str, addresses: &[SocketAddr]) -> Result<(), OutboundError> {
        if addresses.is_empty() {
            return Err(OutboundError::NoAddress { host: host.to_string() });
        }
        match addresses.iter().find(|a| !self.permits(a.ip())) {
            Some(refused) => Err(OutboundError::Internal { host: host.to_string(), address: refused.ip() }),
            None => Ok(()),
        }
    }

    /// Resolves `host` and returns its addresses when every one of them is permitted.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        // A URL's IPv6 host comes in brackets.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|source| OutboundError::Resolve { host: host.to_string(), source })?
            .collect();
        self.check(host, &addresses)?;
        Ok(addresses)
    }
}

/// An HTTP client for `url` that connects to the addresses of its host that `policy` checked,
/// never to another resolution of the name, and follows no redirect: a redirect would take the
/// request wherever the receiving server says, inside the network included.
pub async fn http_client(
    policy: &OutboundPolicy,
    url: &reqwest::Url,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, String> {
    let host = url.host_str().ok_or("the URL has no host")?.to_string();
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let addresses = policy.resolve(&host, port).await.map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("Vigil/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(&host, &addresses)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// An address any destination may have: not this machine, a private or shared network, a
/// link-local one (where clouds serve instance metadata), or a reserved range.
pub fn is_public(address: IpAddr) -> bool {
    match canonical(address) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_and_metadata_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn the_allow_list_adds_networks_and_single_addresses() {
        let policy = OutboundPolicy::allowing(&["10.0.0.0/8", "127.0.0.1", "::1"]).unwrap();
        assert!(policy.permits("10.20.30.40".parse().unwrap()));
        assert!(policy.permits("127.0.0.1".parse().unwrap()));
        assert!(policy.permits("::ffff:127.0.0.1".parse().unwrap()), "an IPv4-mapped loopback is the loopback");
        assert!(!policy.permits("127.0.0.2".parse().unwrap()));
        assert!(!policy.permits("169.254.169.254".parse().unwrap()));
        assert!(policy.permits("1.1.1.1".parse().unwrap()));
        let refused = OutboundPolicy::allowing(&["10.0.0.0/33"]).unwrap_err();
        assert!(refused.contains("10.0.0.0/33"), "{refused}");
    }

    #[tokio::test]
    async fn a_name_is_checked_by_what_it_resolves_to() {
        let strict = OutboundPolicy::default();
        let refused = strict.resolve("localhost", 25).await.unwrap_err();
        assert!(matches!(refused, OutboundError::Internal { .. }), "{refused}");
        assert!(refused.to_string().contains("[outbound] allow"), "{refused}");
        assert!(strict.resolve("127.0.0.1", 25).await.is_err());
        assert!(strict.resolve("[::1]", 25).await.is_err());
        let open = OutboundPolicy::allowing(&["127.0.0.0/8", "::1"]).unwrap();
        let addresses = open.resolve("127.0.0.1", 2525).await.unwrap();
        assert_eq!(addresses, vec!["127.0.0.1:2525".parse().unwrap()]);
    }
}
