//! Training: a batch's capacity under a crowd of concurrent enrollments,
//! and a course from enrollment to a certificate that anyone can verify,
//! and that stays revoked once revoked.

use std::time::Duration;

use futures_util::future::join_all;
use poem::http::Method;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

/// A's admin's course with one batch of `capacity` seats.
async fn batch(
    app: &TestApp,
    admin: &Actor,
    sa: &Actor,
    capacity: i32,
    teacher: Option<Uuid>,
) -> (Uuid, Uuid) {
    let city = app.city(sa).await;
    let body = json!({"slug": app.unique("course-"), "title": "Caregiver basics", "summary": "Six weeks.",
                      "cityId": city, "durationHours": 120, "published": true});
    let course = app.post(admin, "/api/v1/courses", body).await;
    let course: Uuid = course.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let mut body =
        json!({"name": "January", "startsOn": "2027-01-09", "endsOn": "2027-02-14", "capacity": capacity});
    if let Some(t) = teacher {
        body["teacherId"] = json!(t);
    }
    let batch = app.post(admin, &format!("/api/v1/courses/{course}/batches"), body).await;
    (course, batch.assert_status(201).body["id"].as_str().unwrap().parse().unwrap())
}

/// A student account without a password (pending): no login needed here.
async fn student(app: &TestApp, admin: &Actor) -> Uuid {
    let email = format!("{}@students.example", app.unique("s"));
    let body = json!({"account": {"email": email, "firstName": "Ravi", "lastName": "Meena"}, "profile": {}});
    let res = app.post(admin, "/api/v1/students", body).await;
    res.assert_status(201).body["account"]["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_enrollments_fill_twenty_seats_exactly() {
    let app = TestApp::spawn_with(Default::default(), 24, Duration::from_secs(30)).await;
    let w = app.two_facilities().await;
    let (_, batch) = batch(&app, &w.admin_a, &w.sa, 20, None).await;
    let mut students = Vec::new();
    for _ in 0..50 {
        students.push(student(&app, &w.admin_a).await);
    }

    let path = format!("/api/v1/batches/{batch}/enrollments");
    let answers =
        join_all(students.iter().map(|s| app.post(&w.admin_a, &path, json!({"studentId": s})))).await;

    let created = answers.iter().filter(|r| r.status.as_u16() == 201).count();
    let full: Vec<_> = answers.iter().filter(|r| r.status.as_u16() == 409).collect();
    assert_eq!(created, 20, "every seat is taken, and no more");
    assert_eq!(full.len(), 30, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in full {
        r.assert_problem(409, "batch_full");
    }
    let su = app.superuser().await;
    let seats: i64 = su
        .query_one(
            "select count(*) from enrollments where batch_id = $1 and status <> 'withdrawn'",
            &[&batch],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(seats, 20);
    let shown = app.get(&w.admin_a, &format!("/api/v1/batches/{batch}")).await;
    assert_eq!((shown.body["enrolled"].as_i64(), shown.body["capacity"].as_i64()), (Some(20), Some(20)));

    // A withdrawal frees one seat, which the next enrollment takes; then the batch is full again.
    let first: Uuid = answers.iter().find(|r| r.status.as_u16() == 201).unwrap().body["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.post(&w.admin_a, &format!("/api/v1/enrollments/{first}/withdraw"), json!({}))
        .await
        .assert_status(200);
    let waiting: Vec<_> =
        students.iter().zip(&answers).filter(|(_, r)| r.status.as_u16() == 409).map(|(s, _)| *s).collect();
    app.post(&w.admin_a, &path, json!({"studentId": waiting[0]})).await.assert_status(201);
    app.post(&w.admin_a, &path, json!({"studentId": waiting[1]})).await.assert_problem(409, "batch_full");
    // Shrinking below the seats taken is refused.
    let body = json!({"name": "January", "startsOn": "2027-01-09", "endsOn": "2027-02-14", "capacity": 19});
    let res =
        app.call(Method::PUT, &format!("/api/v1/batches/{batch}"), Some(&w.admin_a.token), Some(body)).await;
    res.assert_problem(400, "validation_failed");
}

#[tokio::test]
async fn a_completed_enrollment_earns_a_certificate_anyone_can_verify_until_it_is_revoked() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let admin = &w.admin_a;
    let teacher = app.learner(admin, "teacher").await;
    let other_teacher = app.learner(admin, "teacher").await;
    let (_, batch) = batch(&app, admin, &w.sa, 10, Some(teacher.id)).await;
    let ravi = app.learner(admin, "student").await;
    let asha = app.learner(admin, "student").await;
    let path = format!("/api/v1/batches/{batch}/enrollments");
    let enrollment = app.post(admin, &path, json!({"studentId": ravi.id})).await;
    let enrollment: Uuid = enrollment.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    app.post(admin, &path, json!({"studentId": ravi.id})).await.assert_problem(409, "already_enrolled");
    app.post(admin, &path, json!({"studentId": asha.id})).await.assert_status(201);

    // The teacher keeps the register; another teacher cannot even see the batch.
    let register = json!({"sessionOn": "2027-01-09", "records": [
        {"studentId": ravi.id, "status": "present"}, {"studentId": asha.id, "status": "late", "note": "Bus"}]});
    let att = format!("/api/v1/batches/{batch}/attendance");
    app.post(&teacher, &att, register.clone()).await.assert_status(201);
    app.post(&other_teacher, &att, register).await.assert_problem(404, "not_found");
    let outsider =
        json!({"sessionOn": "2027-01-09", "records": [{"studentId": teacher.id, "status": "present"}]});
    app.post(&teacher, &att, outsider).await.assert_problem(400, "validation_failed");
    // A student reads only their own marks.
    let mine = app.get(&ravi, &att).await;
    assert_eq!(mine.items().len(), 1);
    assert_eq!(mine.items()[0]["studentId"], ravi.id.to_string());
    // The register is append-only, even for the owner's SQL.
    let su = app.superuser().await;
    assert!(su.execute("update class_attendance set status = 'absent'", &[]).await.is_err());

    // Completion issues the certificate in the same transaction.
    let done = app.post(admin, &format!("/api/v1/enrollments/{enrollment}/complete"), json!({})).await;
    done.assert_status(200);
    assert_eq!(done.body["enrollment"]["status"], "completed");
    let cert = &done.body["certificate"];
    let (id, code) = (cert["id"].as_str().unwrap().to_owned(), cert["code"].as_str().unwrap().to_owned());
    assert!(code.starts_with("CERT-") && code.len() == 19, "{code}");
    assert_eq!(cert["studentName"], "Lata Sen");
    app.post(admin, &format!("/api/v1/enrollments/{enrollment}/complete"), json!({}))
        .await
        .assert_problem(409, "enrollment_closed");

    // Anyone can verify it, and learns only what a verifier needs.
    let public = app
        .call(Method::GET, &format!("/api/v1/public/certificates/{}", code.to_lowercase()), None, None)
        .await;
    public.assert_status(200);
    assert_eq!(public.body["status"], "valid");
    assert_eq!(public.body["courseTitle"], "Caregiver basics");
    let keys: Vec<_> = public.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["code", "courseTitle", "issuedBy", "issuedOn", "status", "studentName"]);
    app.call(Method::GET, "/api/v1/public/certificates/CERT-2222-3333-4444", None, None)
        .await
        .assert_problem(404, "not_found");

    // The student has it, and its PDF; the other student does not.
    let pdf = app
        .client
        .get(format!("/api/v1/certificates/{id}/pdf"))
        .header("authorization", format!("Bearer {}", ravi.token))
        .send()
        .await;
    pdf.assert_status_is_ok();
    assert!(pdf.0.into_body().into_bytes().await.unwrap().starts_with(b"%PDF"));
    app.get(&asha, &format!("/api/v1/certificates/{id}")).await.assert_problem(404, "not_found");
    assert_eq!(app.get(&ravi, "/api/v1/certificates").await.items().len(), 1);

    // Revoked once, with a reason; verifiers see it revoked; it stays revoked.
    let revoke = format!("/api/v1/certificates/{id}/revoke");
    app.post(&ravi, &revoke, json!({"reason": "mine"})).await.assert_problem(403, "forbidden");
    let revoked = app.post(admin, &revoke, json!({"reason": "The final assessment was not passed."})).await;
    revoked.assert_status(200);
    assert!(revoked.body["revokedAt"].is_string());
    let public = app.call(Method::GET, &format!("/api/v1/public/certificates/{code}"), None, None).await;
    assert_eq!(public.body["status"], "revoked");
    assert!(public.body["revokedOn"].is_string());
    app.post(admin, &revoke, json!({"reason": "again"})).await.assert_problem(409, "certificate_revoked");
    assert!(su.execute("delete from certificates", &[]).await.is_err(), "never deleted");
}
