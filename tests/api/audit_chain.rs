//! The audit log is a per-facility hash chain: concurrent writers cannot fork
//! it, and a tampered row is named by verification.

use carego::domain::ids::FacilityId;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn concurrent_writes_across_two_facilities_leave_both_chains_valid() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let writes = (0..24).map(|i| {
        let (nurse, patient) = if i % 2 == 0 { (&c.w.staff_a, c.p1) } else { (&c.w.staff_b, c.pb) };
        let app = &app;
        async move {
            app.post(
                nurse,
                &format!("/api/v1/patients/{patient}/care-logs"),
                json!({"kind": "note", "body": format!("entry {i}")}),
            )
            .await
            .assert_status(201);
        }
    });
    futures::future::join_all(writes).await;

    for (admin, facility) in [(&c.w.admin_a, c.w.a), (&c.w.admin_b, c.w.b)] {
        let res = app.get(admin, "/api/v1/audit-logs/verify").await;
        assert_eq!(res.assert_status(200).body["ok"], true, "{facility}: {}", res.body);
        assert!(res.body["checked"].as_i64().unwrap() > 12);
        res.assert_absent("firstBrokenId");
        let sa = app.get(&c.w.sa, &format!("/api/v1/audit-logs/verify?facilityId={facility}")).await;
        assert_eq!(sa.body, res.body);
    }
    // Every chain, the platform's included, as the operator's CLI sees them.
    let mut tx = app.db.begin_system("test").await.unwrap();
    for chain in [None, Some(FacilityId(c.w.a)), Some(FacilityId(c.w.b))] {
        let v = carego::db::audit::verify(&mut tx, chain).await.unwrap();
        assert!(v.ok, "{chain:?}: {v:?}");
    }
    tx.commit().await.unwrap();
    let su = app.superuser().await;
    let gaps: i64 = su
        .query_one(
            "select count(*) from (select chain_seq - lag(chain_seq)
                                    over (partition by facility_id, chain_lane order by chain_seq) as step
               from audit_log) s where step <> 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(gaps, 0, "each lane of each chain is numbered without gaps or forks");
}

#[tokio::test]
async fn a_tampered_audit_row_is_named_by_verification() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let before = app.get(&c.w.admin_a, "/api/v1/audit-logs/verify").await;
    assert_eq!(before.body["ok"], true);

    // A rogue owner switches off the guards and rewrites history.
    let owner = app.connect_as("carego_owner").await;
    let victim: uuid::Uuid = owner
        .query_one(
            "select id from audit_log where facility_id = $1 and entity_type = 'patients' order by chain_seq limit 1",
            &[&c.w.a],
        )
        .await
        .unwrap()
        .get(0);
    owner
        .batch_execute(
            "alter table audit_log disable trigger audit_log_append_only;
             alter table audit_log no force row level security;",
        )
        .await
        .unwrap();
    let changed = owner
        .execute(
            "update audit_log set new_values = jsonb_set(new_values, '{first_name}', '\"Forged\"') where id = $1",
            &[&victim],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1, "the rogue edit happened");
    owner
        .batch_execute(
            "alter table audit_log force row level security;
             alter table audit_log enable trigger audit_log_append_only;",
        )
        .await
        .unwrap();

    let after = app.get(&c.w.admin_a, "/api/v1/audit-logs/verify").await;
    assert_eq!(after.body["ok"], false);
    assert_eq!(after.body["firstBrokenId"], victim.to_string());
    // The other facility's chain is unaffected.
    assert_eq!(app.get(&c.w.admin_b, "/api/v1/audit-logs/verify").await.body["ok"], true);
}

