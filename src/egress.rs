//! The egress policy: the one way the server sends a request to a
//! destination that a tenant named (webhooks now; mail, SMS and push
//! gateways later). A [`Client`] is the only outbound HTTP client request
//! code may build, and [`Client::check`] / [`Client::destination`] the only
//! way to turn a URL into something it will send to.
//!
//! What it enforces, every time, whatever the caller:
//!
//! - **only public unicast addresses** ([`is_public`]): loopback, private,
//!   link-local (the cloud metadata address), carrier-grade NAT, the IETF and
//!   6to4-relay blocks, benchmarking, documentation, multicast, broadcast,
//!   `0/8` and `240/4`; in IPv6 everything outside global unicast `2000::/3`
//!   (unique-local, site-local, link-local, multicast, IPv4-mapped,
//!   -compatible and -translated, NAT64) and, inside it, the IETF protocol
//!   block with Teredo, documentation and 6to4. Addresses that embed an
//!   IPv4 address are refused rather than unpacked: a partner never needs one.
//! - **the address that was checked is the address connected to**: names
//!   are resolved by the client's own resolver, which drops every address
//!   the policy refuses, so there is no second lookup to race; an address
//!   literal (which bypasses any resolver) is checked before sending.
//! - **no proxy from the environment** (`HTTP_PROXY` and friends would send
//!   tenants' requests somewhere else, or let a proxy reach inside), **no
//!   redirects**, a **total timeout**, and an answer read to at most
//!   [`Limits::max_body`] bytes.
//!
//! Destinations the operator configures (the S3 store, the OTLP collector)
//! are not tenants' input and may be private; they keep their own clients
//! (`storage.rs`, `main.rs`). `allow_private` (`CAREGO_WEBHOOK_ALLOW_PRIVATE`)
//! lifts the address rule for development and tests only.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use reqwest::{Method, Url, header::HeaderMap};

/// How long resolving a name for [`Client::check`] may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// IPv4 ranges no outbound request may reach: (network, prefix length).
const REFUSED_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local: the cloud metadata address
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, and the broadcast address
];

/// Global unicast: the only IPv6 space a request may reach. Everything else
/// (`::/8` with the IPv4-mapped, -compatible and -translated forms, NAT64
/// `64:ff9b::/96` and `64:ff9b:1::/48`, discard-only `100::/64`, unique-local
/// `fc00::/7`, link-local `fe80::/10`, site-local `fec0::/10`, multicast
/// `ff00::/8`) lies outside it.
const GLOBAL_V6: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// Inside global unicast, still refused.
const REFUSED_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF protocol assignments, Teredo (2001::/32) among them
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16), // 6to4: an IPv4 address inside
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
];

fn in_v4(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, (net, len): (Ipv6Addr, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

/// Whether `ip` is a public unicast address an outbound request may reach.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !REFUSED_V4.iter().any(|&range| in_v4(v4, range)),
        IpAddr::V6(v6) => in_v6(v6, GLOBAL_V6) && !REFUSED_V6.iter().any(|&range| in_v6(v6, range)),
    }
}

/// Why a destination is refused: the words a caller may show (they name
/// no address and no resolver's error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("is not a URL")]
    NotAUrl,
    #[error("must be https (or http)")]
    Scheme,
    #[error("must not carry credentials")]
    Credentials,
    #[error("must name a host")]
    NoHost,
    #[error("does not resolve")]
    DoesNotResolve,
    #[error("must resolve only to public addresses (not loopback, private, link-local or metadata)")]
    NotPublic,
}

/// A URL that passed the policy's syntax rules and, if it names an address
/// literally, the address rule. A name is checked when it is resolved: by
/// [`Client::check`] up front, and by the client's resolver at every send.
#[derive(Debug, Clone)]
pub struct Destination(Url);

impl Destination {
    pub fn url(&self) -> &Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Bounds of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From connecting until the last byte of the answer read.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The most of an answer's body that is read; the rest is never read.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body: 64 * 1024,
        }
    }
}

/// An answer: its status and at most [`Limits::max_body`] bytes of its body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    /// The body went on past the limit (and was not read further).
    pub truncated: bool,
}

