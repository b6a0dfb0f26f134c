//! Two servers on one database behave as one: the unauthenticated doors'
//! rate limits are counted in PostgreSQL, so a client cannot double its
//! attempts by landing on another server. (Sessions and live events across
//! two servers: tests/api/communication.rs; API keys' limits, quotas,
//! rotation and revocation: tests/api/api_keys.rs.)

use std::time::Duration;

use carego::config::AppSettings;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, read};

#[tokio::test]
async fn login_limits_are_shared_by_two_servers() {
    let settings =
        AppSettings { login_limit_per_ip: 10_000, login_limit_per_account: 3, ..AppSettings::default() };
    let app = TestApp::spawn_with(settings, 8, Duration::from_secs(5)).await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let (second, _state2, _bg) = app.second_server().await;
    // Every login above counted once for the super admin and once for the
    // facility's admin; a fresh account starts at zero.
    let staff = app.staff(&admin, "nurse").await;
    let body = json!({"email": staff.email, "password": "not the password"});
    let mut statuses = Vec::new();
    for i in 0..5 {
        let req = if i % 2 == 0 {
            app.client.post("/api/v1/auth/login")
        } else {
            second.post("/api/v1/auth/login")
        };
        let res = read(req.body_json(&body).send().await).await;
        statuses.push(res.status.as_u16());
        if res.status == 429 {
            res.assert_problem(429, "rate_limited");
            let retry: u64 = res.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=15 * 60).contains(&retry), "{retry}");
        }
    }
    // `staff` logged in once when it was made: two wrong passwords, then refused on both servers.
    assert_eq!(statuses, [401, 401, 429, 429, 429]);
    // Even the right password waits for the window to turn.
    let right = json!({"email": staff.email, "password": PASSWORD});
    let res = read(second.post("/api/v1/auth/login").body_json(&right).send().await).await;
    res.assert_problem(429, "rate_limited");
    // Nothing identifying is stored: only hashes of what is limited.
    let su = app.superuser().await;
    let plain: i64 = su
        .query_one(
            "select count(*) from rate_limit_hits where position($1::bytea in key_hash) > 0",
            &[&staff.email.as_bytes()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(plain, 0);
    let counted: i32 = su
        .query_one("select max(hits) from rate_limit_hits where bucket = 'login_account'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(counted, 3, "refused attempts are not counted");
}
