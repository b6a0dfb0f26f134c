//! Documents: metadata under RLS, content streamed into the object store
//! (the local filesystem here, as `serve` uses by default) sniffed, counted
//! and hashed on the way, downloaded through the server under audit, and
//! deleted to a tombstone whose object a job removes; orphans swept.

use std::time::Duration;

use futures::StreamExt;
use poem::Body;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

/// A PDF-looking body of `len` bytes: the magic, then deterministic noise.
pub(crate) fn pdf(len: usize, seed: u8) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut x = u32::from(seed) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push(x as u8);
    }
    out
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A body streamed in pieces, with no Content-Length: the server can only
/// count it as it arrives.
fn streamed(bytes: Vec<u8>, piece: usize) -> Body {
    let pieces: Vec<std::io::Result<bytes::Bytes>> =
        bytes.chunks(piece).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    Body::from_bytes_stream(futures::stream::iter(pieces))
}

async fn create(app: &TestApp, actor: &Actor, patient: Uuid, visible: bool) -> Uuid {
    let id = Uuid::new_v4();
    let body =
        json!({"id": id, "kind": "lab_result", "title": "Blood panel / Nov", "visibleToPatient": visible});
    let res = app.post(actor, &format!("/api/v1/patients/{patient}/documents"), body).await;
    assert_eq!(res.assert_status(201).body["status"], "pending");
    id
}

/// An app with `settings`, its clinic, and a pending document of patient 1.
async fn pending_document(settings: carego::config::AppSettings) -> (TestApp, crate::helpers::Clinic, Uuid) {
    let settings = carego::config::AppSettings { login_limit_per_ip: 10_000, ..settings };
    let app = TestApp::spawn_with(settings, 8, Duration::from_secs(5)).await;
    let c = app.clinic().await;
    let id = create(&app, &c.w.staff_a, c.p1, false).await;
    (app, c, id)
}

/// Status, headers and the raw bytes of a download.
async fn download(app: &TestApp, actor: &Actor, id: Uuid) -> (u16, poem::http::HeaderMap, Vec<u8>) {
    let resp = app
        .client
        .get(format!("/api/v1/documents/{id}/content"))
        .header("authorization", format!("Bearer {}", actor.token))
        .send()
        .await
        .0;
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.into_body().into_vec().await.unwrap())
}

