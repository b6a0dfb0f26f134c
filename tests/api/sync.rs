//! Offline sync: an app queues records while offline, sends them as one
//! batch (as often as it likes), and pulls what changed since its cursor. The
//! cursor is the audit chain's per-facility number, so a transaction that
//! commits late is never stepped past.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

/// A queue of `n` records of every kind, as an offline app would hold them.
fn offline_queue(patient: Uuid, n: usize) -> Vec<Value> {
    let today = Utc::now().date_naive();
    (0..n)
        .map(|i| {
            let at = (Utc::now() - Duration::minutes(i as i64 * 7)).to_rfc3339();
            match i % 10 {
                0..=3 => json!({"type": "check_in", "patientId": patient,
                                "checkIn": {"id": Uuid::new_v4(), "checkedInAt": at, "mood": 1 + (i % 10) as i64,
                                            "lonely": i % 2 == 0, "sleepHours": 6.5}}),
                4..=6 => json!({"type": "craving", "patientId": patient,
                                "craving": {"id": Uuid::new_v4(), "occurredAt": at, "intensity": 5,
                                            "outcome": if i % 3 == 0 { "used" } else { "resisted" }}}),
                7 | 8 => json!({"type": "meeting", "patientId": patient,
                                "meeting": {"id": Uuid::new_v4(), "kind": "na", "attendedOn": today}}),
                _ => json!({"type": "sobriety_reset", "patientId": patient,
                            "sobrietyReset": {"id": Uuid::new_v4(), "since": today - Duration::days(i as i64),
                                              "reason": format!("entry {i}")}}),
            }
        })
        .collect()
}

/// Pulls every page after `since`; the items and the last cursor.
async fn pull(app: &TestApp, who: &Actor, since: &str) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut cursor = since.to_owned();
    loop {
        let res = app.get(who, &format!("/api/v1/sync/changes?since={cursor}&limit=20")).await;
        res.assert_status(200);
        items.extend(res.items().iter().cloned());
        let next = res.body["nextCursor"].as_str().unwrap().to_owned();
        assert!(next.parse::<i64>().unwrap() >= cursor.parse::<i64>().unwrap(), "the cursor never goes back");
        cursor = next;
        if res.body["hasMore"] == false {
            return (items, cursor);
        }
    }
}

