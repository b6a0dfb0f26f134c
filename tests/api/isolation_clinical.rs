//! The isolation matrix for the clinical core, for all four audiences: the
//! other facility's admin, unassigned staff, another patient, and the super
//! admin. Reads answer 404 (never 403 for a row that exists elsewhere);
//! writes have no effect.

use poem::http::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, Clinic, TestApp};

/// One operation on facility A's data and the statuses each audience may get.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
}

fn case(name: &'static str, method: Method, path: String, body: Option<Value>) -> Case {
    Case { name, method, path, body }
}

async fn assert_refused(app: &TestApp, who: &str, actor: &Actor, c: &Case) {
    let res = app.call(c.method.clone(), &c.path, Some(&actor.token), c.body.clone()).await;
    let status = res.status.as_u16();
    let ok = if c.method == Method::GET { status == 404 } else { matches!(status, 403 | 404) };
    assert!(ok, "{who} on {} ({} {}): {status} {}", c.name, c.method, c.path, res.body);
}

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

fn cases(c: &Clinic, log: Uuid, vit: Uuid, att: Uuid, assignment: Uuid) -> Vec<Case> {
    let p = c.p1;
    vec![
        case("getPatient", Method::GET, format!("/api/v1/patients/{p}"), None),
        case("getPatientDashboard", Method::GET, format!("/api/v1/patients/{p}/dashboard"), None),
        case("updatePatient", Method::PATCH, format!("/api/v1/patients/{p}"), Some(json!({"room": "X1"}))),
        case("deletePatient", Method::DELETE, format!("/api/v1/patients/{p}"), None),
        case("restorePatient", Method::POST, format!("/api/v1/patients/{p}/restore"), Some(json!({}))),
        case(
            "regenerateRegistrationKey",
            Method::POST,
            format!("/api/v1/patients/{p}/registration-key"),
            None,
        ),
        case("revokeRegistrationKey", Method::DELETE, format!("/api/v1/patients/{p}/registration-key"), None),
        case("listAssignments", Method::GET, format!("/api/v1/patients/{p}/assignments"), None),
        case(
            "createAssignment",
            Method::POST,
            format!("/api/v1/patients/{p}/assignments"),
            Some(json!({"staffId": c.nurse_a2.id, "role": "nurse"})),
        ),
        case("endAssignment", Method::POST, format!("/api/v1/assignments/{assignment}/end"), Some(json!({}))),
        case("listCareLogs", Method::GET, format!("/api/v1/patients/{p}/care-logs"), None),
        case(
            "createCareLog",
            Method::POST,
            format!("/api/v1/patients/{p}/care-logs"),
            Some(json!({"kind": "note", "body": "intruder"})),
        ),
        case("getCareLog", Method::GET, format!("/api/v1/care-logs/{log}"), None),
        case(
            "amendCareLog",
            Method::POST,
            format!("/api/v1/care-logs/{log}/amendments"),
            Some(json!({"reason": "x", "body": "intruder"})),
        ),
        case("listVitals", Method::GET, format!("/api/v1/patients/{p}/vitals"), None),
        case(
            "createVitals",
            Method::POST,
            format!("/api/v1/patients/{p}/vitals"),
            Some(json!({"pulse": 99})),
        ),
        case(
            "amendVitals",
            Method::POST,
            format!("/api/v1/vitals/{vit}/amendments"),
            Some(json!({"reason": "x", "pulse": 99})),
        ),
        case(
            "amendAttendance",
            Method::POST,
            format!("/api/v1/attendance/{att}/amendments"),
            Some(json!({"reason": "x", "note": "intruder"})),
        ),
        case(
            "createAttendance (visit)",
            Method::POST,
            "/api/v1/attendance".into(),
            Some(json!({"event": "check_in", "patientId": p})),
        ),
    ]
}

#[tokio::test]
async fn outsiders_get_404_or_no_effect_on_every_clinical_operation() {
    let (app, c, log, vit, att, assignment) = setup().await;
    let before = (
        app.count("care_logs").await,
        app.count("vitals").await,
        app.count("attendance").await,
        app.count("assignments").await,
        app.count("registration_keys").await,
    );
    let audiences = [
        ("other facility's admin", &c.w.admin_b),
        ("other facility's nurse", &c.w.staff_b),
        ("unassigned staff", &c.nurse_a2),
        ("another patient", &c.patient2),
        ("another facility's patient", &c.patient_b),
    ];
    for case in cases(&c, log, vit, att, assignment) {
        for (who, actor) in audiences {
            // Unassigned staff may record their own attendance without a visit;
            // only the visit to someone else's patient is refused.
            assert_refused(&app, who, actor, &case).await;
        }
    }
    let after = (
        app.count("care_logs").await,
        app.count("vitals").await,
        app.count("attendance").await,
        app.count("assignments").await,
        app.count("registration_keys").await,
    );
    assert_eq!(before, after, "no outsider wrote anything");
    // Nothing changed for the insiders either.
    let patient = app.get(&c.w.admin_a, &format!("/api/v1/patients/{}", c.p1)).await;
    assert_eq!(patient.assert_status(200).body["lastName"].as_str().map(str::is_empty), Some(false));
    patient.assert_absent("room");
    app.get(&c.w.staff_a, &format!("/api/v1/care-logs/{log}")).await.assert_status(200);
    let team = app.get(&c.w.admin_a, &format!("/api/v1/patients/{}/assignments", c.p1)).await;
    assert_eq!(team.items().len(), 1, "assignment still open");
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
