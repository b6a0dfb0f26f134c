//! Keyset pagination: `?limit=` (1–100, default 20) and an opaque `cursor`
//! naming the last row of the previous page by its sort key `(time, id)`.
//! Both parameters are types of their own, so every list declares and checks
//! them the same way, and a bad value is a 400 naming the parameter.

use std::borrow::Cow;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Datelike, Utc};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
const MAX_CURSOR_LEN: usize = 200;

/// A row's place in its list: the sort key a cursor names.
pub trait Keyed {
    fn key(&self) -> (DateTime<Utc>, Uuid);
}

/// `?limit=`: how many items a page holds, 1 to 100 (default 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub u32);

/// `?cursor=`: the `nextCursor` of the previous page, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// A decoded page request: the cursor it continues from, if any (a list's
/// optional condition, `db::filters::Bound::after`), and its size.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl PageRequest {
    pub fn new(limit: Option<Limit>, cursor: Option<Cursor>) -> Self {
        Self { after: cursor, limit: limit.map_or(DEFAULT_LIMIT, |l| l.0) }
    }

    /// One more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Trims the extra row and returns the next cursor, if any.
    pub fn finish<T: Keyed>(&self, mut items: Vec<T>) -> (Vec<T>, Option<String>) {
        if items.len() <= self.limit as usize {
            return (items, None);
        }
        items.truncate(self.limit as usize);
        let next = items.last().map(|last| {
            let (at, id) = last.key();
            Cursor { at, id }.encode()
        });
        (items, next)
    }
}

impl Cursor {
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at.timestamp_micros(), self.id))
    }

    pub fn decode(cursor: &str) -> Result<Self, &'static str> {
        const BAD: &str = "is not a cursor returned by this endpoint";
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(BAD);
        }
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| BAD)?;
        let raw = String::from_utf8(raw).map_err(|_| BAD)?;
        let (micros, id) = raw.split_once('|').ok_or(BAD)?;
        let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| BAD)?).ok_or(BAD)?;
        // Every cursor we hand out names a row written in years 1–9999; a
        // forged one outside them would be out of PostgreSQL's range.
        if !(1..=9999).contains(&at.year()) {
            return Err(BAD);
        }
        Ok(Self { at, id: id.parse().map_err(|_| BAD)? })
    }
}

/// A query-parameter type with a fixed inline schema.
macro_rules! param_type {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }
    };
}

param_type!(
    Limit,
    "Limit",
    MetaSchema {
        format: Some("int32"),
        description: Some("How many items a page holds."),
        minimum: Some(1.0),
        maximum: Some(f64::from(MAX_LIMIT)),
        default: Some(Value::from(DEFAULT_LIMIT)),
        ..MetaSchema::new("integer")
    }
);

param_type!(
    Cursor,
    "Cursor",
    MetaSchema {
        description: Some(
            "Opaque: the `nextCursor` of the previous page. Absent for the first page; a list \
         whose `nextCursor` is absent has no more pages.",
        ),
        max_length: Some(MAX_CURSOR_LEN),
        ..MetaSchema::new("string")
    }
);

/// `?since=`: where an offline-sync pull starts, the `nextCursor` of the
/// previous pull: a position in the caller's facility's change numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncCursor(pub i64);

param_type!(
    SyncCursor,
    "SyncCursor",
    MetaSchema {
        description: Some(
            "Opaque: the `nextCursor` of your previous pull. Absent (or `0`) for everything from \
             the beginning.",
        ),
        max_length: Some(19),
        pattern: Some("^[0-9]{1,19}$".into()),
        ..MetaSchema::new("string")
    }
);

impl ParseFromParameter for SyncCursor {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        match value.parse::<i64>() {
            Ok(n) if n >= 0 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(Self(n)),
            _ => Err(ParseError::custom("is not a cursor returned by this endpoint")),
        }
    }
}

impl ToJSON for SyncCursor {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0.to_string()))
    }
}

impl ParseFromParameter for Limit {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        match value.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(Self(n)),
            _ => Err(ParseError::custom("must be a whole number from 1 to 100")),
        }
    }
}

impl ParseFromParameter for Cursor {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::decode(value).map_err(ParseError::custom)
    }
}

// For the spec's `default` and examples only.
impl ToJSON for Limit {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

impl ToJSON for Cursor {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.encode()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let cursor = Cursor { at, id: Uuid::new_v4() };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        let far = URL_SAFE_NO_PAD.encode(format!("-9000000000000000000|{}", cursor.id));
        let long = "A".repeat(MAX_CURSOR_LEN + 1);
        for bad in ["", "!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("12|not-a-uuid"), &far, &long] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn limit_outside_1_to_100_is_invalid() {
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(Limit::parse_from_parameter(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Limit::parse_from_parameter("100").unwrap(), Limit(100));
        assert_eq!(PageRequest::new(None, None).limit, 20);
    }

    #[test]
    fn a_sync_cursor_is_a_non_negative_whole_number() {
        for bad in ["", "-1", "+1", "1.0", "9223372036854775808", "abc", " 1"] {
            assert!(SyncCursor::parse_from_parameter(bad).is_err(), "{bad:?}");
        }
        assert_eq!(SyncCursor::parse_from_parameter("0").unwrap(), SyncCursor(0));
        assert_eq!(SyncCursor::parse_from_parameter("42").unwrap(), SyncCursor(42));
    }
}
