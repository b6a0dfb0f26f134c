//! `Rendered<T>`: a JSON response sent as bytes (written by serde straight
//! from the value, or kept from earlier by the catalog cache),
//! with `T`'s schema in the spec.
//!
//! poem-openapi's `Json<T>` renders a response by building a
//! `serde_json::Value` tree of it (every string copied, every object a
//! `BTreeMap`) and then serialising the tree. On a page of audit rows that
//! tree was most of the server's own time (docs/performance.md, "Round
//! three"). A type that derives `serde::Serialize` as well as its
//! poem-openapi traits is written here in one pass into one buffer.
//!
//! Both derives must say the same thing: camelCase names, `None` fields
//! left out, time as poem-openapi writes it ([`rfc3339`]). In debug builds
//! (every test) each response is checked against `T::to_json` before it
//! leaves, so a field that the two would write differently fails the first
//! test that reads it; the examples in the spec are checked the same way
//! (`Example::rendered`).

use std::marker::PhantomData;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    payload::{Json, Payload},
    registry::{MetaResponses, MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};
use serde::{Serialize, Serializer};

/// A JSON response (`application/json; charset=utf-8`), `T` in the spec.
pub struct Rendered<T> {
    body: Bytes,
    of: PhantomData<fn() -> T>,
}

impl<T> Rendered<T> {
    /// A body serialised earlier as a `T` (the catalog cache keeps its
    /// answers' bytes).
    pub fn from_bytes(body: Bytes) -> Self {
        Self { body, of: PhantomData }
    }
}

impl<T: ToJSON + Serialize> Rendered<T> {
    /// `value` as its response. `capacity`: about how many bytes it takes,
    /// so the buffer is not copied as it grows.
    pub fn new(value: &T, capacity: usize) -> Self {
        let mut body = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut body, value).expect("a value of the API's types serialises");
        #[cfg(debug_assertions)]
        same_as_to_json(value, &body);
        Self::from_bytes(body.into())
    }
}

/// What poem-openapi would have written, the same JSON value as `body`.
#[cfg(debug_assertions)]
fn same_as_to_json<T: ToJSON>(value: &T, body: &[u8]) {
    let written: serde_json::Value = serde_json::from_slice(body).expect("serde wrote JSON");
    let expected = value.to_json().unwrap_or_default();
    assert_eq!(written, expected, "serde and poem-openapi write {} differently", T::name());
}

impl<T: Type> Payload for Rendered<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> IntoResponse for Rendered<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type(Self::CONTENT_TYPE).body(self.body)
    }
}

impl<T: ToJSON> ApiResponse for Rendered<T> {
    fn meta() -> MetaResponses {
        <Json<T> as ApiResponse>::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// A time as poem-openapi writes `DateTime<Utc>` (`to_rfc3339`:
/// `2026-12-03T10:00:00.123456+00:00`), for `#[serde(serialize_with)]`.
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn time_is_written_as_poem_openapi_writes_it() {
        for at in [
            Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap(),
            Utc.timestamp_opt(1_796_000_000, 123_456_000).unwrap(),
            Utc.timestamp_opt(1_796_000_000, 1_000).unwrap(),
        ] {
            let mut out = serde_json::Serializer::new(Vec::new());
            rfc3339(&at, &mut out).unwrap();
            let written: serde_json::Value = serde_json::from_slice(&out.into_inner()).unwrap();
            assert_eq!(Some(written), at.to_json(), "{at:?}");
        }
    }
}
