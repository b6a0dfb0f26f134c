//! The public catalog's answers, cached in the process: serialized once,
//! with a strong `ETag` (a hash of the bytes), served until the catalog
//! changes anywhere (the hub's generation, bumped by every server's LISTEN
//! connection on `carego_catalog`) and for at most [`MAX_AGE`] in any case,
//! so even a LISTEN connection that is down cannot keep an answer longer.
//! Clients and CDNs get the same bound in `Cache-Control`, and a request
//! with a matching `If-None-Match` gets 304 without a body.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use poem_openapi::{
    ApiResponse,
    types::{ToJSON, Type},
};
use sha2::{Digest, Sha256};

use crate::{api::rendered::Rendered, db::infra::listen::Hub, error::Result};

/// How long an answer may be served without asking the database again.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Distinct queries kept; past this the cache starts afresh, so a caller
/// cycling through made-up `cityId`s cannot grow it without bound.
const MAX_ENTRIES: usize = 4096;

/// A catalog answer: the body, or 304 when the client holds it already.
#[derive(ApiResponse)]
pub enum Cached<T: Type + Send + Sync> {
    /// The answer.
    #[oai(status = 200)]
    Ok(
        Rendered<T>,
        /// A strong validator: send it back as `If-None-Match`.
        #[oai(header = "ETag")]
        String,
        /// `public, max-age=60`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// Not modified: the `If-None-Match` given is still current.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String, #[oai(header = "Cache-Control")] String),
}

struct Entry {
    generation: u64,
    stored: Instant,
    etag: String,
    body: Bytes,
}

/// The cache of one process.
pub struct CatalogCache {
    hub: Arc<Hub>,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

impl CatalogCache {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub, entries: Mutex::default() }
    }

    /// The answer for `key`: cached if current, else `load`ed and cached.
    /// The generation is read before loading, so a change committed while
    /// loading leaves an entry that is already stale.
    pub async fn answer<T, F>(&self, key: String, if_none_match: Option<&str>, load: F) -> Result<Cached<T>>
    where
        T: ToJSON + Send + Sync,
        F: AsyncFnOnce() -> Result<T>,
    {
        let generation = self.hub.catalog_generation();
        let entry = match self.current(&key, generation) {
            Some(entry) => entry,
            None => {
                let value = load().await?;
                let body = Bytes::from(value.to_json_string());
                let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
                let entry = Arc::new(Entry { generation, stored: Instant::now(), etag, body });
                let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
                entries.insert(key, entry.clone());
                entry
            }
        };
        let cache_control = format!("public, max-age={}", MAX_AGE.as_secs());
        if if_none_match.is_some_and(|tags| matches(tags, &entry.etag)) {
            return Ok(Cached::NotModified(entry.etag.clone(), cache_control));
        }
        Ok(Cached::Ok(Rendered::from_bytes(entry.body.clone()), entry.etag.clone(), cache_control))
    }

    fn current(&self, key: &str, generation: u64) -> Option<Arc<Entry>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|e| e.generation == generation && e.stored.elapsed() < MAX_AGE).cloned()
    }
}

/// `If-None-Match` holds `tag` (a list, `*`, or weak forms of it).
fn matches(header: &str, tag: &str) -> bool {
    header.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn if_none_match_takes_lists_stars_and_weak_tags() {
        let tag = "\"abc\"";
        assert!(matches("\"abc\"", tag));
        assert!(matches("\"x\", \"abc\"", tag));
        assert!(matches("W/\"abc\"", tag));
        assert!(matches("*", tag));
        assert!(!matches("\"abcd\"", tag));
        assert!(!matches("abc", tag));
    }
}
