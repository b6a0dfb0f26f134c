//! Communication: crisis alerts delivered live over SSE, escalated by the
//! job worker when nobody acknowledges, isolated between facilities;
//! resuming a stream with `Last-Event-ID`; tickets; the LISTEN connection
//! dropped and restored; two servers on one database.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

/// One SSE connection over real HTTP.
struct Sse {
    res: reqwest::Response,
    buf: String,
}

/// One event: (event name, id, data).
type Ev = (String, String, Value);

impl Sse {
    async fn open(base: &str, token: Option<&str>, query: &str, last_id: Option<&str>) -> reqwest::Response {
        let mut req = reqwest::Client::new().get(format!("{base}/api/v1/events{query}"));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id);
        }
        req.send().await.unwrap()
    }

    async fn connect(base: &str, actor: &Actor, last_id: Option<&str>) -> Self {
        let res = Self::open(base, Some(&actor.token), "", last_id).await;
        assert_eq!(res.status(), 200, "stream for {}", actor.email);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Self { res, buf: String::new() }
    }

    /// The next event within `wait`, skipping heartbeats; `None` on timeout
    /// or when the stream ends.
    async fn next(&mut self, wait: Duration) -> Option<Ev> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if data.is_empty() {
                    continue; // a heartbeat
                }
                return Some((name, id, serde_json::from_str(&data).unwrap()));
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buf.push_str(std::str::from_utf8(&chunk).unwrap()),
                _ => return None,
            }
        }
    }

    /// Whether the stream has ended (the server closed it) within `wait`.
    async fn ended(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(_) => return true,
                Err(_) => return false,
            }
        }
    }
}

