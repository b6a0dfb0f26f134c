//! Fixed-window rate limits of the unauthenticated doors (login, patient
//! registration, the lead form), kept in PostgreSQL (V37) so that every
//! server behind a load balancer counts the same attempts. An API key's own
//! limit and quota are counted by the request prologue (V36).
//!
//! What is limited (an IP address, a login name) is stored only as an HMAC
//! under the server's key secret (`CAREGO_KEY_SECRET`, the same
//! [`KeyHasher`] as API keys): a bare hash of an address or an e-mail could
//! be reversed by hashing every candidate. Changing the secret starts every
//! window again.

use std::{sync::Arc, time::Duration};

use super::registration::KeyHasher;
use crate::{db::Db, error::Error};

/// The HMAC purpose, so a limit's key can never equal another secret's.
const PURPOSE: &str = "rate-limit";

pub struct RateLimiter {
    db: Db,
    hasher: Arc<KeyHasher>,
    /// Which limit: `login_ip`, `login_account`, `register_ip`, `lead_ip`.
    bucket: &'static str,
    limit: u32,
    window: Duration,
}

impl RateLimiter {
    pub fn new(db: Db, hasher: Arc<KeyHasher>, bucket: &'static str, limit: u32, window: Duration) -> Self {
        Self { db, hasher, bucket, limit, window }
    }

    /// The stored form of `key` in this limit: HMAC-SHA256 under the
    /// server's key secret of `"rate-limit" 0 bucket 0 key`.
    pub fn stored_key(&self, key: &str) -> Vec<u8> {
        let mut input = Vec::with_capacity(self.bucket.len() + 1 + key.len());
        input.extend_from_slice(self.bucket.as_bytes());
        input.push(0);
        input.extend_from_slice(key.as_bytes());
        self.hasher.mac(PURPOSE, &input)
    }

    /// Counts one attempt for `key` (an IP, a login name; only its HMAC is
    /// stored); 429 with the seconds until the window turns once the
    /// window's limit is spent. A refused attempt is not counted.
    pub async fn check(&self, key: &str) -> Result<(), Error> {
        let window = u32::try_from(self.window.as_secs()).unwrap_or(u32::MAX).max(1);
        self.db.count_attempt(self.bucket, &self.stored_key(key), self.limit, window).await
    }
}
