//! Who the client is: the TCP peer, or — only when the peer is a trusted reverse proxy — the
//! address the proxy reports in `X-Forwarded-For`.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The client as the page sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Client {
    /// The client's address (rate limits and logs).
    pub(crate) ip: IpAddr,
    /// A trusted proxy says the client used HTTPS.
    pub(crate) https: bool,
}

/// The client of a request from `peer`. `X-Forwarded-For` is read from the right: the first
/// address that is not itself a trusted proxy is the client (entries further left were written
/// by the client and prove nothing). A header that does not parse is ignored.
pub(crate) fn client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> Client {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| canonical(*t) == ip);
    if !is_trusted(peer) {
        return Client {
            ip: peer,
            https: false,
        };
    }
    let mut ip = peer;
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(addr) => {
                ip = canonical(addr);
                if !is_trusted(ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    Client { ip, https }
}

/// IPv4-mapped IPv6 addresses as plain IPv4, so one client is one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = client(proxy, &h, &[proxy]);
        assert_eq!(c.ip, "203.0.113.7".parse::<IpAddr>().unwrap());
        assert!(c.https);
        let c = client(proxy, &h, &[]);
        assert_eq!(c.ip, proxy);
        assert!(!c.https);
    }

    #[test]
    fn chained_trusted_proxies_are_skipped_and_garbage_stops_the_walk() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let inner: IpAddr = "10.0.0.2".parse().unwrap();
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "10.0.0.2"),
        ]);
        assert_eq!(
            client(proxy, &h, &[proxy, inner]).ip,
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        let h = headers(&[("x-forwarded-for", "nonsense")]);
        assert_eq!(client(proxy, &h, &[proxy]).ip, proxy);
        let h = headers(&[("x-forwarded-for", "198.51.100.9")]);
        let written_mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            client(proxy, &h, &[written_mapped]).ip,
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(
            client(mapped, &HeaderMap::new(), &[]).ip,
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
