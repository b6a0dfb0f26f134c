//! What patients log from their app and their care team logs for them:
//! check-ins, cravings, meetings and sobriety resets. Each record carries the
//! client's id, so a retry is a replay and never a second row.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_record_sent_twice_is_stored_once_and_the_same_id_with_other_content_is_refused() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}/check-ins", c.p1);
    let id = Uuid::new_v4();
    // Nanoseconds and a sleep figure past a tenth: stored as PostgreSQL keeps
    // them, and a retry with the very same body still compares equal.
    let body = json!({"id": id, "checkedInAt": "2026-11-20T08:30:00.123456789Z", "mood": 6, "tired": true,
                      "sleepHours": 7.25, "cravingIntensity": 2, "notes": "ok"});
    let first = app.post(&c.patient1, &path, body.clone()).await;
    first.assert_status(201);
    assert_eq!(first.body["id"], id.to_string());
    assert_eq!(first.body["recordedBy"], c.patient1.id.to_string(), "the author is the caller");
    assert_eq!(first.body["sleepHours"], 7.3);
    assert_eq!(first.body["hungry"], false, "HALT fields default to false");
    first.assert_absent("patient");

    let again = app.post(&c.patient1, &path, body.clone()).await;
    again.assert_status(200);
    assert_eq!(again.body, first.body, "a replay answers the stored row");
    assert_eq!(app.count("check_ins").await, 1);

    let mut changed = body.clone();
    changed["mood"] = json!(2);
    app.post(&c.patient1, &path, changed).await.assert_problem(409, "record_id_taken");
    // The same id and content for another patient is another record.
    let mut elsewhere = body.clone();
    elsewhere["checkedInAt"] = json!("2026-11-20T08:30:00.123456Z");
    let other = format!("/api/v1/patients/{}/check-ins", c.p2);
    app.post(&c.w.admin_a, &other, elsewhere).await.assert_problem(409, "record_id_taken");
    assert_eq!(app.count("check_ins").await, 1);

    // An id held by a row the caller cannot see is refused without showing it.
    let hidden = Uuid::new_v4();
    let p2 = format!("/api/v1/patients/{}/check-ins", c.p2);
    app.post(&c.patient2, &p2, json!({"id": hidden, "mood": 4})).await.assert_status(201);
    let res = app.post(&c.patient1, &path, json!({"id": hidden, "mood": 4})).await;
    res.assert_problem(409, "record_id_taken");
    assert!(!res.body.to_string().contains(&c.p2.to_string()));
    // Another facility has ids of its own: the same uuid is no conflict there.
    let b = format!("/api/v1/patients/{}/check-ins", c.pb);
    app.post(&c.patient_b, &b, json!({"id": hidden, "mood": 4})).await.assert_status(201);
}

#[tokio::test]
async fn patients_and_their_care_team_log_every_kind_and_read_them_back_newest_first() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let p = |what: &str| format!("/api/v1/patients/{}/{what}", c.p1);
    let earlier = (Utc::now() - Duration::hours(3)).to_rfc3339();
    let later = (Utc::now() - Duration::hours(1)).to_rfc3339();
    for (who, at, mood) in [(&c.patient1, &earlier, 4), (&c.w.staff_a, &later, 7)] {
        let res = app
            .post(who, &p("check-ins"), json!({"id": Uuid::new_v4(), "checkedInAt": at, "mood": mood}))
            .await;
        assert_eq!(res.assert_status(201).body["recordedBy"], who.id.to_string());
    }
    let page = app.get(&c.patient1, &format!("{}?limit=1", p("check-ins"))).await;
    assert_eq!(page.items().len(), 1);
    assert_eq!(page.items()[0]["mood"], 7, "newest first");
    let cursor = page.body["nextCursor"].as_str().unwrap();
    let rest = app.get(&c.patient1, &format!("{}?limit=1&cursor={cursor}", p("check-ins"))).await;
    assert_eq!(rest.items()[0]["mood"], 4);
    rest.assert_absent("nextCursor");

    let craving = json!({"id": Uuid::new_v4(), "intensity": 8, "trigger": "payday", "copingStrategy": "walked",
                         "outcome": "resisted"});
    app.post(&c.patient1, &p("cravings"), craving).await.assert_status(201);
    let meeting = json!({"id": Uuid::new_v4(), "kind": "smart", "attendedOn": Utc::now().date_naive()});
    app.post(&c.w.staff_a, &p("meetings"), meeting).await.assert_status(201);
    let cravings = app.get(&c.w.staff_a, &p("cravings")).await;
    assert_eq!(cravings.items()[0]["outcome"], "resisted");
    let meetings = app.get(&c.patient1, &p("meetings")).await;
    assert_eq!(meetings.items()[0]["kind"], "smart");

    // Staff who do not care for the patient, and other patients, see none of it.
    for outsider in [&c.nurse_a2, &c.patient2, &c.w.staff_b] {
        app.get(outsider, &p("check-ins")).await.assert_problem(404, "not_found");
    }
}

