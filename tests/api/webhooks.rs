//! Webhooks: a facility's events reach its subscription's URL, signed,
//! retried until answered with a 2xx, and logged; never another facility's
//! events, never a patient's data; and URLs that point inside the network
//! are refused.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use carego::config::AppSettings;
use hmac::{Hmac, Mac};
use poem::{Request, Response, http::StatusCode, listener::Acceptor, listener::Listener};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::TestApp;

type Received = Arc<Mutex<Vec<(poem::http::HeaderMap, Vec<u8>)>>>;

/// A partner's endpoint on loopback: answers 500 to the first `failures`
/// deliveries, then 200; keeps what it received.
async fn receiver(failures: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let seen = received.clone();
    let endpoint = poem::endpoint::make(move |req: Request| {
        let seen = seen.clone();
        async move {
            let headers = req.headers().clone();
            let body = req.into_body().into_vec().await.unwrap_or_default();
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push((headers, body));
                seen.len()
            };
            Response::builder()
                .status(if n <= failures { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK })
                .finish()
        }
    });
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
    (format!("http://{addr}/hook"), received)
}

async fn wait_for(received: &Received, n: usize) {
    for _ in 0..150 {
        if received.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} deliveries arrived, expected {n}", received.lock().unwrap().len());
}

#[tokio::test]
async fn events_are_delivered_signed_retried_and_logged() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (url, received) = receiver(1).await;
    let made = app
        .post(
            &c.w.admin_a,
            "/api/v1/webhooks",
            json!({"url": url, "events": ["care_log.written"], "description": "EHR sync"}),
        )
        .await;
    made.assert_status(201);
    let hook = made.body["webhook"]["id"].as_str().unwrap().to_owned();
    let secret = made.body["secret"].as_str().unwrap().strip_prefix("whsec_").unwrap().to_owned();
    let secret = URL_SAFE_NO_PAD.decode(secret).unwrap();
    assert_eq!(secret.len(), 32);
    let got = app.get(&c.w.admin_a, &format!("/api/v1/webhooks/{hook}")).await;
    assert!(!got.body.to_string().contains("secret"), "{}", got.body);

    // Another facility's care log files nothing for A's subscription.
    app.post(
        &c.w.staff_b,
        &format!("/api/v1/patients/{}/care-logs", c.pb),
        json!({"kind": "note", "body": "B's own."}),
    )
    .await
    .assert_status(201);
    let text = "Confidential: relapsed on Sunday.";
    let log = app
        .post(
            &c.w.staff_a,
            &format!("/api/v1/patients/{}/care-logs", c.p1),
            json!({"kind": "note", "body": text}),
        )
        .await;
    log.assert_status(201);
    let log_id = log.body["id"].as_str().unwrap().to_owned();

    // Refused once (500), then delivered on the retry.
    wait_for(&received, 2).await;
    let (headers, body) = received.lock().unwrap()[1].clone();
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["event"], "care_log.written");
    assert_eq!(payload["data"]["id"], log_id.as_str());
    assert_eq!(payload["facilityId"], c.w.a.to_string());
    assert!(!String::from_utf8_lossy(&body).contains("relapsed"), "ids only, never the record");
    assert_eq!(headers["carego-event"], "care_log.written");
    assert_eq!(headers["carego-delivery"].to_str().unwrap(), payload["id"].as_str().unwrap());
    // The signature is HMAC-SHA256 over "<t>.<body>", with a fresh t.
    let signature = headers["carego-signature"].to_str().unwrap();
    let (t, v1) = signature.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    assert_eq!(v1, hex::encode(mac.finalize().into_bytes()));
    assert!((chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap()).abs() < 60);

    // The delivery log tells the story.
    let mut log_entry = Value::Null;
    for _ in 0..50 {
        let deliveries = app.get(&c.w.admin_a, &format!("/api/v1/webhooks/{hook}/deliveries")).await;
        log_entry = deliveries.items()[0].clone();
        if log_entry["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log_entry["status"], "delivered", "{log_entry}");
    assert_eq!((log_entry["attempts"].as_i64(), log_entry["lastStatusCode"].as_i64()), (Some(2), Some(200)));
    assert_eq!(app.count("webhook_deliveries").await, 1, "B's log filed none");

    // B's admin sees nothing of it; staff may not manage webhooks.
    app.get(&c.w.admin_b, &format!("/api/v1/webhooks/{hook}")).await.assert_problem(404, "not_found");
    app.get(&c.w.admin_b, &format!("/api/v1/webhooks/{hook}/deliveries"))
        .await
        .assert_problem(404, "not_found");
    app.get(&c.w.staff_a, "/api/v1/webhooks").await.assert_problem(403, "forbidden");

    // Turned off: the next event files nothing.
    app.delete(&c.w.admin_a, &format!("/api/v1/webhooks/{hook}")).await.assert_status(204);
    app.post(
        &c.w.staff_a,
        &format!("/api/v1/patients/{}/care-logs", c.p1),
        json!({"kind": "note", "body": "Later."}),
    )
    .await
    .assert_status(201);
    assert_eq!(app.count("webhook_deliveries").await, 1);
}

#[tokio::test]
async fn urls_inside_the_network_are_refused() {
    let settings = AppSettings { webhook_allow_private: false, ..AppSettings::default() };
    let app = TestApp::spawn_with(settings, 4, Duration::from_secs(5)).await;
    let w = app.two_facilities().await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "ftp://93.184.215.14/hook",
    ] {
        let res = app
            .post(&w.admin_a, "/api/v1/webhooks", json!({"url": url, "events": ["patient.admitted"]}))
            .await;
        res.assert_problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], "url", "{url}: {}", res.body);
    }
    assert_eq!(app.count("webhook_subscriptions").await, 0);
}

