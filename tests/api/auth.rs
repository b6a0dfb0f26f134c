//! Login, sessions and passwords as a user meets them.

use carego::config::AppSettings;
use poem::http::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn unknown_account_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let unknown = app.login("nobody@nowhere.example", PASSWORD).await;
    let wrong = app.login(&admin.email, "wrong password!").await;
    unknown.assert_problem(401, "invalid_credentials");
    wrong.assert_problem(401, "invalid_credentials");
    assert_eq!(unknown.body, wrong.body);
}

#[tokio::test]
async fn login_returns_tokens_and_the_user_and_works_by_phone_too() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (fid, admin) = app.facility(&sa).await;
    app.post(&admin, "/api/v1/users", json!({"phone": "+91 98765 00001", "password": PASSWORD, "role": "staff", "firstName": "P", "lastName": "H", "jobTitle": "caregiver"}))
        .await
        .assert_status(201);
    let res = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"phone": "+919876500001", "password": PASSWORD})),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["tokenType"], "Bearer");
    assert_eq!(res.body["expiresIn"], 900);
    assert_eq!(res.body["user"]["facilityId"], fid.to_string());
    assert_eq!(res.body["user"]["role"], "staff");
    assert!(res.body["user"].get("passwordHash").is_none());
    assert!(!res.body.to_string().contains("argon2"), "no hash anywhere");
}

#[tokio::test]
async fn login_is_rate_limited_per_account_and_per_ip() {
    let app = TestApp::spawn_with(
        AppSettings { login_limit_per_account: 3, login_limit_per_ip: 6, ..AppSettings::default() },
        4,
        std::time::Duration::from_secs(5),
    )
    .await;
    for _ in 0..3 {
        app.login("victim@x.example", "guess guess").await.assert_problem(401, "invalid_credentials");
    }
    let res = app.login("victim@x.example", "guess guess").await;
    res.assert_problem(429, "rate_limited");
    let retry: u64 = res.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    // Other accounts are limited per IP (all test requests share one client).
    app.login("other1@x.example", "guess guess").await.assert_problem(401, "invalid_credentials");
    app.login("other2@x.example", "guess guess").await.assert_problem(401, "invalid_credentials");
    app.login("other3@x.example", "guess guess").await.assert_problem(429, "rate_limited");
}

#[tokio::test]
async fn rate_limit_keys_are_hmacs_under_the_server_secret() {
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn().await;
    app.login("victim@x.example", "guess guess").await.assert_problem(401, "invalid_credentials");

    let su = app.superuser().await;
    let rows = su.query("select bucket, key_hash from rate_limit_hits", &[]).await.unwrap();
    let stored: std::collections::BTreeMap<String, Vec<u8>> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    // In-process test requests have no peer address: the IP limit counts them as "unknown".
    let limited = [("login_account", "victim@x.example"), ("login_ip", "unknown")];
    assert_eq!(stored.len(), limited.len(), "{:?}", stored.keys());
    for (bucket, key) in limited {
        let input = format!("{bucket}\0{key}");
        let hmac = app.state.key_hasher.mac("rate-limit", input.as_bytes());
        let sha256 = Sha256::digest(input.as_bytes()).to_vec();
        assert_eq!(stored[bucket], hmac, "{bucket}: the HMAC under the server's secret");
        assert_ne!(stored[bucket], sha256, "{bucket}: not the bare hash anyone can recompute");
    }
    // Another server secret, another key: the value cannot be found by enumeration without it.
    let other =
        carego::auth::registration::KeyHasher::parse(&carego::auth::registration::KeyHasher::generate_spec())
            .unwrap();
    assert_ne!(stored["login_account"], other.mac("rate-limit", b"login_account\0victim@x.example"));
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_ended_one_by_one() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let phone = app.login_actor(&admin.email).await;
    let list = app.get(&admin, "/api/v1/auth/sessions").await;
    let items = list.assert_status(200).items();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let other = items.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    app.delete(&admin, &format!("/api/v1/auth/sessions/{other}")).await.assert_status(204);
    app.get(&phone, "/api/v1/auth/me").await.assert_problem(401, "session_invalid");
    app.delete(&admin, &format!("/api/v1/auth/sessions/{other}")).await.assert_problem(404, "not_found");
    assert_eq!(app.get(&admin, "/api/v1/auth/sessions").await.items().len(), 1);
}

#[tokio::test]
async fn changing_password_revokes_my_other_sessions_only() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let nurse = app.staff(&admin, "nurse").await;
    let nurse_tablet = app.login_actor(&nurse.email).await;

    app.post(
        &nurse,
        "/api/v1/auth/password",
        json!({"currentPassword": "not my password", "newPassword": "a brand new passphrase"}),
    )
    .await
    .assert_problem(400, "validation_failed");
    app.post(
        &nurse,
        "/api/v1/auth/password",
        json!({"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}),
    )
    .await
    .assert_status(204);
    app.get(&nurse, "/api/v1/auth/me").await.assert_status(200);
    app.get(&nurse_tablet, "/api/v1/auth/me").await.assert_problem(401, "session_invalid");
    app.login(&nurse.email, PASSWORD).await.assert_problem(401, "invalid_credentials");
    app.login(&nurse.email, "a brand new passphrase").await.assert_status(200);
}

#[tokio::test]
async fn responses_carry_a_request_id_and_keep_a_sane_one_from_the_client() {
    let app = TestApp::spawn().await;
    let res = app.client.get("/api/v1/health").header("x-request-id", "abc-123").send().await;
    res.assert_header("x-request-id", "abc-123");
    let res = app.client.get("/api/v1/health").header("x-request-id", "bad id with spaces").send().await;
    let id = res.0.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "replaced with a fresh id: {id}");
    let res = app.client.get("/api/v1/no-such-route").send().await;
    res.assert_header_exist("x-request-id");
}
