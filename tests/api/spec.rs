//! The contract: the committed spec is what the code generates, and every
//! operation in it refuses anonymous callers unless it is explicitly public.

use std::collections::BTreeSet;

use poem::http::Method;
use serde_json::Value;

use crate::helpers::TestApp;

/// Operations anyone may call. Adding one here is a security decision.
const PUBLIC: &[&str] = &["health", "ready", "login", "refresh", "registerPatient"];

fn spec() -> Value {
    serde_json::from_str(&carego::api::spec_json()).unwrap()
}

#[test]
fn committed_spec_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .expect("openapi/openapi.json is committed");
    let generated = carego::api::spec_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json` and commit it"
    );
}

#[test]
fn every_operation_is_documented() {
    let spec = spec();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let name = format!("{method} {path}");
            // A bad path parameter is reported as field `id` (see error.rs).
            let in_path: Vec<_> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert!(in_path.is_empty() || in_path == ["id"], "{name}: path parameters {in_path:?}");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{name}: summary");
            assert!(op["operationId"].is_string(), "{name}: operationId");
            assert_eq!(op["tags"].as_array().map(Vec::len), Some(1), "{name}: one tag");
            let responses = op["responses"].as_object().unwrap();
            if op["operationId"] != "health" {
                for status in ["500", "503"] {
                    assert!(responses.contains_key(status), "{name}: documents {status}");
                }
            }
            if op.get("requestBody").is_some() || op.get("parameters").is_some() {
                assert!(responses.contains_key("400"), "{name}: documents 400");
            }
            if op.get("security").is_some() {
                assert!(
                    responses.contains_key("401")
                        && responses.contains_key("403")
                        && responses.contains_key("404"),
                    "{name}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_operation_refuses_anonymous_callers_unless_public() {
    let app = TestApp::spawn().await;
    let spec = spec();
    let mut public = BTreeSet::new();
    let mut walked = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            if op.get("security").is_none() {
                public.insert(id.to_owned());
                continue;
            }
            let concrete = path
                .split('/')
                .map(
                    |seg| {
                        if seg.starts_with('{') { uuid::Uuid::new_v4().to_string() } else { seg.to_owned() }
                    },
                )
                .collect::<Vec<_>>()
                .join("/");
            let method: Method = method.to_uppercase().parse().unwrap();
            let body =
                matches!(method, Method::POST | Method::PATCH | Method::PUT).then(|| serde_json::json!({}));
            for token in [None, Some("garbage")] {
                let res = app.call(method.clone(), &concrete, token, body.clone()).await;
                assert_eq!(
                    res.status.as_u16(),
                    401,
                    "{id} ({method} {concrete}) with {token:?}: {}",
                    res.body
                );
                assert_eq!(res.headers.get("content-type").unwrap(), "application/problem+json");
                assert_eq!(res.headers.get("www-authenticate").unwrap(), "Bearer", "{id}");
            }
            walked += 1;
        }
    }
    assert!(walked >= 15, "walked {walked} protected operations");
    assert_eq!(public, PUBLIC.iter().map(|s| s.to_string()).collect(), "the public operations");
}

#[tokio::test]
async fn docs_and_spec_are_served() {
    let app = TestApp::spawn().await;
    let res = app.client.get("/openapi.json").send().await;
    res.assert_status_is_ok();
    let served: Value = serde_json::from_str(&res.0.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!(served, spec());
    app.client.get("/docs").send().await.assert_status_is_ok();
}