#[tokio::test]
async fn a_sobriety_reset_moves_the_start_date_and_keeps_the_one_it_replaced() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}/sobriety", c.p1);
    let before = app.get(&c.patient1, &path).await;
    assert_eq!(before.assert_status(200).body["since"], "2026-01-01");
    assert_eq!(before.body["resets"], 0);
    before.assert_absent("lastResetAt");
    let today = Utc::now().date_naive();
    let days = |d: i64| today - Duration::days(d);
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    assert_eq!(before.body["daysSober"], (today - start).num_days());

    let resets = format!("{path}/resets");
    let first = app
        .post(
            &c.patient1,
            &resets,
            json!({"id": Uuid::new_v4(), "since": days(10), "reason": "drank on my birthday"}),
        )
        .await;
    assert_eq!(first.assert_status(201).body["previousSince"], "2026-01-01");
    let second = app
        .post(
            &c.w.staff_a,
            &resets,
            json!({"id": Uuid::new_v4(), "since": days(3), "reason": "relapse reported"}),
        )
        .await;
    assert_eq!(second.assert_status(201).body["previousSince"], days(10).to_string());

    let now = app.get(&c.w.staff_a, &path).await;
    assert_eq!(now.body["since"], days(3).to_string());
    assert_eq!(now.body["daysSober"], 3);
    assert_eq!(now.body["resets"], 2);
    let longest = (days(10) - start).num_days();
    assert_eq!(now.body["longestDays"], longest, "the stretch the first reset ended");
    let patient = app.get(&c.w.staff_a, &format!("/api/v1/patients/{}", c.p1)).await;
    assert_eq!(patient.body["sobrietyDate"], days(3).to_string(), "the chart follows the reset");
    let list = app.get(&c.patient1, &resets).await;
    let reasons: Vec<&Value> = list.items().iter().map(|r| &r["reason"]).collect();
    assert_eq!(reasons, [&json!("relapse reported"), &json!("drank on my birthday")]);
    // The date change is audited with the caller as its actor.
    let su = app.superuser().await;
    let actor: Uuid = su
        .query_one(
            "select actor_id from audit_log where entity_type = 'patients' and entity_id = $1 and action = 'update'
              order by chain_seq desc limit 1",
            &[&c.p1],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(actor, c.w.staff_a.id);
}

#[tokio::test]
async fn bad_records_are_refused_field_by_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let p = |what: &str| format!("/api/v1/patients/{}/{what}", c.p1);
    let id = Uuid::new_v4();
    let future = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let far_day = Utc::now().date_naive() + Duration::days(3);
    for (what, body, field) in [
        ("check-ins", json!({"id": id, "mood": 11}), "mood"),
        ("check-ins", json!({"id": id, "mood": 0}), "mood"),
        ("check-ins", json!({"mood": 5}), "id"),
        ("check-ins", json!({"id": "not-a-uuid", "mood": 5}), "id"),
        ("check-ins", json!({"id": id, "mood": 5, "checkedInAt": future}), "checkedInAt"),
        ("check-ins", json!({"id": id, "mood": 5, "sleepHours": 25}), "sleepHours"),
        ("check-ins", json!({"id": id, "mood": 5, "notes": "a\u{0}b"}), "notes"),
        ("check-ins", json!({"id": id, "mood": 5, "recordedBy": c.w.staff_a.id}), "recordedBy"),
        ("cravings", json!({"id": id, "intensity": 5, "outcome": "maybe"}), "outcome"),
        ("cravings", json!({"id": id, "intensity": 5}), "outcome"),
        ("meetings", json!({"id": id, "kind": "aa", "attendedOn": far_day}), "attendedOn"),
        ("meetings", json!({"id": id, "kind": "book_club", "attendedOn": "2026-11-01"}), "kind"),
        ("sobriety/resets", json!({"id": id, "since": "2026-11-01", "reason": ""}), "reason"),
        ("sobriety/resets", json!({"id": id, "since": far_day, "reason": "x"}), "since"),
    ] {
        let res = app.post(&c.patient1, &p(what), body.clone()).await;
        res.assert_problem(400, "validation_failed");
        let fields: Vec<&str> =
            res.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "{what} {body}: {fields:?}");
    }
    for table in ["check_ins", "cravings", "meetings", "sobriety_resets"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
}

