//! Functions every workspace has: the ASIM helper functions that Sentinel's normalizing parsers
//! call (`_ASIM_LookupICMPType`, `_ASIM_ResolveDvcFQDN`...), as Microsoft's documentation of
//! them describes them. They are written here, in KQL; the lookup tables are the IANA
//! registries they translate.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use crate::Function;

/// ICMP types (IANA "ICMP Type Numbers").
const ICMP_TYPES: &str = r#"{"0":"Echo Reply","3":"Destination Unreachable","4":"Source Quench","5":"Redirect",
"6":"Alternate Host Address","8":"Echo","9":"Router Advertisement","10":"Router Selection","11":"Time Exceeded",
"12":"Parameter Problem","13":"Timestamp","14":"Timestamp Reply","15":"Information Request","16":"Information Reply",
"17":"Address Mask Request","18":"Address Mask Reply","30":"Traceroute","31":"Datagram Conversion Error",
"32":"Mobile Host Redirect","33":"IPv6 Where-Are-You","34":"IPv6 I-Am-Here","35":"Mobile Registration Request",
"36":"Mobile Registration Reply","37":"Domain Name Request","38":"Domain Name Reply","39":"SKIP","40":"Photuris",
"41":"Experimental Mobility","42":"Extended Echo Request","43":"Extended Echo Reply"}"#;

/// DNS resource record types (IANA "Resource Record (RR) TYPEs").
const DNS_QUERY_TYPES: &str = r#"{"1":"A","2":"NS","3":"MD","4":"MF","5":"CNAME","6":"SOA","7":"MB","8":"MG",
"9":"MR","10":"NULL","11":"WKS","12":"PTR","13":"HINFO","14":"MINFO","15":"MX","16":"TXT","17":"RP","18":"AFSDB",
"19":"X25","20":"ISDN","21":"RT","22":"NSAP","23":"NSAP-PTR","24":"SIG","25":"KEY","26":"PX","27":"GPOS","28":"AAAA",
"29":"LOC","30":"NXT","31":"EID","32":"NIMLOC","33":"SRV","34":"ATMA","35":"NAPTR","36":"KX","37":"CERT","38":"A6",
"39":"DNAME","40":"SINK","41":"OPT","42":"APL","43":"DS","44":"SSHFP","45":"IPSECKEY","46":"RRSIG","47":"NSEC",
"48":"DNSKEY","49":"DHCID","50":"NSEC3","51":"NSEC3PARAM","52":"TLSA","53":"SMIMEA","55":"HIP","56":"NINFO",
"57":"RKEY","58":"TALINK","59":"CDS","60":"CDNSKEY","61":"OPENPGPKEY","62":"CSYNC","63":"ZONEMD","64":"SVCB",
"65":"HTTPS","99":"SPF","100":"UINFO","101":"UID","102":"GID","103":"UNSPEC","104":"NID","105":"L32","106":"L64",
"107":"LP","108":"EUI48","109":"EUI64","249":"TKEY","250":"TSIG","251":"IXFR","252":"AXFR","253":"MAILB","254":"MAILA",
"255":"*","256":"URI","257":"CAA","258":"AVC","259":"DOA","260":"AMTRELAY","32768":"TA","32769":"DLV"}"#;

