//! Patients through their stay: creation, caseloads, status, soft delete and
//! restore, the dashboard, and audited reads.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn staff_see_their_caseload_and_lose_it_when_the_assignment_ends() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}", c.p2);
    app.get(&c.nurse_a2, &path).await.assert_problem(404, "not_found");
    let assignment = app.assign(&c.w.admin_a, c.p2, &c.nurse_a2).await;
    app.get(&c.nurse_a2, &path).await.assert_status(200);
    // Assigning twice is a conflict; assigning another facility's staff is impossible.
    app.post(
        &c.w.admin_a,
        &format!("{path}/assignments"),
        json!({"staffId": c.nurse_a2.id, "role": "nurse"}),
    )
    .await
    .assert_problem(409, "already_assigned");
    let foreign = app
        .post(
            &c.w.admin_a,
            &format!("{path}/assignments"),
            json!({"staffId": c.w.staff_b.id, "role": "nurse"}),
        )
        .await;
    foreign.assert_problem(400, "validation_failed");
    assert_eq!(foreign.body["errors"][0]["field"], "staffId");
    // Staff cannot assign themselves.
    let me = app
        .post(
            &c.nurse_a2,
            &format!("/api/v1/patients/{}/assignments", c.p1),
            json!({"staffId": c.nurse_a2.id, "role": "nurse"}),
        )
        .await;
    assert!(matches!(me.status.as_u16(), 403 | 404));

    let ended = app.post(&c.w.admin_a, &format!("/api/v1/assignments/{assignment}/end"), json!({})).await;
    assert!(ended.assert_status(200).body["endedAt"].is_string());
    app.get(&c.nurse_a2, &path).await.assert_problem(404, "not_found");
    app.post(&c.w.admin_a, &format!("/api/v1/assignments/{assignment}/end"), json!({}))
        .await
        .assert_problem(404, "not_found");
    let history = app.get(&c.w.admin_a, &format!("{path}/assignments?all=true")).await;
    assert_eq!(history.items().len(), 1);
    assert!(app.get(&c.w.admin_a, &format!("{path}/assignments")).await.items().is_empty());
}

#[tokio::test]
async fn staff_who_create_a_patient_counsel_them() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (pid, _) = app.patient(&c.nurse_a2).await;
    let p = app.get(&c.nurse_a2, &format!("/api/v1/patients/{pid}")).await;
    assert_eq!(p.assert_status(200).body["primaryCounsellorId"], c.nurse_a2.id.to_string());
    let filtered = app.get(&c.w.admin_a, &format!("/api/v1/patients?counsellorId={}", c.nurse_a2.id)).await;
    assert_eq!(filtered.items().len(), 1);
}

#[tokio::test]
async fn status_moves_forward_with_dates() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let created = app
        .post(
            &admin,
            "/api/v1/patients",
            json!({"firstName": "Noor", "lastName": "Das", "dateOfBirth": "1992-05-05", "mrn": "MRN-1"}),
        )
        .await;
    assert_eq!(created.assert_status(201).body["patient"]["status"], "pre_admission");
    let id = created.body["patient"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/patients/{id}");
    let today = chrono::Utc::now().date_naive().to_string();
    let active = app.patch(&admin, &path, json!({"status": "active"})).await;
    assert_eq!(active.assert_status(200).body["admissionDate"], today);
    let discharged = app.patch(&admin, &path, json!({"status": "discharged"})).await;
    assert_eq!(discharged.assert_status(200).body["dischargeDate"], today);
    let back = app.patch(&admin, &path, json!({"status": "pre_admission"})).await;
    back.assert_problem(400, "validation_failed");
    assert_eq!(back.body["errors"][0]["field"], "status");
    // Duplicate MRN in the facility: 409.
    let dup = app
        .post(
            &admin,
            "/api/v1/patients",
            json!({"firstName": "A", "lastName": "B", "dateOfBirth": "1990-01-01", "mrn": "MRN-1"}),
        )
        .await;
    dup.assert_problem(409, "mrn_taken");
    let future = app
        .post(
            &admin,
            "/api/v1/patients",
            json!({"firstName": "A", "lastName": "B", "dateOfBirth": "2999-01-01"}),
        )
        .await;
    future.assert_problem(400, "validation_failed");
    // Partial update leaves the rest alone; null clears.
    let room = app
        .patch(
            &admin,
            &path,
            json!({"room": "B-12", "emergencyContact": {"name": "Ravi", "phone": "+919800000000"}}),
        )
        .await;
    assert_eq!(room.body["room"], "B-12");
    assert_eq!(room.body["firstName"], "Noor");
    assert_eq!(room.body["emergencyContact"]["name"], "Ravi");
    let cleared = app.patch(&admin, &path, json!({"room": null})).await;
    cleared.assert_status(200).assert_absent("room");
    assert_eq!(cleared.body["emergencyContact"]["name"], "Ravi");
}