#[tokio::test]
async fn prescriptions_change_under_audit_stop_for_good_and_doses_give_adherence() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let rx = json!({"drug": "Naltrexone", "dose": "50 mg", "route": "oral", "schedule": "once daily, 08:00",
                    "startsOn": "2026-11-01", "prescriber": "Dr. Menon"});
    let created = app.post(nurse, &format!("/api/v1/patients/{}/prescriptions", c.p1), rx.clone()).await;
    let id = created.assert_status(201).body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["adherence"]["taken"], 0);
    let adherence = created.body["adherence"].as_object().unwrap();
    assert!(!adherence.contains_key("rate"), "no rate without doses");
    // Patients read their prescriptions but never write them.
    app.post(&c.patient1, &format!("/api/v1/patients/{}/prescriptions", c.p1), rx)
        .await
        .assert_problem(403, "forbidden");
    app.patch(&c.patient1, &format!("/api/v1/prescriptions/{id}"), json!({"dose": "1 g"}))
        .await
        .assert_problem(403, "forbidden");

    // The patient records doses: taken, late, missed, refused.
    let doses = format!("/api/v1/patients/{}/doses", c.p1);
    let at = |h: i64| (Utc::now() - Duration::hours(h)).to_rfc3339();
    for (status, taken) in
        [("taken", true), ("taken", true), ("late", true), ("missed", false), ("refused", false)]
    {
        let mut body =
            json!({"id": Uuid::new_v4(), "prescriptionId": id, "status": status, "scheduledAt": at(5)});
        if taken {
            body["takenAt"] = json!(at(4));
        }
        app.post(&c.patient1, &doses, body).await.assert_status(201);
    }
    let read = app.get(&c.patient1, &format!("/api/v1/prescriptions/{id}")).await;
    let adherence = &read.assert_status(200).body["adherence"];
    assert_eq!((adherence["taken"].clone(), adherence["late"].clone()), (json!(2), json!(1)));
    assert_eq!((adherence["missed"].clone(), adherence["refused"].clone()), (json!(1), json!(1)));
    assert_eq!(adherence["rate"], 0.6, "taken or late, out of all recorded");
    for (body, field) in [
        (
            json!({"id": Uuid::new_v4(), "prescriptionId": id, "status": "taken", "scheduledAt": at(2)}),
            "takenAt",
        ),
        (
            json!({"id": Uuid::new_v4(), "prescriptionId": id, "status": "missed", "scheduledAt": at(2), "takenAt": at(1)}),
            "takenAt",
        ),
        (
            json!({"id": Uuid::new_v4(), "prescriptionId": id, "status": "missed", "scheduledAt": at(-48)}),
            "scheduledAt",
        ),
    ] {
        let res = app.post(&c.patient1, &doses, body).await;
        res.assert_problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], field);
    }
    // Another patient's prescription is not there for this patient.
    let other_rx = json!({"drug": "X", "dose": "1", "route": "oral", "schedule": "daily", "startsOn": "2026-11-01",
                          "prescriber": "Dr. M"});
    let other = app.post(&c.w.admin_a, &format!("/api/v1/patients/{}/prescriptions", c.p2), other_rx).await;
    let other = other.assert_status(201).body["id"].as_str().unwrap().to_owned();
    let body =
        json!({"id": Uuid::new_v4(), "prescriptionId": other, "status": "missed", "scheduledAt": at(1)});
    app.post(&c.patient1, &doses, body).await.assert_problem(404, "not_found");
    assert_eq!(app.count("dose_events").await, 5);

    // A change is audited with the value it replaced; a stop is for good.
    let changed = app
        .patch(
            nurse,
            &format!("/api/v1/prescriptions/{id}"),
            json!({"dose": "25 mg", "endsOn": "2027-01-01"}),
        )
        .await;
    assert_eq!(changed.assert_status(200).body["dose"], "25 mg");
    let bad = app.patch(nurse, &format!("/api/v1/prescriptions/{id}"), json!({"endsOn": "2026-10-01"})).await;
    bad.assert_problem(400, "validation_failed");
    let su = app.superuser().await;
    let old: String = su
        .query_one(
            "select old_values ->> 'dose' from audit_log where entity_type = 'prescriptions' and action = 'update'
              order by chain_seq limit 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(old, "50 mg");
    let stopped =
        app.post(nurse, &format!("/api/v1/prescriptions/{id}/stop"), json!({"reason": "side effects"})).await;
    assert_eq!(stopped.assert_status(200).body["status"], "stopped");
    assert_eq!(stopped.body["stopReason"], "side effects");
    assert!(stopped.body["stoppedAt"].is_string());
    app.post(nurse, &format!("/api/v1/prescriptions/{id}/stop"), json!({"reason": "again"}))
        .await
        .assert_problem(409, "prescription_stopped");
    app.patch(nurse, &format!("/api/v1/prescriptions/{id}"), json!({"dose": "1 mg"}))
        .await
        .assert_problem(409, "prescription_stopped");
    // Kept, and listed with the stopped ones.
    let list = app.get(nurse, &format!("/api/v1/patients/{}/prescriptions?status=stopped", c.p1)).await;
    assert_eq!(list.items().len(), 1);
    let active = app.get(nurse, &format!("/api/v1/patients/{}/prescriptions?status=active", c.p1)).await;
    assert!(active.items().is_empty());
}

