//! Access and refresh tokens: every way a credential can be bad answers 401
//! problem+json with `WWW-Authenticate: Bearer`; refresh tokens rotate, a
//! replayed one revokes its session, and concurrent refreshes do not log the
//! client out.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::http::Method;
use serde_json::json;

use crate::helpers::{Actor, Res, TestApp};

#[track_caller]
fn assert_401(res: &Res, code: &str) {
    res.assert_problem(401, code);
    assert_eq!(res.headers.get("www-authenticate").unwrap(), "Bearer");
}

async fn me(app: &TestApp, token: Option<&str>) -> Res {
    app.call(Method::GET, "/api/v1/auth/me", token, None).await
}

fn claims_for(actor: &Actor, exp_offset: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    let sid = actor.session_id();
    json!({"sub": actor.id, "sid": sid, "role": "facility_admin", "fid": actor.facility_id,
           "iss": "carego", "aud": "carego-api",
           "iat": now, "nbf": now, "exp": now + exp_offset, "jti": uuid::Uuid::new_v4()})
}

fn sign(kid: &str, secret: &[u8], claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn app_key(app: &TestApp) -> (String, Vec<u8>) {
    let (kid, secret) = app.keys_spec.split_once(':').unwrap();
    (kid.to_owned(), base64::engine::general_purpose::STANDARD.decode(secret).unwrap())
}

#[tokio::test]
async fn bad_access_tokens_are_401() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let (kid, secret) = app_key(&app);

    // Sanity: a token we sign ourselves with the real key works, so the
    // failures below are about the one thing each changes.
    me(&app, Some(&sign(&kid, &secret, &claims_for(&admin, 300)))).await.assert_status(200);

    assert_401(&me(&app, None).await, "unauthenticated");
    assert_401(&me(&app, Some("not-a-jwt")).await, "invalid_token");
    assert_401(&me(&app, Some("a.b.c")).await, "invalid_token");

    let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(claims_for(&admin, 300).to_string());
    assert_401(&me(&app, Some(&format!("{none_header}.{payload}."))).await, "invalid_token");

    let hs512 = {
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &claims_for(&admin, 300), &EncodingKey::from_secret(&secret)).unwrap()
    };
    assert_401(&me(&app, Some(&hs512)).await, "invalid_token");
    assert_401(&me(&app, Some(&sign(&kid, &[7u8; 48], &claims_for(&admin, 300)))).await, "invalid_token");
    assert_401(
        &me(&app, Some(&sign("unknown-kid", &secret, &claims_for(&admin, 300)))).await,
        "invalid_token",
    );
    assert_401(&me(&app, Some(&sign(&kid, &secret, &claims_for(&admin, -120)))).await, "token_expired");

    // Claims that must be there and right: each changed alone is refused.
    let now = chrono::Utc::now().timestamp();
    let changes: [(&str, serde_json::Value); 8] = [
        ("nbf", json!(now + 120)),
        ("iat", json!(now + 120)),
        ("iss", json!("someone-else")),
        ("aud", json!("another-api")),
        ("nbf", serde_json::Value::Null),
        ("iat", serde_json::Value::Null),
        ("iss", serde_json::Value::Null),
        ("aud", serde_json::Value::Null),
    ];
    for (claim, value) in changes {
        let mut claims = claims_for(&admin, 300);
        match value {
            serde_json::Value::Null => claims.as_object_mut().unwrap().remove(claim),
            v => claims.as_object_mut().unwrap().insert(claim.to_owned(), v),
        };
        let res = me(&app, Some(&sign(&kid, &secret, &claims))).await;
        assert_eq!(res.status.as_u16(), 401, "{claim} = {:?}: {}", claims.get(claim), res.body);
        assert_401(&res, "invalid_token");
    }

    let mut tampered = admin.token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    assert_401(&me(&app, Some(&tampered)).await, "invalid_token");
}

#[tokio::test]
async fn a_forged_session_or_role_claim_is_refused_by_the_prologue() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let (kid, secret) = app_key(&app);
    let mut claims = claims_for(&admin, 300);
    claims["sid"] = json!(uuid::Uuid::new_v4());
    assert_401(&me(&app, Some(&sign(&kid, &secret, &claims))).await, "session_invalid");
    let mut claims = claims_for(&admin, 300);
    claims["role"] = json!("super_admin");
    claims["fid"] = serde_json::Value::Null;
    assert_401(&me(&app, Some(&sign(&kid, &secret, &claims))).await, "session_invalid");
}

