//! Sending webhooks: where a URL may point, how a delivery is signed, and
//! the HTTP client the job worker sends with.
//!
//! A URL must be `https` (or `http`), name a host, and resolve only to
//! public addresses: loopback, private, link-local (the cloud metadata
//! address among them), carrier-grade NAT, multicast, unspecified,
//! documentation and other reserved ranges are refused, when the
//! subscription is made and again at every delivery, by the client's own
//! resolver (so a name that later resolves elsewhere is refused too, and
//! redirects are never followed). `CAREGO_WEBHOOK_ALLOW_PRIVATE` lifts this
//! for development and tests only.
//!
//! Each delivery is signed: `Carego-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<body>")>`; a receiver recomputes it and
//! refuses a `t` older than a few minutes (replay).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{
    auth::{mfa::SecretBox, registration::KeyHasher},
    error::Error,
};

/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long checking a URL may wait for DNS.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether `ip` is a public unicast address a webhook may reach.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 (could reach IPv4 private)
                || s[0] == 0x2002) // 6to4 (likewise)
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: the cloud metadata address
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 240) // reserved
}

/// A subscription's URL, checked: scheme, host, and (unless private
/// addresses are allowed) every address the host resolves to.
pub async fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, Error> {
    let bad = |why: &str| Error::invalid("url", why);
    let parsed = reqwest::Url::parse(url).map_err(|_| bad("is not a URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(bad("must be https (or http)"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry credentials; the signature authenticates us"));
    }
    let host = parsed.host_str().ok_or_else(|| bad("must name a host"))?.to_owned();
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses = tokio::time::timeout(RESOLVE_TIMEOUT, resolve(&host, port))
        .await
        .map_err(|_| bad("does not resolve"))?
        .map_err(|_| bad("does not resolve"))?;
    if addresses.is_empty() || !addresses.iter().all(|a| is_public(a.ip())) {
        return Err(bad(
            "must resolve only to public addresses (not loopback, private, link-local or metadata)",
        ));
    }
    Ok(parsed)
}

async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    Ok(tokio::net::lookup_host((host, port)).await?.collect())
}

/// The client's resolver: only public addresses, or none at all.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                resolve(&host, 0).await?.into_iter().filter(|a| is_public(a.ip())).collect();
            if found.is_empty() {
                return Err("the host resolves to no public address".into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The signature header's value for `body` sent at `unix_secs`.
pub fn signature(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={unix_secs},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What the job worker sends deliveries with.
pub struct Sender {
    client: reqwest::Client,
    sealer: Arc<SecretBox>,
    allow_private: bool,
}

/// One attempt's outcome.
pub enum Attempt {
    Delivered(u16),
    /// An answer other than 2xx.
    Refused(u16),
    /// No answer: the URL was refused, the connection failed, it timed out.
    Failed(String),
}

impl Sender {
    pub fn new(hasher: &KeyHasher, allow_private: bool) -> anyhow::Result<Self> {
        let tls = crate::db::infra::tls::client_config(crate::db::infra::tls::native_roots())?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("Carego-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self { client: builder.build()?, sealer: Arc::new(SecretBox::new(hasher)), allow_private })
    }

    /// Seals a subscription's signing secret (bound to the subscription).
    pub fn seal(&self, subscription: uuid::Uuid, secret: &[u8]) -> Vec<u8> {
        self.sealer.seal(subscription.as_bytes(), secret)
    }

    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// One attempt to deliver `body` to `url`, signed with the sealed secret.
    pub async fn send(
        &self,
        url: &str,
        subscription: uuid::Uuid,
        sealed: &[u8],
        event: &str,
        delivery: uuid::Uuid,
        body: Vec<u8>,
    ) -> Attempt {
        let Some(secret) = self.sealer.open(subscription.as_bytes(), sealed) else {
            return Attempt::Failed("the signing secret does not open".into());
        };
        // An address literal skips the resolver: check it here.
        let url = match check_url(url, self.allow_private).await {
            Ok(url) => url,
            Err(_) => return Attempt::Failed("the URL is not allowed".into()),
        };
        let now = chrono::Utc::now().timestamp();
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("carego-event", event)
            .header("carego-delivery", delivery.to_string())
            .header("carego-signature", signature(&secret, now, &body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => Attempt::Delivered(resp.status().as_u16()),
            Ok(resp) => Attempt::Refused(resp.status().as_u16()),
            // What went wrong, in words of our own: the admin reads it.
            Err(e) if e.is_timeout() => Attempt::Failed("timed out".into()),
            Err(e) if e.is_connect() => Attempt::Failed("could not connect".into()),
            Err(_) => Attempt::Failed("the request failed".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_reachable() {
        for blocked in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(blocked.parse().unwrap()), "{blocked}");
        }
        for open in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1"] {
            assert!(is_public(open.parse().unwrap()), "{open}");
        }
    }

    #[tokio::test]
    async fn urls_naming_private_hosts_are_refused() {
        for url in [
            "http://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.8:8443/x",
            "ftp://93.184.215.14/x",
            "https://user:pw@93.184.215.14/x",
            "not a url",
            "https://localhost/hook",
        ] {
            assert!(check_url(url, false).await.is_err(), "{url}");
        }
        assert!(check_url("https://93.184.215.14/carego", false).await.is_ok());
        assert!(check_url("http://127.0.0.1:9/hook", true).await.is_ok(), "allowed for tests");
    }

    #[test]
    fn the_signature_is_the_documented_hmac() {
        let sig = signature(b"secret", 1_700_000_000, b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(sig, format!("t=1700000000,v1={}", hex::encode(mac.finalize().into_bytes())));
    }
}
