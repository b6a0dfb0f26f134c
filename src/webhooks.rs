//! Sending webhooks: how a delivery is signed, and the client the job
//! worker sends with.
//!
//! Where a URL may point is the egress policy's to say (`egress.rs`): only
//! public addresses, checked when the subscription is made (after the
//! caller is known to be allowed to make one) and again by the client's
//! own resolver at every delivery; no proxy, no redirects, a bounded answer
//! and time. `CAREGO_WEBHOOK_ALLOW_PRIVATE` lifts the address rule for
//! development and tests only.
//!
//! Each delivery is signed: `Carego-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<body>")>`; a receiver recomputes it and
//! refuses a `t` older than a few minutes (replay).

use std::sync::Arc;

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue};
use sha2::Sha256;

use crate::{
    auth::{
        mfa::{Sealed, SecretBox},
        registration::KeyHasher,
    },
    egress::{self, Destination},
    error::Error,
};

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
    client: egress::Client,
    sealer: Arc<SecretBox>,
    /// Subscriptions made before webhook secrets had their own key were
    /// sealed under the TOTP one; they still open, and only here.
    sealed_before_own_key: SecretBox,
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
        let client = egress::Client::new(
            concat!("Carego-Webhooks/", env!("CARGO_PKG_VERSION")),
            allow_private,
            egress::Limits::default(),
        )?;
        Ok(Self {
            client,
            sealer: Arc::new(SecretBox::new(hasher, Sealed::WebhookSecrets)),
            sealed_before_own_key: SecretBox::new(hasher, Sealed::TotpSecrets),
        })
    }

    /// A subscription's URL, checked by the egress policy, resolving it
    /// now. Call it only once the caller is known to be allowed to
    /// subscribe: its two refusals tell whether a host name resolves.
    pub async fn check_url(&self, url: &str) -> Result<Destination, Error> {
        self.client.check(url).await.map_err(|why| Error::invalid("url", why.to_string()))
    }

    /// Seals a subscription's signing secret (bound to the subscription).
    pub fn seal(&self, subscription: uuid::Uuid, secret: &[u8]) -> Vec<u8> {
        self.sealer.seal(subscription.as_bytes(), secret)
    }

    /// A subscription's signing secret, under its own key or, for one made
    /// before that key, the TOTP one.
    fn open_secret(&self, subscription: uuid::Uuid, sealed: &[u8]) -> Option<Vec<u8>> {
        let owner = subscription.as_bytes();
        self.sealer.open(owner, sealed).or_else(|| self.sealed_before_own_key.open(owner, sealed))
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
        let Some(secret) = self.open_secret(subscription, sealed) else {
            return Attempt::Failed("the signing secret does not open".into());
        };
        let Ok(destination) = self.client.destination(url) else {
            return Attempt::Failed("the URL is not allowed".into());
        };
        let now = chrono::Utc::now().timestamp();
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        put("content-type", "application/json".into());
        put("carego-event", event.into());
        put("carego-delivery", delivery.to_string());
        put("carego-signature", signature(&secret, now, &body));
        // The answer's body is read (to its bound) and ignored: the status
        // is the receiver's whole answer.
        match self.client.send(reqwest::Method::POST, &destination, headers, body).await {
            Ok(reply) if (200..300).contains(&reply.status) => Attempt::Delivered(reply.status),
            Ok(reply) => Attempt::Refused(reply.status),
            Err(failure) => Attempt::Failed(failure.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_documented_hmac() {
        let sig = signature(b"secret", 1_700_000_000, b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(sig, format!("t=1700000000,v1={}", hex::encode(mac.finalize().into_bytes())));
    }

    #[test]
    fn signing_secrets_have_their_own_key_and_older_ones_still_open() {
        crate::install_tls_provider();
        let hasher = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        let sender = Sender::new(&hasher, false).unwrap();
        let (subscription, secret) = (uuid::Uuid::new_v4(), b"whsec-0123456789".to_vec());
        let sealed = sender.seal(subscription, &secret);
        assert_eq!(sender.open_secret(subscription, &sealed), Some(secret.clone()));
        let totp = SecretBox::new(&hasher, Sealed::TotpSecrets);
        assert_eq!(totp.open(subscription.as_bytes(), &sealed), None, "the TOTP key does not open it");
        let before = totp.seal(subscription.as_bytes(), &secret);
        assert_eq!(sender.open_secret(subscription, &before), Some(secret), "sealed before the split");
        assert_eq!(sender.open_secret(uuid::Uuid::new_v4(), &sealed), None, "bound to its subscription");
    }
}
