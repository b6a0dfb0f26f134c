//! `Idempotency-Key`: a retry gets the first answer, never a second row.

use poem::http::Method;
use serde_json::{Value, json};

use crate::helpers::{Actor, Res, TestApp};

async fn post_with_key(app: &TestApp, actor: &Actor, path: &str, key: &str, body: Value) -> Res {
    let req = app
        .client
        .request(Method::POST, path)
        .header("authorization", format!("Bearer {}", actor.token))
        .header("idempotency-key", key)
        .body_json(&body);
    crate::helpers::read(req.send().await).await
}

#[tokio::test]
async fn a_retry_returns_the_first_response_and_writes_nothing_new() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}/care-logs", c.p1);
    let body = json!({"kind": "incident", "body": "fell in corridor"});
    let first = post_with_key(&app, &c.w.staff_a, &path, "retry-1", body.clone()).await;
    first.assert_status(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = post_with_key(&app, &c.w.staff_a, &path, "retry-1", body.clone()).await;
    again.assert_status(201);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.body, first.body, "the same status and body");
    assert_eq!(app.count("care_logs").await, 1);

    // The same key with a different body is refused.
    let other =
        post_with_key(&app, &c.w.staff_a, &path, "retry-1", json!({"kind": "incident", "body": "different"}))
            .await;
    other.assert_problem(422, "idempotency_key_reused");
    // ...and on another operation too.
    let vitals = post_with_key(
        &app,
        &c.w.staff_a,
        &format!("/api/v1/patients/{}/vitals", c.p1),
        "retry-1",
        json!({"pulse": 70}),
    )
    .await;
    vitals.assert_problem(422, "idempotency_key_reused");

    // Keys are the caller's own: the admin's "retry-1" is a new request.
    let admin = post_with_key(&app, &c.w.admin_a, &path, "retry-1", body).await;
    admin.assert_status(201);
    assert!(admin.headers.get("idempotent-replayed").is_none());
    assert_ne!(admin.body["id"], first.body["id"]);
    assert_eq!(app.count("care_logs").await, 2);
}

#[tokio::test]
async fn concurrent_identical_requests_create_one_row() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}/vitals", c.p1);
    let body = json!({"pulse": 88, "spo2": 97});
    let results = futures::future::join_all(
        (0..6).map(|_| post_with_key(&app, &c.w.staff_a, &path, "burst", body.clone())),
    )
    .await;
    let ids: std::collections::BTreeSet<_> =
        results.iter().map(|r| r.assert_status(201).body["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "one id for all six: {ids:?}");
    assert_eq!(app.count("vitals").await, 1);
    let replayed = results.iter().filter(|r| r.headers.get("idempotent-replayed").is_some()).count();
    assert_eq!(replayed, 5);
}

#[tokio::test]
async fn a_replayed_patient_creation_does_not_repeat_the_key() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let body = json!({"firstName": "Ida", "lastName": "Retry", "dateOfBirth": "1980-02-02"});
    let first = post_with_key(&app, &admin, "/api/v1/patients", "p-1", body.clone()).await;
    first.assert_status(201);
    assert!(first.body["registrationKey"].is_string());
    let again = post_with_key(&app, &admin, "/api/v1/patients", "p-1", body).await;
    again.assert_status(201);
    assert_eq!(again.body["patient"], first.body["patient"]);
    // The one-time key is never stored in plaintext, so a replay omits it.
    again.assert_absent("registrationKey");
    assert_eq!(app.count("patients").await, 1);
    let stored: i64 = app
        .superuser()
        .await
        .query_one(
            "select count(*) from idempotency_keys where response::text like '%' || $1 || '%'",
            &[&first.body["registrationKey"].as_str().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_key_older_than_24_hours_starts_afresh() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}/care-logs", c.p1);
    let body = json!({"kind": "note", "body": "daily note"});
    let first = post_with_key(&app, &c.w.staff_a, &path, "daily", body.clone()).await;
    first.assert_status(201);
    app.superuser()
        .await
        .execute(
            "update idempotency_keys set created_at = now() - interval '25 hours' where key = 'daily'",
            &[],
        )
        .await
        .unwrap();
    let later =
        post_with_key(&app, &c.w.staff_a, &path, "daily", json!({"kind": "note", "body": "a new day"})).await;
    later.assert_status(201);
    assert!(later.headers.get("idempotent-replayed").is_none());
    assert_ne!(later.body["id"], first.body["id"]);
    assert_eq!(app.count("care_logs").await, 2);
}

#[tokio::test]
async fn facilities_and_users_are_created_once_per_key() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let facility = json!({"slug": "retry-home", "name": "Retry Home", "kind": "home_care",
        "admin": {"email": "boss@retry.example", "password": crate::helpers::PASSWORD,
                  "firstName": "Bo", "lastName": "Ss"}});
    let (facilities_before, users_before) = (app.count("facilities").await, app.count("users").await);
    let first = post_with_key(&app, &sa, "/api/v1/facilities", "f-1", facility.clone()).await;
    first.assert_status(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = post_with_key(&app, &sa, "/api/v1/facilities", "f-1", facility.clone()).await;
    again.assert_status(201);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.body, first.body);
    assert_eq!(app.count("facilities").await, facilities_before + 1);
    assert_eq!(app.count("users").await, users_before + 1, "one admin");

    let admin = app.login_actor("boss@retry.example").await;
    let user = json!({"email": "new.nurse@retry.example", "password": crate::helpers::PASSWORD,
                      "role": "staff", "firstName": "Nu", "lastName": "Rse"});
    let first = post_with_key(&app, &admin, "/api/v1/users", "u-1", user.clone()).await;
    first.assert_status(201);
    let again = post_with_key(&app, &admin, "/api/v1/users", "u-1", user.clone()).await;
    again.assert_status(201);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(app.count("users").await, users_before + 2);

    // The same key for another request is refused, not replayed.
    let mut other = user.clone();
    other["firstName"] = json!("Else");
    post_with_key(&app, &admin, "/api/v1/users", "u-1", other)
        .await
        .assert_problem(422, "idempotency_key_reused");
    // Without a key, a second identical create is the usual conflict.
    app.post(&admin, "/api/v1/users", user).await.assert_problem(409, "email_taken");
    // No password is kept in the stored request fingerprint or response.
    let su = app.superuser().await;
    let leaked: i64 = su
        .query_one(
            "select count(*) from idempotency_keys where response::text like '%' || $1 || '%'",
            &[&crate::helpers::PASSWORD],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0);
}