const SOON: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_crisis_alert_reaches_the_care_team_and_on_call_live_escalates_unanswered_and_nobody_else_hears() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (nurse, on_call, admin) = (&c.w.staff_a, &c.nurse_a2, &c.w.admin_a);
    // The nurse cares for patient 1 (the clinic assigns her); nurse 2 does not, but goes on call.
    let res = app.patch(admin, &format!("/api/v1/users/{}", on_call.id), json!({"onCall": true})).await;
    assert_eq!(res.assert_status(200).body["onCall"], true);
    let (base, _stop) = app.serve_http().await;

    let mut nurse_stream = Sse::connect(&base, nurse, None).await;
    // Nurse 2 opens hers as a browser would: with a ticket, not a header.
    let ticket = app.post(on_call, "/api/v1/events/tickets", json!({})).await;
    let ticket = ticket.assert_status(201).body["ticket"].as_str().unwrap().to_owned();
    let res = Sse::open(&base, None, &format!("?ticket={ticket}"), None).await;
    assert_eq!(res.status(), 200);
    let mut on_call_stream = Sse { res, buf: String::new() };
    // A ticket is single-use.
    let again = Sse::open(&base, None, &format!("?ticket={ticket}"), None).await;
    assert_eq!(again.status(), 401);
    let mut admin_stream = Sse::connect(&base, admin, None).await;
    let mut outsider_b = Sse::connect(&base, &c.w.staff_b, None).await;
    let mut admin_b = Sse::connect(&base, &c.w.admin_b, None).await;
    let mut other_patient = Sse::connect(&base, &c.patient2, None).await;

    // Patient 1 presses "I need help".
    let alert = Uuid::new_v4();
    let body = json!({"id": alert, "severity": "critical", "location": "Garden", "note": "Panic"});
    app.post(&c.patient1, &format!("/api/v1/patients/{}/crisis-alerts", c.p1), body).await.assert_status(201);

    for stream in [&mut nurse_stream, &mut on_call_stream] {
        let (name, id, data) = stream.next(SOON).await.expect("the raised alert is delivered");
        assert_eq!(name, "crisis_alert.raised");
        assert_eq!(data["subjectId"], alert.to_string());
        assert_eq!(data["patientId"], c.p1.to_string());
        assert_eq!(data["seq"].to_string(), id);
        assert!(data.get("note").is_none(), "events carry ids, never content: {data}");
    }
    // Not yet the admins: they hear of it when it is escalated.
    assert!(admin_stream.next(QUIET).await.is_none());

    // The nurse's phone drops off after the alert.
    drop(nurse_stream);

    // Nobody acknowledges. Bring the escalation job's time forward (the test's only shortcut:
    // the facility's 10 minutes) and wake the workers.
    let su = app.superuser().await;
    let moved = su
        .execute(
            "update jobs set run_at = now() where kind = 'crisis_escalation' and payload ->> 'alertId' = $1",
            &[&alert.to_string()],
        )
        .await
        .unwrap();
    assert_eq!(moved, 1, "raising the alert enqueued its escalation");
    su.batch_execute("notify carego_jobs").await.unwrap();

    let (name, _, data) = admin_stream.next(SOON).await.expect("the escalation reaches the admins");
    assert_eq!(
        (name.as_str(), data["subjectId"].as_str()),
        ("crisis_alert.escalated", Some(&*alert.to_string()))
    );
    let (name, _, _) = on_call_stream.next(SOON).await.unwrap();
    assert_eq!(name, "crisis_alert.escalated");
    let got = app.get(admin, &format!("/api/v1/crisis-alerts/{alert}")).await;
    assert!(got.assert_status(200).body["escalatedAt"].is_string());
    let job: String =
        su.query_one("select outcome from jobs where kind = 'crisis_escalation'", &[]).await.unwrap().get(0);
    assert_eq!(job, "done");

    // The nurse reconnects from the raised event's id: the escalation she missed arrives.
    let raised_seq = su
        .query_one("select min(seq) from events where subject_id = $1", &[&alert])
        .await
        .unwrap()
        .get::<_, i64>(0)
        .to_string();
    let mut nurse_stream = Sse::connect(&base, nurse, Some(&raised_seq)).await;
    let (name, _, _) = nurse_stream.next(SOON).await.expect("the missed event, on resume");
    assert_eq!(name, "crisis_alert.escalated");

    // She acknowledges and resolves; the patient is told, and the others see each step.
    app.post(nurse, &format!("/api/v1/crisis-alerts/{alert}/acknowledgement"), json!({}))
        .await
        .assert_status(200);
    let res = app
        .post(
            nurse,
            &format!("/api/v1/crisis-alerts/{alert}/resolution"),
            json!({"resolution": "Sat with her."}),
        )
        .await;
    let body = res.assert_status(200).body.clone();
    assert_eq!(body["acknowledgedBy"], nurse.id.to_string());
    assert_eq!(body["resolvedBy"], nurse.id.to_string());
    for (name, stream) in [("on call", &mut on_call_stream), ("admin", &mut admin_stream)] {
        let (a, _, _) = stream.next(SOON).await.unwrap_or_else(|| panic!("{name}: acknowledged"));
        let (r, _, _) = stream.next(SOON).await.unwrap_or_else(|| panic!("{name}: resolved"));
        assert_eq!((a.as_str(), r.as_str()), ("crisis_alert.acknowledged", "crisis_alert.resolved"));
    }

    // Nobody outside the care team, on call and the admins heard a thing.
    for (who, stream) in [
        ("B's staff", &mut outsider_b),
        ("B's admin", &mut admin_b),
        ("A's other patient", &mut other_patient),
    ] {
        assert!(stream.next(QUIET).await.is_none(), "{who} received an event");
    }
    // The whole timeline is in the audit chain.
    let steps: i64 = su
        .query_one(
            "select count(*) from audit_log
              where entity_type = 'crisis_alerts' and entity_id = $1 and action <> 'read'",
            &[&alert],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(steps, 4, "raised, escalated, acknowledged, resolved");
}