#[tokio::test]
async fn patients_propose_goals_staff_set_and_close_them_and_progress_is_appended() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let goals = format!("/api/v1/patients/{}/goals", c.p1);
    let proposed = Uuid::new_v4();
    let proposal = json!({"id": proposed, "category": "sobriety", "description": "Go to NA meetings",
                          "measurableTarget": "3 a week for 8 weeks", "targetDate": "2027-01-15"});
    let res = app.post(&c.patient1, &goals, proposal.clone()).await;
    assert_eq!(res.assert_status(201).body["origin"], "patient");
    assert_eq!(res.body["status"], "active");
    app.post(&c.patient1, &goals, proposal.clone()).await.assert_status(200);
    let mut other = proposal.clone();
    other["description"] = json!("Something else");
    app.post(&c.patient1, &goals, other.clone()).await.assert_problem(409, "record_id_taken");
    let set = app
        .post(nurse, &goals, json!({"id": Uuid::new_v4(), "category": "health", "description": "Sleep 7 h"}))
        .await;
    assert_eq!(set.assert_status(201).body["origin"], "staff");

    let progress = format!("/api/v1/patients/{}/goal-progress", c.p1);
    let entry =
        json!({"id": Uuid::new_v4(), "goalId": proposed, "note": "Three this week", "progressPct": 40});
    app.post(&c.patient1, &progress, entry).await.assert_status(201);
    let entry = json!({"id": Uuid::new_v4(), "goalId": proposed, "note": "Missed one"});
    app.post(nurse, &progress, entry).await.assert_status(201);
    let list = app.get(&c.patient1, &goals).await;
    let goal = list.items().iter().find(|g| g["id"] == proposed.to_string()).unwrap();
    assert_eq!((goal["progressEntries"].clone(), goal["progressPct"].clone()), (json!(2), json!(40)));
    // A goal of another patient takes no progress from this one.
    let theirs = Uuid::new_v4();
    let body = json!({"id": theirs, "category": "work", "description": "Find work"});
    app.post(&c.patient2, &format!("/api/v1/patients/{}/goals", c.p2), body).await.assert_status(201);
    let entry = json!({"id": Uuid::new_v4(), "goalId": theirs, "note": "sneaky"});
    app.post(&c.patient1, &progress, entry).await.assert_problem(404, "not_found");

    // Staff close a goal; the patient cannot; the audit log keeps the change.
    app.patch(&c.patient1, &format!("/api/v1/goals/{proposed}"), json!({"status": "achieved"}))
        .await
        .assert_problem(403, "forbidden");
    let done = app
        .patch(nurse, &format!("/api/v1/goals/{proposed}"), json!({"status": "achieved", "targetDate": null}))
        .await;
    assert_eq!(done.assert_status(200).body["status"], "achieved");
    done.assert_absent("targetDate");
    // Once edited, a late retry of the create answers the goal as it stands.
    let late = app.post(&c.patient1, &goals, proposal).await;
    assert_eq!(late.assert_status(200).body["status"], "achieved");
    let su = app.superuser().await;
    let n: i64 = su
        .query_one("select count(*) from audit_log where entity_type = 'goals' and action = 'update'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    assert_eq!(app.count("goal_progress").await, 2);
}

