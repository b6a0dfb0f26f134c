//! What browsers, mobile clients and load balancers meet at the edge:
//! security headers, CORS for configured origins, compression, the client
//! address behind trusted proxies, and limits on slow or too many clients.

use std::time::{Duration, Instant};

use carego::config::{AppSettings, TrustedProxies};
use poem::http::Method;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::TestApp;

fn settings() -> AppSettings {
    AppSettings { login_limit_per_ip: 10_000, login_limit_per_account: 10_000, ..AppSettings::default() }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    for (path, token) in [
        ("/api/v1/health", None),
        ("/api/v1/facilities", Some(sa.token.as_str())),
        ("/api/v1/patients/not-a-uuid", Some(sa.token.as_str())),
        ("/api/v1/no-such-route", None),
    ] {
        let res = app.call(Method::GET, path, token, None).await;
        let h = &res.headers;
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff", "{path}");
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{path}");
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{path}");
        assert!(
            h.get("content-security-policy").unwrap().to_str().unwrap().contains("frame-ancestors 'none'")
        );
        assert_eq!(h.get("cache-control").unwrap(), "no-store", "{path}: API answers are never cached");
    }
    let docs = app.client.get("/docs").send().await;
    assert_eq!(docs.0.headers().get("x-content-type-options").unwrap(), "nosniff");
    assert!(docs.0.headers().get("cache-control").is_none(), "the docs may be cached");
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let origin = "https://app.example.org";
    let app = TestApp::spawn_with(
        AppSettings { cors_origins: vec![origin.into()], ..settings() },
        4,
        Duration::from_secs(5),
    )
    .await;
    let preflight = |from: &'static str| {
        app.client
            .request(Method::OPTIONS, "/api/v1/patients")
            .header("origin", from)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type, idempotency-key")
            .send()
    };
    let ok = preflight(origin).await;
    let h = ok.0.headers();
    assert!(ok.0.status().is_success(), "{}", ok.0.status());
    assert_eq!(h.get("access-control-allow-origin").unwrap(), origin);
    assert!(h.get("access-control-allow-credentials").is_none_or(|v| v != "true"));
    assert!(h.get("access-control-allow-headers").unwrap().to_str().unwrap().contains("idempotency-key"));
    let other = preflight("https://evil.example").await;
    assert!(other.0.headers().get("access-control-allow-origin").is_none(), "another origin is not let in");
    // A simple request from the origin carries the header too, and exposes ours.
    let res = app.client.get("/api/v1/health").header("origin", origin).send().await;
    assert_eq!(res.0.headers().get("access-control-allow-origin").unwrap(), origin);
    // Without configured origins there is no CORS at all.
    let plain = TestApp::spawn().await;
    let res = plain.client.get("/api/v1/health").header("origin", origin).send().await;
    assert!(res.0.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn large_text_responses_are_compressed_as_the_client_accepts() {
    use std::io::Read as _;
    let app = TestApp::spawn().await;
    let plain = app.client.get("/docs").send().await.0.into_body().into_bytes().await.unwrap();
    let br = app.client.get("/docs").header("accept-encoding", "gzip, br").send().await.0;
    assert_eq!(br.headers().get("content-encoding").unwrap(), "br");
    assert!(br.headers().get("vary").unwrap().to_str().unwrap().contains("accept-encoding"));
    let packed = br.into_body().into_bytes().await.unwrap();
    let mut unpacked = Vec::new();
    brotli::BrotliDecompress(&mut &packed[..], &mut unpacked).unwrap();
    assert_eq!(unpacked, plain);
    assert!(packed.len() * 3 < plain.len(), "{} -> {}", plain.len(), packed.len());
    let gz = app.client.get("/openapi.json").header("accept-encoding", "gzip").send().await.0;
    assert_eq!(gz.headers().get("content-encoding").unwrap(), "gzip");
    let packed = gz.into_body().into_bytes().await.unwrap();
    let mut unpacked = String::new();
    flate2::read::GzDecoder::new(&packed[..]).read_to_string(&mut unpacked).unwrap();
    let served: serde_json::Value = serde_json::from_str(&unpacked).unwrap();
    assert!(served == serde_json::from_str::<serde_json::Value>(&carego::api::spec_json()).unwrap());
    // Small answers go as they are.
    let small = app.client.get("/api/v1/health").header("accept-encoding", "br").send().await.0;
    assert!(small.headers().get("content-encoding").is_none());
}

async fn failed_login(base: &str, forwarded_for: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": "nobody@x.example", "password": "wrong password"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_rate_limit_sees_each_client() {
    let limited = AppSettings { login_limit_per_ip: 2, ..settings() };
    let proxied = AppSettings {
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1".into(), "::1".into()]).unwrap(),
        ..limited.clone()
    };
    let app = TestApp::spawn_with(proxied, 4, Duration::from_secs(5)).await;
    let (base, _stop) = app.serve_http().await;
    for _ in 0..2 {
        assert_eq!(failed_login(&base, "198.51.100.1").await, 401);
    }
    assert_eq!(failed_login(&base, "198.51.100.1").await, 429, "the first client is limited");
    assert_eq!(failed_login(&base, "198.51.100.2").await, 401, "the second is not");

    // Not a trusted proxy: X-Forwarded-For is the client's own claim, ignored.
    let app = TestApp::spawn_with(limited, 4, Duration::from_secs(5)).await;
    let (base, _stop) = app.serve_http().await;
    for _ in 0..2 {
        assert_eq!(failed_login(&base, "198.51.100.1").await, 401);
    }
    assert_eq!(failed_login(&base, "198.51.100.2").await, 429, "a forged header buys no new quota");
}

/// Reads until the server closes the connection (or `within` passes).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let app = TestApp::spawn_with(
        AppSettings {
            header_read_timeout: Duration::from_secs(1),
            body_read_timeout: Duration::from_secs(1),
            ..settings()
        },
        4,
        Duration::from_secs(5),
    )
    .await;
    let (base, _stop) = app.serve_http().await;
    let addr = base.trim_start_matches("http://").to_owned();

    // Headers trickled a line at a time: the connection is closed once the
    // deadline passes, however busy the client keeps it.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let trickle = async {
        for i in 0..10 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow.write_all(format!("x-slow-{i}: y\r\n").as_bytes()).await.is_err() {
                break;
            }
        }
    };
    trickle.await;
    let answer = closed_within(&mut slow, Duration::from_secs(3)).await;
    assert!(answer.is_some_and(|a| !a.contains("200 OK")), "a slowloris is never served");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    // A body that stops arriving: 408, well before the client gives up.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let head = "POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"email\"";
    stalled.write_all(head.as_bytes()).await.unwrap();
    let answer = closed_within(&mut stalled, Duration::from_secs(4)).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // A prompt client on a fresh connection is served as usual.
    let res = reqwest::get(format!("{base}/api/v1/health")).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let app =
        TestApp::spawn_with(AppSettings { max_connections: 2, ..settings() }, 4, Duration::from_secs(5))
            .await;
    let (base, _stop) = app.serve_http().await;
    let addr = base.trim_start_matches("http://").to_owned();
    let request = b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\n\r\n";
    // Two keep-alive connections, each served once and left open.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        conn.write_all(request).await.unwrap();
        let mut buf = [0u8; 512];
        let n = conn.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(conn);
    }
    // A third is accepted by the kernel but not served while both are open.
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut buf = [0u8; 512];
    let waited = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(waited.is_err(), "served beyond the cap");
    // One closes: the third is served.
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn an_overlong_change_reason_is_refused_not_cut() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}/care-logs", c.p1);
    let send = |reason: String| {
        app.client
            .post(&path)
            .header("authorization", format!("Bearer {}", c.w.staff_a.token))
            .header("x-change-reason", reason)
            .body_json(&json!({"kind": "note", "body": "x"}))
            .send()
    };
    let res = crate::helpers::read(send("r".repeat(501)).await).await;
    res.assert_problem(400, "validation_failed");
    assert_eq!(res.body["errors"][0]["field"], "X-Change-Reason");
    let res = crate::helpers::read(send("r".repeat(500)).await).await;
    res.assert_status(201);
}

#[tokio::test]
async fn an_idempotency_key_that_is_not_visible_ascii_is_refused_not_ignored() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let path = format!("/api/v1/patients/{}/care-logs", c.p1);
    let before = app.count("care_logs").await;
    for key in [&b"caf\xe9"[..], b"a b", &[b'k'; 201][..]] {
        let res = app
            .client
            .post(&path)
            .header("authorization", format!("Bearer {}", c.w.staff_a.token))
            .header("idempotency-key", poem::http::HeaderValue::from_bytes(key).unwrap())
            .body_json(&json!({"kind": "note", "body": "x"}))
            .send()
            .await;
        let res = crate::helpers::read(res).await;
        res.assert_problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], "Idempotency-Key");
    }
    assert_eq!(app.count("care_logs").await, before, "nothing created without its key");
}