#[tokio::test]
async fn messages_are_delivered_to_the_other_members_and_a_stream_ends_at_logout() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let nurse = &c.w.staff_a;
    let (base, _stop) = app.serve_http().await;
    let mut patient_stream = Sse::connect(&base, &c.patient1, None).await;
    let mut nurse_stream = Sse::connect(&base, nurse, None).await;

    // The patient opens a conversation with her nurse (her care team).
    let res = app
        .post(&c.patient1, "/api/v1/conversations", json!({"kind": "direct", "members": [nurse.id]}))
        .await;
    let conversation = res.assert_status(201).body["id"].as_str().unwrap().to_owned();
    // Asking again answers the same conversation; another patient is not hers to reach.
    let again = app
        .post(&c.patient1, "/api/v1/conversations", json!({"kind": "direct", "members": [nurse.id]}))
        .await;
    assert_eq!(again.assert_status(200).body["id"], conversation.as_str());
    let res = app
        .post(&c.patient1, "/api/v1/conversations", json!({"kind": "direct", "members": [c.patient2.id]}))
        .await;
    res.assert_status(404);

    let id = Uuid::new_v4();
    let path = format!("/api/v1/conversations/{conversation}/messages");
    app.post(&c.patient1, &path, json!({"id": id, "body": "Can we talk?"})).await.assert_status(201);
    // A retry is a replay, not a second message.
    app.post(&c.patient1, &path, json!({"id": id, "body": "Can we talk?"})).await.assert_status(200);
    let (name, _, data) = nurse_stream.next(SOON).await.expect("the message is delivered");
    assert_eq!((name.as_str(), data["subjectId"].as_str()), ("message.created", Some(&*id.to_string())));
    assert_eq!(data["conversationId"], conversation.as_str());
    assert!(nurse_stream.next(QUIET).await.is_none(), "one message, one event");
    assert!(patient_stream.next(QUIET).await.is_none(), "the sender is not told of her own message");

    // A correction refers to her own message; the nurse's read receipt shows.
    let fix =
        json!({"id": Uuid::new_v4(), "kind": "correction", "body": "Can we talk today?", "refersTo": id});
    app.post(&c.patient1, &path, fix).await.assert_status(201);
    let theirs = json!({"id": Uuid::new_v4(), "kind": "retraction", "refersTo": id});
    app.post(nurse, &path, theirs).await.assert_status(404);
    app.post(nurse, &format!("/api/v1/conversations/{conversation}/read"), json!({}))
        .await
        .assert_status(204);
    let got = app.get(&c.patient1, &format!("/api/v1/conversations/{conversation}")).await;
    let members = got.assert_status(200).body["members"].as_array().unwrap().clone();
    let nurse_member = members.iter().find(|m| m["userId"] == nurse.id.to_string()).unwrap();
    assert!(nurse_member["lastReadAt"].is_string());
    let msgs = app.get(nurse, &path).await;
    assert_eq!(msgs.assert_status(200).items().len(), 2);

    // Logging out ends the patient's stream at once (not at the next heartbeat).
    app.post(&c.patient1, "/api/v1/auth/logout", json!({})).await.assert_status(204);
    assert!(patient_stream.ended(Duration::from_secs(5)).await, "the stream outlived its session");
}

#[tokio::test]
async fn the_listen_connection_dropped_and_restored_loses_no_event() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let admin = &c.w.admin_a;
    let (base, _stop) = app.serve_http().await;
    let mut listening = app.state.hub.listening();
    let mut stream = Sse::connect(&base, &c.w.staff_a, None).await;

    // Kill the server's LISTEN connection, and publish while it is down.
    let su = app.superuser().await;
    let killed: i64 = su
        .query_one(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity
              where application_name = 'carego-listen' and datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    let body = json!({"audience": "staff", "title": "Rota", "body": "New rota."});
    let first = app.post(admin, "/api/v1/announcements", body.clone()).await;
    let first = first.assert_status(201).body["id"].as_str().unwrap().to_owned();
    // It comes back by itself, and what was published meanwhile arrives.
    tokio::time::timeout(SOON, listening.changed()).await.expect("LISTEN re-established").unwrap();
    let (name, _, data) = stream.next(SOON).await.expect("the event published while LISTEN was down");
    assert_eq!((name.as_str(), data["subjectId"].as_str()), ("announcement.published", Some(first.as_str())));
    let second = app.post(admin, "/api/v1/announcements", body).await;
    let second = second.assert_status(201).body["id"].as_str().unwrap().to_owned();
    let (_, _, data) = stream.next(SOON).await.expect("and what comes after");
    assert_eq!(data["subjectId"], second.as_str());
}

#[tokio::test]
async fn the_stream_refuses_bad_credentials_and_cursors() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (base, _stop) = app.serve_http().await;
    assert_eq!(Sse::open(&base, None, "", None).await.status(), 401);
    assert_eq!(Sse::open(&base, None, "?ticket=cgst_forged", None).await.status(), 401);
    let res = Sse::open(&base, Some(&c.w.staff_a.token), "", Some("not-a-number")).await;
    assert_eq!(res.status(), 400);
    // Super admins belong to no facility: there is no stream of theirs.
    assert_eq!(Sse::open(&base, Some(&c.w.sa.token), "", None).await.status(), 403);
}

