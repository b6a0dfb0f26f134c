//! Care records cannot change: no API route, no privilege, no policy, and a
//! trigger that stops even the owner and superusers.

use serde_json::json;

use crate::helpers::TestApp;

const TABLES: &[&str] = &[
    "care_logs",
    "vitals",
    "attendance",
    "check_ins",
    "cravings",
    "meetings",
    "sobriety_resets",
    "dose_events",
    "goal_progress",
    "attention_acknowledgements",
];
const REQUEST_ROLES: &[&str] =
    &["carego_public", "carego_patient", "carego_staff", "carego_facility_admin", "carego_super_admin"];

#[tokio::test]
async fn the_api_has_no_way_to_change_a_care_record() {
    let spec: serde_json::Value = serde_json::from_str(&carego::api::spec_json()).unwrap();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        let records =
            ["/care-logs", "/vitals", "/attendance", "/check-ins", "/cravings", "/meetings", "/sobriety"];
        if records.iter().any(|p| path.contains(p)) {
            for method in ops.as_object().unwrap().keys() {
                assert!(matches!(method.as_str(), "get" | "post"), "{method} {path}");
            }
        }
    }
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let log = app
        .post(
            &c.w.staff_a,
            &format!("/api/v1/patients/{}/care-logs", c.p1),
            json!({"kind": "note", "body": "a"}),
        )
        .await;
    let path = format!("/api/v1/care-logs/{}", log.body["id"].as_str().unwrap());
    for method in [poem::http::Method::PUT, poem::http::Method::PATCH, poem::http::Method::DELETE] {
        let res = app.call(method.clone(), &path, Some(&c.w.admin_a.token), Some(json!({"body": "b"}))).await;
        res.assert_problem(405, "method_not_allowed");
    }
    let again = app.get(&c.w.admin_a, &path).await;
    assert_eq!(again.body["original"]["body"], "a");
}

#[tokio::test]
async fn no_request_role_can_update_delete_truncate_or_upsert_care_records() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    app.post(nurse, &format!("/api/v1/patients/{}/care-logs", c.p1), json!({"kind": "note", "body": "a"}))
        .await
        .assert_status(201);
    app.post(nurse, &format!("/api/v1/patients/{}/vitals", c.p1), json!({"pulse": 70}))
        .await
        .assert_status(201);
    app.post(nurse, "/api/v1/attendance", json!({"event": "check_in"})).await.assert_status(201);
    let id = || uuid::Uuid::new_v4();
    for (what, body) in [
        ("check-ins", json!({"id": id(), "mood": 5})),
        ("cravings", json!({"id": id(), "intensity": 5, "outcome": "resisted"})),
        ("meetings", json!({"id": id(), "kind": "aa", "attendedOn": "2026-11-01"})),
        ("sobriety/resets", json!({"id": id(), "since": "2026-11-01", "reason": "relapse"})),
    ] {
        let path = format!("/api/v1/patients/{}/{what}", c.p1);
        app.post(&c.patient1, &path, body).await.assert_status(201);
    }
    let (rx, goal) = prescription_and_goal(&app, &c).await;
    let dose =
        json!({"id": id(), "prescriptionId": rx, "status": "missed", "scheduledAt": "2026-11-20T08:00:00Z"});
    app.post(&c.patient1, &format!("/api/v1/patients/{}/doses", c.p1), dose).await.assert_status(201);
    let entry = json!({"id": id(), "goalId": goal, "note": "on track"});
    app.post(&c.patient1, &format!("/api/v1/patients/{}/goal-progress", c.p1), entry)
        .await
        .assert_status(201);
    // A missed and a refused dose raise the "needs attention" prompt; the nurse acknowledges it.
    for status in ["missed", "refused"] {
        let dose =
            json!({"id": id(), "prescriptionId": rx, "status": status, "scheduledAt": chrono::Utc::now()});
        app.post(&c.patient1, &format!("/api/v1/patients/{}/doses", c.p1), dose).await.assert_status(201);
    }
    let path = format!("/api/v1/patients/{}/attention/acknowledgements", c.p1);
    app.post(nurse, &path, json!({"note": "seen"})).await.assert_status(201);

    for role in REQUEST_ROLES {
        let client = app.connect_for(role).await;
        for table in TABLES {
            for sql in [
                format!("update {table} set recorded_at = now()"),
                format!("delete from {table}"),
                format!("truncate {table}"),
                format!(
                    "insert into {table} select * from {table} limit 1 on conflict (facility_id, id) do update set recorded_at = now()"
                ),
            ] {
                client
                    .batch_execute(&format!(
                        "begin; set local role {role}; set local carego.role = 'super_admin'; \
                         set local carego.facility_id = '{}'; set local carego.user_id = '{}'",
                        c.w.a, c.w.admin_a.id
                    ))
                    .await
                    .unwrap();
                let err = client.batch_execute(&sql).await.expect_err(&format!("{role}: {sql}"));
                assert_eq!(
                    err.code(),
                    Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                    "{role}: {sql}: {err}"
                );
                client.batch_execute("rollback").await.unwrap();
            }
        }
    }
    // The owner has every privilege, and still meets the trigger.
    let owner = app.connect_as("carego_owner").await;
    for table in TABLES {
        for sql in [
            format!("update {table} set recorded_at = now()"),
            format!("delete from {table}"),
            format!("truncate {table}"),
        ] {
            let err = owner.batch_execute(&sql).await.expect_err(&sql);
            assert!(err.as_db_error().unwrap().message().contains("append-only"), "{sql}: {err}");
        }
    }
    let su = app.superuser().await;
    let err = su.batch_execute("update care_logs set body = 'rewritten'").await.unwrap_err();
    assert!(err.as_db_error().unwrap().message().contains("append-only"));
    assert_eq!(app.count("care_logs").await, 1);
}