#[tokio::test]
async fn the_dashboard_shows_streak_trends_adherence_goals_and_why_the_patient_needs_attention() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let p = |what: &str| format!("/api/v1/patients/{}/{what}", c.p1);
    let today = Utc::now().date_naive();
    let noon = |days_ago: i64| (today - Duration::days(days_ago)).and_hms_opt(12, 0, 0).unwrap().and_utc();
    let first_second = today.and_hms_opt(0, 0, 1).unwrap().and_utc();
    // Low mood on each of the last 3 days (a streak of 3), good mood a week and more before.
    for (at, mood) in [
        (first_second, 4),
        (noon(1), 4),
        (noon(2), 4),
        (noon(5), 8),
        (noon(6), 8),
        (noon(8), 8),
        (noon(9), 8),
        (noon(10), 8),
    ] {
        let body = json!({"id": Uuid::new_v4(), "checkedInAt": at, "mood": mood});
        app.post(&c.patient1, &p("check-ins"), body).await.assert_status(201);
    }
    for (h, outcome) in [(1, "resisted"), (2, "used"), (3, "resisted")] {
        let at = Utc::now() - Duration::hours(h);
        let body = json!({"id": Uuid::new_v4(), "occurredAt": at, "intensity": 5, "outcome": outcome});
        app.post(&c.patient1, &p("cravings"), body).await.assert_status(201);
    }
    let rx = json!({"drug": "Naltrexone", "dose": "50 mg", "route": "oral", "schedule": "daily",
                    "startsOn": "2026-11-01", "prescriber": "Dr. M"});
    let rx = app.post(&c.w.staff_a, &p("prescriptions"), rx).await.body["id"].clone();
    for (h, status) in [(24, "missed"), (30, "refused"), (48, "taken")] {
        let at = Utc::now() - Duration::hours(h);
        let mut body =
            json!({"id": Uuid::new_v4(), "prescriptionId": rx, "status": status, "scheduledAt": at});
        if status == "taken" {
            body["takenAt"] = json!(at);
        }
        app.post(&c.patient1, &p("doses"), body).await.assert_status(201);
    }
    let (active, done) = (Uuid::new_v4(), Uuid::new_v4());
    for id in [active, done] {
        let body = json!({"id": id, "category": "health", "description": "Walk"});
        app.post(&c.patient1, &p("goals"), body).await.assert_status(201);
    }
    let entry = json!({"id": Uuid::new_v4(), "goalId": active, "note": "ok", "progressPct": 40});
    app.post(&c.patient1, &p("goal-progress"), entry).await.assert_status(201);
    app.patch(&c.w.staff_a, &format!("/api/v1/goals/{done}"), json!({"status": "achieved"}))
        .await
        .assert_status(200);

    let dash = app.get(&c.patient1, &p("dashboard")).await;
    let r = &dash.assert_status(200).body["recovery"];
    assert_eq!(r["checkInStreak"], 3, "{r}");
    assert_eq!(r["mood"]["average7d"], 5.6);
    assert_eq!(r["mood"]["average30d"], 6.5);
    assert_eq!(r["mood"]["change7d"], -2.4);
    assert_eq!(r["cravings"], json!({"last7d": 3, "previous7d": 0, "used7d": 1}));
    assert_eq!(r["doseAdherence30d"].as_f64().unwrap(), 1.0 / 3.0);
    assert_eq!(r["goals"], json!({"active": 1, "achieved": 1, "averageProgressPct": 40.0}));
    assert_eq!(r["attention"]["needed"], true);
    let attention = r["attention"].as_object().unwrap();
    assert!(!attention.contains_key("lastAcknowledgement"), "absent, never null: {attention:?}");
    let codes: Vec<&str> =
        r["attention"]["factors"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["mood_drop", "craving_spike", "missed_doses"]);
    let detail = r["attention"]["factors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("4.0") && detail.contains("8.0"), "{detail}");

    // A patient who never checked in is a prompt too, and nothing else of them shows.
    let quiet = app.get(&c.w.admin_a, &format!("/api/v1/patients/{}/dashboard", c.p2)).await;
    let r = &quiet.assert_status(200).body["recovery"];
    assert_eq!(r["checkInStreak"], 0);
    assert_eq!(
        r["attention"]["factors"],
        json!([{"code": "no_recent_check_in", "detail": "No check-in recorded yet."}])
    );
    assert_eq!(r["cravings"]["last7d"], 0);
    let mood = r["mood"].as_object().unwrap();
    assert!(mood.is_empty(), "no averages without check-ins: {mood:?}");
}

#[tokio::test]
async fn a_signed_plan_version_never_changes_the_patient_acknowledges_it_and_a_change_is_a_new_version() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (admin, nurse) = (&c.w.admin_a, &c.w.staff_a);
    let template = json!({"name": "AUD residential", "problems": ["Alcohol use disorder"], "goals": ["90 days sober"],
                          "interventions": ["CBT"], "reviewIntervalDays": 14});
    let t = app.post(admin, "/api/v1/treatment-plan-templates", template.clone()).await;
    let template_id = t.assert_status(201).body["id"].clone();
    app.post(admin, "/api/v1/treatment-plan-templates", template.clone())
        .await
        .assert_problem(409, "template_name_taken");
    app.post(nurse, "/api/v1/treatment-plan-templates", template).await.assert_problem(403, "forbidden");

    let body = json!({"title": "Residential", "templateId": template_id, "problems": ["Insomnia"]});
    let plan = app.post(nurse, &format!("/api/v1/patients/{}/treatment-plans", c.p1), body).await;
    let plan = plan.assert_status(201).body.clone();
    let v1 = &plan["versions"][0];
    assert_eq!(v1["problems"], json!(["Alcohol use disorder", "Insomnia"]), "the template's items first");
    assert_eq!(v1["status"], "draft");
    assert_eq!(v1["reviewDate"], (Utc::now().date_naive() + Duration::days(14)).to_string());
    let id = plan["id"].as_str().unwrap().to_owned();
    let path = |what: &str| format!("/api/v1/treatment-plans/{id}{what}");

    // The patient sees no draft and has nothing to acknowledge yet.
    let theirs = app.get(&c.patient1, &path("")).await;
    assert_eq!(theirs.assert_status(200).body["versions"], json!([]));
    app.post(&c.patient1, &path("/acknowledge"), json!({}))
        .await
        .assert_problem(409, "nothing_to_acknowledge");

    app.patch(nurse, &path("/draft"), json!({"goals": ["60 days sober"]})).await.assert_status(200);
    let signed = app.post(nurse, &path("/sign"), json!({})).await;
    let v1 = &signed.assert_status(200).body["versions"][0];
    assert_eq!((v1["status"].clone(), v1["signedBy"].clone()), (json!("signed"), json!(nurse.id)));
    assert_eq!(v1["goals"], json!(["60 days sober"]));
    app.post(nurse, &path("/sign"), json!({})).await.assert_problem(409, "no_draft");
    let acked = app.post(&c.patient1, &path("/acknowledge"), json!({})).await;
    assert_eq!(acked.assert_status(200).body["versions"][0]["acknowledgedBy"], json!(c.patient1.id));
    app.post(&c.patient1, &path("/acknowledge"), json!({}))
        .await
        .assert_problem(409, "nothing_to_acknowledge");

    // A change after signing is version 2; version 1 stays as signed.
    let edited = app.patch(nurse, &path("/draft"), json!({"interventions": ["CBT", "NA meetings"]})).await;
    let versions = edited.assert_status(200).body["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 2);
    assert_eq!((versions[1]["version"].clone(), versions[1]["status"].clone()), (json!(2), json!("draft")));
    assert_eq!(versions[1]["goals"], json!(["60 days sober"]), "copied from the version in force");
    assert_eq!(versions[0]["interventions"], json!(["CBT"]));
    app.post(&c.patient1, &path("/sign"), json!({})).await.assert_problem(403, "forbidden");

    // In SQL too: not even a superuser (past every policy) changes a signed
    // version, or deletes one.
    let owner = app.superuser().await;
    let v1_id: Uuid = versions[0]["id"].as_str().unwrap().parse().unwrap();
    for sql in [
        "update treatment_plan_versions set goals = '{}' where id = $1",
        "update treatment_plan_versions set acknowledged_at = now() where id = $1",
        "delete from treatment_plan_versions where id = $1",
    ] {
        let err = owner.execute(sql, &[&v1_id]).await.expect_err(sql);
        let message = err.as_db_error().unwrap().message().to_owned();
        assert!(message.contains("cannot change") || message.contains("append-only"), "{sql}: {message}");
    }
}