#[tokio::test]
async fn logout_kills_the_access_token_at_once() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let other_device = app.login_actor(&admin.email).await;
    app.post(&admin, "/api/v1/auth/logout", json!({})).await.assert_status(204);
    assert_401(&me(&app, Some(&admin.token)).await, "session_invalid");
    let refresh = refresh(&app, &admin.refresh).await;
    assert_401(&refresh, "invalid_refresh_token");
    // Only that session ended.
    me(&app, Some(&other_device.token)).await.assert_status(200);
    app.post(&other_device, "/api/v1/auth/logout-all", json!({})).await.assert_status(204);
    assert_401(&me(&app, Some(&other_device.token)).await, "session_invalid");
}

#[tokio::test]
async fn suspension_kills_sessions_and_blocks_login() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let nurse = app.staff(&admin, "nurse").await;
    app.post(
        &admin,
        &format!("/api/v1/users/{}/status", nurse.id),
        json!({"status": "suspended", "reason": "investigation"}),
    )
    .await
    .assert_status(200);
    assert_401(&me(&app, Some(&nurse.token)).await, "session_invalid");
    let refresh = refresh(&app, &nurse.refresh).await;
    assert_401(&refresh, "invalid_refresh_token");
    app.login(&nurse.email, crate::helpers::PASSWORD).await.assert_problem(403, "account_suspended");
    // A wrong password still gets the generic 401: status is not an oracle.
    assert_401(&app.login(&nurse.email, "wrong password!").await, "invalid_credentials");

    app.post(&admin, &format!("/api/v1/users/{}/status", nurse.id), json!({"status": "active"}))
        .await
        .assert_status(200);
    app.login_actor(&nurse.email).await;
    app.post(
        &admin,
        &format!("/api/v1/users/{}/status", nurse.id),
        json!({"status": "terminated", "reason": "left"}),
    )
    .await
    .assert_status(200);
    app.login(&nurse.email, crate::helpers::PASSWORD).await.assert_problem(403, "account_terminated");
}

#[tokio::test]
async fn a_suspended_facility_locks_out_its_users_on_their_next_request() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (a, admin) = app.facility(&sa).await;
    let nurse = app.staff(&admin, "nurse").await;
    app.post(&sa, &format!("/api/v1/facilities/{a}/suspend"), json!({"reason": "unpaid"}))
        .await
        .assert_status(200);
    for actor in [&admin, &nurse] {
        me(&app, Some(&actor.token)).await.assert_problem(403, "facility_suspended");
    }
    app.login(&nurse.email, crate::helpers::PASSWORD).await.assert_problem(403, "facility_suspended");
    let refresh = refresh(&app, &nurse.refresh).await;
    refresh.assert_problem(403, "facility_suspended");
    app.post(&sa, &format!("/api/v1/facilities/{a}/reactivate"), json!({})).await.assert_status(200);
    me(&app, Some(&nurse.token)).await.assert_status(200);
}

async fn refresh(app: &TestApp, token: &str) -> Res {
    app.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refreshToken": token}))).await
}

#[tokio::test]
async fn refresh_rotates_and_a_replayed_token_revokes_the_session() {
    let app = TestApp::spawn_with(
        carego::config::AppSettings { refresh_grace: std::time::Duration::ZERO, ..Default::default() },
        4,
        std::time::Duration::from_secs(5),
    )
    .await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;

    let first = refresh(&app, &admin.refresh).await;
    first.assert_status(200);
    assert_eq!(first.body["tokenType"], "Bearer");
    let new_refresh = first.body["refreshToken"].as_str().unwrap().to_owned();
    let new_access = first.body["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, admin.refresh);
    me(&app, Some(&new_access)).await.assert_status(200);

    // The old token again, past the (zero) grace window: theft is assumed.
    assert_401(&refresh(&app, &admin.refresh).await, "refresh_token_reused");
    assert_401(&me(&app, Some(&new_access)).await, "session_invalid");
    assert_401(&refresh(&app, &new_refresh).await, "invalid_refresh_token");
    assert_401(&refresh(&app, "never-issued").await, "invalid_refresh_token");
}

#[tokio::test]
async fn concurrent_refreshes_one_rotation_wins_and_the_session_survives() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;

    let (r1, r2) = tokio::join!(refresh(&app, &admin.refresh), refresh(&app, &admin.refresh));
    let mut statuses = [r1.status.as_u16(), r2.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "r1: {} r2: {}", r1.body, r2.body);
    let (winner, loser) = if r1.status == 200 { (r1, r2) } else { (r2, r1) };
    loser.assert_problem(409, "refresh_token_superseded");
    // Not a logout: the winner's tokens keep working, including its refresh.
    me(&app, Some(winner.body["accessToken"].as_str().unwrap())).await.assert_status(200);
    refresh(&app, winner.body["refreshToken"].as_str().unwrap()).await.assert_status(200);
}
