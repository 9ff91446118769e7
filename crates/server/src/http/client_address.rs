//! Which address a request comes from. Behind a reverse proxy every request's socket peer is
//! the proxy, so the client is read from the one header the proxy sets, and only when the peer
//! is a proxy the operator trusts (`trusted_proxies`); from anyone else the headers are ignored,
//! since a client can write them. Every per-address limit, audit event, session record and log
//! line uses the address chosen here. Never decides what to do with it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The header a trusted proxy writes the client's address into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAddressHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, Caddy, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for=proxy1`.
    Forwarded,
}

impl ClientAddressHeader {
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

/// The operator's trusted proxies and the header they set.
#[derive(Debug, Clone, Default)]
pub struct ClientAddresses {
    trusted: Vec<IpNet>,
    header: ClientAddressHeader,
}

/// The address a request was resolved to (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddresses {
    /// Trusts `trusted` to set `header`; an empty list trusts nobody (the headers are ignored).
    pub fn new(trusted: Vec<IpNet>, header: ClientAddressHeader) -> Self {
        Self { trusted, header }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer's, unless the peer is trusted and the configured header
    /// names an address; then the right-most address in it that is not itself trusted. A
    /// malformed or obfuscated entry (`unknown`, `_hidden`) ends the search at the peer, since
    /// nothing left of it can be believed.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.is_trusted(peer) {
            return peer;
        }
        // Every instance of the header, in order, as one list (RFC 9110 section 5.3).
        let mut hops = Vec::new();
        for value in headers.get_all(self.header.name()) {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            for element in text.split(',') {
                let parsed = match self.header {
                    ClientAddressHeader::XForwardedFor => parse_address(element),
                    ClientAddressHeader::Forwarded => forwarded_for(element),
                };
                match parsed {
                    Some(ip) => hops.push(ip),
                    None => return peer,
                }
            }
        }
        let mut client = peer;
        for ip in hops.into_iter().rev() {
            client = ip;
            if !self.is_trusted(ip) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are the IPv4 clients they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, optionally quoted.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

/// The `for=` parameter of one `Forwarded` element; `None` when it is missing, obfuscated or
/// malformed.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_address(value))?
    })
}

/// Middleware: resolves the client's address once per request and stores it as a
/// [`ClientAddress`] extension for the extractors, the span and the access log.
pub async fn resolve_client_address(
    State(addresses): State<std::sync::Arc<ClientAddresses>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = addresses.resolve(peer.ip(), req.headers());
        req.extensions_mut().insert(ClientAddress(client));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(header: ClientAddressHeader) -> ClientAddresses {
        ClientAddresses::new(
            vec![
                "127.0.0.1/32".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
            header,
        )
    }

    #[test]
    fn a_client_cannot_choose_its_address_without_a_trusted_proxy() {
        let nobody = ClientAddresses::default();
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=203.0.113.8"),
        ]);
        assert_eq!(nobody.resolve(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        // A peer outside the trusted list is not believed either.
        let p = proxies(ClientAddressHeader::XForwardedFor);
        assert_eq!(p.resolve(ip("198.51.100.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let p = proxies(ClientAddressHeader::XForwardedFor);
        // The client wrote "1.2.3.4" itself; the proxy appended what it saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.1.2.3")]);
        assert_eq!(p.resolve(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(p.resolve(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        // No header: the proxy itself.
        assert_eq!(
            p.resolve(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_client_sent_forwarded_header_is_ignored_when_the_proxy_sets_x_forwarded_for() {
        let p = proxies(ClientAddressHeader::XForwardedFor);
        let h = headers(&[
            ("forwarded", "for=1.2.3.4"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(p.resolve(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        let p = proxies(ClientAddressHeader::Forwarded);
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            (
                "forwarded",
                "for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.5",
            ),
        ]);
        assert_eq!(p.resolve(ip("127.0.0.1"), &h), ip("2001:db8::1"));
    }

    #[test]
    fn obfuscated_or_malformed_values_fall_back_to_the_peer() {
        let p = proxies(ClientAddressHeader::XForwardedFor);
        for value in ["unknown", "_hidden", "203.0.113.7, garbage", ""] {
            let h = headers(&[("x-forwarded-for", value)]);
            assert_eq!(p.resolve(ip("127.0.0.1"), &h), ip("127.0.0.1"), "{value}");
        }
        let p = proxies(ClientAddressHeader::Forwarded);
        for value in ["for=unknown", "for=_hidden", "proto=https"] {
            let h = headers(&[("forwarded", value)]);
            assert_eq!(p.resolve(ip("127.0.0.1"), &h), ip("127.0.0.1"), "{value}");
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_addresses_count_as_ipv4() {
        let p = proxies(ClientAddressHeader::XForwardedFor);
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.7")]);
        assert_eq!(p.resolve(ip("::ffff:127.0.0.1"), &h), ip("203.0.113.7"));
    }
}
