//! A response, read, with the assertions tests make of it.

use poem::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// A response, read.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Res {
    /// Asserts an RFC 9457 problem with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.body);
        assert_eq!(
            self.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "content type"
        );
        assert_eq!(self.body["code"], code, "problem code; body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"].as_str().unwrap().starts_with("urn:carego:problem:"));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self
    }

    /// Asserts the body is an object without `field` (our responses omit
    /// an absent optional field rather than send `null`). `body[field]
    /// .is_null()` would also pass for a misspelt field.
    #[track_caller]
    pub fn assert_absent(&self, field: &str) -> &Self {
        let object = self.body.as_object().unwrap_or_else(|| panic!("an object body: {}", self.body));
        assert!(!object.contains_key(field), "`{field}` should be absent: {}", self.body);
        self
    }

    pub fn items(&self) -> &Vec<Value> {
        self.body["items"].as_array().expect("a list body")
    }
}

pub async fn read(resp: poem::test::TestResponse) -> Res {
    let resp = resp.0;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().into_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Res { status, headers, body }
}