#[tokio::test]
async fn audit_logs_filter_and_page() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/audit-logs?entityType=patients&entityId={}&limit=2", c.p1);
    let mut seen = 0;
    let mut next = Some(path.clone());
    while let Some(p) = next {
        let page = app.get(&c.w.admin_a, &p).await;
        page.assert_status(200);
        for e in page.items() {
            assert_eq!(e["entityId"], c.p1.to_string());
            assert_eq!(e["entityType"], "patients");
        }
        seen += page.items().len();
        next = page.body["nextCursor"].as_str().map(|cur| format!("{path}&cursor={cur}"));
    }
    assert!(seen >= 2, "creation and registration link, at least: {seen}");
    let reads =
        app.get(&c.w.admin_a, &format!("/api/v1/audit-logs?action=read&actorId={}", c.w.admin_a.id)).await;
    assert!(reads.assert_status(200).items().iter().all(|e| e["action"] == "read"));
}

/// The audit rows of `entity` reads by `actor`, each as its named ids.
async fn reads_of(app: &TestApp, entity: &str, actor: uuid::Uuid) -> Vec<Vec<String>> {
    let su = app.superuser().await;
    let rows = su
        .query(
            "select coalesce(array(select jsonb_array_elements_text(new_values -> 'ids')), '{}')
               from audit_log where action = 'read' and entity_type = $1 and actor_id = $2
              order by chain_seq",
            &[&entity, &actor],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn reads_of_messages_alerts_documents_leads_and_accounts_leave_one_row_per_request() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (admin, nurse) = (&c.w.admin_a, &c.w.staff_a);

    // Messages: the nurse reads a page of two; the patient reading her own
    // conversation leaves no row.
    let res = app
        .post(&c.patient1, "/api/v1/conversations", json!({"kind": "direct", "members": [nurse.id]}))
        .await;
    let conversation = res.assert_status(201).body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{conversation}/messages");
    for text in ["first", "second"] {
        app.post(&c.patient1, &path, json!({"id": uuid::Uuid::new_v4(), "body": text}))
            .await
            .assert_status(201);
    }
    let page = app.get(nurse, &path).await;
    let ids: Vec<String> = page.items().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(reads_of(&app, "messages", nurse.id).await, vec![ids]);
    app.get(&c.patient1, &path).await.assert_status(200);
    assert!(reads_of(&app, "messages", c.patient1.id).await.is_empty());

    // A crisis alert, listed and then read on its own.
    let alert = uuid::Uuid::new_v4();
    let body = json!({"id": alert, "severity": "high", "location": "Garden", "note": "Panic"});
    app.post(&c.patient1, &format!("/api/v1/patients/{}/crisis-alerts", c.p1), body).await.assert_status(201);
    app.get(nurse, "/api/v1/crisis-alerts").await.assert_status(200);
    app.get(nurse, &format!("/api/v1/crisis-alerts/{alert}")).await.assert_status(200);
    assert_eq!(reads_of(&app, "crisis_alerts", nurse.id).await, vec![vec![alert.to_string()]; 2]);

    // A document's record.
    let document = uuid::Uuid::new_v4();
    let body = json!({"id": document, "kind": "lab_result", "title": "Panel", "visibleToPatient": true});
    app.post(nurse, &format!("/api/v1/patients/{}/documents", c.p1), body).await.assert_status(201);
    app.get(nurse, &format!("/api/v1/documents/{document}")).await.assert_status(200);
    assert_eq!(reads_of(&app, "documents", nurse.id).await, vec![vec![document.to_string()]]);

    // Leads, as the super admin sees the platform's.
    let lead = app.submit_lead(json!({"leadType": "training", "name": "Ravi", "phone": "9810000002"})).await;
    app.get(&c.w.sa, "/api/v1/leads").await.assert_status(200);
    app.get(&c.w.sa, &format!("/api/v1/leads/{lead}")).await.assert_status(200);
    assert_eq!(reads_of(&app, "leads", c.w.sa.id).await, vec![vec![lead.to_string()]; 2]);

    // Accounts: a page of the facility's users is one row naming them all.
    let users = app.get(admin, "/api/v1/users").await;
    let ids: Vec<String> = users.items().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect();
    assert!(ids.len() >= 4, "{ids:?}");
    app.get(admin, &format!("/api/v1/users/{}", nurse.id)).await.assert_status(200);
    assert_eq!(reads_of(&app, "users", admin.id).await, vec![ids, vec![nurse.id.to_string()]]);
}