#[tokio::test]
async fn soft_deleted_patients_vanish_but_are_kept_and_can_be_restored() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}", c.p1);
    let nurse = &c.w.staff_a;
    let log = app.post(nurse, &format!("{path}/care-logs"), json!({"kind": "note", "body": "ok"})).await;
    let log = log.assert_status(201).body["id"].as_str().unwrap().to_owned();
    let vit = app.post(nurse, &format!("{path}/vitals"), json!({"pulse": 70})).await;
    let vit = vit.assert_status(201).body["id"].as_str().unwrap().to_owned();
    let team = app.get(&c.w.admin_a, &format!("{path}/assignments")).await;
    let assignment = team.items()[0]["id"].as_str().unwrap().to_owned();
    // Only facility admins delete.
    app.delete(&c.w.staff_a, &path).await.assert_problem(403, "forbidden");
    app.delete(&c.w.admin_a, &path).await.assert_status(204);
    for actor in [&c.w.admin_a, &c.w.staff_a, &c.patient1, &c.w.sa] {
        app.get(actor, &path).await.assert_problem(404, "not_found");
        assert!(app.get(actor, "/api/v1/patients").await.items().iter().all(|p| p["id"] != c.p1.to_string()));
        // The chart is hidden too, whether or not it has records.
        for records in ["care-logs", "vitals", "assignments", "dashboard"] {
            let res = app.get(actor, &format!("{path}/{records}")).await;
            assert_eq!(res.status.as_u16(), 404, "{} lists {records} of a deleted patient", actor.email);
        }
        app.get(actor, &format!("/api/v1/care-logs/{log}")).await.assert_problem(404, "not_found");
    }
    let amend = json!({"reason": "late", "body": "x"});
    app.post(&c.w.admin_a, &format!("/api/v1/care-logs/{log}/amendments"), amend)
        .await
        .assert_problem(404, "not_found");
    app.post(
        &c.w.admin_a,
        &format!("/api/v1/vitals/{vit}/amendments"),
        json!({"reason": "late", "pulse": 71}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post(&c.w.admin_a, &format!("/api/v1/assignments/{assignment}/end"), json!({}))
        .await
        .assert_problem(404, "not_found");
    app.post(&c.w.staff_a, &format!("{path}/care-logs"), json!({"kind": "note", "body": "x"}))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.count("patients").await, 3, "kept in the database");
    let deleted = app.get(&c.w.admin_a, "/api/v1/patients?deleted=true").await;
    assert_eq!(deleted.items().len(), 1);
    assert!(deleted.items()[0]["deletedAt"].is_string(), "{}", deleted.body);
    assert!(app.get(&c.w.staff_a, "/api/v1/patients?deleted=true").await.items().is_empty());
    let restored = app.post(&c.w.admin_a, &format!("{path}/restore"), json!({})).await;
    restored.assert_status(200).assert_absent("deletedAt");
    app.get(&c.w.staff_a, &path).await.assert_status(200);
    let logs = app.get(&c.w.admin_a, &format!("{path}/care-logs")).await;
    assert_eq!(logs.assert_status(200).items().len(), 1, "restored with its chart");
    let su = app.superuser().await;
    let trail: i64 = su
        .query_one(
            "select count(*) from audit_log where entity_id = $1 and action = 'update' and old_values ? 'deleted_at'",
            &[&c.p1],
        )
        .await
        .unwrap()
        .get(0);
    assert!(trail >= 2, "delete and restore are audited");
}