#[tokio::test]
async fn the_daily_cleanup_job_removes_long_dead_sessions_and_nothing_live() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let old = app.login_actor(&c.w.staff_a.email).await;
    let su = app.superuser().await;
    su.execute(
        "update sessions set expires_at = now() - interval '31 days' where id = $1",
        &[&old.session_id()],
    )
    .await
    .unwrap();
    // Today's cleanup already ran when the worker started; run it again, as tomorrow would.
    su.batch_execute(
        "update jobs set finished_at = null, outcome = null, run_at = now(), attempts = 0 where kind = 'cleanup';
         notify carego_jobs",
    )
    .await
    .unwrap();
    let gone = async {
        loop {
            let n: i64 = su
                .query_one("select count(*) from sessions where id = $1", &[&old.session_id()])
                .await
                .unwrap()
                .get(0);
            if n == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(SOON, gone).await.expect("the cleanup job removed the dead session");
    // The live session of the same user still works.
    app.get(&c.w.staff_a, "/api/v1/auth/me").await.assert_status(200);
}

#[tokio::test]
async fn two_servers_on_one_database_deliver_escalate_once_and_end_sessions_as_one() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (nurse, admin) = (&c.w.staff_a, &c.w.admin_a);
    // A second server process's worth: its own pool, LISTEN connection, job worker and hub.
    let (_client2, second, _background2) = app.second_server().await;
    let (base1, _stop1) = app.serve_http().await;
    let (base2, _stop2) = crate::helpers::serve_http(second).await;

    // The care team listens on server 2; the patient's alert goes through server 1.
    let mut nurse_stream = Sse::connect(&base2, nurse, None).await;
    let mut admin_stream = Sse::connect(&base2, admin, None).await;
    let mut outsider = Sse::connect(&base2, &c.w.staff_b, None).await;
    let alert = Uuid::new_v4();
    let body = json!({"id": alert, "severity": "high", "note": "Help"});
    app.post(&c.patient1, &format!("/api/v1/patients/{}/crisis-alerts", c.p1), body).await.assert_status(201);
    let (name, raised_id, _) = nurse_stream.next(SOON).await.expect("delivered by the other server");
    assert_eq!(name, "crisis_alert.raised");

    // Both workers are woken for the escalation; it happens once.
    let su = app.superuser().await;
    su.batch_execute(&format!(
        "update jobs set run_at = now() where kind = 'crisis_escalation' and payload ->> 'alertId' = '{alert}';
         notify carego_jobs"
    ))
    .await
    .unwrap();
    let (name, _, _) = admin_stream.next(SOON).await.expect("the escalation");
    assert_eq!(name, "crisis_alert.escalated");
    assert!(admin_stream.next(QUIET).await.is_none(), "escalated once, not once per server");
    let (attempts, outcome): (i32, String) = su
        .query_one("select attempts, outcome from jobs where kind = 'crisis_escalation'", &[])
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((attempts, outcome.as_str()), (1, "done"), "claimed by one server only");
    // Each period's scheduled jobs exist once, however many servers scheduled them.
    let cleanups: i64 =
        su.query_one("select count(*) from jobs where kind = 'cleanup'", &[]).await.unwrap().get(0);
    assert_eq!(cleanups, 1);

    // The nurse's phone moves to server 1 and resumes where it was: nothing lost.
    drop(nurse_stream);
    let mut resumed = Sse::connect(&base1, nurse, Some(&raised_id)).await;
    let (name, _, _) = resumed.next(SOON).await.expect("the missed escalation, from the other server");
    assert_eq!(name, "crisis_alert.escalated");

    // A logout through server 1 ends her stream on server 2.
    let mut on_two = Sse::connect(&base2, nurse, None).await;
    app.post(nurse, "/api/v1/auth/logout", json!({})).await.assert_status(204);
    assert!(
        on_two.ended(Duration::from_secs(5)).await,
        "the stream on the other server outlived its session"
    );
    let res = Sse::open(&base2, Some(&nurse.token), "", None).await;
    assert_eq!(res.status(), 401, "the other server refuses the ended session at once");
    assert!(outsider.next(QUIET).await.is_none(), "facility B heard nothing on either server");
}