fn ids_of(items: &[Value], kind: &str) -> Vec<String> {
    items.iter().filter(|i| i["type"] == kind).map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_offline_queue_of_50_replayed_twice_is_stored_once_and_pulled_across_a_late_commit() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (_, start) = pull(&app, &c.patient1, "0").await;

    // Offline: 50 records queue up. Online: the batch goes out, and again
    // (the app never saw the answer), and again.
    let queue = offline_queue(c.p1, 50);
    let batch = json!({"records": queue});
    let first = app.post(&c.patient1, "/api/v1/sync/batch", batch.clone()).await;
    first.assert_status(200);
    assert_eq!(
        (first.body["created"].clone(), first.body["replayed"].clone()),
        (json!(50), json!(0)),
        "{}",
        first.body
    );
    for _ in 0..2 {
        let again = app.post(&c.patient1, "/api/v1/sync/batch", batch.clone()).await;
        assert_eq!((again.body["created"].clone(), again.body["replayed"].clone()), (json!(0), json!(50)));
        let statuses: Vec<&Value> =
            again.body["results"].as_array().unwrap().iter().map(|r| &r["status"]).collect();
        assert!(statuses.iter().all(|s| *s == "replayed"));
    }
    let stored = [
        app.count("check_ins").await,
        app.count("cravings").await,
        app.count("meetings").await,
        app.count("sobriety_resets").await,
    ];
    assert_eq!(stored, [20, 15, 10, 5], "every record once");

    // The pull returns each record once; the patient (the resets moved
    // their date) at most once a page, the last time at its latest version.
    let (items, cursor) = pull(&app, &c.patient1, &start).await;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for item in &items {
        *kinds.entry(item["type"].as_str().unwrap().to_owned()).or_default() += 1;
        assert_eq!(item["action"], "upsert");
    }
    let patients = kinds.remove("patient").unwrap_or_default();
    assert!((1..=3).contains(&patients), "50 changes in pages of 20: {patients}");
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("check_in".into(), 20),
            ("craving".into(), 15),
            ("meeting".into(), 10),
            ("sobriety_reset".into(), 5)
        ])
    );
    let patient = items.iter().rev().find(|i| i["type"] == "patient").unwrap();
    let last_reset = queue.iter().rev().find(|r| r["type"] == "sobriety_reset").unwrap();
    assert_eq!(
        patient["patient"]["sobrietyDate"], last_reset["sobrietyReset"]["since"],
        "the latest version"
    );
    let queued: Vec<String> = queue
        .iter()
        .filter(|r| r["type"] == "check_in")
        .map(|r| r["checkIn"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids_of(&items, "check_in"), queued, "in commit order");
    let (nothing, same) = pull(&app, &c.patient1, &cursor).await;
    assert!(nothing.is_empty());
    assert_eq!(same, cursor, "an empty pull keeps the cursor");

    // A slow transaction (the nurse's, begun first, so its rows carry an
    // earlier `now()`) writes after a fast one has committed and been pulled.
    let slow = app.open_as(&c.w.staff_a, "carego_staff", "staff").await;
    let slow_started: DateTime<Utc> = slow.query_one("select now()", &[]).await.unwrap().get(0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let fast = Uuid::new_v4();
    app.post(&c.patient1, &format!("/api/v1/patients/{}/check-ins", c.p1), json!({"id": fast, "mood": 8}))
        .await
        .assert_status(201);
    let (seen, after_fast) = pull(&app, &c.patient1, &cursor).await;
    assert_eq!(ids_of(&seen, "check_in"), [fast.to_string()]);
    let late = Uuid::new_v4();
    slow.execute(
        "insert into check_ins (id, patient_id, facility_id, checked_in_at, mood) values ($1, $2, $3, now(), 3)",
        &[&late, &c.p1, &c.w.a],
    )
    .await
    .unwrap();
    slow.batch_execute("commit").await.unwrap();
    let (seen, _) = pull(&app, &c.patient1, &after_fast).await;
    assert_eq!(ids_of(&seen, "check_in"), [late.to_string()], "the late commit is not skipped");
    let late_at: DateTime<Utc> = seen[0]["checkIn"]["recordedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(late_at, slow_started);
    let su = app.superuser().await;
    let fast_at: DateTime<Utc> =
        su.query_one("select recorded_at from check_ins where id = $1", &[&fast]).await.unwrap().get(0);
    assert!(late_at < fast_at, "a cursor on recorded_at would have stepped past it");
}

#[tokio::test]
async fn a_writer_holding_the_chain_blocks_the_next_and_a_pull_between_sees_neither() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (_, start) = pull(&app, &c.patient1, "0").await;
    let slow = app.open_as(&c.w.staff_a, "carego_staff", "staff").await;
    let first = Uuid::new_v4();
    slow.execute(
        "insert into check_ins (id, patient_id, facility_id, checked_in_at, mood) values ($1, $2, $3, now(), 3)",
        &[&first, &c.p1, &c.w.a],
    )
    .await
    .unwrap();
    // The next writer of the facility waits for the chain's lock.
    let second = Uuid::new_v4();
    let path = format!("/api/v1/patients/{}/check-ins", c.p1);
    let writer = app.post(&c.patient1, &path, json!({"id": second, "mood": 9}));
    let (res, (seen, cursor)) = tokio::join!(writer, async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let between = pull(&app, &c.patient1, &start).await;
        slow.batch_execute("commit").await.unwrap();
        between
    });
    res.assert_status(201);
    assert!(seen.is_empty(), "nothing is visible before the first commit: {seen:?}");
    assert_eq!(cursor, start);
    let (seen, _) = pull(&app, &c.patient1, &cursor).await;
    assert_eq!(ids_of(&seen, "check_in"), [first.to_string(), second.to_string()], "in commit order");
}

