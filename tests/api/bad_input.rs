//! Bad input, table-driven: every case answers 400 (or 413) problem+json and
//! writes nothing.

use poem::http::Method;

use crate::helpers::TestApp;

#[tokio::test]
async fn bad_bodies_are_rejected_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let users = "/api/v1/users";
    let facilities = "/api/v1/facilities";
    let valid_user = r#"{"email":"new@x.example","password":"long enough pw","role":"staff","firstName":"N","lastName":"U"}"#;
    let big = format!(r#"{{"email":"a@b.example","password":"{}"}}"#, "x".repeat(70 * 1024));
    // Every 400 has one shape: `validation_failed`, naming each field at fault.
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("malformed JSON", users, "{not json".into(), 400, "validation_failed"),
        ("truncated JSON", users, valid_user[..30].into(), 400, "validation_failed"),
        ("JSON array", users, "[]".into(), 400, "validation_failed"),
        ("missing fields", users, r#"{"email":"x@y.example"}"#.into(), 400, "validation_failed"),
        ("unknown field", users, valid_user.replace("\"role\"", "\"isAdmin\":true,\"role\""), 400, "validation_failed"),
        ("unknown role", users, valid_user.replace("\"staff\"", "\"owner\""), 400, "validation_failed"),
        ("null for an optional field", users, valid_user.replace("\"role\"", "\"jobTitle\":null,\"role\""), 400, "validation_failed"),
        ("wrong type", users, valid_user.replace("\"N\"", "42"), 400, "validation_failed"),
        ("empty first name", users, valid_user.replace("\"N\"", "\"\""), 400, "validation_failed"),
        ("invalid email", users, valid_user.replace("new@x.example", "not-an-email"), 400, "validation_failed"),
        ("invalid phone", users, valid_user.replace("\"email\":\"new@x.example\"", "\"phone\":\"12ab\""), 400, "validation_failed"),
        ("no email or phone", users, valid_user.replace("\"email\":\"new@x.example\",", ""), 400, "validation_failed"),
        ("short password", users, valid_user.replace("long enough pw", "short"), 400, "validation_failed"),
        ("patient via users", users, valid_user.replace("\"staff\"", "\"patient\""), 400, "validation_failed"),
        ("bad slug", facilities, r#"{"slug":"Bad Slug!","name":"X","kind":"clinic","admin":{"email":"a@b.example","firstName":"A","lastName":"B"}}"#.into(), 400, "validation_failed"),
        ("unknown kind", facilities, r#"{"slug":"ok-slug","name":"X","kind":"spa","admin":{"email":"a@b.example","firstName":"A","lastName":"B"}}"#.into(), 400, "validation_failed"),
        ("admin email invalid", facilities, r#"{"slug":"ok-slug","name":"X","kind":"clinic","admin":{"email":"nope","firstName":"A","lastName":"B"}}"#.into(), 400, "validation_failed"),
        ("oversized body", users, big, 413, "payload_too_large"),
    ];
    let before = (app.count("users").await, app.count("facilities").await, app.count("audit_log").await);
    for (name, path, body, status, code) in cases {
        let actor = if path == facilities { &w.sa } else { &w.admin_a };
        let res = app
            .client
            .request(Method::POST, path)
            .header("authorization", format!("Bearer {}", actor.token))
            .content_type("application/json")
            .body(body)
            .send()
            .await;
        let res = crate::helpers::read(res).await;
        assert_eq!(res.status.as_u16(), status, "{name}: {}", res.body);
        res.assert_problem(status, code);
        if code == "validation_failed" {
            let errors = res.body["errors"].as_array().unwrap_or_else(|| panic!("{name}: field errors"));
            assert!(
                !errors.is_empty()
                    && errors.iter().all(|e| e["field"].is_string() && e["message"].is_string()),
                "{name}"
            );
        }
    }
    let after = (app.count("users").await, app.count("facilities").await, app.count("audit_log").await);
    assert_eq!(before, after, "nothing was written");
}

#[tokio::test]
async fn a_body_with_several_faults_names_every_one() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let body = r#"{"email": 42, "role": "owner", "firstName": "", "lastName": null, "isAdmin": true,
                   "password": "x"}"#;
    let res = app
        .client
        .post("/api/v1/users")
        .header("authorization", format!("Bearer {}", w.admin_a.token))
        .content_type("application/json")
        .body(body)
        .send()
        .await;
    let res = crate::helpers::read(res).await;
    res.assert_problem(400, "validation_failed");
    let mut fields: Vec<&str> =
        res.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "firstName", "isAdmin", "lastName", "password", "role"], "{}", res.body);
    // Nested fields are named by their path.
    let res = app
        .client
        .post("/api/v1/facilities")
        .header("authorization", format!("Bearer {}", w.sa.token))
        .content_type("application/json")
        .body(r#"{"slug":"ok-slug","name":"X","kind":"clinic","admin":{"email":"a@b.example","firstName":7,"lastName":"B"}}"#)
        .send()
        .await;
    let res = crate::helpers::read(res).await;
    res.assert_problem(400, "validation_failed");
    assert_eq!(res.body["errors"][0]["field"], "admin.firstName", "{}", res.body);
    assert_eq!(res.body["errors"][0]["message"], "must be a string");
}

