//! Nothing survives on a pooled connection: a pool of one connection serves
//! alternating tenants, including after a failed and a dropped request; a
//! request role without the prologue sees nothing; the login role alone can
//! read no table; an exhausted pool or a missing database answers 503.

use std::time::Duration;

use carego::{
    db::{Db, PoolSettings},
    domain::ids::{FacilityId, SessionId, UserId},
    identity::{Credential, Principal, RequestMeta, Role},
};
use serde_json::json;

use crate::helpers::{Actor, TestApp};

pub fn principal(actor: &Actor, role: Role) -> Principal {
    let payload = actor.token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap();
    Principal {
        user_id: UserId(actor.id),
        facility_id: actor.facility_id.map(FacilityId),
        role,
        meta: RequestMeta { request_id: "test".into(), ..Default::default() },
        credential: Credential::Session(SessionId(claims["sid"].as_str().unwrap().parse().unwrap())),
    }
}

const CONTEXT: &str = "select current_user::text as role,
        coalesce(current_setting('carego.facility_id', true), '') as facility,
        (select count(*) from users) as visible_users";

#[tokio::test]
async fn one_connection_serves_alternating_tenants_without_leaking() {
    let app = TestApp::spawn_with(
        carego::config::AppSettings { login_limit_per_ip: 10_000, ..Default::default() },
        1,
        Duration::from_secs(10),
    )
    .await;
    let w = app.two_facilities().await;
    let (pa, pb) = (principal(&w.admin_a, Role::FacilityAdmin), principal(&w.admin_b, Role::FacilityAdmin));

    for round in 0..3 {
        // Over HTTP: each admin's list holds only their facility.
        for (admin, fid) in [(&w.admin_a, w.a), (&w.admin_b, w.b)] {
            let res = app.get(admin, "/api/v1/users").await;
            assert!(
                res.assert_status(200).items().iter().all(|u| u["facilityId"] == fid.to_string()),
                "round {round}"
            );
        }
        // A request that fails mid-transaction (duplicate email → 409)...
        app.post(
            &w.admin_a,
            "/api/v1/users",
            json!({"email": w.staff_a.email, "role": "staff", "firstName": "D", "lastName": "U"}),
        )
        .await
        .assert_problem(409, "email_taken");
        // ...leaves nothing for the next tenant.
        let mut tx = app.db.begin(&pb).await.unwrap();
        let row = tx.query_one(CONTEXT, &[]).await.unwrap();
        assert_eq!(row.get::<_, String>("role"), "carego_facility_admin");
        assert_eq!(row.get::<_, String>("facility"), w.b.to_string());
        assert_eq!(row.get::<_, i64>("visible_users"), 2);
        tx.commit().await.unwrap();

        // A transaction dropped mid-way (a cancelled request) is rolled back
        // before the connection serves anyone else.
        let mut tx = app.db.begin(&pa).await.unwrap();
        tx.query_one(CONTEXT, &[]).await.unwrap();
        drop(tx);
        let mut tx = app.db.begin(&pb).await.unwrap();
        let row = tx.query_one(CONTEXT, &[]).await.unwrap();
        assert_eq!(row.get::<_, String>("facility"), w.b.to_string());
        tx.commit().await.unwrap();
    }

    // A request future dropped while its statement is still running.
    let db = app.db.clone();
    let slow = tokio::spawn(async move {
        let mut tx = db.begin(&pa).await.unwrap();
        tx.query("select pg_sleep(0.3)", &[]).await.unwrap();
        tx.commit().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    slow.abort();
    let mut tx = app.db.begin(&pb).await.unwrap();
    let row = tx.query_one(CONTEXT, &[]).await.unwrap();
    assert_eq!(row.get::<_, String>("facility"), w.b.to_string());
    assert_eq!(row.get::<_, String>("role"), "carego_facility_admin");
    tx.commit().await.unwrap();

    // And after all that, outside any transaction the connection is clean.
    let mut tx = app.db.begin_public("t", None).await.unwrap();
    let row = tx.query_one("select current_setting('carego.facility_id', true) as f", &[]).await.unwrap();
    assert_eq!(row.get::<_, Option<String>>("f").unwrap_or_default(), "");
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_transaction_whose_first_statement_fails_to_prepare_runs_nothing_more() {
    let app = TestApp::spawn().await;
    let mut tx = app.db.begin_system("test").await.unwrap();
    // The first statement carries BEGIN and the prologue; it fails to prepare.
    assert!(tx.query("select no_such_column from users", &[]).await.is_err());
    // Nothing may now run on the connection without the prologue.
    let after = tx.query("select current_user::text as role", &[]).await;
    assert!(after.is_err(), "ran without the prologue as {:?}", after.map(|r| r[0].get::<_, String>(0)));
    assert!(tx.commit().await.is_err(), "a failed transaction does not commit");
    // The connection is clean for the next request.
    let mut next = app.db.begin_system("test").await.unwrap();
    let row = next.query_one("select current_user::text as role", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>("role"), "carego_super_admin");
    next.commit().await.unwrap();
}

const TABLES: &[&str] = &["facilities", "users", "sessions", "refresh_tokens", "audit_log"];

#[tokio::test]
async fn a_request_role_without_the_prologue_sees_no_rows() {
    let app = TestApp::spawn().await;
    app.two_facilities().await;
    for role in ["carego_staff", "carego_facility_admin", "carego_super_admin", "carego_patient"] {
        let client = app.connect_for(role).await;
        for table in ["facilities", "users", "sessions", "audit_log"] {
            client.batch_execute(&format!("begin; set local role {role}")).await.unwrap();
            let sql = format!("select count(*) from {table}");
            match client.query_one(&sql, &[]).await {
                Ok(row) => assert_eq!(row.get::<_, i64>(0), 0, "{role} on {table}"),
                Err(err) => assert_eq!(
                    err.code(),
                    Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                    "{role} on {table}: {err}"
                ),
            }
            client.batch_execute("rollback").await.unwrap();
        }
    }
    // The data is there: the superuser sees it.
    assert!(app.count("users").await >= 5);
}

#[tokio::test]
async fn the_login_role_alone_can_read_no_table() {
    let app = TestApp::spawn().await;
    app.two_facilities().await;
    let client = app.connect_as("carego_app").await;
    for table in TABLES {
        let err = client.query(&format!("select * from {table} limit 1"), &[]).await.unwrap_err();
        assert_eq!(err.code(), Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE), "{table}");
    }
    for owned in ["carego_owner", "postgres"] {
        let err = client.batch_execute(&format!("set role {owned}")).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "set role {owned}"
        );
    }
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_with_retry_after() {
    let app = TestApp::spawn_with(Default::default(), 1, Duration::from_millis(300)).await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let p = principal(&admin, Role::FacilityAdmin);
    let mut held = app.db.begin(&p).await.unwrap();
    held.query("select 1", &[]).await.unwrap();
    let started = std::time::Instant::now();
    let res = app.get(&admin, "/api/v1/auth/me").await;
    res.assert_problem(503, "service_unavailable");
    assert!(res.headers.get("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(3), "answered within the checkout timeout");
    // Super admins have the platform's own pool, which tenants cannot exhaust.
    app.get(&sa, "/api/v1/auth/me").await.assert_status(200);
    held.commit().await.unwrap();
    app.get(&admin, "/api/v1/auth/me").await.assert_status(200);
}

#[tokio::test]
async fn an_unreachable_database_answers_503_not_a_hang() {
    let db = Db::connect(
        "host=/nonexistent-carego-socket-dir user=carego_app dbname=carego",
        "host=/nonexistent-carego-socket-dir user=carego_platform dbname=carego",
        &PoolSettings {
            max_size: 2,
            checkout_timeout: Duration::from_millis(500),
            statement_timeout: Duration::from_secs(1),
        },
    )
    .unwrap();
    let keys = carego::auth::jwt::JwtKeys::parse(&carego::auth::jwt::JwtKeys::generate_spec()).unwrap();
    let hasher =
        carego::auth::registration::KeyHasher::parse(&carego::auth::registration::KeyHasher::generate_spec())
            .unwrap();
    let state = carego::api::AppState::new(
        db,
        keys,
        hasher,
        Default::default(),
        carego::storage::Storage::in_memory(),
    );
    let client = poem::test::TestClient::new(carego::server::app(state));
    let started = std::time::Instant::now();
    let res = crate::helpers::read(client.get("/api/v1/ready").send().await).await;
    res.assert_problem(503, "service_unavailable");
    assert!(res.headers.get("retry-after").is_some());
    let login = crate::helpers::read(
        client
            .post("/api/v1/auth/login")
            .body_json(&json!({"email": "a@b.example", "password": "whatever12"}))
            .send()
            .await,
    )
    .await;
    login.assert_problem(503, "service_unavailable");
    assert!(!login.body.to_string().contains("nonexistent"), "no internals leak: {}", login.body);
    assert!(started.elapsed() < Duration::from_secs(5));
    let health = crate::helpers::read(client.get("/api/v1/health").send().await).await;
    health.assert_status(200);
}
