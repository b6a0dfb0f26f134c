//! Faults: PostgreSQL stopped under load, restarted under twenty open event
//! streams, statements that run too long. The server answers 503 quickly,
//! recovers on its own, never leaves a half-written record, and a client
//! that resumes its stream loses no event.

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
            migrate::{self, APP_ROLE, OWNER_ROLE, PLATFORM_ROLE},
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

/// A server on a PostgreSQL cluster of its own, which the test may stop and
/// start: one facility, its users made as the operator's CLI makes them.
struct Private {
    root: std::path::PathBuf,
    /// Absent only while it is being restarted.
    cluster: Option<EmbeddedCluster>,
    db: Db,
    state: AppState,
    client: Arc<TestClient<poem::endpoint::BoxEndpoint<'static, poem::Response>>>,
    facility: carego::domain::ids::FacilityId,
}

impl Private {
    async fn start(name: &str, settings: AppSettings, checkout: Duration) -> Self {
        carego::install_tls_provider();
        let root = std::env::temp_dir().join(format!("carego-fault-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let cluster = start(&root).await;
        let su = migrate::connect(&cluster.conn_str(SUPERUSER, "postgres")).await.unwrap();
        migrate::bootstrap(&su, "carego").await.unwrap();
        migrate::run(&cluster.conn_str(OWNER_ROLE, "carego")).await.unwrap();
        drop(su);
        let db = Db::connect(
            &cluster.conn_str(APP_ROLE, "carego"),
            &cluster.conn_str(PLATFORM_ROLE, "carego"),
            &PoolSettings {
                max_size: 4,
                checkout_timeout: checkout,
                statement_timeout: Duration::from_secs(5),
            },
        )
        .unwrap();
        let state = AppState::new(
            db.clone(),
            JwtKeys::parse(&JwtKeys::generate_spec()).unwrap(),
            KeyHasher::parse(&KeyHasher::generate_spec()).unwrap(),
            AppSettings { login_limit_per_ip: 10_000, login_limit_per_account: 10_000, ..settings },
            carego::storage::Storage::in_memory(),
        );
        let client = Arc::new(TestClient::new(server::app(state.clone()).boxed()));
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
        tx.commit().await.unwrap();
        Self { root, cluster: Some(cluster), db, state, client, facility: f.id }
    }

    /// A user of the facility, logged in: their access token.
    async fn user(&self, role: carego::identity::Role, email: &str) -> String {
        let hash = carego::auth::password::hash(PASSWORD.into()).await.unwrap();
        let mut tx = self.db.begin_system("fault test").await.unwrap();
        let parsed = carego::domain::contact::Email::parse(email).unwrap();
        carego::db::accounts::users::insert(
            &mut tx,
            &carego::db::accounts::users::NewUser {
                facility_id: Some(self.facility),
                email: Some(&parsed),
                phone: None,
                password_hash: Some(hash),
                role,
                first_name: "F",
                last_name: "T",
                job_title: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let login = read(
            self.client
                .post("/api/v1/auth/login")
                .body_json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await,
        )
        .await;
        login.body["accessToken"].as_str().unwrap().to_owned()
    }

    async fn restart(&mut self, down_for: Duration) {
        self.cluster.take().expect("running").stop().await.unwrap();
        tokio::time::sleep(down_for).await;
        self.cluster = Some(start(&self.root).await);
    }

    async fn superuser(&self) -> tokio_postgres::Client {
        let cluster = self.cluster.as_ref().expect("running");
        migrate::connect(&cluster.conn_str(SUPERUSER, "carego")).await.unwrap()
    }

    async fn end(mut self) {
        self.db.close();
        self.cluster.take().expect("running").stop().await.unwrap();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_means_503s_then_recovery_and_nothing_half_written() {
    let checkout = Duration::from_millis(500);
    let mut private = Private::start("load", AppSettings::default(), checkout).await;
    let client = private.client.clone();
    // A facility with a nurse and a patient in her caseload.
    let token = private.user(carego::identity::Role::Staff, "nurse@faults.example").await;
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
    private.restart(Duration::from_millis(700)).await;
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
    let su = private.superuser().await;
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
    let chain: bool =
        su.query_one("select ok from carego.audit_verify($1)", &[&private.facility]).await.unwrap().get(0);
    assert!(chain);
    private.end().await;
}

#[tokio::test]
async fn the_statement_timeout_set_in_the_prologue_bounds_every_request() {
    let app = crate::helpers::TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let short = Db::connect(
        &app.app_conn_str(),
        &app.platform_conn_str(),
        &PoolSettings {
            max_size: 2,
            checkout_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_millis(200),
        },
    )
    .unwrap();
    let principal = crate::pool::principal(&admin, carego::identity::Role::FacilityAdmin);
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

/// What one subscriber received: `(seq, subject)` in order, across reconnects.
type Received = Arc<Mutex<Vec<(i64, String)>>>;

/// A subscriber as a browser's `EventSource` behaves: reads the stream; when
/// it ends or breaks, reconnects with `Last-Event-ID` after a short pause.
/// Counts itself in `connected` once its first stream is open (the server
/// answers 200 after reading the head the stream starts from).
async fn subscribe_resuming(
    base: String,
    token: String,
    received: Received,
    connected: Arc<std::sync::atomic::AtomicUsize>,
    until: Arc<std::sync::atomic::AtomicBool>,
) {
    let client = reqwest::Client::new();
    let mut last: Option<i64> = None;
    let mut counted = false;
    while !until.load(std::sync::atomic::Ordering::Relaxed) {
        let mut req = client.get(format!("{base}/api/v1/events")).bearer_auth(&token);
        if let Some(seq) = last {
            req = req.header("Last-Event-ID", seq.to_string());
        }
        let mut res = match req.send().await {
            Ok(res) if res.status() == 200 => res,
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if !counted {
            counted = true;
            connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let mut buf = String::new();
        loop {
            let chunk = tokio::time::timeout(Duration::from_millis(500), res.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(_) => break, // ended or broken: resume
                Err(_) if until.load(std::sync::atomic::Ordering::Relaxed) => return,
                Err(_) => continue,
            }
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let Some(data) = data {
                    let event: serde_json::Value = serde_json::from_str(data).unwrap();
                    let seq = event["seq"].as_i64().unwrap();
                    received.lock().unwrap().push((seq, event["subjectId"].as_str().unwrap().to_owned()));
                    last = Some(seq);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_sse_load_loses_no_event() {
    let settings = AppSettings { stream_heartbeat: Duration::from_secs(1), ..AppSettings::default() };
    let mut private = Private::start("sse", settings, Duration::from_secs(2)).await;
    let _background = carego::jobs::Background::start(&private.state, Duration::from_secs(1));
    let admin = private.user(carego::identity::Role::FacilityAdmin, "admin@faults.example").await;
    let mut staff = Vec::new();
    for i in 0..5 {
        staff.push(private.user(carego::identity::Role::Staff, &format!("staff{i}@faults.example")).await);
    }
    let (base, _stop) = crate::helpers::serve_http(private.state.clone()).await;

    // Twenty subscribers: four devices of each of five staff members.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let connected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut subscribers = Vec::new();
    for token in staff.iter().cycle().take(20) {
        let received = Received::default();
        let task = subscribe_resuming(
            base.clone(),
            token.clone(),
            received.clone(),
            connected.clone(),
            done.clone(),
        );
        subscribers.push((received, tokio::spawn(task)));
    }
    // Every stream is open (each has read the head it starts from) before the first
    // announcement: a stream opened without Last-Event-ID starts with what happens next.
    let subscribed = Instant::now();
    while connected.load(std::sync::atomic::Ordering::Relaxed) < 20 {
        assert!(subscribed.elapsed() < Duration::from_secs(10), "the subscribers did not connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Thirty announcements, each retried until it is accepted; PostgreSQL is restarted after
    // the tenth, while the streams are open.
    let listens = *private.state.hub.listening().borrow();
    let mut published = Vec::new();
    for i in 0..30 {
        if i == 10 {
            private.restart(Duration::from_millis(700)).await;
        }
        let body = json!({"audience": "staff", "title": format!("Notice {i}"), "body": "Read me."});
        let started = Instant::now();
        loop {
            let res = read(
                private
                    .client
                    .post("/api/v1/announcements")
                    .header("authorization", format!("Bearer {admin}"))
                    .body_json(&body)
                    .send()
                    .await,
            )
            .await;
            match res.status.as_u16() {
                201 => {
                    published.push(res.body["id"].as_str().unwrap().to_owned());
                    break;
                }
                503 => {
                    assert!(started.elapsed() < Duration::from_secs(20), "the server did not recover");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("announcement {i}: {other} {}", res.body),
            }
        }
    }

    let mut listening = private.state.hub.listening();
    tokio::time::timeout(Duration::from_secs(15), listening.wait_for(|n| *n > listens))
        .await
        .expect("the LISTEN connection, lost with PostgreSQL, is made again")
        .unwrap();
    // Every subscriber receives every announcement, once each, in order.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let complete = subscribers.iter().all(|(r, _)| r.lock().unwrap().len() >= published.len());
        if complete || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for (n, (received, task)) in subscribers.into_iter().enumerate() {
        task.await.unwrap();
        let received = received.lock().unwrap().clone();
        let subjects: Vec<&String> = received.iter().map(|(_, s)| s).collect();
        assert_eq!(
            subjects,
            published.iter().collect::<Vec<_>>(),
            "subscriber {n}: lost, repeated or reordered"
        );
        assert!(received.windows(2).all(|w| w[0].0 < w[1].0), "subscriber {n}: seqs out of order");
    }
    private.end().await;
}
