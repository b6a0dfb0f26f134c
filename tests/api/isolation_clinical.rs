//! Who reaches the clinical core, beyond the operation-by-operation matrix
//! in `coverage.rs`: the super admin and the care team do; each audience's
//! lists hold only its own; a patient sees only what is marked for them.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Clinic, TestApp};

async fn setup() -> (TestApp, Clinic, Uuid, Uuid, Uuid, Uuid) {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let log = app
        .post(
            nurse,
            &format!("/api/v1/patients/{}/care-logs", c.p1),
            json!({"kind": "note", "body": "slept well"}),
        )
        .await;
    log.assert_status(201);
    let vit = app.post(nurse, &format!("/api/v1/patients/{}/vitals", c.p1), json!({"pulse": 72})).await;
    vit.assert_status(201);
    let att = app.post(nurse, "/api/v1/attendance", json!({"event": "check_in", "patientId": c.p1})).await;
    att.assert_status(201);
    let asg = app.get(&c.w.admin_a, &format!("/api/v1/patients/{}/assignments", c.p1)).await;
    let ids = [&log, &vit, &att].map(|r| r.body["id"].as_str().unwrap().parse().unwrap());
    let assignment = asg.items()[0]["id"].as_str().unwrap().parse().unwrap();
    (app, c, ids[0], ids[1], ids[2], assignment)
}

#[tokio::test]
async fn the_super_admin_and_the_care_team_reach_facility_a() {
    let (app, c, log, vit, _att, _) = setup().await;
    for (who, actor) in
        [("super admin", &c.w.sa), ("facility admin", &c.w.admin_a), ("assigned nurse", &c.w.staff_a)]
    {
        for path in [
            format!("/api/v1/patients/{}", c.p1),
            format!("/api/v1/patients/{}/dashboard", c.p1),
            format!("/api/v1/patients/{}/care-logs", c.p1),
            format!("/api/v1/patients/{}/vitals", c.p1),
            format!("/api/v1/patients/{}/assignments", c.p1),
            format!("/api/v1/care-logs/{log}"),
        ] {
            let res = app.get(actor, &path).await;
            assert_eq!(res.status.as_u16(), 200, "{who} GET {path}: {}", res.body);
        }
    }
    // Super admins read care records but do not author them.
    let amended = app
        .post(&c.w.sa, &format!("/api/v1/vitals/{vit}/amendments"), json!({"reason": "typo", "pulse": 74}))
        .await;
    amended.assert_problem(403, "forbidden");
    let amended = app
        .post(
            &c.w.admin_a,
            &format!("/api/v1/vitals/{vit}/amendments"),
            json!({"reason": "typo", "pulse": 74}),
        )
        .await;
    amended.assert_status(201);
    // A patient reads their own chart and dashboard too.
    app.get(&c.patient1, &format!("/api/v1/patients/{}/dashboard", c.p1)).await.assert_status(200);
}

#[tokio::test]
async fn lists_show_each_audience_only_its_own() {
    let (app, c, ..) = setup().await;
    let ids = |res: &crate::helpers::Res| -> Vec<String> {
        res.items().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
    };
    let nurse = app.get(&c.w.staff_a, "/api/v1/patients").await;
    assert_eq!(ids(&nurse), vec![c.p1.to_string()], "the nurse's caseload");
    let unassigned = app.get(&c.nurse_a2, "/api/v1/patients").await;
    assert!(unassigned.items().is_empty());
    let admin_b = app.get(&c.w.admin_b, "/api/v1/patients").await;
    assert_eq!(ids(&admin_b), vec![c.pb.to_string()]);
    let admin_a = app.get(&c.w.admin_a, "/api/v1/patients").await;
    assert_eq!(admin_a.items().len(), 2);
    let me = app.get(&c.patient1, "/api/v1/patients").await;
    assert_eq!(ids(&me), vec![c.p1.to_string()], "a patient sees only themself");
    let sa = app.get(&c.w.sa, "/api/v1/patients").await;
    assert_eq!(sa.items().len(), 3);

    // Attendance: staff see their own; admins their facility's.
    assert_eq!(app.get(&c.w.staff_a, "/api/v1/attendance").await.items().len(), 1);
    assert!(app.get(&c.nurse_a2, "/api/v1/attendance").await.items().is_empty());
    assert!(app.get(&c.w.admin_b, "/api/v1/attendance").await.items().is_empty());
    let filtered = app.get(&c.w.admin_a, &format!("/api/v1/attendance?staffId={}", c.w.staff_a.id)).await;
    assert_eq!(filtered.items().len(), 1);
    app.get(&c.patient1, "/api/v1/attendance").await.assert_problem(403, "forbidden");

    // The audit trail: admins read their facility's; staff and patients may not.
    let trail = app.get(&c.w.admin_b, &format!("/api/v1/audit-logs?facilityId={}", c.w.a)).await;
    assert!(trail.assert_status(200).items().is_empty());
    app.get(&c.w.staff_a, "/api/v1/audit-logs").await.assert_problem(403, "forbidden");
    app.get(&c.patient1, "/api/v1/audit-logs").await.assert_problem(403, "forbidden");
    app.get(&c.w.admin_b, &format!("/api/v1/audit-logs/verify?facilityId={}", c.w.a))
        .await
        .assert_problem(404, "not_found");
    let own = app.get(&c.w.admin_a, "/api/v1/audit-logs?limit=5").await;
    assert!(own.items().iter().all(|e| e["facilityId"] == c.w.a.to_string()));
}

#[tokio::test]
async fn a_patient_sees_only_records_marked_for_them() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}/care-logs", c.p1);
    app.post(&c.w.staff_a, &path, json!({"kind": "note", "body": "internal"})).await.assert_status(201);
    let shared = app
        .post(
            &c.w.staff_a,
            &path,
            json!({"kind": "progress", "body": "great week", "visibleToPatient": true}),
        )
        .await;
    let list = app.get(&c.patient1, &path).await;
    let bodies: Vec<_> =
        list.assert_status(200).items().iter().map(|l| l["original"]["body"].clone()).collect();
    assert_eq!(bodies, vec![json!("great week")]);
    let hidden = app.get(&c.w.staff_a, &path).await.items()[1]["id"].as_str().unwrap().to_owned();
    app.get(&c.patient1, &format!("/api/v1/care-logs/{hidden}")).await.assert_problem(404, "not_found");
    app.get(&c.patient1, &format!("/api/v1/care-logs/{}", shared.body["id"].as_str().unwrap()))
        .await
        .assert_status(200);
    // Patients write no care records.
    let res = app.post(&c.patient1, &path, json!({"kind": "note", "body": "me"})).await;
    assert!(matches!(res.status.as_u16(), 403 | 404));
    app.get(&c.patient1, &format!("/api/v1/patients/{}", c.p1)).await.assert_status(200);
}
