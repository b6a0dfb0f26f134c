//! Staff second factor: enrolment and confirmation with recovery codes, the
//! secret sealed at rest, verification on each new session enforced by the
//! prologue, codes accepted once, attempts rate limited, and a facility
//! that requires a second factor of its admins and staff.

use carego::auth::mfa;
use serde_json::{Value, json};

use crate::helpers::{Actor, TestApp};

/// The code of the step `offset` steps from now.
fn code(secret: &[u8], offset: i64) -> String {
    mfa::code_at(secret, mfa::step_at(chrono::Utc::now().timestamp()) + offset)
}

/// Enrols and confirms a factor for `who`: (secret, recovery codes).
async fn enable(app: &TestApp, who: &Actor) -> (Vec<u8>, Vec<String>) {
    let started = app.post(who, "/api/v1/auth/mfa/totp", json!({})).await;
    started.assert_status(200);
    let secret = mfa::base32_decode(started.body["secret"].as_str().unwrap()).unwrap();
    assert!(started.body["otpauthUri"].as_str().unwrap().contains("issuer=Carego"));
    let confirmed = app.post(who, "/api/v1/auth/mfa/totp/confirm", json!({"code": code(&secret, 0)})).await;
    confirmed.assert_status(200);
    let codes =
        confirmed.body["recoveryCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned());
    (secret, codes.collect())
}

async fn status(app: &TestApp, who: &Actor) -> Value {
    let res = app.get(who, "/api/v1/auth/mfa").await;
    res.assert_status(200);
    res.body
}

#[tokio::test]
async fn a_second_factor_is_verified_on_every_session_and_each_code_works_once() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    assert_eq!(status(&app, nurse).await["enabled"], false);

    // A wrong code does not confirm; the right one does, with ten codes.
    let started = app.post(nurse, "/api/v1/auth/mfa/totp", json!({})).await;
    let secret = mfa::base32_decode(started.body["secret"].as_str().unwrap()).unwrap();
    let wrong = if code(&secret, 0) == "000000" { "111111" } else { "000000" };
    app.post(nurse, "/api/v1/auth/mfa/totp/confirm", json!({"code": wrong}))
        .await
        .assert_problem(400, "validation_failed");
    // Codes of fixed steps: a step turning mid-test must not change which
    // code is the used one.
    let step = mfa::step_at(chrono::Utc::now().timestamp());
    let confirmed =
        app.post(nurse, "/api/v1/auth/mfa/totp/confirm", json!({"code": mfa::code_at(&secret, step)})).await;
    confirmed.assert_status(200);
    let recovery: Vec<String> = confirmed.body["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    assert_eq!(recovery.len(), 10);
    let now = status(&app, nurse).await;
    assert_eq!((now["enabled"].clone(), now["sessionVerified"].clone()), (json!(true), json!(true)));
    assert_eq!(now["recoveryCodesLeft"], 10);
    app.post(nurse, "/api/v1/auth/mfa/totp", json!({})).await.assert_problem(409, "mfa_already_enabled");

    // At rest: sealed, never the secret; the audit log keeps neither.
    let su = app.superuser().await;
    let row = su
        .query_one(
            "select secret_sealed, cardinality(recovery_hashes) from mfa_factors where user_id = $1",
            &[&nurse.id],
        )
        .await
        .unwrap();
    let sealed: Vec<u8> = row.get(0);
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));
    assert_eq!(row.get::<_, i32>(1), 10);
    let audited: i64 = su
        .query_one(
            "select count(*) from audit_log where entity_type = 'mfa_factors' and entity_id = $1
                and not (coalesce(new_values, '{}') ? 'secret_sealed') and not (coalesce(new_values, '{}') ? 'recovery_hashes')",
            &[&nurse.id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(audited >= 2, "enrolment and confirmation are audited, without the secret");

    // A new session can do nothing but verify (and see itself, log out).
    let second = app.login_actor(&nurse.email).await;
    let chart = format!("/api/v1/patients/{}", c.p1);
    app.get(&second, &chart).await.assert_problem(403, "mfa_required");
    app.get(&second, "/api/v1/auth/me").await.assert_status(200);
    assert_eq!(status(&app, &second).await["sessionVerified"], false);
    // The code already used at confirmation is refused: accepted once.
    app.post(&second, "/api/v1/auth/mfa/verify", json!({"code": mfa::code_at(&secret, step)}))
        .await
        .assert_problem(400, "validation_failed");
    // The next step's code (within the drift) is new, and verifies.
    let next = mfa::code_at(&secret, step + 1);
    let verified = app.post(&second, "/api/v1/auth/mfa/verify", json!({"code": next})).await;
    verified.assert_status(204);
    app.get(&second, &chart).await.assert_status(200);
    // The same code on another session (another server, even) is refused.
    let third = app.login_actor(&nurse.email).await;
    let (other_server, _state2, _bg) = app.second_server().await;
    let replay = crate::helpers::read(
        other_server
            .post("/api/v1/auth/mfa/verify")
            .header("authorization", format!("Bearer {}", third.token))
            .body_json(&json!({"code": next}))
            .send()
            .await,
    )
    .await;
    replay.assert_problem(400, "validation_failed");
    app.get(&third, &chart).await.assert_problem(403, "mfa_required");
    // A recovery code works once.
    let used = recovery[3].to_lowercase();
    app.post(&third, "/api/v1/auth/mfa/verify", json!({"recoveryCode": used})).await.assert_status(204);
    app.get(&third, &chart).await.assert_status(200);
    assert_eq!(status(&app, &third).await["recoveryCodesLeft"], 9);
    let fourth = app.login_actor(&nurse.email).await;
    app.post(&fourth, "/api/v1/auth/mfa/verify", json!({"recoveryCode": recovery[3]}))
        .await
        .assert_problem(400, "validation_failed");
    // Logging out needs no second factor.
    app.post(&fourth, "/api/v1/auth/logout", json!({})).await.assert_status(204);

    // Turned off from a verified session; then a new session needs nothing.
    app.delete(&third, "/api/v1/auth/mfa").await.assert_status(204);
    let fifth = app.login_actor(&nurse.email).await;
    app.get(&fifth, &chart).await.assert_status(200);
    // Patients have no second factor to enrol.
    app.post(&c.patient1, "/api/v1/auth/mfa/totp", json!({})).await.assert_problem(403, "forbidden");
}

#[tokio::test]
async fn attempts_are_rate_limited_per_account() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let (secret, _) = enable(&app, &w.staff_b).await;
    let fresh = app.login_actor(&w.staff_b.email).await;
    let wrong = if code(&secret, 0) == "000000" { "111111" } else { "000000" };
    // Ten attempts per five minutes, whatever their outcome: confirmation
    // counted one, nine wrong codes more, then 429 even for the right one.
    for _ in 0..9 {
        app.post(&fresh, "/api/v1/auth/mfa/verify", json!({"code": wrong}))
            .await
            .assert_problem(400, "validation_failed");
    }
    let limited = app.post(&fresh, "/api/v1/auth/mfa/verify", json!({"code": code(&secret, 1)})).await;
    limited.assert_problem(429, "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_facility_can_require_a_second_factor_of_its_admins_and_staff() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let policy = format!("/api/v1/facilities/{}/mfa-policy", c.w.a);
    app.put_json(&c.w.admin_b, &policy, json!({"requireMfa": true})).await.assert_problem(404, "not_found");
    app.put_json(&c.w.staff_a, &policy, json!({"requireMfa": true})).await.assert_problem(403, "forbidden");
    let set = app.put_json(&c.w.admin_a, &policy, json!({"requireMfa": true})).await;
    set.assert_status(200);
    assert_eq!(set.body["requireMfa"], true);

    // A's staff and admins must enrol first; patients and facility B are untouched.
    let chart = format!("/api/v1/patients/{}", c.p1);
    app.get(&c.w.staff_a, &chart).await.assert_problem(403, "mfa_enrollment_required");
    app.get(&c.w.admin_a, "/api/v1/patients").await.assert_problem(403, "mfa_enrollment_required");
    assert_eq!(status(&app, &c.w.staff_a).await["requiredByFacility"], true);
    app.get(&c.patient1, &chart).await.assert_status(200);
    app.get(&c.w.staff_b, &format!("/api/v1/patients/{}", c.pb)).await.assert_status(200);
    // Enrolling is allowed, and then the session can work.
    enable(&app, &c.w.staff_a).await;
    app.get(&c.w.staff_a, &chart).await.assert_status(200);
    // A super admin lifts it.
    let lifted = app.put_json(&c.w.sa, &policy, json!({"requireMfa": false})).await;
    lifted.assert_status(200);
    app.get(&c.w.admin_a, "/api/v1/patients").await.assert_status(200);
}

#[tokio::test]
async fn a_hundred_wrong_codes_in_a_row_lock_the_factor_until_a_recovery_code_or_an_admin() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let (secret, recovery) = enable(&app, &w.staff_b).await;
    let fresh = app.login_actor(&w.staff_b.email).await;
    let wrong = if code(&secret, 0) == "000000" { "111111" } else { "000000" };
    let su = app.superuser().await;
    let verify = |body: Value| app.post(&fresh, "/api/v1/auth/mfa/verify", body);
    // The window throttle (ten per five minutes) stays in front; the test
    // empties it between rounds to reach the lock without waiting.
    for attempt in 1..=100 {
        if attempt % 9 == 1 {
            su.execute("delete from rate_limit_hits", &[]).await.unwrap();
        }
        let res = verify(json!({"code": wrong})).await;
        match attempt {
            100 => res.assert_problem(403, "mfa_locked"),
            _ => res.assert_problem(400, "validation_failed"),
        }
    }
    su.execute("delete from rate_limit_hits", &[]).await.unwrap();
    verify(json!({"code": code(&secret, 0)})).await.assert_problem(403, "mfa_locked");
    assert_eq!(status(&app, &fresh).await["locked"], true);
    app.get(&fresh, "/api/v1/patients").await.assert_problem(403, "mfa_required");

    // Another facility's admin does not reach the account; its own does.
    let unlock = format!("/api/v1/users/{}/mfa/unlock", w.staff_b.id);
    app.post(&w.admin_a, &unlock, json!({})).await.assert_problem(404, "not_found");
    app.post(&w.staff_b, &unlock, json!({})).await.assert_status(403);
    app.post(&w.admin_b, &unlock, json!({})).await.assert_status(204);
    assert_eq!(status(&app, &fresh).await["locked"], false);
    verify(json!({"code": code(&secret, 1)})).await.assert_status(204);
    let count: i32 = su
        .query_one("select failed_attempts from mfa_factors where user_id = $1", &[&w.staff_b.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "a success clears the count");

    // Locked again (from 99 failures, the last through the API): a recovery
    // code still verifies a new session and unlocks the factor.
    su.execute("update mfa_factors set failed_attempts = 99 where user_id = $1", &[&w.staff_b.id])
        .await
        .unwrap();
    let again = app.login_actor(&w.staff_b.email).await;
    su.execute("delete from rate_limit_hits", &[]).await.unwrap();
    app.post(&again, "/api/v1/auth/mfa/verify", json!({"code": wrong}))
        .await
        .assert_problem(403, "mfa_locked");
    app.post(&again, "/api/v1/auth/mfa/verify", json!({"recoveryCode": recovery[0]}))
        .await
        .assert_status(204);
    assert_eq!(status(&app, &again).await["locked"], false);
    app.get(&again, "/api/v1/patients").await.assert_status(200);
}