/// DNS response codes (IANA "DNS RCODEs").
const DNS_RESPONSE_CODES: &str = r#"{"0":"NOERROR","1":"FORMERR","2":"SERVFAIL","3":"NXDOMAIN","4":"NOTIMP",
"5":"REFUSED","6":"YXDOMAIN","7":"YXRRSET","8":"NXRRSET","9":"NOTAUTH","10":"NOTZONE","11":"DSOTYPENI",
"16":"BADVERS","17":"BADKEY","18":"BADTIME","19":"BADMODE","20":"BADNAME","21":"BADALG","22":"BADTRUNC",
"23":"BADCOOKIE"}"#;

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const NETWORK_PROTOCOLS: &str = r#"{"0":"HOPOPT","1":"ICMP","2":"IGMP","3":"GGP","4":"IPV4","5":"ST","6":"TCP",
"7":"CBT","8":"EGP","9":"IGP","10":"BBN-RCC-MON","11":"NVP-II","12":"PUP","13":"ARGUS","14":"EMCON","15":"XNET",
"16":"CHAOS","17":"UDP","18":"MUX","19":"DCN-MEAS","20":"HMP","21":"PRM","22":"XNS-IDP","23":"TRUNK-1",
"24":"TRUNK-2","25":"LEAF-1","26":"LEAF-2","27":"RDP","28":"IRTP","29":"ISO-TP4","30":"NETBLT","31":"MFE-NSP",
"32":"MERIT-INP","33":"DCCP","34":"3PC","35":"IDPR","36":"XTP","37":"DDP","38":"IDPR-CMTP","39":"TP++","40":"IL",
"41":"IPV6","42":"SDRP","43":"IPV6-ROUTE","44":"IPV6-FRAG","45":"IDRP","46":"RSVP","47":"GRE","48":"DSR","49":"BNA",
"50":"ESP","51":"AH","52":"I-NLSP","53":"SWIPE","54":"NARP","55":"MOBILE","56":"TLSP","57":"SKIP","58":"IPV6-ICMP",
"59":"IPV6-NONXT","60":"IPV6-OPTS","62":"CFTP","64":"SAT-EXPAK","65":"KRYPTOLAN","66":"RVD","67":"IPPC",
"69":"SAT-MON","70":"VISA","71":"IPCV","72":"CPNX","73":"CPHB","74":"WSN","75":"PVP","76":"BR-SAT-MON","77":"SUN-ND",
"78":"WB-MON","79":"WB-EXPAK","80":"ISO-IP","81":"VMTP","82":"SECURE-VMTP","83":"VINES","84":"TTP","85":"NSFNET-IGP",
"86":"DGP","87":"TCF","88":"EIGRP","89":"OSPFIGP","90":"SPRITE-RPC","91":"LARP","92":"MTP","93":"AX.25","94":"IPIP",
"95":"MICP","96":"SCC-SP","97":"ETHERIP","98":"ENCAP","100":"GMTP","101":"IFMP","102":"PNNI","103":"PIM","104":"ARIS",
"105":"SCPS","106":"QNX","107":"A/N","108":"IPCOMP","109":"SNP","110":"COMPAQ-PEER","111":"IPX-IN-IP","112":"VRRP",
"113":"PGM","115":"L2TP","116":"DDX","117":"IATP","118":"STP","119":"SRP","120":"UTI","121":"SMP","122":"SM",
"123":"PTP","124":"ISIS","125":"FIRE","126":"CRTP","127":"CRUDP","128":"SSCOPMCE","129":"IPLT","130":"SPS",
"131":"PIPE","132":"SCTP","133":"FC","134":"RSVP-E2E-IGNORE","135":"MOBILITY-HEADER","136":"UDPLITE",
"137":"MPLS-IN-IP","138":"MANET","139":"HIP","140":"SHIM6","141":"WESP","142":"ROHC","143":"ETHERNET",
"144":"AGGFRAG","145":"NSH"}"#;

fn lookup(name: &str, parameter: &str, table: &str) -> Function {
    Function {
        name: name.to_string(),
        parameters: format!("{parameter}:int"),
        body: format!("tostring(dynamic({table})[tostring({parameter})])"),
    }
}

/// A resolve function: `| invoke F('Field')` sets `input` from the field and `output` from
/// the lookup of it.
fn resolve(name: &str, lookup: &str, input: &str, output: &str) -> Function {
    Function {
        name: name.to_string(),
        parameters: "T:(*), field:string".to_string(),
        body: format!(
            "T | extend {input} = toint(column_ifexists(field, int(null)))\n| extend {output} = {lookup}({input})"
        ),
    }
}