#[tokio::test]
async fn reads_of_a_chart_are_audited_once_per_request() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    for body in ["a", "b", "c"] {
        app.post(
            &c.w.staff_a,
            &format!("/api/v1/patients/{}/care-logs", c.p1),
            json!({"kind": "note", "body": body}),
        )
        .await
        .assert_status(201);
    }
    let reads = |who: uuid::Uuid| {
        let app = &app;
        let p1 = c.p1;
        async move {
            let n: i64 = app
                .superuser()
                .await
                .query_one("select count(*) from audit_log where action = 'read' and entity_id = $1 and actor_id = $2", &[&p1, &who])
                .await
                .unwrap()
                .get(0);
            n
        }
    };
    assert_eq!(reads(c.w.staff_a.id).await, 0);
    app.get(&c.w.staff_a, &format!("/api/v1/patients/{}", c.p1)).await.assert_status(200);
    app.get(&c.w.staff_a, &format!("/api/v1/patients/{}/care-logs", c.p1)).await.assert_status(200);
    app.get(&c.w.staff_a, &format!("/api/v1/patients/{}/dashboard", c.p1)).await.assert_status(200);
    assert_eq!(reads(c.w.staff_a.id).await, 3, "three requests, three rows — not one per care log");
    // The patient reading their own record is not a staff read.
    app.get(&c.patient1, &format!("/api/v1/patients/{}", c.p1)).await.assert_status(200);
    assert_eq!(reads(c.patient1.id).await, 0);
}

#[tokio::test]
async fn the_dashboard_sums_up_a_patient_in_one_call() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let logs = format!("/api/v1/patients/{}/care-logs", c.p1);
    app.post(nurse, &logs, json!({"kind": "incident", "body": "fall"})).await.assert_status(201);
    app.post(nurse, &logs, json!({"kind": "note", "body": "old", "occurredAt": "2020-01-01T00:00:00Z"}))
        .await
        .assert_status(201);
    app.post(nurse, &format!("/api/v1/patients/{}/vitals", c.p1), json!({"systolic": 118, "diastolic": 76}))
        .await
        .assert_status(201);
    let d = app.get(nurse, &format!("/api/v1/patients/{}/dashboard", c.p1)).await;
    d.assert_status(200);
    let sober_since = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let expected = (chrono::Utc::now().date_naive() - sober_since).num_days();
    assert_eq!(d.body["daysSober"], expected);
    assert_eq!(d.body["lastCareLog"]["kind"], "incident");
    assert_eq!(d.body["lastVitals"]["systolic"], 118);
    assert_eq!(d.body["openAssignments"], 1);
    assert_eq!(d.body["last7Days"]["careLogs"], 1);
    assert_eq!(d.body["last7Days"]["incidents"], 1);
    assert_eq!(d.body["last7Days"]["vitals"], 1);
}

#[tokio::test]
async fn patients_list_filters_search_and_pages() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    for (first, last, admitted) in
        [("Asha", "Rao", "2026-03-01"), ("Vikram", "Rao", "2026-05-01"), ("Li", "Chen", "2026-07-01")]
    {
        app.post(&admin, "/api/v1/patients", json!({"firstName": first, "lastName": last, "dateOfBirth": "1985-01-01", "admissionDate": admitted}))
            .await
            .assert_status(201);
    }
    assert_eq!(app.get(&admin, "/api/v1/patients?search=rao").await.items().len(), 2);
    assert_eq!(
        app.get(&admin, "/api/v1/patients?search=%25").await.items().len(),
        0,
        "wildcards are literal"
    );
    assert_eq!(
        app.get(&admin, "/api/v1/patients?admittedFrom=2026-04-01&admittedTo=2026-06-30").await.items().len(),
        1
    );
    assert_eq!(app.get(&admin, "/api/v1/patients?status=active").await.items().len(), 3);
    let first = app.get(&admin, "/api/v1/patients?limit=2").await;
    let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    let second = app.get(&admin, &format!("/api/v1/patients?limit=2&cursor={cursor}")).await;
    assert_eq!(second.items().len(), 1);
    second.assert_absent("nextCursor");
}