#[tokio::test]
async fn a_patient_out_of_sight_is_a_tombstone_and_nobody_else_sees_anything() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let (before, cursor) = pull(&app, nurse, "0").await;
    assert!(ids_of(&before, "patient").contains(&c.p1.to_string()), "the nurse's patient syncs");
    let path = format!("/api/v1/patients/{}/check-ins", c.p1);
    app.post(&c.patient1, &path, json!({"id": Uuid::new_v4(), "mood": 5})).await.assert_status(201);

    // Outsiders pull everything from the beginning and meet nothing of patient 1.
    for outsider in [&c.nurse_a2, &c.patient2, &c.w.staff_b, &c.w.admin_b, &c.patient_b] {
        let (items, _) = pull(&app, outsider, "0").await;
        let text = serde_json::to_string(&items).unwrap();
        assert!(!text.contains(&c.p1.to_string()), "{}: {text}", outsider.email);
    }
    // A super admin belongs to no facility: there is no feed for them.
    app.get(&c.w.sa, "/api/v1/sync/changes").await.assert_problem(403, "forbidden");

    // The nurse's assignment ends: the next pull says to forget the patient.
    let team = app.get(&c.w.admin_a, &format!("/api/v1/patients/{}/assignments", c.p1)).await;
    let assignment = team.items()[0]["id"].as_str().unwrap().to_owned();
    app.post(&c.w.admin_a, &format!("/api/v1/assignments/{assignment}/end"), json!({}))
        .await
        .assert_status(200);
    let (items, after) = pull(&app, nurse, &cursor).await;
    let tombstones: Vec<&Value> = items.iter().filter(|i| i["action"] == "tombstone").collect();
    assert_eq!(tombstones.len(), 1, "{items:?}");
    assert_eq!((tombstones[0]["type"].clone(), tombstones[0]["id"].clone()), (json!("patient"), json!(c.p1)));
    assert!(
        items.iter().all(|i| i["action"] == "tombstone"),
        "nothing more of a patient out of sight: {items:?}"
    );
    // Their later records do not reach the nurse, not even as tombstones.
    app.post(&c.patient1, &path, json!({"id": Uuid::new_v4(), "mood": 6})).await.assert_status(201);
    let (items, _) = pull(&app, nurse, &after).await;
    assert!(items.is_empty(), "{items:?}");

    // The admin sees the whole facility, and a removed patient as a tombstone.
    let (all, admin_cursor) = pull(&app, &c.w.admin_a, "0").await;
    assert!(ids_of(&all, "check_in").len() == 2 && ids_of(&all, "patient").contains(&c.p2.to_string()));
    app.delete(&c.w.admin_a, &format!("/api/v1/patients/{}", c.p2)).await.assert_status(204);
    let (items, _) = pull(&app, &c.w.admin_a, &admin_cursor).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!((items[0]["action"].clone(), items[0]["id"].clone()), (json!("tombstone"), json!(c.p2)));
}

#[tokio::test]
async fn each_record_of_a_batch_stands_alone() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let taken = Uuid::new_v4();
    app.post(&c.patient1, &format!("/api/v1/patients/{}/check-ins", c.p1), json!({"id": taken, "mood": 5}))
        .await
        .assert_status(201);
    let good = Uuid::new_v4();
    let batch = json!({"records": [
        {"type": "check_in", "patientId": c.p1, "checkIn": {"id": good, "mood": 7}},
        {"type": "check_in", "patientId": c.p2, "checkIn": {"id": Uuid::new_v4(), "mood": 4}},
        {"type": "check_in", "patientId": c.p1, "checkIn": {"id": taken, "mood": 1}},
        {"type": "craving", "patientId": c.p1, "checkIn": {"id": Uuid::new_v4(), "mood": 4}},
        {"type": "meeting", "patientId": c.p1,
         "meeting": {"id": Uuid::new_v4(), "kind": "aa", "attendedOn": Utc::now().date_naive() + Duration::days(5)}},
    ]});
    let res = app.post(&c.patient1, "/api/v1/sync/batch", batch).await;
    res.assert_status(200);
    let results = res.body["results"].as_array().unwrap();
    let summary: Vec<(String, Value)> = results
        .iter()
        .map(|r| (r["status"].as_str().unwrap().to_owned(), r["problem"]["status"].clone()))
        .collect();
    let expected = [
        ("created", Value::Null),
        ("rejected", json!(404)),
        ("rejected", json!(409)),
        ("rejected", json!(400)),
        ("rejected", json!(400)),
    ];
    let expected: Vec<(String, Value)> = expected.iter().map(|(s, p)| (s.to_string(), p.clone())).collect();
    assert_eq!(summary, expected, "{}", res.body);
    assert_eq!((res.body["created"].clone(), res.body["rejected"].clone()), (json!(1), json!(4)));
    let fields = |i: usize| -> Vec<String> {
        let errors = results[i]["problem"]["errors"].as_array().unwrap();
        errors.iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(fields(3), ["records[3].checkIn", "records[3].craving"]);
    assert_eq!(fields(4), ["records[4].meeting.attendedOn"]);
    assert_eq!(results[0]["id"], good.to_string());
    assert_eq!(app.count("check_ins").await, 2, "only the good record was added");

    // A record that does not fit the schema is the client's bug: the whole
    // batch is a 400 naming every such record, and nothing is recorded.
    let batch = json!({"records": [
        {"type": "check_in", "patientId": c.p1, "checkIn": {"id": Uuid::new_v4(), "mood": 6}},
        {"type": "check_in", "patientId": c.p1, "checkIn": {"id": Uuid::new_v4(), "mood": 11}},
        {"type": "diary", "patientId": c.p1},
    ]});
    let res = app.post(&c.patient1, "/api/v1/sync/batch", batch).await;
    res.assert_problem(400, "validation_failed");
    let fields: Vec<&str> =
        res.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"records[1].checkIn.mood") && fields.contains(&"records[2].type"), "{fields:?}");
    assert_eq!(app.count("check_ins").await, 2);

    // The envelope is checked as a whole.
    let empty = app.post(&c.patient1, "/api/v1/sync/batch", json!({"records": []})).await;
    empty.assert_problem(400, "validation_failed");
    let many: Vec<Value> = offline_queue(c.p1, 101);
    let res = app.post(&c.patient1, "/api/v1/sync/batch", json!({"records": many})).await;
    res.assert_problem(400, "validation_failed");
    assert_eq!(res.body["errors"][0]["field"], "records");
    app.get(&c.patient1, "/api/v1/sync/changes?since=-1").await.assert_problem(400, "validation_failed");
    assert_eq!(app.count("check_ins").await, 2);
}