/// A device-resolution function: the host name in `field` split into host name, domain, the
/// domain's notation (`FQDN` or `Windows`) and the FQDN, in columns named with `prefix`.
fn resolve_fqdn(name: &str, prefix: &str) -> Function {
    let host = if prefix.is_empty() { "ExtractedHostname".to_string() } else { format!("{prefix}Hostname") };
    Function {
        name: name.to_string(),
        parameters: "T:(*), field:string".to_string(),
        body: format!(
            "T | extend {p}FQDNInput__ = tostring(column_ifexists(field, ''))\n\
             | extend {p}DomainType = case({p}FQDNInput__ has @'\\', 'Windows', \
                 {p}FQDNInput__ contains '.' and not(isnotempty(parse_ipv4({p}FQDNInput__)) \
                 or isnotempty(parse_ipv6({p}FQDNInput__))), 'FQDN', '')\n\
             | extend {host} = case({p}DomainType == 'Windows', tostring(split({p}FQDNInput__, @'\\')[1]), \
                 {p}DomainType == 'FQDN', tostring(split({p}FQDNInput__, '.')[0]), {p}FQDNInput__),\n\
                 {p}Domain = case({p}DomainType == 'Windows', tostring(split({p}FQDNInput__, @'\\')[0]), \
                 {p}DomainType == 'FQDN', substring({p}FQDNInput__, indexof({p}FQDNInput__, '.') + 1), ''),\n\
                 {p}FQDN = iff({p}DomainType == 'FQDN', {p}FQDNInput__, '')\n\
             | project-away {p}FQDNInput__",
            p = prefix,
        ),
    }
}

static FUNCTIONS: LazyLock<BTreeMap<String, Arc<Function>>> = LazyLock::new(|| {
    let functions = [
        lookup("_ASIM_LookupICMPType", "icmp_type", ICMP_TYPES),
        lookup("_ASIM_LookupDnsQueryType", "query_type", DNS_QUERY_TYPES),
        lookup("_ASIM_LookupDnsResponseCode", "response_code", DNS_RESPONSE_CODES),
        lookup("_ASIM_LookupNetworkProtocol", "protocol_number", NETWORK_PROTOCOLS),
        resolve("_ASIM_ResolveICMPType", "_ASIM_LookupICMPType", "NetworkIcmpCode", "NetworkIcmpType"),
        resolve("_ASIM_ResolveDnsQueryType", "_ASIM_LookupDnsQueryType", "DnsQueryType", "DnsQueryTypeName"),
        resolve(
            "_ASIM_ResolveDnsResponseCode",
            "_ASIM_LookupDnsResponseCode",
            "DnsResponseCode",
            "DnsResponseCodeName",
        ),
        resolve(
            "_ASIM_ResolveNetworkProtocol",
            "_ASIM_LookupNetworkProtocol",
            "NetworkProtocolNumber",
            "NetworkProtocol",
        ),
        resolve_fqdn("_ASIM_ResolveFQDN", ""),
        resolve_fqdn("_ASIM_ResolveSrcFQDN", "Src"),
        resolve_fqdn("_ASIM_ResolveDstFQDN", "Dst"),
        resolve_fqdn("_ASIM_ResolveDvcFQDN", "Dvc"),
        Function {
            name: "_ASIM_GetSourceBySourceType".to_string(),
            parameters: "SourceType:string".to_string(),
            body: "toscalar(_GetWatchlist('SourceBySourceType') | where SearchKey == SourceType \
                   | summarize make_list(Source))"
                .to_string(),
        },
    ];
    functions.into_iter().map(|f| (f.name.clone(), Arc::new(f))).collect()
});

/// A built-in function.
pub fn function(name: &str) -> Option<Arc<Function>> {
    FUNCTIONS.get(name).cloned()
}

pub fn function_names() -> impl Iterator<Item = &'static String> {
    FUNCTIONS.keys()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_tables_are_json_objects_of_names() {
        for table in [ICMP_TYPES, DNS_QUERY_TYPES, DNS_RESPONSE_CODES, NETWORK_PROTOCOLS] {
            let json: serde_json::Value = serde_json::from_str(table).expect("valid JSON");
            assert!(json.as_object().is_some_and(|o| o.len() > 15 && o.values().all(|v| v.is_string())));
        }
        assert!(function("_ASIM_ResolveDvcFQDN").is_some() && function("Nope").is_none());
    }
}
