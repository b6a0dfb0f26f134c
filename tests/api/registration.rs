//! Registration keys: one use, 48 hours, revocable, regenerable until used,
//! one answer for every key that does not work, one winner in a race, and a
//! rate limit against guessing.

use std::time::Duration;

use carego::config::AppSettings;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_key_registers_the_patient_once_and_they_can_log_in() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (fid, admin) = app.facility(&sa).await;
    let (patient, key) = app.patient(&admin).await;
    assert!(key.len() == 19 && key.chars().filter(|c| *c == '-').count() == 3, "{key}");

    let res = app.register(&key.to_lowercase(), "pat@patients.example").await;
    res.assert_status(201);
    assert_eq!(res.body["user"]["role"], "patient");
    assert_eq!(res.body["user"]["facilityId"], fid.to_string());
    assert!(res.body["accessToken"].is_string() && res.body["refreshToken"].is_string());
    let me = app.login_actor("pat@patients.example").await;
    let record = app.get(&me, &format!("/api/v1/patients/{patient}")).await;
    assert_eq!(record.assert_status(200).body["userId"], me.id.to_string());

    // Used: the same answer as a key that never existed.
    let reused = app.register(&key, "other@patients.example").await;
    let unknown = app.register("ABCD-EFGH-JKMN-PQRS", "other@patients.example").await;
    let malformed = app.register("not a key", "other@patients.example").await;
    for res in [&reused, &unknown, &malformed] {
        res.assert_problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], "registrationKey");
    }
    assert_eq!(reused.body, unknown.body);
    assert_eq!(unknown.body, malformed.body);

    // Once registered, no new key can be issued.
    app.post(&admin, &format!("/api/v1/patients/{patient}/registration-key"), json!({}))
        .await
        .assert_problem(409, "patient_already_registered");
}

#[tokio::test]
async fn expired_revoked_and_replaced_keys_do_not_work() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;

    // Expired: backdate the key as if 49 hours had passed.
    let (p1, key1) = app.patient(&admin).await;
    let su = app.superuser().await;
    su.execute(
        "update registration_keys set created_at = now() - interval '50 hours', expires_at = now() - interval '2 hours'
         where patient_id = $1",
        &[&p1],
    )
    .await
    .unwrap();
    app.register(&key1, "late@patients.example").await.assert_problem(400, "validation_failed");

    // Revoked.
    let (p2, key2) = app.patient(&admin).await;
    app.delete(&admin, &format!("/api/v1/patients/{p2}/registration-key")).await.assert_status(204);
    app.delete(&admin, &format!("/api/v1/patients/{p2}/registration-key"))
        .await
        .assert_problem(404, "not_found");
    app.register(&key2, "revoked@patients.example").await.assert_problem(400, "validation_failed");

    // Regenerated: the old key dies, the new one works, for 48 hours.
    let (p3, old) = app.patient(&admin).await;
    let fresh = app.post(&admin, &format!("/api/v1/patients/{p3}/registration-key"), json!({})).await;
    let new_key = fresh.assert_status(200).body["registrationKey"].as_str().unwrap().to_owned();
    let expires: chrono::DateTime<chrono::Utc> =
        fresh.body["keyExpiresAt"].as_str().unwrap().parse().unwrap();
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((47.9..=48.0).contains(&hours), "{hours}");
    app.register(&old, "old@patients.example").await.assert_problem(400, "validation_failed");
    app.register(&new_key, "new@patients.example").await.assert_status(201);
    // Keys are stored only as keyed hashes.
    let stored: i64 = su
        .query_one(
            "select count(*) from registration_keys where position(convert_to($1, 'UTF8') in key_hash) > 0",
            &[&new_key],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn two_concurrent_registrations_with_one_key_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let (patient, key) = app.patient(&admin).await;
    let (a, b) =
        tokio::join!(app.register(&key, "one@patients.example"), app.register(&key, "two@patients.example"));
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 400], "{} / {}", a.body, b.body);
    let su = app.superuser().await;
    let accounts: i64 =
        su.query_one("select count(*) from users where role = 'patient'", &[]).await.unwrap().get(0);
    assert_eq!(accounts, 1);
    let linked: Option<uuid::Uuid> =
        su.query_one("select user_id from patients where id = $1", &[&patient]).await.unwrap().get(0);
    assert!(linked.is_some());
}

#[tokio::test]
async fn guessing_keys_is_rate_limited() {
    let app = TestApp::spawn_with(
        AppSettings { register_limit_per_ip: 5, ..AppSettings::default() },
        4,
        Duration::from_secs(5),
    )
    .await;
    for i in 0..5 {
        app.register("ABCD-EFGH-JKMN-PQRS", &format!("g{i}@x.example"))
            .await
            .assert_problem(400, "validation_failed");
    }
    let res = app.register("ABCD-EFGH-JKMN-PQRS", "g6@x.example").await;
    res.assert_problem(429, "rate_limited");
    assert!(res.headers.get("retry-after").is_some());
}