#[tokio::test]
async fn overdue_reviews_are_listed_only_to_those_who_see_the_plan() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let body = json!({"title": "Old plan", "problems": ["AUD"], "reviewDate": "2026-01-01"});
    let plan = app.post(nurse, &format!("/api/v1/patients/{}/treatment-plans", c.p1), body).await;
    let id = plan.assert_status(201).body["id"].clone();
    let fresh = json!({"title": "New plan", "reviewDate": (Utc::now().date_naive() + Duration::days(30))});
    app.post(nurse, &format!("/api/v1/patients/{}/treatment-plans", c.p1), fresh).await.assert_status(201);
    // A draft is not in force: nothing is overdue until it is signed.
    assert!(app.get(nurse, "/api/v1/treatment-plans/overdue-reviews").await.items().is_empty());
    app.post(nurse, &format!("/api/v1/treatment-plans/{}/sign", id.as_str().unwrap()), json!({}))
        .await
        .assert_status(200);
    let overdue = app.get(nurse, "/api/v1/treatment-plans/overdue-reviews").await;
    assert_eq!(overdue.items().len(), 1);
    assert_eq!(
        (overdue.items()[0]["id"].clone(), overdue.items()[0]["reviewOverdue"].clone()),
        (id.clone(), json!(true))
    );
    for outsider in [&c.nurse_a2, &c.w.staff_b, &c.patient2] {
        assert!(app.get(outsider, "/api/v1/treatment-plans/overdue-reviews").await.items().is_empty());
    }
}

