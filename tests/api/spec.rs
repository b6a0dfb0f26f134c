//! The contract: the committed spec is what the code generates, and every
//! operation in it refuses anonymous callers unless it is explicitly public.

use std::collections::BTreeSet;

use poem::http::Method;
use serde_json::Value;

use crate::helpers::TestApp;

/// Operations anyone may call. Adding one here is a security decision.
const PUBLIC: &[&str] = &[
    "health",
    "ready",
    "login",
    "refresh",
    "registerPatient",
    "listPublicCities",
    "listPublicServices",
    "getPublicService",
    "listPublicCourses",
    "listPublicTrainingCenters",
    "submitLead",
    "verifyCertificate",
];

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
            assert!(op["description"].as_str().is_some_and(|d| d.len() > 20), "{name}: a description");
            // A bad path parameter is reported as field `id` (see error.rs).
            let in_path: Vec<_> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            // The website's service handle and a certificate's code are text, which always parses.
            let handle = (name == "get /api/v1/public/services/{slug}" && in_path == ["slug"])
                || (name == "get /api/v1/public/certificates/{code}" && in_path == ["code"]);
            assert!(in_path.is_empty() || in_path == ["id"] || handle, "{name}: path parameters {in_path:?}");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{name}: summary");
            assert!(op["operationId"].is_string(), "{name}: operationId");
            assert_eq!(op["tags"].as_array().map(Vec::len), Some(1), "{name}: one tag");
            let responses = op["responses"].as_object().unwrap();
            if op["operationId"] != "health" {
                assert!(responses.contains_key("503"), "{name}: documents 503");
            }
            assert!(responses.contains_key("500"), "{name}: documents 500");
            // Input that can fail to parse: a body, or a parameter other than
            // the audit reason (which is recorded, never refused).
            let parsed =
                op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] != "X-Change-Reason");
            if op.get("requestBody").is_some() || parsed {
                assert!(responses.contains_key("400"), "{name}: documents 400");
            }
            if op.get("security").is_some() {
                assert!(responses.contains_key("401") && responses.contains_key("403"), "{name}");
            }
            // Every error names the codes it can carry, with an example problem.
            for (status, response) in
                responses.iter().filter(|(s, _)| !s.starts_with('2') && !s.starts_with('3'))
            {
                let description = response["description"].as_str().unwrap_or_default();
                assert!(description.contains("`code`: `"), "{name} {status}: {description}");
                let example = &response["content"]["application/problem+json"]["example"];
                assert_eq!(example["status"].as_u64(), status.parse().ok(), "{name} {status}");
            }
            // Every parameter is described, and the request id is declared.
            for param in op["parameters"].as_array().into_iter().flatten() {
                assert!(param["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}: {param}");
            }
            for (status, response) in responses {
                assert!(response["headers"]["X-Request-Id"].is_object(), "{name} {status}: X-Request-Id");
            }
            if method != "get" && op.get("security").is_some() {
                let params = op["parameters"].as_array().unwrap();
                assert!(params.iter().any(|p| p["name"] == "X-Change-Reason"), "{name}: X-Change-Reason");
            }
        }
    }
}

/// What is wrong with `value` as an instance of `schema` (a subset of JSON
/// Schema: refs, allOf, required and unknown properties, types, enums).
fn faults(spec: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return faults(spec, &spec["components"]["schemas"][name], value, at, out);
    }
    if value.is_null() {
        if schema["nullable"] != true {
            out.push(format!("{at}: null"));
        }
        return;
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        faults(spec, part, value, at, out);
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} not in {allowed:?}"));
        }
    }
    match (schema["type"].as_str(), value) {
        (Some("object"), Value::Object(map)) => {
            let props = schema["properties"].as_object().cloned().unwrap_or_default();
            for required in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(required.as_str().unwrap()) {
                    out.push(format!("{at}.{required}: missing"));
                }
            }
            for (key, item) in map {
                match props.get(key) {
                    Some(property) => faults(spec, property, item, &format!("{at}.{key}"), out),
                    None => out.push(format!("{at}.{key}: not in the schema")),
                }
            }
        }
        (Some("array"), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                faults(spec, &schema["items"], item, &format!("{at}[{i}]"), out);
            }
        }
        (Some("string"), Value::String(_))
        | (Some("integer"), Value::Number(_))
        | (Some("number"), Value::Number(_))
        | (Some("boolean"), Value::Bool(_))
        | (None, _) => {}
        (Some(ty), other) => out.push(format!("{at}: {other} is not {ty}")),
    }
}