/// No answer, in words of our own (they reach an admin's delivery log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("the destination is not allowed")]
    Refused,
    #[error("timed out")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("the request failed")]
    Other,
}

/// The outbound HTTP client of tenant-named destinations.
pub struct Client {
    http: reqwest::Client,
    allow_private: bool,
    limits: Limits,
}

impl Client {
    /// A client that identifies itself as `user_agent`.
    pub fn new(user_agent: &str, allow_private: bool, limits: Limits) -> anyhow::Result<Self> {
        let tls = crate::db::infra::tls::client_config(crate::db::infra::tls::native_roots())?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(limits.timeout)
            .connect_timeout(limits.connect_timeout)
            .user_agent(user_agent)
            .dns_resolver(Arc::new(Checked { allow_private }))
            .build()?;
        Ok(Self { http, allow_private, limits })
    }

    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// `url` checked without a lookup: scheme, no credentials, a host, and
    /// an address literal's address. What [`send`](Self::send) takes.
    pub fn destination(&self, url: &str) -> Result<Destination, Refused> {
        let parsed = Url::parse(url).map_err(|_| Refused::NotAUrl)?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(Refused::Scheme);
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Refused::Credentials);
        }
        // The URL parser has already turned every spelling of an IPv4
        // address (`2130706433`, `0x7f.1`) into the dotted one.
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or(Refused::NoHost)?;
        let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        if let Some(ip) = literal
            && !self.allow_private
            && !is_public(ip)
        {
            return Err(Refused::NotPublic);
        }
        Ok(Destination(parsed))
    }

    /// [`destination`](Self::destination), and a name resolved now, to
    /// refuse early what every send would refuse. Only after the caller is
    /// known to be allowed to name a destination: the answer tells whether
    /// a name resolves, and to what kind of address.
    pub async fn check(&self, url: &str) -> Result<Destination, Refused> {
        let destination = self.destination(url)?;
        if self.allow_private {
            return Ok(destination);
        }
        let host = destination.0.host_str().unwrap_or_default();
        if !host.starts_with('[') && host.parse::<IpAddr>().is_err() {
            let found = tokio::time::timeout(RESOLVE_TIMEOUT, lookup(host))
                .await
                .map_err(|_| Refused::DoesNotResolve)?
                .map_err(|_| Refused::DoesNotResolve)?;
            if found.is_empty() || !found.iter().all(|a| is_public(a.ip())) {
                return Err(Refused::NotPublic);
            }
        }
        Ok(destination)
    }

    /// Sends one request and reads at most [`Limits::max_body`] bytes of
    /// the answer, all within [`Limits::timeout`].
    pub async fn send(
        &self,
        method: Method,
        destination: &Destination,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Reply, Failure> {
        // Checked again: the policy (or the configuration) may have
        // changed since the URL was stored.
        let destination = self.destination(destination.as_str()).map_err(|_| Failure::Refused)?;
        let exchange = async {
            let mut resp =
                self.http.request(method, destination.0).headers(headers).body(body).send().await?;
            let status = resp.status().as_u16();
            let mut read = BytesMut::new();
            let mut truncated = false;
            while let Some(chunk) = resp.chunk().await? {
                let room = self.limits.max_body - read.len();
                if chunk.len() > room {
                    read.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                read.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Reply { status, body: read.freeze(), truncated })
        };
        // reqwest's own total timeout covers the body too; this one is the
        // policy's, whatever the client's configuration becomes.
        match tokio::time::timeout(self.limits.timeout, exchange).await {
            Err(_) => Err(Failure::Timeout),
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) if e.is_timeout() => Err(Failure::Timeout),
            Ok(Err(e)) if e.is_connect() => Err(Failure::Connect),
            Ok(Err(_)) => Err(Failure::Other),
        }
    }
}

async fn lookup(name: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((name, 0)).await?.collect())
}

/// The client's resolver: the policy's addresses only, or none at all, so
/// the connection goes to an address that was checked.
struct Checked {
    allow_private: bool,
}