#[tokio::test]
async fn a_nurse_sees_her_workload_and_her_admin_sees_it_too() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let path = format!("/api/v1/users/{}/workload", nurse.id);
    let before = app.get(nurse, &path).await;
    assert_eq!(before.assert_status(200).body["caseload"], 1);
    assert_eq!(before.body["withoutCheckIn48h"], json!([c.p1]), "no check-in yet");
    assert_eq!(before.body["overdueReviews"], 0);

    let p = |what: &str| format!("/api/v1/patients/{}/{what}", c.p1);
    app.post(&c.patient1, &p("check-ins"), json!({"id": Uuid::new_v4(), "mood": 6})).await.assert_status(201);
    let rx = json!({"drug": "X", "dose": "1", "route": "oral", "schedule": "daily", "startsOn": "2026-11-01",
                    "prescriber": "Dr. M"});
    let rx = app.post(nurse, &p("prescriptions"), rx).await.body["id"].clone();
    for h in [10, 34] {
        let at = Utc::now() - Duration::hours(h);
        let body = json!({"id": Uuid::new_v4(), "prescriptionId": rx, "status": "missed", "scheduledAt": at});
        app.post(&c.patient1, &p("doses"), body).await.assert_status(201);
    }
    let plan = json!({"title": "Old", "reviewDate": "2026-01-01"});
    let plan = app.post(nurse, &p("treatment-plans"), plan).await.body["id"].as_str().unwrap().to_owned();
    app.post(nurse, &format!("/api/v1/treatment-plans/{plan}/sign"), json!({})).await.assert_status(200);

    let after = app.get(&c.w.admin_a, &path).await;
    assert_eq!(after.assert_status(200).body["withoutCheckIn48h"], json!([]));
    assert_eq!(after.body["missedDoses7d"], json!([c.p1]));
    assert_eq!(after.body["overdueReviews"], 1);
    // Another nurse, another facility, a patient: no one else's workload.
    app.get(&c.nurse_a2, &path).await.assert_problem(404, "not_found");
    app.get(&c.w.admin_b, &path).await.assert_problem(404, "not_found");
    app.get(&c.patient1, &path).await.assert_problem(404, "not_found");
    // A patient's account has no workload.
    app.get(&c.w.admin_a, &format!("/api/v1/users/{}/workload", c.patient1.id))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn the_progress_report_is_a_printable_pdf_with_the_patients_figures_and_records() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let p = |what: &str| format!("/api/v1/patients/{}/{what}", c.p1);
    // Enough check-ins to run past the first page; notes that are only ever text.
    for i in 0..70 {
        let at = Utc::now() - Duration::hours(8 * i);
        let notes = match i {
            0 => "Felt strong today (walked to the lake)".to_owned(),
            1 => ") Tj ET BT /F1 99 Tf (injected".to_owned(),
            2 => "Кирилл wrote this".to_owned(),
            _ => format!("entry {i}"),
        };
        let body = json!({"id": Uuid::new_v4(), "checkedInAt": at, "mood": 1 + i % 10, "notes": notes});
        app.post(&c.patient1, &p("check-ins"), body).await.assert_status(201);
    }
    let craving =
        json!({"id": Uuid::new_v4(), "intensity": 7, "trigger": "payday at the pub", "outcome": "resisted"});
    app.post(&c.patient1, &p("cravings"), craving).await.assert_status(201);
    let meeting =
        json!({"id": Uuid::new_v4(), "kind": "group_therapy", "attendedOn": Utc::now().date_naive()});
    app.post(&c.patient1, &p("meetings"), meeting).await.assert_status(201);

    let from = Utc::now().date_naive() - Duration::days(20);
    let path = format!("{}?from={from}", p("reports/progress"));
    let res =
        app.client.get(&path).header("authorization", format!("Bearer {}", c.w.staff_a.token)).send().await;
    let res = res.0;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let disposition = res.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"progress-report-"), "{disposition}");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let bytes = res.into_body().into_bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));

    let pdf = printpdf::lopdf::Document::load_mem(&bytes).expect("a PDF that parses");
    let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
    assert!(pages.len() >= 2, "70 check-ins run past a page: {} page(s)", pages.len());
    let text = pdf.extract_text(&pages).unwrap();
    let patient = app.get(&c.w.staff_a, &format!("/api/v1/patients/{}", c.p1)).await;
    for expected in [
        "Recovery progress report",
        patient.body["lastName"].as_str().unwrap(),
        "Key figures",
        "Days sober",
        "Mood and cravings by day",
        "Felt strong today",
        "payday at the pub",
        "group therapy",
        ") Tj ET BT /F1 99 Tf (injected",
        "?????? wrote this",
        "page 2",
    ] {
        assert!(text.contains(expected), "{expected:?} not in the report:\n{text}");
    }
    // Only the period: 20 days of 3 check-ins a day, and no more.
    assert!(!text.contains("entry 69"), "a check-in before `from` is in the report");

    for (query, field) in
        [("from=2026-11-10&to=2026-11-01", "from"), ("from=2024-01-01&to=2026-01-01", "from")]
    {
        let res = app.get(&c.patient1, &format!("{}?{query}", p("reports/progress"))).await;
        res.assert_problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], field);
    }
    let su = app.superuser().await;
    let reads: i64 = su
        .query_one(
            "select count(*) from audit_log where action = 'read' and entity_id = $1 and actor_id = $2",
            &[&c.p1, &c.w.staff_a.id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(reads >= 1, "the report is audited as a read of the chart");
}

#[tokio::test]
async fn weekly_metrics_roll_up_and_a_late_record_refreshes_only_its_week() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let admin = &c.w.admin_a;
    let p = |what: &str| format!("/api/v1/patients/{}/{what}", c.p1);
    let now = Utc::now();
    for mood in [4, 8] {
        let body = json!({"id": Uuid::new_v4(), "checkedInAt": now - Duration::minutes(5), "mood": mood});
        app.post(&c.patient1, &p("check-ins"), body).await.assert_status(201);
    }
    let rx = json!({"drug": "X", "dose": "1", "route": "oral", "schedule": "daily", "startsOn": "2026-01-10",
                    "prescriber": "Dr. M"});
    let rx = app.post(&c.w.staff_a, &p("prescriptions"), rx).await.body["id"].clone();
    for status in ["taken", "missed"] {
        let at = now - Duration::minutes(3);
        let mut body =
            json!({"id": Uuid::new_v4(), "prescriptionId": rx, "status": status, "scheduledAt": at});
        if status == "taken" {
            body["takenAt"] = json!(at);
        }
        app.post(&c.patient1, &p("doses"), body).await.assert_status(201);
    }
    let path = format!("/api/v1/facilities/{}/metrics/weekly?weeks=6", c.w.a);
    let first = app.get(admin, &path).await;
    let weeks = first.assert_status(200).items().clone();
    assert_eq!(weeks.len(), 6, "newest first, this week included");
    let this = &weeks[0];
    assert_eq!((this["checkIns"].clone(), this["averageMood"].clone()), (json!(2), json!(6.0)));
    assert_eq!(this["doseAdherence"], 0.5);
    assert_eq!(this["occupancy"], 2, "both of A's admitted patients");
    assert!(weeks[3]["checkIns"] == 0);

    // A check-in synced late into week 3 recomputes that week, and not week 4.
    let back = now - Duration::weeks(3);
    let body = json!({"id": Uuid::new_v4(), "checkedInAt": back, "mood": 2});
    app.post(&c.patient1, &p("check-ins"), body).await.assert_status(201);
    let second = app.get(admin, &path).await;
    let later = second.items();
    let week_of = |w: &Value| w["weekStart"].as_str().unwrap().to_owned();
    let hit = later.iter().find(|w| {
        week_of(w) <= back.date_naive().to_string() && {
            let start: chrono::NaiveDate = week_of(w).parse().unwrap();
            back.date_naive() < start + Duration::days(7)
        }
    });
    let hit = hit.expect("the late check-in's week");
    assert_eq!((hit["checkIns"].clone(), hit["averageMood"].clone()), (json!(1), json!(2.0)));
    let before: Vec<(String, Value)> = weeks.iter().map(|w| (week_of(w), w["refreshedAt"].clone())).collect();
    let untouched = later.iter().filter(|w| before.contains(&(week_of(w), w["refreshedAt"].clone()))).count();
    assert_eq!(untouched, 4, "only this week and the late record's week are recomputed");

    app.get(&c.w.staff_a, &path).await.assert_problem(403, "forbidden");
    app.get(&c.w.admin_b, &path).await.assert_problem(404, "not_found");
    app.get(admin, &format!("/api/v1/facilities/{}/metrics/weekly?weeks=53", c.w.a))
        .await
        .assert_problem(400, "validation_failed");
}