#[test]
fn every_request_body_and_main_response_has_a_faithful_example() {
    let spec = spec();
    let mut wrong = Vec::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let name = format!("{method} {path}");
            let request = &op["requestBody"]["content"]["application/json"]["schema"];
            let success = op["responses"].as_object().unwrap().iter().find(|(s, _)| s.starts_with('2'));
            let response = success.map(|(_, r)| &r["content"]["application/json; charset=utf-8"]["schema"]);
            for schema in [Some(request), response].into_iter().flatten().filter(|s| !s.is_null()) {
                let reference = schema["$ref"].as_str().unwrap_or_else(|| panic!("{name}: a named schema"));
                let schema_name = reference.rsplit('/').next().unwrap();
                let example = &spec["components"]["schemas"][schema_name]["example"];
                if example.is_null() {
                    wrong.push(format!("{name}: {schema_name} has no example"));
                } else {
                    faults(&spec, schema, example, schema_name, &mut wrong);
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn every_request_example_passes_the_servers_validation() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let spec = spec();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let Some(reference) = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            else {
                continue;
            };
            let example =
                spec["components"]["schemas"][reference.rsplit('/').next().unwrap()]["example"].clone();
            let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
            let method: Method = method.to_uppercase().parse().unwrap();
            let res = app.call(method.clone(), &concrete, Some(&sa.token), Some(example)).await;
            // Whatever the outcome (404 for a made-up id, 403 for the role, a
            // key or password that is not this server's), the example's shape
            // passes every check.
            let about_state = |e: &Value| {
                (e["field"] == "currentPassword" && e["message"] == "is incorrect")
                    || (e["field"] == "registrationKey"
                        && e["message"] == "is not a valid, unused registration key")
            };
            if res.status.as_u16() == 400 {
                let errors = res.body["errors"].as_array().unwrap();
                assert!(errors.iter().all(about_state), "{method} {path}: {}", res.body);
            }
            assert!(res.status.as_u16() < 500, "{method} {path}: {}", res.body);
        }
    }
}

#[test]
fn every_schema_property_is_described() {
    let spec = spec();
    let mut undescribed = Vec::new();
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            // An id type's doc is its title ("A patient ..."); enums and objects describe themselves.
            let described =
                ["description", "title"].iter().any(|k| property[*k].as_str().is_some_and(|d| !d.is_empty()));
            if !described {
                undescribed.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(undescribed.is_empty(), "properties without a description: {undescribed:?}");
}

#[test]
fn error_statuses_are_only_those_an_operation_can_answer() {
    let spec = spec();
    let op = |path: &str, method: &str| spec["paths"][path][method]["responses"].as_object().unwrap().clone();
    let statuses = |path: &str, method: &str| op(path, method).keys().cloned().collect::<Vec<_>>();
    // A read by id: no body, no conflict, no idempotency, no rate limit.
    assert_eq!(statuses("/api/v1/care-logs/{id}", "get"), ["200", "400", "401", "403", "404", "500", "503"]);
    // One that takes an API key too: its refusals, scope and limits.
    assert_eq!(
        statuses("/api/v1/patients/{id}", "get"),
        ["200", "400", "401", "403", "404", "429", "500", "503"]
    );
    let keyed = op("/api/v1/patients/{id}", "get");
    assert!(keyed["401"]["description"].as_str().unwrap().contains("`invalid_api_key`"));
    assert!(keyed["403"]["description"].as_str().unwrap().contains("`insufficient_scope`"));
    // A create with a body and a key, and its conflicts.
    let create = statuses("/api/v1/users", "post");
    assert_eq!(create, ["201", "400", "401", "403", "404", "408", "409", "413", "415", "422", "500", "503"]);
    let conflict = op("/api/v1/users", "post")["409"]["description"].as_str().unwrap().to_owned();
    assert!(conflict.contains("`email_taken`") && conflict.contains("`phone_taken`"), "{conflict}");
    // Login: its own 401 and 403 codes, and 429.
    let login = op("/api/v1/auth/login", "post");
    assert!(login["401"]["description"].as_str().unwrap().contains("`invalid_credentials`"));
    assert!(login["403"]["description"].as_str().unwrap().contains("`account_suspended`"));
    assert!(login.contains_key("429") && !login.contains_key("404"));
    // Every create with a client-made id declares the 409 of an id taken.
    for (path, method) in [
        ("/api/v1/patients/{id}/crisis-alerts", "post"),
        ("/api/v1/conversations/{id}/messages", "post"),
        ("/api/v1/conversations", "post"),
        ("/api/v1/patients/{id}/check-ins", "post"),
    ] {
        let conflict = op(path, method)["409"]["description"].as_str().unwrap_or_default().to_owned();
        assert!(conflict.contains("`record_id_taken`"), "{method} {path}: {conflict}");
    }
    // The stream declares the refusal of a bad ticket.
    let stream = op("/api/v1/events", "get");
    assert!(stream["401"]["description"].as_str().unwrap().contains("`invalid_ticket`"));
    // The replay header has its real name, and dates are dates.
    assert!(op("/api/v1/users", "post")["201"]["headers"]["Idempotent-Replayed"].is_object());
    assert_eq!(spec["components"]["schemas"]["Patient"]["properties"]["dateOfBirth"]["format"], "date");
    assert_eq!(spec["components"]["schemas"]["User"]["properties"]["email"]["format"], "email");
    assert_eq!(spec["servers"][0]["url"], "/");
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
