//! Facilities and users as super admins and facility admins manage them,
//! and the audit trail their changes leave.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn creating_a_facility_creates_its_admin_in_the_same_transaction() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (fid, admin) = app.facility(&sa).await;
    assert_eq!(admin.facility_id, Some(fid));
    let me = app.get(&admin, "/api/v1/auth/me").await;
    assert_eq!(me.body["role"], "facility_admin");

    // The admin's email is taken: neither row is written.
    let before = app.count("facilities").await;
    let res = app
        .post(
            &sa,
            "/api/v1/facilities",
            json!({"slug": "half-made", "name": "Half", "kind": "clinic",
                   "admin": {"email": admin.email, "password": PASSWORD, "firstName": "A", "lastName": "B"}}),
        )
        .await;
    res.assert_problem(409, "email_taken");
    assert_eq!(app.count("facilities").await, before);

    let dup = json!({"slug": "half-made", "name": "Half", "kind": "clinic", "admin": {"email": "fresh@x.example", "firstName": "A", "lastName": "B"}});
    let created = app.post(&sa, "/api/v1/facilities", dup.clone()).await;
    assert_eq!(created.assert_status(201).body["admin"]["status"], "pending", "no password: an invitation");
    let mut again = dup;
    again["admin"]["email"] = json!("fresh2@x.example");
    app.post(&sa, "/api/v1/facilities", again).await.assert_problem(409, "facility_slug_taken");
}

#[tokio::test]
async fn facility_admins_cannot_create_or_suspend_facilities() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let body = json!({"slug": "rogue", "name": "Rogue", "kind": "clinic", "admin": {"email": "r@x.example", "firstName": "A", "lastName": "B"}});
    app.post(&w.admin_a, "/api/v1/facilities", body.clone()).await.assert_problem(403, "forbidden");
    app.post(&w.staff_a, "/api/v1/facilities", body).await.assert_problem(403, "forbidden");
    app.post(&w.admin_a, &format!("/api/v1/facilities/{}/suspend", w.a), json!({}))
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn lists_page_with_an_opaque_cursor() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    for _ in 0..4 {
        app.staff(&admin, "caregiver").await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/users?limit=2".to_owned();
    loop {
        let page = app.get(&admin, &path).await;
        page.assert_status(200);
        assert!(page.items().len() <= 2);
        seen.extend(page.items().iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page.body["nextCursor"].as_str() {
            Some(c) => path = format!("/api/v1/users?limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(seen.len(), 5, "admin + 4 caregivers, each once: {seen:?}");
    assert_eq!(unique.len(), 5);
    let caregivers = app.get(&admin, "/api/v1/users?role=staff&status=active").await;
    assert_eq!(caregivers.items().len(), 4);
}

#[tokio::test]
async fn every_change_is_audited_with_who_why_and_the_request_id() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let (_, admin) = app.facility(&sa).await;
    let nurse = app.staff(&admin, "nurse").await;
    let res = app
        .client
        .post(format!("/api/v1/users/{}/status", nurse.id))
        .header("authorization", format!("Bearer {}", admin.token))
        .header("x-request-id", "req-audit-1")
        .body_json(&json!({"status": "suspended", "reason": "missed shifts"}))
        .send()
        .await;
    crate::helpers::read(res).await.assert_status(200);

    let su = app.superuser().await;
    let row = su
        .query_one(
            "select actor_id, actor_role, action, reason, request_id, old_values->>'status' as old_status,
                    new_values->>'status' as new_status, new_values ? 'password_hash' as leaks_hash
             from audit_log where entity_type = 'users' and entity_id = $1 and action = 'update'
             order by seq desc limit 1",
            &[&nurse.id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, uuid::Uuid>("actor_id"), admin.id);
    assert_eq!(row.get::<_, String>("actor_role"), "facility_admin");
    assert_eq!(row.get::<_, String>("reason"), "missed shifts");
    assert_eq!(row.get::<_, String>("request_id"), "req-audit-1");
    assert_eq!(row.get::<_, String>("old_status"), "active");
    assert_eq!(row.get::<_, String>("new_status"), "suspended");
    assert!(!row.get::<_, bool>("leaks_hash"));
    // The revocation of the nurse's sessions is in the trail too.
    let revoked: i64 = su
        .query_one("select count(*) from audit_log where entity_type = 'sessions' and new_values->>'revoked_reason' = 'account_suspended'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(revoked, 1);
    // A facility admin reads their facility's trail; staff cannot.
    let client = app.connect_as("carego_app").await;
    client.batch_execute("begin; set local role carego_staff").await.unwrap();
    assert!(client.query("select 1 from audit_log", &[]).await.is_err());
}

#[tokio::test]
async fn the_audit_log_is_append_only_for_every_role_and_the_owner() {
    let app = TestApp::spawn().await;
    app.two_facilities().await;
    for role in
        ["carego_public", "carego_patient", "carego_staff", "carego_facility_admin", "carego_super_admin"]
    {
        let client = app.connect_for(role).await;
        for sql in ["update audit_log set reason = 'x'", "delete from audit_log", "truncate audit_log"] {
            client
                .batch_execute(&format!(
                    "begin; set local role {role}; set local carego.role = 'super_admin'"
                ))
                .await
                .unwrap();
            let err = client.batch_execute(sql).await.unwrap_err();
            assert_eq!(
                err.code(),
                Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                "{role}: {sql}"
            );
            client.batch_execute("rollback").await.unwrap();
        }
    }
    // The owner, and even a superuser (who bypasses RLS), meet the trigger:
    // it is statement-level, so it fires whether or not RLS leaves a row.
    let owner = app.connect_as("carego_owner").await;
    for sql in ["update audit_log set reason = 'x'", "delete from audit_log", "truncate audit_log"] {
        let err = owner.batch_execute(sql).await.unwrap_err();
        assert!(err.as_db_error().unwrap().message().contains("append-only"), "{sql}: {err}");
    }
    let su = app.superuser().await;
    for sql in ["update audit_log set reason = 'x'", "delete from audit_log", "truncate audit_log"] {
        let err = su.batch_execute(sql).await.unwrap_err();
        assert!(err.as_db_error().unwrap().message().contains("append-only"), "{sql}: {err}");
    }
    assert!(app.count("audit_log").await > 0);
}

#[tokio::test]
async fn admins_keep_staff_profiles_and_staff_read_their_own() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let path = format!("/api/v1/users/{}/staff-profile", w.staff_a.id);
    // Empty until written.
    let empty = app.get(&w.staff_a, &path).await;
    empty.assert_status(200);
    assert_eq!(empty.body["skills"], serde_json::json!([]));
    let body = serde_json::json!({"skills": [" Wound care "], "certifications": ["BLS 2026"], "languages": ["hi", "en"],
                                  "availability": "Weekdays"});
    let put = |token: String, body: serde_json::Value| {
        let (app, path) = (&app, path.clone());
        async move { app.call(poem::http::Method::PUT, &path, Some(&token), Some(body)).await }
    };
    put(w.staff_a.token.clone(), body.clone()).await.assert_problem(403, "forbidden");
    let written = put(w.admin_a.token.clone(), body.clone()).await;
    written.assert_status(200);
    assert_eq!(written.body["skills"], serde_json::json!(["Wound care"]));
    assert_eq!(app.get(&w.staff_a, &path).await.body["languages"], serde_json::json!(["hi", "en"]));
    put(w.admin_b.token.clone(), body).await.assert_problem(404, "not_found");
    let bad = serde_json::json!({"skills": [""], "certifications": [], "languages": []});
    put(w.admin_a.token.clone(), bad).await.assert_problem(400, "validation_failed");
}