#[tokio::test]
async fn the_care_team_acknowledges_a_prompt_until_a_new_factor_raises_it_again() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let p = |what: &str| format!("/api/v1/patients/{}/{what}", c.p1);
    app.post(&c.patient1, &p("check-ins"), json!({"id": Uuid::new_v4(), "mood": 6})).await.assert_status(201);
    let craving = json!({"id": Uuid::new_v4(), "intensity": 9, "outcome": "resisted"});
    app.post(&c.patient1, &p("cravings"), craving).await.assert_status(201);
    let workload = format!("/api/v1/users/{}/workload", nurse.id);
    assert_eq!(app.get(nurse, &workload).await.body["unacknowledgedAttention"], json!([c.p1]));

    let acks = p("attention/acknowledgements");
    app.post(&c.patient1, &acks, json!({})).await.assert_problem(403, "forbidden");
    let acked = app.post(nurse, &acks, json!({"note": "Called; session moved up"})).await;
    let a = &acked.assert_status(201).body;
    assert_eq!((a["needed"].clone(), a["acknowledged"].clone()), (json!(true), json!(true)));
    assert_eq!(a["lastAcknowledgement"]["factors"], json!(["craving_spike"]));
    assert_eq!(a["lastAcknowledgement"]["by"], json!(nurse.id));
    assert_eq!(app.get(nurse, &workload).await.body["unacknowledgedAttention"], json!([]));
    let dash = app.get(&c.patient1, &p("dashboard")).await;
    assert_eq!(dash.body["recovery"]["attention"]["lastAcknowledgement"]["note"], "Called; session moved up");

    // Missed doses are a new factor: the prompt is up again.
    let rx = json!({"drug": "X", "dose": "1", "route": "oral", "schedule": "daily", "startsOn": "2026-01-10",
                    "prescriber": "Dr. M"});
    let rx = app.post(nurse, &p("prescriptions"), rx).await.body["id"].clone();
    for h in [5, 29] {
        let body = json!({"id": Uuid::new_v4(), "prescriptionId": rx, "status": "missed",
                          "scheduledAt": Utc::now() - Duration::hours(h)});
        app.post(&c.patient1, &p("doses"), body).await.assert_status(201);
    }
    let dash = app.get(nurse, &p("dashboard")).await;
    assert_eq!(dash.body["recovery"]["attention"]["acknowledged"], false);
    assert_eq!(app.get(nurse, &workload).await.body["unacknowledgedAttention"], json!([c.p1]));

    // Nothing to acknowledge for a patient doing fine.
    let p2 = format!("/api/v1/patients/{}", c.p2);
    app.post(&c.patient2, &format!("{p2}/check-ins"), json!({"id": Uuid::new_v4(), "mood": 7}))
        .await
        .assert_status(201);
    app.post(&c.w.admin_a, &format!("{p2}/attention/acknowledgements"), json!({}))
        .await
        .assert_problem(409, "no_attention_needed");
    assert_eq!(app.count("attention_acknowledgements").await, 1);
}
