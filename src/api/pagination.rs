//! Keyset pagination: `?limit=` (1–100, default 20) and an opaque `cursor`
//! naming the last row of the previous page by `(created_at, id)`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// A decoded page request, ready to bind: `($after_ts, $after_id, $limit + 1)`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

impl PageRequest {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", "must be between 1 and 100"));
        }
        let after = cursor.map(decode).transpose()?;
        Ok(Self { after, limit })
    }

    pub fn after_ts(&self) -> Option<DateTime<Utc>> {
        self.after.map(|a| a.0)
    }

    pub fn after_id(&self) -> Option<Uuid> {
        self.after.map(|a| a.1)
    }

    /// One more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Trims the extra row and returns the next cursor, if any.
    pub fn finish<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> (Vec<T>, Option<String>) {
        if items.len() <= self.limit as usize {
            return (items, None);
        }
        items.truncate(self.limit as usize);
        let next = items.last().map(|last| encode(key(last)));
        (items, next)
    }
}

fn encode((ts, id): (DateTime<Utc>, Uuid)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", ts.timestamp_micros()))
}

fn decode(cursor: &str) -> Result<(DateTime<Utc>, Uuid)> {
    let bad = || Error::invalid("cursor", "is not a cursor returned by this endpoint");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (micros, id) = raw.split_once('|').ok_or_else(bad)?;
    let ts = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    // Every cursor we hand out names a row written in years 1–9999; a forged
    // one outside them would be out of PostgreSQL's range.
    if !(1..=9999).contains(&ts.year()) {
        return Err(bad());
    }
    Ok((ts, id.parse().map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let ts = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(decode(&encode((ts, id))).unwrap(), (ts, id));
        let far = format!("-9000000000000000000|{id}");
        for bad in [
            "",
            "!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12|not-a-uuid"),
            &URL_SAFE_NO_PAD.encode(far),
        ] {
            assert!(decode(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn limit_outside_1_to_100_is_invalid() {
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(101), None).is_err());
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 20);
    }
}
