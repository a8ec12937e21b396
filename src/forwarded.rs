//! Who the client is behind load balancers, and what tokengate tells the upstream of it: `X-Forwarded-For` and
//! `Forwarded` (RFC 7239) believed only through `server.trusted_proxies`, the `X-Forwarded-*` and `Forwarded` headers
//! set for the upstream, and the request id.

use std::net::IpAddr;

use ipnet::IpNet;
use pingora::http::RequestHeader;

/// The request id header, taken from a trusted proxy or generated.
pub const REQUEST_ID: &str = crate::edge::deny::REQUEST_ID_HEADER;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// The given networks (`10.0.0.0/8`, `::1/128`; a bare address is one host).
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// Parses one entry of `server.trusted_proxies`.
    pub fn parse_entry(s: &str) -> Result<IpNet, String> {
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("`{s}` is not an IP network like \"10.0.0.0/8\" or an address like \"::1\""))
    }

    /// Whether `ip` is one of the trusted proxies (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// Whether no proxy is trusted (then every forwarding header is ignored).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's address: the peer's, unless the peer is trusted; then the forwarding chain (`Forwarded` if
    /// present, else `X-Forwarded-For`) is read right to left, each trusted hop passing to the one before, and the
    /// first untrusted address is the client. An entry that is no address ends the walk at the hop that sent it.
    pub fn client(&self, peer: IpAddr, req: &RequestHeader) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_for(req).unwrap_or_else(|| x_forwarded_for(req));
        let mut client = peer;
        for hop in chain.iter().rev() {
            let Some(ip) = hop else { break };
            client = canonical(*ip);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Every `X-Forwarded-For` entry, left to right; `None` for one that is no address.
fn x_forwarded_for(req: &RequestHeader) -> Vec<Option<IpAddr>> {
    req.headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|s| parse_node(s.trim()))
        .collect()
}

/// The `for=` of every `Forwarded` element, left to right; `None` when there is no `Forwarded` header.
fn forwarded_for(req: &RequestHeader) -> Option<Vec<Option<IpAddr>>> {
    let values: Vec<_> = req.headers.get_all(http::header::FORWARDED).iter().collect();
    if values.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for v in values {
        let Ok(v) = v.to_str() else {
            out.push(None);
            continue;
        };
        for element in v.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (k, val) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| val.trim().trim_matches('"').to_string())
            });
            out.push(node.and_then(|n| parse_node(&n)));
        }
    }
    Some(out)
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`,
/// `2001:db8::1`. Obfuscated identifiers (`unknown`, `_hidden`) are no address.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    s.rsplit_once(':').and_then(|(ip, port)| port.parse::<u16>().ok().and(ip.parse().ok()))
}

/// What the upstream is told of the request: sets `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and
/// `Forwarded`. From a trusted proxy its chain is kept and the peer appended (and its proto and host kept); from anyone
/// else every inbound copy is replaced.
pub fn set_upstream_headers(req: &mut RequestHeader, peer: IpAddr, trusted: bool, tls: bool, host: Option<&str>) {
    let peer = canonical(peer);
    let proto = if tls { "https" } else { "http" };
    let xff = if trusted {
        let inbound: Vec<String> =
            req.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
        if inbound.is_empty() {
            peer.to_string()
        } else {
            format!("{}, {peer}", inbound.join(", "))
        }
    } else {
        peer.to_string()
    };
    let node = match peer {
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
        v4 => v4.to_string(),
    };
    let mut element = format!("for={node};proto={proto}");
    if let Some(h) = host.filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))) {
        element.push_str(&format!(";host=\"{h}\""));
    }
    let forwarded = match req.headers.get(http::header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(inbound) if trusted => format!("{inbound}, {element}"),
        _ => element,
    };
    let keep_proto = trusted && req.headers.contains_key("x-forwarded-proto");
    let keep_host = trusted && req.headers.contains_key("x-forwarded-host");
    let _ = req.insert_header("x-forwarded-for", xff);
    let _ = req.insert_header(http::header::FORWARDED, forwarded);
    if !keep_proto {
        let _ = req.insert_header("x-forwarded-proto", proto);
    }
    if !keep_host {
        match host {
            Some(h) => {
                let _ = req.insert_header("x-forwarded-host", h);
            }
            None => {
                req.remove_header("x-forwarded-host");
            }
        }
    }
}

pub use crate::edge::deny::is_request_id;

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), v.to_string()).unwrap();
        }
        r
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(["10.0.0.0/8", "::1"].iter().map(|s| TrustedProxies::parse_entry(s).unwrap()).collect())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let r = req(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(trusted().client("192.0.2.9".parse().unwrap(), &r), "192.0.2.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_chain_is_read_right_to_left_through_trusted_hops_only() {
        // The client forged the first entry; the trusted balancer appended the real client, then its own hop.
        let r = req(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7"), ("x-forwarded-for", "10.1.2.3")]);
        assert_eq!(trusted().client("10.0.0.1".parse().unwrap(), &r), "203.0.113.7".parse::<IpAddr>().unwrap());
        // Everything trusted: the leftmost.
        let r = req(&[("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(trusted().client("::1".parse().unwrap(), &r), "10.9.9.9".parse::<IpAddr>().unwrap());
        // Garbage ends the walk at the hop that sent it.
        let r = req(&[("x-forwarded-for", "203.0.113.7, nonsense, 10.1.2.3")]);
        assert_eq!(trusted().client("10.0.0.1".parse().unwrap(), &r), "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_its_forms_are_read() {
        let r = req(&[
            ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2"),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(trusted().client("10.0.0.1".parse().unwrap(), &r), "2001:db8::7".parse::<IpAddr>().unwrap());
        let r = req(&[("forwarded", "for=_hidden, for=10.0.0.2")]);
        assert_eq!(trusted().client("10.0.0.1".parse().unwrap(), &r), "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(parse_node("192.0.2.1:80"), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(parse_node("unknown"), None);
    }

    #[test]
    fn upstream_headers_replace_an_untrusted_clients_and_extend_a_trusted_proxys() {
        let mut r =
            req(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-proto", "https"), ("forwarded", "for=6.6.6.6")]);
        set_upstream_headers(&mut r, "192.0.2.9".parse().unwrap(), false, false, Some("api.example"));
        assert_eq!(r.headers["x-forwarded-for"], "192.0.2.9");
        assert_eq!(r.headers["x-forwarded-proto"], "http");
        assert_eq!(r.headers["x-forwarded-host"], "api.example");
        assert_eq!(r.headers["forwarded"], "for=192.0.2.9;proto=http;host=\"api.example\"");

        let mut r = req(&[("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https")]);
        set_upstream_headers(&mut r, "::ffff:10.0.0.1".parse().unwrap(), true, false, Some("api.example"));
        assert_eq!(r.headers["x-forwarded-for"], "203.0.113.7, 10.0.0.1");
        assert_eq!(r.headers["x-forwarded-proto"], "https");
    }

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(is_request_id("3f2a-req_1.x"));
        assert!(!is_request_id(""));
        assert!(!is_request_id("a b"));
        assert!(!is_request_id(&"a".repeat(129)));
    }
}