#[tokio::test]
async fn who_may_not_subscribe_learns_nothing_about_host_names() {
    let settings = AppSettings { webhook_allow_private: false, ..AppSettings::default() };
    let app = TestApp::spawn_with(settings, 4, Duration::from_secs(5)).await;
    let c = app.clinic().await;
    // `localhost` resolves (to loopback); `.invalid` never resolves.
    let resolves = json!({"url": "https://localhost/hook", "events": ["patient.admitted"]});
    let does_not = json!({"url": "https://no-such-host.invalid/hook", "events": ["patient.admitted"]});

    // An admin, who may subscribe, is told which is which: the oracle this
    // test guards is real.
    let a = app.post(&c.w.admin_a, "/api/v1/webhooks", resolves.clone()).await;
    let b = app.post(&c.w.admin_a, "/api/v1/webhooks", does_not.clone()).await;
    a.assert_problem(400, "validation_failed");
    b.assert_problem(400, "validation_failed");
    assert_ne!(a.body["errors"], b.body["errors"], "the two refusals differ for an admin");

    // A patient, a nurse and another facility's admin naming A's facility
    // are refused before any lookup: the same answer for both hosts.
    let facility_a = json!(c.w.a);
    for (who, expected) in [
        (&c.patient1, (403, "forbidden")),
        (&c.w.staff_a, (403, "forbidden")),
        (&c.w.admin_b, (404, "not_found")),
    ] {
        let mut seen = Vec::new();
        for body in [&resolves, &does_not] {
            let mut body = body.clone();
            body["facilityId"] = facility_a.clone();
            let res = app.post(who, "/api/v1/webhooks", body).await;
            res.assert_problem(expected.0, expected.1);
            seen.push((
                res.status,
                res.body["code"].clone(),
                res.body["detail"].clone(),
                res.body["errors"].clone(),
            ));
        }
        assert_eq!(seen[0], seen[1], "{}: the answer does not depend on the host", who.email);
    }
    assert_eq!(app.count("webhook_subscriptions").await, 0);
}