/// A prescription and a goal of patient 1, entered by their nurse.
async fn prescription_and_goal(app: &TestApp, c: &crate::helpers::Clinic) -> (String, uuid::Uuid) {
    let rx = json!({"drug": "Naltrexone", "dose": "50 mg", "route": "oral", "schedule": "daily",
                    "startsOn": "2026-11-01", "prescriber": "Dr. M"});
    let rx = app.post(&c.w.staff_a, &format!("/api/v1/patients/{}/prescriptions", c.p1), rx).await;
    let rx = rx.assert_status(201).body["id"].as_str().unwrap().to_owned();
    let goal = uuid::Uuid::new_v4();
    let body = json!({"id": goal, "category": "health", "description": "Walk daily"});
    app.post(&c.w.staff_a, &format!("/api/v1/patients/{}/goals", c.p1), body).await.assert_status(201);
    (rx, goal)
}

/// Prescriptions and goals change (under audit) but are never deleted: a
/// stopped prescription and an abandoned goal keep their rows.
#[tokio::test]
async fn no_request_role_can_delete_a_prescription_or_a_goal() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    prescription_and_goal(&app, &c).await;
    for role in REQUEST_ROLES {
        let client = app.connect_for(role).await;
        for table in ["prescriptions", "goals"] {
            for sql in [format!("delete from {table}"), format!("truncate {table}")] {
                client
                    .batch_execute(&format!(
                        "begin; set local role {role}; set local carego.role = 'facility_admin'; \
                         set local carego.facility_id = '{}'; set local carego.user_id = '{}'",
                        c.w.a, c.w.admin_a.id
                    ))
                    .await
                    .unwrap();
                let err = client.batch_execute(&sql).await.expect_err(&format!("{role}: {sql}"));
                assert_eq!(
                    err.code(),
                    Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                    "{role}: {sql}: {err}"
                );
                client.batch_execute("rollback").await.unwrap();
            }
        }
    }
    assert_eq!((app.count("prescriptions").await, app.count("goals").await), (1, 1));
}

