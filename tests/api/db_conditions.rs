//! Every database condition a client can cause has a deliberate answer
//! (issue 20, item 6), each driven through the API against the real
//! database: a life-cycle guard (CG409) is 409, a missing required value
//! (23502) is 400 naming the field, a deadlock and a lock not waited for
//! are 503 with Retry-After (a read is first run once more), and a
//! statement timeout is 503.

use std::time::Duration;

use poem::http::Method;
use serde_json::json;
use tokio_postgres::Client;

use crate::helpers::{Res, TestApp, read};

/// Waits until a backend of the pool's login role waits on a lock, and
/// returns its (pid, transaction start) as text. `watch` must not be in a
/// transaction: pg_stat_activity is read once per transaction.
async fn waiting_backend(watch: &Client, not: Option<&str>) -> String {
    for _ in 0..400 {
        let row = watch
            .query_opt(
                "select pid::text || '@' || coalesce(xact_start::text, '') from pg_stat_activity
                  where datname = current_database() and usename = 'carego_app'
                    and wait_event_type = 'Lock'
                    and ($1::text is null or pid::text || '@' || coalesce(xact_start::text, '') <> $1)
                  limit 1",
                &[&not],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no request came to wait on the lock");
}

/// Takes the audit chain's locks of `facility` in an open transaction of
/// `su`, the change lane's and every read lane's (V51): every audited write
/// or read of that facility then waits for them.
async fn hold_audit_lock(su: &Client, facility: uuid::Uuid) {
    su.batch_execute("begin; set local deadlock_timeout = '30s'").await.unwrap();
    su.execute(
        "select pg_advisory_xact_lock(hashtextextended('carego.audit:' || $1::text || lane, 0))
           from unnest(array[''] || array(select ':' || l from generate_series(1, 64) l)) lane",
        &[&facility.to_string()],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_life_cycle_guard_is_409_and_a_missing_value_400_naming_its_field() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let (patient, _) = app.patient(&w.admin_a).await;
    let su = app.superuser().await;
    // A guard of the shape the life-cycle triggers have (V15, V18, V25,
    // V26), on a change no handler checks first.
    su.batch_execute(
        "create function test_guard() returns trigger language plpgsql as $$
         begin raise exception 'this record is closed' using errcode = 'CG409'; end $$;
         create trigger test_guard before update of room on patients
             for each row execute function test_guard();",
    )
    .await
    .unwrap();
    let res = app.patch(&w.admin_a, &format!("/api/v1/patients/{patient}"), json!({"room": "12"})).await;
    res.assert_problem(409, "state_conflict");

    // A required value the API does not require (yet): 400 naming it.
    su.batch_execute(
        "drop trigger test_guard on patients; update patients set room = 'A1';
         alter table patients alter column room set not null",
    )
    .await
    .unwrap();
    let res = app
        .post(
            &w.admin_a,
            "/api/v1/patients",
            json!({"firstName": "No", "lastName": "Room", "dateOfBirth": "1990-04-01"}),
        )
        .await;
    res.assert_problem(400, "validation_failed");
    assert_eq!(res.body["errors"][0]["field"], "room", "{}", res.body);
}

#[tokio::test]
async fn a_deadlock_is_503_with_retry_after_and_the_other_transaction_goes_on() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let (patient, _) = app.patient(&w.admin_a).await;
    let su = app.superuser().await;
    let watch = app.superuser().await;
    hold_audit_lock(&su, w.a).await;
    // The update holds the patient's row and waits for the audit chain; the
    // other transaction then wants the row: a cycle, which PostgreSQL
    // breaks by failing the request's transaction (its deadlock timeout is
    // the shorter).
    let path = format!("/api/v1/patients/{patient}");
    let request = app.patch(&w.admin_a, &path, json!({"room": "12"}));
    let other = async {
        waiting_backend(&watch, None).await;
        su.execute("update patients set notes = 'other' where id = $1", &[&patient]).await.unwrap();
        su.batch_execute("commit").await.unwrap();
    };
    let (res, ()) = tokio::join!(request, other);
    res.assert_problem(503, "service_unavailable");
    assert!(res.headers.contains_key("retry-after"), "{:?}", res.headers);
    let notes: Option<String> =
        su.query_one("select notes from patients where id = $1", &[&patient]).await.unwrap().get(0);
    assert_eq!(notes.as_deref(), Some("other"));
    // Nothing of the request stayed: the room is unchanged.
    let room: Option<String> =
        su.query_one("select room from patients where id = $1", &[&patient]).await.unwrap().get(0);
    assert_eq!(room, None);
}

/// A request to `server` as `token`.
async fn send(
    server: &poem::test::TestClient<poem::endpoint::BoxEndpoint<'static, poem::Response>>,
    method: poem::http::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> Res {
    let mut req = server.request(method, path).header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req.body_json(&b);
    }
    read(req.send().await).await
}

#[tokio::test]
async fn a_lock_not_waited_for_is_run_once_more_for_a_read_and_503_for_a_write() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let (patient, _) = app.patient(&w.admin_a).await;
    let su = app.superuser().await;
    // Requests of this database wait at most 500 ms for a lock (a server
    // configured so; the connections of a new server take it).
    su.batch_execute(&format!(
        "alter role carego_app in database {} set lock_timeout = '500ms'",
        app.database
    ))
    .await
    .unwrap();
    let (server, _state, _bg) = app.second_server().await;
    let path = format!("/api/v1/patients/{patient}");
    let token = w.admin_a.token.as_str();

    // A chart read writes its audit row: the first run waits 500 ms on the
    // chain and gives up; the run once more, once the lock is gone, succeeds.
    let watch = app.superuser().await;
    hold_audit_lock(&su, w.a).await;
    let release = async {
        let first = waiting_backend(&watch, None).await;
        waiting_backend(&watch, Some(&first)).await;
        su.batch_execute("commit").await.unwrap();
    };
    let (res, ()) = tokio::join!(send(&server, Method::GET, &path, token, None), release);
    res.assert_status(200);

    // A write is not run again: 503 with Retry-After, nothing written.
    hold_audit_lock(&su, w.a).await;
    let res = send(&server, Method::PATCH, &path, token, Some(json!({"room": "7"}))).await;
    su.batch_execute("commit").await.unwrap();
    res.assert_problem(503, "service_unavailable");
    assert!(res.headers.contains_key("retry-after"));
    let room: Option<String> =
        su.query_one("select room from patients where id = $1", &[&patient]).await.unwrap().get(0);
    assert_eq!(room, None);
    su.batch_execute(&format!("alter role carego_app in database {} reset lock_timeout", app.database))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_statement_timeout_is_503_with_retry_after() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let (patient, _) = app.patient(&w.admin_a).await;
    let su = app.superuser().await;
    let (server, _state, _bg) = app.second_server_with(Duration::from_millis(300)).await;
    hold_audit_lock(&su, w.a).await;
    let path = format!("/api/v1/patients/{patient}");
    let res = send(&server, Method::PATCH, &path, &w.admin_a.token, Some(json!({"room": "9"}))).await;
    su.batch_execute("commit").await.unwrap();
    res.assert_problem(503, "service_unavailable");
    assert!(res.headers.contains_key("retry-after"));
}

/// Reads are chained in lanes of their own (V51): a chart read does not
/// wait for the change lane's lock, which every write holds to commit, and
/// the facility's chain, all lanes, still verifies.
#[tokio::test]
async fn an_audited_read_does_not_queue_behind_a_change_in_progress() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let (patient, _) = app.patient(&w.admin_a).await;
    let su = app.superuser().await;
    su.batch_execute("begin").await.unwrap();
    su.execute(
        "select pg_advisory_xact_lock(hashtextextended('carego.audit:' || $1::text, 0))",
        &[&w.a.to_string()],
    )
    .await
    .unwrap();
    let path = format!("/api/v1/patients/{patient}");
    let read = app.get(&w.admin_a, &path);
    let res =
        tokio::time::timeout(Duration::from_secs(10), read).await.expect("the read queued behind the change");
    res.assert_status(200);
    su.batch_execute("commit").await.unwrap();
    let lane: i16 = su
        .query_one(
            "select chain_lane from audit_log where entity_type = 'patients' and entity_id = $1 and action = 'read'
              order by seq desc limit 1",
            &[&patient],
        )
        .await
        .unwrap()
        .get(0);
    assert!((1..=64).contains(&lane), "a read is chained in a read lane, not {lane}");
    let verified = app.get(&w.admin_a, "/api/v1/audit-logs/verify").await;
    verified.assert_status(200);
    assert_eq!(verified.body["ok"], true, "{}", verified.body);
}