#[tokio::test]
async fn goals_progress_and_doses_sync_both_ways_and_a_batch_may_build_on_itself() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let rx = json!({"drug": "Naltrexone", "dose": "50 mg", "route": "oral", "schedule": "daily",
                    "startsOn": "2026-11-01", "prescriber": "Dr. M"});
    let rx = app.post(&c.w.staff_a, &format!("/api/v1/patients/{}/prescriptions", c.p1), rx).await;
    let rx = rx.assert_status(201).body["id"].as_str().unwrap().to_owned();
    let (goal, entry, dose) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    // The progress entry refers to the goal the same batch creates first.
    let batch = json!({"records": [
        {"type": "goal", "patientId": c.p1, "goal": {"id": goal, "category": "health", "description": "Walk daily"}},
        {"type": "goal_progress", "patientId": c.p1,
         "goalProgress": {"id": entry, "goalId": goal, "note": "2 km", "progressPct": 10}},
        {"type": "dose_event", "patientId": c.p1,
         "doseEvent": {"id": dose, "prescriptionId": rx, "status": "refused", "scheduledAt": "2026-11-20T08:00:00Z",
                       "notes": "felt sick"}},
    ]});
    let res = app.post(&c.patient1, "/api/v1/sync/batch", batch.clone()).await;
    assert_eq!(res.assert_status(200).body["created"], 3, "{}", res.body);
    let again = app.post(&c.patient1, "/api/v1/sync/batch", batch).await;
    assert_eq!(again.body["replayed"], 3);

    for who in [&c.patient1, &c.w.staff_a] {
        let (items, _) = pull(&app, who, "0").await;
        assert_eq!(ids_of(&items, "prescription"), [rx.as_str()]);
        assert_eq!(ids_of(&items, "goal"), [goal.to_string()]);
        assert_eq!(ids_of(&items, "goal_progress"), [entry.to_string()]);
        assert_eq!(ids_of(&items, "dose_event"), [dose.to_string()]);
        let g = items.iter().find(|i| i["type"] == "goal").unwrap();
        assert_eq!(g["goal"]["progressPct"], 10);
        let d = items.iter().find(|i| i["type"] == "dose_event").unwrap();
        assert_eq!(d["doseEvent"]["notes"], "felt sick");
    }
    let (items, _) = pull(&app, &c.patient2, "0").await;
    assert!(ids_of(&items, "goal").is_empty() && ids_of(&items, "prescription").is_empty());
}

#[tokio::test]
async fn a_batch_whose_session_has_ended_fails_whole_with_401() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let record = |mood: i64| json!({"type": "check_in", "patientId": c.p1, "checkIn": {"id": Uuid::new_v4(), "mood": mood}});
    let batch = json!({"records": [record(5), record(6), record(7)]});
    // The token still verifies; the prologue finds the session gone. That is
    // the request's failure, not the first record's.
    app.post(&c.patient1, "/api/v1/auth/logout", json!({})).await;
    let res = app.post(&c.patient1, "/api/v1/sync/batch", batch).await;
    res.assert_problem(401, "session_invalid");
    assert_eq!(app.count("check_ins").await, 0);
}