#[tokio::test]
async fn amendments_keep_the_original_and_read_back_as_a_chain() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let created = app
        .post(
            nurse,
            &format!("/api/v1/patients/{}/care-logs", c.p1),
            json!({"kind": "medication_administered", "body": "10mg", "occurredAt": "2026-11-20T08:00:00Z"}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["original"]["authorId"], nurse.id.to_string(), "the author is the caller");

    let first = app
        .post(
            nurse,
            &format!("/api/v1/care-logs/{id}/amendments"),
            json!({"reason": "wrong dose", "body": "5mg"}),
        )
        .await;
    assert_eq!(first.assert_status(201).body["amendments"].as_array().unwrap().len(), 1);
    let amendment_id = first.body["amendments"][0]["id"].as_str().unwrap().to_owned();
    // Amending an amendment attaches to the original too, and copies the
    // current version's fields.
    let second = app
        .post(
            &c.w.admin_a,
            &format!("/api/v1/care-logs/{amendment_id}/amendments"),
            json!({"reason": "time", "occurredAt": "2026-11-20T09:00:00Z"}),
        )
        .await;
    second.assert_status(201);
    let log = app.get(&c.w.admin_a, &format!("/api/v1/care-logs/{amendment_id}")).await;
    assert_eq!(log.body["id"], id, "an amendment's id finds the original");
    assert_eq!(log.body["original"]["body"], "10mg", "the original is untouched");
    let amendments = log.body["amendments"].as_array().unwrap();
    assert_eq!(amendments.len(), 2);
    assert_eq!(amendments[0]["body"], "5mg");
    assert_eq!(amendments[0]["amendmentReason"], "wrong dose");
    assert_eq!(amendments[1]["body"], "5mg", "carried from the current version");
    let at: chrono::DateTime<chrono::Utc> = amendments[1]["occurredAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(at, "2026-11-20T09:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap());
    assert_eq!(amendments[1]["authorId"], c.w.admin_a.id.to_string());

    // The list shows each original once, with its chain.
    let list = app.get(nurse, &format!("/api/v1/patients/{}/care-logs", c.p1)).await;
    assert_eq!(list.items().len(), 1);
    assert_eq!(list.items()[0]["amendments"].as_array().unwrap().len(), 2);

    // The audit trail records the reason of each amendment.
    let su = app.superuser().await;
    let reasons: Vec<String> = su
        .query("select reason from audit_log where entity_type = 'care_logs' and reason is not null order by chain_seq", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(reasons, vec!["wrong dose", "time"]);
}

#[tokio::test]
async fn records_validate_times_and_ranges() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let logs = format!("/api/v1/patients/{}/care-logs", c.p1);
    let vitals = format!("/api/v1/patients/{}/vitals", c.p1);
    let before = (app.count("care_logs").await, app.count("vitals").await);
    for (path, body, status, code) in [
        (
            &logs,
            json!({"kind": "note", "body": "x", "occurredAt": "2099-01-01T00:00:00Z"}),
            400,
            "validation_failed",
        ),
        (&logs, json!({"kind": "gossip", "body": "x"}), 400, "validation_failed"),
        (&logs, json!({"kind": "note", "body": ""}), 400, "validation_failed"),
        (&logs, json!({"kind": "note", "body": "x", "authorId": c.w.admin_a.id}), 400, "validation_failed"),
        (&vitals, json!({}), 400, "validation_failed"),
        (&vitals, json!({"pulse": 400}), 400, "validation_failed"),
        (&vitals, json!({"spo2": 30}), 400, "validation_failed"),
        (&vitals, json!({"temperatureC": 50.5}), 400, "validation_failed"),
        (&vitals, json!({"systolic": 120}), 400, "validation_failed"),
        (&vitals, json!({"systolic": 80, "diastolic": 120}), 400, "validation_failed"),
        (&vitals, json!({"pulse": 70, "measuredAt": "2099-01-01T00:00:00Z"}), 400, "validation_failed"),
    ] {
        app.post(nurse, path, body.clone()).await.assert_problem(status, code);
    }
    assert_eq!((app.count("care_logs").await, app.count("vitals").await), before);
    let ok = app
        .post(
            nurse,
            &vitals,
            json!({"systolic": 120, "diastolic": 80, "temperatureC": 36.6, "weightKg": 70.2}),
        )
        .await;
    assert_eq!(ok.assert_status(201).body["original"]["temperatureC"], 36.6);
}
