//! Faults: PostgreSQL stopped under load, statements that run too long. The
//! server answers 503 quickly, recovers on its own, and never leaves a
//! half-written record.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use carego::{
    api::AppState,
    auth::{jwt::JwtKeys, registration::KeyHasher},
    config::AppSettings,
    db::{
        Db, PoolSettings,
        infra::{
            embedded::{Durability, EmbeddedCluster, SUPERUSER},
            migrate::{self, APP_ROLE, OWNER_ROLE},
        },
    },
    server,
};
use poem::{EndpointExt, test::TestClient};
use serde_json::json;

use crate::helpers::{PASSWORD, read};

async fn start(root: &std::path::Path) -> EmbeddedCluster {
    EmbeddedCluster::start(root, Durability::Throwaway).await.expect("cluster starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_means_503s_then_recovery_and_nothing_half_written() {
    let root = std::env::temp_dir().join(format!("carego-fault-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let cluster = start(&root).await;
    let su = migrate::connect(&cluster.conn_str(SUPERUSER, "postgres")).await.unwrap();
    migrate::bootstrap(&su, "carego").await.unwrap();
    migrate::run(&cluster.conn_str(OWNER_ROLE, "carego")).await.unwrap();
    let checkout = Duration::from_millis(500);
    let db = Db::connect(
        &cluster.conn_str(APP_ROLE, "carego"),
        &PoolSettings { max_size: 4, checkout_timeout: checkout, statement_timeout: Duration::from_secs(5) },
    )
    .unwrap();
    let state = AppState::new(
        db.clone(),
        JwtKeys::parse(&JwtKeys::generate_spec()).unwrap(),
        KeyHasher::parse(&KeyHasher::generate_spec()).unwrap(),
        AppSettings { login_limit_per_ip: 10_000, ..AppSettings::default() },
        carego::storage::Storage::in_memory(),
    );
    let client = Arc::new(TestClient::new(server::app(state).boxed()));

    // A facility with a nurse and a patient in her caseload.
    let hash = carego::auth::password::hash(PASSWORD.into()).await.unwrap();
    drop(su);
    let mut tx = db.begin_system("fault test").await.unwrap();
    let f = carego::db::accounts::facilities::insert(
        &mut tx,
        &carego::db::accounts::facilities::NewFacility {
            slug: "faults",
            name: "Faults",
            kind: carego::db::accounts::facilities::FacilityKind::Clinic,
            timezone: "UTC",
            city: None,
            phone: None,
            email: None,
        },
    )
    .await
    .unwrap();
    let email = carego::domain::contact::Email::parse("nurse@faults.example").unwrap();
    carego::db::accounts::users::insert(
        &mut tx,
        &carego::db::accounts::users::NewUser {
            facility_id: Some(f.id),
            email: Some(&email),
            phone: None,
            password_hash: Some(hash),
            role: carego::auth::Role::Staff,
            first_name: "N",
            last_name: "N",
            job_title: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let login = read(
        client
            .post("/api/v1/auth/login")
            .body_json(&json!({"email": "nurse@faults.example", "password": PASSWORD}))
            .send()
            .await,
    )
    .await;
    let token = login.body["accessToken"].as_str().unwrap().to_owned();
    let created = read(
        client
            .post("/api/v1/patients")
            .header("authorization", format!("Bearer {token}"))
            .body_json(&json!({"firstName": "F", "lastName": "T", "dateOfBirth": "1970-01-01"}))
            .send()
            .await,
    )
    .await;
    let patient = created.body["patient"]["id"].as_str().unwrap().to_owned();

    // Load: four writers appending care logs until told to stop.
    let outcomes: Arc<Mutex<Vec<(String, u16, Duration)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, outcomes, stop, token, patient) =
            (client.clone(), outcomes.clone(), stop.clone(), token.clone(), patient.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = format!("writer {w} entry {i}");
                let started = Instant::now();
                let res = read(
                    client
                        .post(format!("/api/v1/patients/{patient}/care-logs"))
                        .header("authorization", format!("Bearer {token}"))
                        .body_json(&json!({"kind": "note", "body": body}))
                        .send()
                        .await,
                )
                .await;
                if res.status.as_u16() == 503 {
                    assert!(res.headers.get("retry-after").is_some());
                    assert_eq!(res.body["code"], "service_unavailable");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                outcomes.lock().unwrap().push((body, res.status.as_u16(), started.elapsed()));
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    cluster.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let cluster = start(&root).await;
    // Recovery without a restart of the server: wait for the first success.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = outcomes.lock().unwrap().iter().rev().take(8).filter(|o| o.1 == 201).count();
        if n >= 8 {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not recover within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    let outcomes = outcomes.lock().unwrap().clone();
    let statuses: std::collections::BTreeSet<u16> = outcomes.iter().map(|o| o.1).collect();
    assert!(statuses.contains(&201) && statuses.contains(&503), "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s, 201 | 503)), "only successes and clean 503s: {statuses:?}");
    let slowest = outcomes.iter().map(|o| o.2).max().unwrap();
    let count = |s: u16| outcomes.iter().filter(|o| o.1 == s).count();
    eprintln!(
        "faults: {} requests, {} x 201, {} x 503, slowest {slowest:?}",
        outcomes.len(),
        count(201),
        count(503)
    );
    assert!(slowest < checkout + Duration::from_secs(2), "no request hung: slowest {slowest:?}");

    // Every 201 is in the database; every row is whole (with its audit row).
    let su = migrate::connect(&cluster.conn_str(SUPERUSER, "carego")).await.unwrap();
    let stored: std::collections::HashSet<String> =
        su.query("select body from care_logs", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    for (body, status, _) in &outcomes {
        if *status == 201 {
            assert!(stored.contains(body), "acknowledged but lost: {body}");
        }
    }
    let unaudited: i64 = su
        .query_one(
            "select count(*) from care_logs c where not exists
               (select 1 from audit_log a where a.entity_type = 'care_logs' and a.entity_id = c.id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unaudited, 0, "no half-written record");
    let chain: bool = su.query_one("select ok from carego.audit_verify($1)", &[&f.id]).await.unwrap().get(0);
    assert!(chain);
    db.close();
    cluster.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn the_statement_timeout_set_in_the_prologue_bounds_every_request() {
    let app = crate::helpers::TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let short = Db::connect(
        &app.app_conn_str(),
        &PoolSettings {
            max_size: 2,
            checkout_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_millis(200),
        },
    )
    .unwrap();
    let principal = crate::pool::principal(&admin, carego::auth::Role::FacilityAdmin);
    let mut tx = short.begin(&principal).await.unwrap();
    let started = Instant::now();
    let err = carego::error::Error::from(tx.query("select pg_sleep(3)", &[]).await.unwrap_err());
    assert!(matches!(err, carego::error::Error::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    drop(tx);
    // The setting is the transaction's: the next one starts fresh and works.
    let mut tx = short.begin(&principal).await.unwrap();
    let row = tx.query_one("select current_setting('statement_timeout') as t", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>("t"), "200ms");
    tx.commit().await.unwrap();
}
