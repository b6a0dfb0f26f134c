//! A client follows the people they book care for: the patients an admin
//! linked them to, those patients' visits and the care logs shared with the
//! patient's side, and nothing more of the chart or of anyone else.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_client_sees_their_care_recipients_visits_and_shared_logs_only() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (admin, nurse) = (&c.w.admin_a, &c.w.staff_a);
    let client = app.learner(admin, "client").await;
    let shared = json!({"kind": "note", "body": "Dressing changed; healing well.", "visibleToPatient": true});
    let private =
        json!({"kind": "observation", "body": "Family seems under strain.", "visibleToPatient": false});
    let logs = format!("/api/v1/patients/{}/care-logs", c.p1);
    app.post(nurse, &logs, shared).await.assert_status(201);
    app.post(nurse, &logs, private).await.assert_status(201);
    app.post(nurse, "/api/v1/attendance", json!({"event": "check_in", "patientId": c.p1}))
        .await
        .assert_status(201);

    // Before the link, the client sees nothing of the patient.
    let visits = format!("/api/v1/care-recipients/{}/visits", c.p1);
    let shared_logs = format!("/api/v1/care-recipients/{}/care-logs", c.p1);
    app.get(&client, &visits).await.assert_problem(404, "not_found");

    let link = format!("/api/v1/clients/{}/care-recipients", client.id);
    let res = app.post(admin, &link, json!({"patientId": c.p1})).await;
    res.assert_status(201);
    assert_eq!(res.body["patientId"], c.p1.to_string());
    app.post(admin, &link, json!({"patientId": c.p1})).await.assert_status(201);
    let mine = app.get(&client, &link).await;
    assert_eq!(mine.items().len(), 1, "linking twice is one link");

    let seen = app.get(&client, &shared_logs).await;
    assert_eq!(seen.items().len(), 1, "only the shared log: {}", seen.body);
    assert_eq!(seen.items()[0]["body"], "Dressing changed; healing well.");
    assert!(seen.items()[0].get("recordedBy").is_none(), "the author is not shown");
    let v = app.get(&client, &visits).await;
    assert_eq!(v.items().len(), 1);
    assert_eq!(v.items()[0]["staffId"], nurse.id.to_string());

    // Nothing else of the chart, and nobody else's.
    app.get(&client, &format!("/api/v1/patients/{}", c.p1)).await.assert_problem(403, "forbidden");
    app.get(&client, &logs).await.assert_problem(403, "forbidden");
    app.get(&client, &format!("/api/v1/care-recipients/{}/visits", c.p2))
        .await
        .assert_problem(404, "not_found");
    let other = app.learner(admin, "client").await;
    app.get(&other, &visits).await.assert_problem(404, "not_found");
    app.get(&other, &link).await.assert_problem(404, "not_found");
    // A patient cannot be linked across facilities.
    let b_client = app.learner(&c.w.admin_b, "client").await;
    let cross = format!("/api/v1/clients/{}/care-recipients", b_client.id);
    app.post(&c.w.admin_b, &cross, json!({"patientId": c.p1})).await.assert_problem(400, "validation_failed");
    // A soft-deleted care recipient vanishes.
    app.delete(admin, &format!("/api/v1/patients/{}", c.p1)).await.assert_status(204);
    app.get(&client, &visits).await.assert_problem(404, "not_found");
    assert!(app.get(&client, &link).await.items().is_empty());
}
