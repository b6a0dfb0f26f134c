//! Fixed-window rate limits kept in memory (per process). Enough for one
//! server; several replicas would each allow the limit, which the README
//! notes.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::error::Error;

/// Beyond this many tracked keys, expired windows are pruned on insert.
const PRUNE_THRESHOLD: usize = 10_000;

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one attempt for `key`; 429 once the window's limit is spent.
    pub fn check(&self, key: &str) -> Result<(), Error> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > PRUNE_THRESHOLD {
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let retry = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(Error::RateLimited { retry_after_secs: retry.as_secs().max(1) });
        }
        entry.1 += 1;
        Ok(())
    }
}
