//! Fixed-window rate limits of the unauthenticated doors (login, patient
//! registration, the lead form), kept in PostgreSQL (V37) so that every
//! server behind a load balancer counts the same attempts. An API key's own
//! limit and quota are counted by the request prologue (V36).

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::{db::Db, error::Error};

pub struct RateLimiter {
    db: Db,
    /// Which limit: `login_ip`, `login_account`, `register_ip`, `lead_ip`.
    bucket: &'static str,
    limit: u32,
    window: Duration,
}

impl RateLimiter {
    pub fn new(db: Db, bucket: &'static str, limit: u32, window: Duration) -> Self {
        Self { db, bucket, limit, window }
    }

    /// Counts one attempt for `key` (an IP, a login name; only its hash is
    /// stored); 429 with the seconds until the window turns once the
    /// window's limit is spent. A refused attempt is not counted.
    pub async fn check(&self, key: &str) -> Result<(), Error> {
        let hash = Sha256::new().chain_update(self.bucket).chain_update([0]).chain_update(key).finalize();
        let window = u32::try_from(self.window.as_secs()).unwrap_or(u32::MAX).max(1);
        self.db.count_attempt(self.bucket, &hash, self.limit, window).await
    }
}