async fn audited_downloads(app: &TestApp, id: Uuid) -> Vec<String> {
    let su = app.superuser().await;
    let rows = su
        .query(
            "select actor_role from audit_log where entity_type = 'documents' and entity_id = $1
               and action = 'read' order by seq",
            &[&id],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn a_document_is_stored_as_sent_downloaded_intact_and_shared_only_with_its_patient() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let id = create(&app, nurse, c.p1, true).await;
    // Pending: the patient does not see it yet.
    app.get(&c.patient1, &format!("/api/v1/documents/{id}")).await.assert_status(404);

    // 300 KB in 7 KiB pieces, with no Content-Length.
    let bytes = pdf(300_000, 7);
    let res =
        app.put_bytes(nurse, &format!("/api/v1/documents/{id}/content"), streamed(bytes.clone(), 7168)).await;
    let doc = res.assert_status(200).body.clone();
    assert_eq!(doc["status"], "ready");
    assert_eq!(doc["contentType"], "application/pdf");
    assert_eq!(doc["sizeBytes"], 300_000);
    assert_eq!(doc["sha256"], sha256(&bytes));
    assert_eq!(app.stored_files().len(), 1, "one object in the store");

    // Downloaded byte for byte, labelled by what it is, as an attachment.
    let (status, headers, body) = download(&app, nurse, id).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "the download is the upload");
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["etag"].to_str().unwrap(), format!("\"{}\"", sha256(&bytes)));
    assert_eq!(headers["content-disposition"], "attachment; filename=\"Blood panel _ Nov.pdf\"");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // Shared with patient 1, so she reads it too; nobody else outside her care does.
    let (status, _, body) = download(&app, &c.patient1, id).await;
    assert_eq!((status, body == bytes), (200, true));
    for (who, actor) in [
        ("A's other patient", &c.patient2),
        ("A's unassigned nurse", &c.nurse_a2),
        ("B's admin", &c.w.admin_b),
        ("B's patient", &c.patient_b),
    ] {
        let (status, _, _) = download(&app, actor, id).await;
        assert_eq!(status, 404, "{who}");
    }
    let listed = app.get(&c.patient1, &format!("/api/v1/patients/{}/documents", c.p1)).await;
    assert_eq!(listed.assert_status(200).items().len(), 1);
    // The patient heard of it on her event stream.
    let su = app.superuser().await;
    let shared: i64 = su
        .query_one(
            "select count(*) from events where kind = 'document.shared' and subject_id = $1 and recipient_id = $2",
            &[&id, &c.patient1.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(shared, 1);
    // Every download that happened is in the audit chain, the patient's too.
    assert_eq!(audited_downloads(&app, id).await, ["staff", "patient"]);

    // A retry of the upload (the answer was lost) is a replay; other bytes are refused.
    let path = format!("/api/v1/documents/{id}/content");
    let again = app.put_bytes(nurse, &path, Body::from(bytes.clone())).await;
    assert_eq!(again.assert_status(200).body["sha256"], sha256(&bytes));
    let other = app.put_bytes(nurse, &path, Body::from(pdf(1000, 9))).await;
    other.assert_problem(409, "document_content_stored");
    assert_eq!(app.stored_files().len(), 1, "neither stored anything");

    // A document not shared with the patient stays hidden from her even when ready.
    let private = create(&app, nurse, c.p1, false).await;
    let res = app
        .put_bytes(nurse, &format!("/api/v1/documents/{private}/content"), Body::from("Private note."))
        .await;
    assert_eq!(res.assert_status(200).body["contentType"], "text/plain; charset=utf-8");
    app.get(&c.patient1, &format!("/api/v1/documents/{private}")).await.assert_status(404);
    let (status, _, body) = download(&app, nurse, private).await;
    assert_eq!((status, body.as_slice()), (200, b"Private note.".as_slice()));
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_without_storing_anything() {
    let (app, c, id) = pending_document(carego::config::AppSettings {
        document_limit_bytes: 64 * 1024,
        ..Default::default()
    })
    .await;
    let nurse = &c.w.staff_a;
    let path = format!("/api/v1/documents/{id}/content");

    // Announced as too large: refused before a byte is read.
    app.put_bytes(nurse, &path, Body::from(pdf(200_000, 1))).await.assert_problem(413, "payload_too_large");
    // Not announced: counted while streaming, refused once past the limit.
    let res = app.put_bytes(nurse, &path, streamed(pdf(200_000, 2), 4096)).await;
    res.assert_problem(413, "payload_too_large");
    // Nothing was stored, not even a part, and the document is still waiting for its content.
    assert!(app.stored_files().is_empty(), "stored: {:?}", app.stored_files());
    assert_eq!(app.get(nurse, &format!("/api/v1/documents/{id}")).await.body["status"], "pending");

    // Exactly at the limit is fine.
    let fits = pdf(64 * 1024, 3);
    let res = app.put_bytes(nurse, &path, streamed(fits.clone(), 10_000)).await;
    assert_eq!(res.assert_status(200).body["sha256"], sha256(&fits));
    assert_eq!(app.stored_files().len(), 1);
}

#[tokio::test]
async fn content_off_the_allowlist_is_refused_by_its_bytes_whatever_it_claims() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let id = create(&app, nurse, c.p1, true).await;
    let path = format!("/api/v1/documents/{id}/content");
    let refused: &[(&str, &[u8])] = &[
        ("a Windows executable", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00"),
        ("a web page", b"<!doctype html><script>fetch('/api/v1/auth/me')</script>"),
        ("an SVG with a script", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
        ("a shell script", b"#!/bin/sh\x00rm -rf /"),
        ("a plain zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00"),
    ];
    for (what, bytes) in refused {
        // It claims to be a PDF; the server looks for itself.
        let req = app
            .client
            .put(&path)
            .header("authorization", format!("Bearer {}", nurse.token))
            .content_type("application/pdf")
            .body(bytes.to_vec());
        let res = crate::helpers::read(req.send().await).await;
        assert_eq!(res.status.as_u16(), 415, "{what}: {}", res.body);
        res.assert_problem(415, "unsupported_media_type");
    }
    let res = app.put_bytes(nurse, &path, Body::empty()).await;
    res.assert_problem(400, "validation_failed");
    assert!(app.stored_files().is_empty());

    // Roles that never store content are refused whatever the id; other facilities see nothing.
    app.put_bytes(&c.patient1, &path, Body::from("x")).await.assert_problem(403, "forbidden");
    app.put_bytes(&c.w.staff_b, &path, Body::from("x")).await.assert_problem(404, "not_found");
    let unknown = format!("/api/v1/documents/{}/content", Uuid::new_v4());
    app.put_bytes(nurse, &unknown, Body::from("x")).await.assert_problem(404, "not_found");
    assert!(app.stored_files().is_empty());
}

#[tokio::test]
async fn a_stalled_upload_times_out_and_leaves_nothing() {
    let (app, c, id) = pending_document(carego::config::AppSettings {
        body_read_timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let nurse = &c.w.staff_a;
    // The first 20 KiB, then silence.
    let first = bytes::Bytes::from(pdf(20 * 1024, 4));
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(first) })
        .chain(futures::stream::pending())
        .boxed();
    let res =
        app.put_bytes(nurse, &format!("/api/v1/documents/{id}/content"), Body::from_bytes_stream(body)).await;
    res.assert_problem(408, "request_timeout");
    assert!(app.stored_files().is_empty(), "stored: {:?}", app.stored_files());
}

#[tokio::test]
async fn concurrent_uploads_of_one_document_store_one_content() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let id = create(&app, nurse, c.p1, false).await;
    let path = format!("/api/v1/documents/{id}/content");
    let (one, two) = (pdf(150_000, 5), pdf(150_000, 6));
    let (a, b) = tokio::join!(
        app.put_bytes(nurse, &path, streamed(one.clone(), 8192)),
        app.put_bytes(nurse, &path, streamed(two.clone(), 8192)),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.body, b.body);
    let winner = if a.status.as_u16() == 200 { &one } else { &two };
    let (_, _, body) = download(&app, nurse, id).await;
    assert!(body == *winner);
    assert_eq!(app.stored_files().len(), 1, "the loser's object was removed");
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_deleted_document_is_a_tombstone_whose_object_a_job_removes() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (nurse, admin) = (&c.w.staff_a, &c.w.admin_a);
    let id = create(&app, nurse, c.p1, true).await;
    let path = format!("/api/v1/documents/{id}/content");
    app.put_bytes(nurse, &path, Body::from(pdf(5000, 8))).await.assert_status(200);
    assert_eq!(app.stored_files().len(), 1);

    // Only a facility admin or its creator deletes it; the patient never.
    app.delete(&c.patient1, &format!("/api/v1/documents/{id}")).await.assert_problem(403, "forbidden");
    app.assign(admin, c.p1, &c.nurse_a2).await;
    app.delete(&c.nurse_a2, &format!("/api/v1/documents/{id}")).await.assert_problem(403, "forbidden");
    let res = app
        .client
        .delete(format!("/api/v1/documents/{id}"))
        .header("authorization", format!("Bearer {}", nurse.token))
        .header("x-change-reason", "uploaded to the wrong chart")
        .send()
        .await;
    crate::helpers::read(res).await.assert_status(204);
    // Again: nothing more to do.
    app.delete(nurse, &format!("/api/v1/documents/{id}")).await.assert_status(204);

    let doc = app.get(admin, &format!("/api/v1/documents/{id}")).await;
    let doc: Value = doc.assert_status(200).body.clone();
    assert_eq!(
        (doc["status"].as_str(), doc["deletedBy"].as_str()),
        (Some("deleted"), Some(&*nurse.id.to_string()))
    );
    let (status, _, _) = download(&app, admin, id).await;
    assert_eq!(status, 404, "a tombstone has no content");
    app.get(&c.patient1, &format!("/api/v1/documents/{id}")).await.assert_status(404);
    app.put_bytes(nurse, &path, Body::from(pdf(10, 1))).await.assert_problem(409, "document_closed");

    // The removal job takes the object away and marks the tombstone.
    wait_for("the object's removal", async || app.stored_files().is_empty()).await;
    let su = app.superuser().await;
    wait_for("the removal mark", async || {
        su.query_one("select object_removed_at is not null from documents where id = $1", &[&id])
            .await
            .unwrap()
            .get(0)
    })
    .await;
    let reason: Option<String> = su
        .query_one(
            "select reason from audit_log where entity_type = 'documents' and entity_id = $1
               and new_values ->> 'status' = 'deleted' and old_values ->> 'status' = 'ready'",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reason.as_deref(), Some("uploaded to the wrong chart"));
}

#[tokio::test]
async fn the_sweep_removes_old_orphaned_objects_and_nothing_a_document_uses() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let id = create(&app, nurse, c.p1, false).await;
    app.put_bytes(nurse, &format!("/api/v1/documents/{id}/content"), Body::from(pdf(3000, 2)))
        .await
        .assert_status(200);
    let live = app.stored_files().pop().unwrap();
    // An upload whose server died before it was recorded, one still in flight, and a file
    // that is not ours.
    let root = &app.documents_dir;
    let orphan = root.join(format!("facilities/{}/documents/{}/0a1b2c", c.w.a, Uuid::new_v4()));
    let fresh = root.join(format!("facilities/{}/documents/{}/3d4e5f", c.w.a, Uuid::new_v4()));
    let foreign = root.join("facilities/notes.txt");
    for path in [&orphan, &fresh, &foreign] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"%PDF-1.7 orphan").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for path in [&orphan, &live, &foreign] {
        std::fs::File::options().write(true).open(path).unwrap().set_modified(two_hours_ago).unwrap();
    }

    // Today's sweep ran when the worker started; run it again, as tomorrow would.
    let su = app.superuser().await;
    su.batch_execute(
        "update jobs set finished_at = null, outcome = null, run_at = now(), attempts = 0
          where kind = 'document_sweep';
         notify carego_jobs",
    )
    .await
    .unwrap();
    wait_for("the sweep", async || !orphan.exists()).await;
    let outcome: Option<String> =
        su.query_one("select outcome from jobs where kind = 'document_sweep'", &[]).await.unwrap().get(0);
    assert_eq!(outcome.as_deref(), Some("done"));
    assert!(live.exists(), "the document's own object stays");
    assert!(fresh.exists(), "an object younger than the grace period may be an upload in flight");
    assert!(foreign.exists(), "what the server did not write is not its to remove");
    let (status, _, _) = download(&app, nurse, id).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_document_damaged_in_storage_is_never_served_whole() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let id = create(&app, nurse, c.p1, false).await;
    let bytes = pdf(100_000, 3);
    app.put_bytes(nurse, &format!("/api/v1/documents/{id}/content"), Body::from(bytes.clone()))
        .await
        .assert_status(200);
    // One byte flipped on disk, the length unchanged.
    let file = app.stored_files().pop().unwrap();
    let mut damaged = bytes.clone();
    damaged[50_000] ^= 0xff;
    std::fs::write(&file, &damaged).unwrap();

    let resp = app
        .client
        .get(format!("/api/v1/documents/{id}/content"))
        .header("authorization", format!("Bearer {}", nurse.token))
        .send()
        .await
        .0;
    assert_eq!(resp.status(), 200, "the check can only end the transfer, not its headers");
    let read = resp.into_body().into_vec().await;
    assert!(
        read.is_err(),
        "the damaged content was served whole ({} bytes)",
        read.map(|b| b.len()).unwrap_or(0)
    );
}

#[tokio::test]
async fn a_filed_progress_report_is_rendered_by_a_job_as_the_requester_and_shared() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let id = Uuid::new_v4();
    let body = json!({"id": id, "from": "2026-11-01", "to": "2026-11-20", "visibleToPatient": true});
    let path = format!("/api/v1/patients/{}/reports/progress", c.p1);
    let res = app.post(nurse, &path, body.clone()).await;
    let doc = res.assert_status(202).body.clone();
    assert_eq!(
        (doc["kind"].as_str(), doc["title"].as_str()),
        (Some("progress_report"), Some("Progress report 2026-11-01 to 2026-11-20"))
    );
    // A retry files it once; the same id for another period is refused.
    app.post(nurse, &path, body).await.assert_status(200);
    let other = json!({"id": id, "from": "2026-10-01", "to": "2026-11-20"});
    app.post(nurse, &path, other).await.assert_problem(409, "record_id_taken");
    let bad = json!({"id": Uuid::new_v4(), "from": "2026-11-20", "to": "2026-11-01"});
    app.post(nurse, &path, bad).await.assert_problem(400, "validation_failed");

    // The job renders it and stores it; the patient it is shared with downloads a PDF.
    wait_for("the rendered report", async || {
        app.get(nurse, &format!("/api/v1/documents/{id}")).await.body["status"] == "ready"
    })
    .await;
    let (status, headers, pdf) = download(&app, &c.patient1, id).await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (200, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"Progress report 2026-11-01 to 2026-11-20.pdf\""
    );
    let su = app.superuser().await;
    let jobs: Vec<(String, i32)> = su
        .query("select outcome, attempts from jobs where kind = 'progress_report'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(jobs, [("done".to_owned(), 1)], "one job for the retried request");
    // It ran as the nurse who asked: her read of the chart is in the audit log under the job.
    let reads: i64 = su
        .query_one(
            "select count(*) from audit_log where action = 'read' and entity_type = 'patients'
               and entity_id = $1 and actor_id = $2 and request_id like 'job-%'",
            &[&c.p1, &nurse.id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(reads >= 1, "the job's read of the chart is audited as the requester's");
}

#[tokio::test]
async fn a_report_whose_requester_was_suspended_is_not_rendered_in_their_name() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (nurse, admin) = (&c.w.staff_a, &c.w.admin_a);
    let body = json!({"id": Uuid::new_v4(), "kind": "progress_report", "title": "Progress report"});
    let res = app.post(nurse, &format!("/api/v1/patients/{}/documents", c.p1), body).await;
    let id: Uuid = res.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let res = app
        .post(
            admin,
            &format!("/api/v1/users/{}/status", nurse.id),
            json!({"status": "suspended", "reason": "test"}),
        )
        .await;
    res.assert_status(200);
    // Her rendering job, queued before the suspension, comes due now.
    let su = app.superuser().await;
    let payload = json!({"documentId": id, "patientId": c.p1, "from": "2026-11-01", "to": "2026-11-20"});
    su.execute(
        "insert into jobs (facility_id, kind, payload, requested_by) values ($1, 'progress_report', $2, $3)",
        &[&c.w.a, &payload, &nurse.id],
    )
    .await
    .unwrap();
    su.batch_execute("notify carego_jobs").await.unwrap();
    wait_for("the job to settle", async || {
        su.query_one("select finished_at is not null from jobs where kind = 'progress_report'", &[])
            .await
            .unwrap()
            .get(0)
    })
    .await;
    let outcome: String =
        su.query_one("select outcome from jobs where kind = 'progress_report'", &[]).await.unwrap().get(0);
    assert_eq!(outcome, "skipped", "a suspended requester's queued work does not run in their name");
    // Nobody waits on it: it is marked failed, takes no content, and can be cleared away.
    wait_for("the document marked failed", async || {
        app.get(admin, &format!("/api/v1/documents/{id}")).await.body["status"] == "failed"
    })
    .await;
    assert!(app.stored_files().is_empty());
    let path = format!("/api/v1/documents/{id}/content");
    app.put_bytes(admin, &path, Body::from(pdf(100, 1))).await.assert_problem(409, "document_closed");
    app.delete(admin, &format!("/api/v1/documents/{id}")).await.assert_status(204);
    assert_eq!(app.get(admin, &format!("/api/v1/documents/{id}")).await.body["status"], "deleted");
}

#[tokio::test]
async fn an_attachment_refers_to_a_document_that_each_reader_opens_with_their_own_rights() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let (shared, private) = (create(&app, nurse, c.p1, true).await, create(&app, nurse, c.p1, false).await);
    for id in [shared, private] {
        let path = format!("/api/v1/documents/{id}/content");
        app.put_bytes(nurse, &path, Body::from(pdf(2000, 1))).await.assert_status(200);
    }
    let res =
        app.post(nurse, "/api/v1/conversations", json!({"kind": "direct", "members": [c.patient1.id]})).await;
    let conversation = res.assert_status(201).body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{conversation}/messages");

    let message = json!({"id": Uuid::new_v4(), "body": "Your results.", "attachments": [shared, private]});
    let sent = app.post(nurse, &path, message.clone()).await;
    assert_eq!(sent.assert_status(201).body["attachments"], json!([shared, private]));
    app.post(nurse, &path, message.clone()).await.assert_status(200);
    let mut changed = message.clone();
    changed["attachments"] = json!([shared]);
    app.post(nurse, &path, changed).await.assert_problem(409, "record_id_taken");

    // The patient sees both references; she opens only what is shared with her.
    let read = app.get(&c.patient1, &path).await;
    assert_eq!(read.assert_status(200).items()[0]["attachments"], json!([shared, private]));
    assert_eq!(download(&app, &c.patient1, shared).await.0, 200);
    assert_eq!(download(&app, &c.patient1, private).await.0, 404, "attaching widened nobody's rights");

    // One can attach only what one can see; a retraction attaches nothing.
    let b_doc = create(&app, &c.w.staff_b, c.pb, true).await;
    for (who, actor, doc) in [("her", &c.patient1, private), ("facility B's", nurse, b_doc)] {
        let body = json!({"id": Uuid::new_v4(), "body": "See this.", "attachments": [doc]});
        let res = app.post(actor, &path, body).await;
        assert_eq!(res.status.as_u16(), 404, "attaching {who} unseen document: {}", res.body);
    }
    let body = json!({"id": Uuid::new_v4(), "kind": "retraction", "refersTo": message["id"], "attachments": [shared]});
    app.post(nurse, &path, body).await.assert_problem(400, "validation_failed");
    assert_eq!(app.count("message_attachments").await, 2);
}
