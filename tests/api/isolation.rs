//! The isolation matrix: for every tenant-scoped operation, callers from
//! facility B get 404 (reads) or no effect (writes) on facility A's ids,
//! staff reach only themselves, and super admins see both facilities.

use serde_json::json;

use crate::helpers::{TestApp, World};

async fn world() -> (TestApp, World) {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    (app, w)
}

#[tokio::test]
async fn other_facility_gets_404_for_facility_reads() {
    let (app, w) = world().await;
    let path = format!("/api/v1/facilities/{}", w.a);
    for outsider in [&w.admin_b, &w.staff_b] {
        app.get(outsider, &path).await.assert_problem(404, "not_found");
    }
    for insider in [&w.admin_a, &w.staff_a, &w.sa] {
        assert_eq!(app.get(insider, &path).await.assert_status(200).body["id"], w.a.to_string());
    }
}

#[tokio::test]
async fn facility_list_shows_members_only_their_own_and_super_admins_all() {
    let (app, w) = world().await;
    for (actor, own) in [(&w.admin_b, w.b), (&w.staff_b, w.b), (&w.admin_a, w.a)] {
        let res = app.get(actor, "/api/v1/facilities").await;
        let ids: Vec<_> =
            res.assert_status(200).items().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids, vec![own.to_string()]);
    }
    let res = app.get(&w.sa, "/api/v1/facilities").await;
    let ids: Vec<_> = res.items().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
    assert!(ids.contains(&w.a.to_string()) && ids.contains(&w.b.to_string()));
}

#[tokio::test]
async fn other_facility_cannot_change_a_facility() {
    let (app, w) = world().await;
    let base = format!("/api/v1/facilities/{}", w.a);
    for outsider in [&w.admin_b, &w.staff_b, &w.admin_a, &w.staff_a] {
        let res = app.patch(outsider, &base, json!({"name": "Hijacked"})).await;
        assert!(matches!(res.status.as_u16(), 403 | 404), "{}", res.body);
        for action in ["suspend", "reactivate"] {
            let path = format!("{base}/{action}");
            let res = app.post(outsider, &path, json!({"reason": "no"})).await;
            assert!(matches!(res.status.as_u16(), 403 | 404), "{action}: {}", res.body);
        }
    }
    let facility = app.get(&w.sa, &base).await;
    assert_ne!(facility.body["name"], "Hijacked");
    assert_eq!(facility.body["status"], "active");
    // A's members still work: nothing was suspended.
    app.get(&w.staff_a, "/api/v1/auth/me").await.assert_status(200);
}

#[tokio::test]
async fn other_facility_gets_404_for_user_reads_and_writes() {
    let (app, w) = world().await;
    for target in [&w.admin_a, &w.staff_a] {
        let path = format!("/api/v1/users/{}", target.id);
        app.get(&w.admin_b, &path).await.assert_problem(404, "not_found");
        app.get(&w.staff_b, &path).await.assert_problem(404, "not_found");
        app.patch(&w.admin_b, &path, json!({"firstName": "Mallory"})).await.assert_problem(404, "not_found");
        app.post(&w.admin_b, &format!("{path}/status"), json!({"status": "suspended", "reason": "x"}))
            .await
            .assert_problem(404, "not_found");
        // No effect: the user is unchanged and still signed in.
        let seen = app.get(&w.sa, &path).await;
        assert_eq!(seen.assert_status(200).body["status"], "active");
        assert_ne!(seen.body["firstName"], "Mallory");
        app.get(target, "/api/v1/auth/me").await.assert_status(200);
    }
}

#[tokio::test]
async fn other_facility_sees_nothing_when_filtering_by_a() {
    let (app, w) = world().await;
    let res = app.get(&w.admin_b, &format!("/api/v1/users?facilityId={}", w.a)).await;
    assert!(res.assert_status(200).items().is_empty());
    let all = app.get(&w.admin_b, "/api/v1/users").await;
    assert!(all.items().iter().all(|u| u["facilityId"] == w.b.to_string()));
    assert_eq!(all.items().len(), 2, "admin B sees B's admin and nurse");
}

#[tokio::test]
async fn staff_see_only_themselves() {
    let (app, w) = world().await;
    let res = app.get(&w.staff_a, "/api/v1/users").await;
    let items = res.assert_status(200).items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], w.staff_a.id.to_string());
    app.get(&w.staff_a, &format!("/api/v1/users/{}", w.admin_a.id)).await.assert_problem(404, "not_found");
}

#[tokio::test]
async fn facility_admin_cannot_create_users_elsewhere_or_super_admins() {
    let (app, w) = world().await;
    let before = app.count("users").await;
    let into_a = json!({"facilityId": w.a, "email": "sneaky@x.example", "password": "long enough pw", "role": "staff", "firstName": "S", "lastName": "N"});
    let res = app.post(&w.admin_b, "/api/v1/users", into_a).await;
    assert!(matches!(res.status.as_u16(), 403 | 404), "{}", res.body);
    let sa = json!({"email": "sneaky2@x.example", "password": "long enough pw", "role": "super_admin", "firstName": "S", "lastName": "N"});
    app.post(&w.admin_b, "/api/v1/users", sa).await.assert_problem(403, "forbidden");
    let staff_creates = json!({"email": "sneaky3@x.example", "password": "long enough pw", "role": "staff", "firstName": "S", "lastName": "N"});
    app.post(&w.staff_b, "/api/v1/users", staff_creates).await.assert_problem(403, "forbidden");
    assert_eq!(app.count("users").await, before, "nothing was written");
}

#[tokio::test]
async fn other_facility_cannot_end_a_session_of_a() {
    let (app, w) = world().await;
    let sessions = app.get(&w.admin_a, "/api/v1/auth/sessions").await;
    let sid = sessions.items()[0]["id"].as_str().unwrap().to_owned();
    app.delete(&w.admin_b, &format!("/api/v1/auth/sessions/{sid}")).await.assert_problem(404, "not_found");
    app.delete(&w.sa, &format!("/api/v1/auth/sessions/{sid}")).await.assert_problem(404, "not_found");
    app.get(&w.admin_a, "/api/v1/auth/me").await.assert_status(200);
}

#[tokio::test]
async fn super_admin_reaches_both_facilities() {
    let (app, w) = world().await;
    for user in [&w.admin_a, &w.staff_a, &w.admin_b, &w.staff_b] {
        app.get(&w.sa, &format!("/api/v1/users/{}", user.id)).await.assert_status(200);
    }
    let a_only = app.get(&w.sa, &format!("/api/v1/users?facilityId={}", w.a)).await;
    assert_eq!(a_only.items().len(), 2);
    app.patch(&w.sa, &format!("/api/v1/facilities/{}", w.b), json!({"city": "Pune"}))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_facility_admin_manages_own_staff() {
    let (app, w) = world().await;
    let path = format!("/api/v1/users/{}", w.staff_a.id);
    let res =
        app.patch(&w.admin_a, &path, json!({"jobTitle": "caregiver", "phone": "+91 98765 43210"})).await;
    assert_eq!(res.assert_status(200).body["jobTitle"], "caregiver");
    assert_eq!(res.body["phone"], "+919876543210");
    let res = app.patch(&w.admin_a, &path, json!({"jobTitle": null})).await;
    res.assert_status(200).assert_absent("jobTitle");
}
