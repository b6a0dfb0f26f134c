//! The Prometheus endpoint: requests by operation and status (never a
//! path or an id), the pool, database errors, the job queue and the event
//! streams, on an endpoint of its own.

use poem::{EndpointExt, test::TestClient};

use crate::helpers::TestApp;

#[tokio::test]
async fn metrics_count_requests_by_operation_and_never_name_a_record() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    app.get(&c.w.admin_a, &format!("/api/v1/patients/{}", c.p1)).await.assert_status(200);
    app.get(&c.w.admin_a, &format!("/api/v1/patients/{}", c.pb)).await.assert_status(404);
    app.get(&c.w.admin_a, "/api/v1/no-such-thing").await.assert_status(404);

    // The API does not serve them; their own endpoint does.
    app.get(&c.w.admin_a, "/metrics").await.assert_status(404);
    let metrics = TestClient::new(carego::server::metrics::app(&app.state).boxed());
    let res = metrics.get("/metrics").send().await;
    res.assert_status_is_ok();
    let text = res.0.into_body().into_string().await.unwrap();

    let count = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    // The recorder is the process's, shared by every test running in it: at least ours.
    assert!(count(r#"carego_http_requests_total{operation="getPatient",status="200"}"#) >= 1.0);
    assert!(count(r#"carego_http_requests_total{operation="getPatient",status="404"}"#) >= 1.0);
    assert!(count(r#"carego_http_requests_total{operation="none",status="404"}"#) >= 1.0);
    assert!(
        count(r#"carego_http_request_duration_seconds_count{operation="getPatient",status="200"}"#) >= 1.0
    );
    assert!(text.contains(
        r#"carego_http_request_duration_seconds_bucket{operation="getPatient",status="200",le="0.005"}"#
    ));
    assert!(count(r#"carego_db_pool_max_connections"#) >= 1.0);
    assert!(text.contains(r#"carego_db_pool_connections{state="idle"}"#));
    assert!(
        text.contains(r#"carego_jobs{state="due"}"#) && text.contains(r#"carego_jobs{state="scheduled"}"#)
    );
    assert!(text.contains("carego_sse_subscribers"));
    // A refused session is a database error (the prologue's CG401).
    app.state
        .db
        .run(&crate::pool::principal(&c.w.admin_a, carego::identity::Role::Staff), async |tx| {
            tx.query("select 1", &[]).await.map_err(Into::into)
        })
        .await
        .unwrap_err();
    let res = metrics.get("/metrics").send().await;
    let text = res.0.into_body().into_string().await.unwrap();
    assert!(text.contains(r#"carego_db_errors_total{sqlstate="CG401"}"#), "{text}");

    // Never a path, never an id.
    assert!(!text.contains("/api/v1"));
    let uuid = regex::Regex::new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    assert!(!uuid.is_match(&text), "{text}");
}