#[tokio::test]
async fn bad_paths_and_queries_are_400_and_unknown_routes_404() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    for (path, field) in [
        ("/api/v1/users/not-a-uuid", "id"),
        ("/api/v1/users?limit=0", "limit"),
        ("/api/v1/users?limit=101", "limit"),
        ("/api/v1/users?limit=ten", "limit"),
        ("/api/v1/users?role=owner", "role"),
        ("/api/v1/users?cursor=garbage", "cursor"),
        ("/api/v1/patients?search=", "search"),
    ] {
        let res = app.get(&sa, path).await;
        res.assert_problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], field, "{path}: {}", res.body);
        let message = res.body["errors"][0]["message"].as_str().unwrap();
        assert!(!message.contains("occurred while parsing"), "{path}: {message}");
    }
    app.get(&sa, "/api/v1/no-such-thing").await.assert_problem(404, "not_found");
    let res = app.call(Method::PUT, "/api/v1/users", Some(&sa.token), None).await;
    res.assert_problem(405, "method_not_allowed");
}

#[tokio::test]
async fn login_input_is_validated_before_any_lookup() {
    let app = TestApp::spawn().await;
    for body in [
        serde_json::json!({"password": "whatever12"}),
        serde_json::json!({"email": "a@b.example", "phone": "+919876543210", "password": "whatever12"}),
        serde_json::json!({"email": "nope", "password": "whatever12"}),
    ] {
        let res = app.call(Method::POST, "/api/v1/auth/login", None, Some(body.clone())).await;
        res.assert_problem(400, "validation_failed");
    }
}

#[tokio::test]
async fn control_characters_and_forged_cursors_are_400_never_500() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let admin = &c.w.admin_a;
    let forged = URL_SAFE_NO_PAD.encode(format!("-9000000000000000000|{}", uuid::Uuid::new_v4()));
    let bodies = [
        ("/api/v1/users", r#"{"email":"n@x.example","role":"staff","firstName":"N\u0000","lastName":"U"}"#),
        (&format!("/api/v1/patients/{}/care-logs", c.p1) as &str, r#"{"kind":"note","body":"a\u0000b"}"#),
        (
            "/api/v1/patients",
            r#"{"firstName":"A","lastName":"B","dateOfBirth":"1990-01-01","emergencyContact":{"name":"x\u0000","phone":"+15551234567"}}"#,
        ),
        ("/api/v1/auth/login", r#"{"email":"a\u0000@b.example","password":"whatever12"}"#),
        ("/api/v1/auth/login", r#"{"email":"a@b.example","password":"what\u001bever12"}"#),
    ];
    for (path, body) in bodies {
        let res = app
            .client
            .post(path)
            .header("authorization", format!("Bearer {}", admin.token))
            .content_type("application/json")
            .body(body.to_owned())
            .send()
            .await;
        let res = crate::helpers::read(res).await;
        assert_eq!(res.status.as_u16(), 400, "{path} {body}: {}", res.body);
    }
    for query in [
        "/api/v1/patients?search=%00".to_owned(),
        "/api/v1/patients?search=a%1Bb".to_owned(),
        "/api/v1/audit-logs?action=%00".to_owned(),
        format!("/api/v1/users?cursor={forged}"),
        format!("/api/v1/patients?cursor={forged}"),
        format!("/api/v1/patients/{}/care-logs?cursor={forged}", c.p1),
    ] {
        let res = app.get(admin, &query).await;
        assert_eq!(res.status.as_u16(), 400, "{query}: {}", res.body);
    }
    // A line break is text, not a control character to refuse.
    let path = format!("/api/v1/patients/{}/care-logs", c.p1);
    let res =
        app.post(&c.w.staff_a, &path, serde_json::json!({"kind": "note", "body": "one\ntwo\tthree"})).await;
    assert_eq!(res.assert_status(201).body["original"]["body"], "one\ntwo\tthree");
}

#[tokio::test]
async fn a_data_exception_that_slips_past_validation_is_a_400() {
    let app = TestApp::spawn().await;
    let mut tx = app.db.begin_system("test").await.unwrap();
    // Out of range for PostgreSQL (class 22), whatever the statement.
    let err = carego::error::Error::from(
        tx.query("select '294277-01-01'::timestamptz as t", &[]).await.unwrap_err(),
    );
    let problem = err.to_problem();
    assert_eq!((problem.status, problem.code.as_str()), (400, "validation_failed"), "{err:?}");
    assert!(!problem.detail.contains("294277"), "no database text in the answer");
}