impl reqwest::dns::Resolve for Checked {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (name, allow_private) = (name.as_str().to_owned(), self.allow_private);
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                lookup(&name).await?.into_iter().filter(|a| allow_private || is_public(a.ip())).collect();
            if found.is_empty() {
                return Err("the host resolves to no allowed address".into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Instant,
    };

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    /// Every refused range, by its first and last address, and the address
    /// just outside each end (public unless it falls into a neighbour).
    #[test]
    fn every_refused_range_ends_where_it_should() {
        #[rustfmt::skip]
        let table: &[(&str, bool)] = &[
            // 0.0.0.0/8
            ("0.0.0.0", false), ("0.255.255.255", false), ("1.0.0.0", true),
            // 10/8
            ("9.255.255.255", true), ("10.0.0.0", false), ("10.255.255.255", false), ("11.0.0.0", true),
            // 100.64/10 (CGNAT)
            ("100.63.255.255", true), ("100.64.0.0", false), ("100.127.255.255", false), ("100.128.0.0", true),
            // 127/8
            ("126.255.255.255", true), ("127.0.0.1", false), ("127.255.255.255", false), ("128.0.0.0", true),
            // 169.254/16
            ("169.253.255.255", true), ("169.254.0.0", false), ("169.254.169.254", false),
            ("169.254.255.255", false), ("169.255.0.0", true),
            // 172.16/12
            ("172.15.255.255", true), ("172.16.0.0", false), ("172.31.255.255", false), ("172.32.0.0", true),
            // 192.0.0/24, 192.0.2/24
            ("191.255.255.255", true), ("192.0.0.0", false), ("192.0.0.255", false), ("192.0.1.0", true),
            ("192.0.1.255", true), ("192.0.2.0", false), ("192.0.2.255", false), ("192.0.3.0", true),
            // 192.88.99/24
            ("192.88.98.255", true), ("192.88.99.0", false), ("192.88.99.255", false), ("192.88.100.0", true),
            // 192.168/16
            ("192.167.255.255", true), ("192.168.0.0", false), ("192.168.255.255", false), ("192.169.0.0", true),
            // 198.18/15
            ("198.17.255.255", true), ("198.18.0.0", false), ("198.19.255.255", false), ("198.20.0.0", true),
            // 198.51.100/24, 203.0.113/24
            ("198.51.99.255", true), ("198.51.100.0", false), ("198.51.100.255", false), ("198.51.101.0", true),
            ("203.0.112.255", true), ("203.0.113.0", false), ("203.0.113.255", false), ("203.0.114.0", true),
            // 224/4, 240/4 and broadcast
            ("223.255.255.255", true), ("224.0.0.0", false), ("239.255.255.255", false),
            ("240.0.0.0", false), ("255.255.255.254", false), ("255.255.255.255", false),
            ("8.8.8.8", true), ("93.184.215.14", true),

            // IPv6 outside 2000::/3
            ("::", false), ("::1", false),
            ("::ffff:0.0.0.0", false), ("::ffff:8.8.8.8", false), ("::ffff:127.0.0.1", false), // mapped
            ("::8.8.8.8", false), ("::0.0.0.2", false),                                          // compatible
            ("::ffff:0:8.8.8.8", false),                                                          // translated
            ("64:ff9b::", false), ("64:ff9b::8.8.8.8", false), ("64:ff9b::ffff:ffff", false),     // NAT64
            ("64:ff9b:1::", false), ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", false),                // local NAT64
            ("100::", false), ("100::ffff:ffff:ffff:ffff", false),                                // discard
            ("fc00::", false), ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),               // unique-local
            ("fe80::", false), ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),               // link-local
            ("fec0::", false), ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),               // site-local
            ("ff00::", false), ("ff02::1", false), ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("2000::", true),                 // 2000::/3 begins
            ("3fef:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true), ("4000::", false),                 // and ends
            // 2001::/23 with Teredo 2001::/32
            ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true), ("2001::", false), ("2001:0:4136:e378::1", false),
            ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", false), ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:200::", true),
            // 2001:db8::/32
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true), ("2001:db8::", false),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false), ("2001:db9::", true),
            // 2002::/16 (6to4)
            ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true), ("2002::", false), ("2002:c000:0204::1", false),
            ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("2003::", true),
            // 3fff::/20 (documentation)
            ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true), ("3fff::", false),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("3fff:1000::", true),
            ("2606:4700::1111", true), ("2a00:1450:4001::200e", true),
        ];
        let wrong: Vec<_> = table
            .iter()
            .filter(|(ip, public)| is_public(ip.parse().unwrap()) != *public)
            .map(|(ip, public)| format!("{ip} should be {}", if *public { "public" } else { "refused" }))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    fn client(allow_private: bool, limits: Limits) -> Client {
        crate::install_tls_provider();
        Client::new("carego-test", allow_private, limits).unwrap()
    }

    #[test]
    fn destinations_are_checked_without_a_lookup_when_they_are_addresses() {
        let strict = client(false, Limits::default());
        for (url, why) in [
            ("not a url", Refused::NotAUrl),
            ("ftp://93.184.215.14/x", Refused::Scheme),
            ("https://user:pw@93.184.215.14/x", Refused::Credentials),
            ("http://127.0.0.1/hook", Refused::NotPublic),
            ("http://2130706433/hook", Refused::NotPublic), // 127.0.0.1 as one number
            ("http://0x7f.1/hook", Refused::NotPublic),     // and in hex
            ("https://[::1]/hook", Refused::NotPublic),
            ("https://[::ffff:7f00:1]/hook", Refused::NotPublic),
            ("https://[::ffff:8.8.8.8]/hook", Refused::NotPublic),
            ("https://[64:ff9b::a9fe:a9fe]/hook", Refused::NotPublic),
            ("https://[2002:a9fe:a9fe::1]/hook", Refused::NotPublic),
            ("https://169.254.169.254/latest/meta-data", Refused::NotPublic),
            ("https://10.0.0.8:8443/x", Refused::NotPublic),
        ] {
            assert_eq!(strict.destination(url).err(), Some(why), "{url}");
        }
        assert!(strict.destination("https://93.184.215.14/carego").is_ok());
        assert!(strict.destination("https://[2606:4700::1111]/carego").is_ok());
        assert!(client(true, Limits::default()).destination("http://127.0.0.1:9/hook").is_ok());
    }

    #[tokio::test]
    async fn names_are_checked_by_what_they_resolve_to() {
        let strict = client(false, Limits::default());
        assert_eq!(strict.check("https://localhost/hook").await.err(), Some(Refused::NotPublic));
        assert_eq!(
            strict.check("https://no-such-host.invalid/hook").await.err(),
            Some(Refused::DoesNotResolve)
        );
        assert!(strict.check("https://93.184.215.14/carego").await.is_ok(), "a literal needs no lookup");
    }

    /// A one-connection-at-a-time HTTP server on loopback that answers
    /// every request with `answer` (after the request's head), counting
    /// requests, and keeps the connection open. `None`: it never answers.
    async fn server(answer: Option<Vec<u8>>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (answer, counted) = (answer.clone(), counted.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let _ = conn.read(&mut buf).await;
                    counted.fetch_add(1, Ordering::SeqCst);
                    if let Some(bytes) = answer {
                        let _ = conn.write_all(&bytes).await;
                    }
                    // Hold the connection: an answer shorter than it
                    // announced trickles on forever.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    drop(conn);
                });
            }
        });
        (format!("http://{addr}"), hits)
    }

    fn send_to<'a>(
        c: &'a Client,
        url: &str,
    ) -> impl std::future::Future<Output = Result<Reply, Failure>> + 'a {
        let destination = c.destination(url).unwrap();
        async move { c.send(Method::POST, &destination, HeaderMap::new(), b"{}".to_vec()).await }
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (target, target_hits) =
            server(Some(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec())).await;
        let redirect =
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}/x\r\ncontent-length: 0\r\n\r\n");
        let (origin, origin_hits) = server(Some(redirect.into_bytes())).await;
        let c = client(true, Limits::default());
        let reply = send_to(&c, &format!("{origin}/hook")).await.unwrap();
        assert_eq!(reply.status, 307);
        assert_eq!(origin_hits.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(target_hits.load(Ordering::SeqCst), 0, "the redirect was not followed");
    }

    #[tokio::test]
    async fn a_huge_answer_is_read_only_to_the_limit() {
        // 8 MiB of body, announced and sent.
        let size = 8 * 1024 * 1024;
        let mut answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n").into_bytes();
        answer.resize(answer.len() + size, b'x');
        let (origin, _) = server(Some(answer)).await;
        let c = client(true, Limits { max_body: 64 * 1024, ..Limits::default() });
        let reply = send_to(&c, &format!("{origin}/hook")).await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body.len(), 64 * 1024);
        assert!(reply.truncated);
        // A small answer is read whole.
        let (small, _) = server(Some(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec())).await;
        let reply = send_to(&c, &format!("{small}/hook")).await.unwrap();
        assert_eq!((&reply.body[..], reply.truncated), (&b"ok"[..], false));
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let (origin, hits) = server(None).await;
        let c = client(true, Limits { timeout: Duration::from_millis(500), ..Limits::default() });
        let started = Instant::now();
        assert_eq!(send_to(&c, &format!("{origin}/hook")).await.err(), Some(Failure::Timeout));
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        assert_eq!(hits.load(Ordering::SeqCst), 1, "it was reached");

        // A body that trickles forever is cut off by the same deadline.
        let (trickle, _) =
            server(Some(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nabc".to_vec())).await;
        let started = Instant::now();
        assert_eq!(send_to(&c, &format!("{trickle}/hook")).await.err(), Some(Failure::Timeout));
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn the_strict_client_refuses_loopback_whatever_the_url_says() {
        let (origin, hits) = server(Some(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec())).await;
        let port = origin.rsplit(':').next().unwrap().to_owned();
        let strict = client(false, Limits::default());
        let lenient = client(true, Limits::default());
        // A destination made by a lenient client (or stored before the
        // configuration changed) is checked again at send.
        let literal = lenient.destination(&format!("http://127.0.0.1:{port}/hook")).unwrap();
        let sent = strict.send(Method::POST, &literal, HeaderMap::new(), vec![]).await;
        assert_eq!(sent.err(), Some(Failure::Refused));
        // A name is refused by the resolver the connection uses.
        let named = strict.destination(&format!("http://localhost:{port}/hook")).unwrap();
        let sent = strict.send(Method::POST, &named, HeaderMap::new(), vec![]).await;
        assert!(sent.is_err(), "{sent:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");
        // The same server is reachable when private addresses are allowed.
        assert!(lenient.send(Method::POST, &named, HeaderMap::new(), vec![]).await.is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    /// The proxy in the environment is ignored. Run in a child process of
    /// this test binary, so the variables touch no other test.
    #[test]
    fn a_proxy_in_the_environment_is_not_used() {
        if let Ok(origin) = std::env::var("CAREGO_EGRESS_PROXY_CHILD") {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let reply = rt.block_on(async {
                let c = client(true, Limits { timeout: Duration::from_secs(5), ..Limits::default() });
                send_to(&c, &format!("{origin}/hook")).await
            });
            assert_eq!(reply.unwrap().status, 200);
            return;
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        let ((origin, origin_hits), (proxy, proxy_hits)) = rt.block_on(async {
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec();
            (server(Some(ok.clone())).await, server(Some(ok)).await)
        });
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "egress::tests::a_proxy_in_the_environment_is_not_used", "--nocapture"])
            .env("CAREGO_EGRESS_PROXY_CHILD", &origin)
            .env("HTTP_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("ALL_PROXY", &proxy)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(origin_hits.load(Ordering::SeqCst), 1, "sent straight to the origin");
        assert_eq!(proxy_hits.load(Ordering::SeqCst), 0, "not through the proxy");
    }

    /// No other module builds an HTTP client of its own for tenants'
    /// destinations: `reqwest::Client` is named here, and by the operator's
    /// own destinations only.
    #[test]
    fn this_is_the_only_outbound_client() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src.clone()];
        let mut found = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if [
                        "reqwest::Client",
                        "reqwest::blocking",
                        "ClientBuilder",
                        "hyper::client",
                        "hyper_util::client",
                    ]
                    .iter()
                    .any(|needle| text.contains(needle))
                    {
                        found.push(path.strip_prefix(&src).unwrap().display().to_string());
                    }
                }
            }
        }
        found.sort();
        assert_eq!(found, ["egress.rs"], "only egress.rs builds an outbound client");
    }
}
