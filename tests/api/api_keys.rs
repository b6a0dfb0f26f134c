//! Partner integrators' API keys: a key reaches its own facility by scope
//! and is the actor of what it writes; revocation and rotation take effect
//! on the next request on every server; the rate limit and the daily quota
//! are kept in PostgreSQL and so shared by two servers.

use poem::{Response, endpoint::BoxEndpoint, http::Method, test::TestClient};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, Res, TestApp, read};

type Client = TestClient<BoxEndpoint<'static, Response>>;

/// A request with `X-API-Key`, through `client` (either server).
async fn keyed(client: &Client, method: Method, path: &str, key: &str, body: Option<Value>) -> Res {
    let mut req = client.request(method, path).header("x-api-key", key);
    if let Some(b) = body {
        req = req.body_json(&b);
    }
    read(req.send().await).await
}

/// A key made by `admin`: (its record, the key itself).
async fn make_key(app: &TestApp, admin: &Actor, body: Value) -> (Value, String) {
    let res = app.post(admin, "/api/v1/api-keys", body).await;
    res.assert_status(201);
    let secret = res.body["secret"].as_str().unwrap().to_owned();
    (res.body["apiKey"].clone(), secret)
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_key_reaches_its_facility_by_scope_and_is_the_actor_of_its_writes() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (record, key) = make_key(
        &app,
        &c.w.admin_a,
        json!({"name": "Acme EHR sync", "scopes": ["patients:read", "care-logs:write"]}),
    )
    .await;
    assert!(key.starts_with("cgk_") && key.len() == 42, "{key}");
    assert_eq!(record["prefix"], key[..12]);
    assert_eq!(record["status"], "active");
    assert_eq!(record["facilityId"], c.w.a.to_string());
    assert_eq!(
        (record["rateLimitPerMinute"].as_i64(), record["dailyQuota"].as_i64()),
        (Some(120), Some(10000))
    );
    let integration = record["integrationId"].as_str().unwrap().to_owned();
    // The key is never readable again, by anyone.
    let got = app.get(&c.w.admin_a, &format!("/api/v1/api-keys/{}", id(&record))).await;
    got.assert_status(200);
    assert!(!got.body.to_string().contains(&key[12..]), "{}", got.body);
    let su = app.superuser().await;
    let stored: Vec<u8> =
        su.query_one("select secret_hmac from api_keys where id = $1", &[&id(&record)]).await.unwrap().get(0);
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&key[4..]));

    // Its facility's patients (all of them, not a caseload), never another's.
    let list = keyed(&app.client, Method::GET, "/api/v1/patients?limit=100", &key, None).await;
    list.assert_status(200);
    let ids: Vec<&str> = list.items().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&c.p1.to_string().as_str()) && ids.contains(&c.p2.to_string().as_str()));
    assert!(list.items().iter().all(|p| p["facilityId"] == c.w.a.to_string()));
    keyed(&app.client, Method::GET, &format!("/api/v1/patients/{}", c.pb), &key, None)
        .await
        .assert_problem(404, "not_found");
    let log = keyed(
        &app.client,
        Method::POST,
        &format!("/api/v1/patients/{}/care-logs", c.p2),
        &key,
        Some(json!({"kind": "observation", "body": "Synced from Acme EHR: BP taken at home."})),
    )
    .await;
    log.assert_status(201);
    assert_eq!(log.body["original"]["authorId"], integration.as_str());
    keyed(
        &app.client,
        Method::POST,
        &format!("/api/v1/patients/{}/care-logs", c.pb),
        &key,
        Some(json!({"kind": "note", "body": "x"})),
    )
    .await
    .assert_problem(404, "not_found");

    // Scopes it does not hold are 403; operations outside the integrator's
    // surface do not take a key at all.
    keyed(&app.client, Method::GET, &format!("/api/v1/patients/{}/care-logs", c.p2), &key, None)
        .await
        .assert_problem(403, "insufficient_scope");
    let patient = json!({"firstName": "Ravi", "lastName": "Kumar", "dateOfBirth": "1990-01-01"});
    keyed(&app.client, Method::POST, "/api/v1/patients", &key, Some(patient.clone()))
        .await
        .assert_problem(403, "insufficient_scope");
    keyed(&app.client, Method::GET, "/api/v1/users", &key, None).await.assert_problem(401, "unauthenticated");
    assert_eq!(app.count("patients").await, 3, "nothing was admitted");

    // The audit log names the integration and the key.
    let row = su
        .query_one(
            "select actor_id, actor_role, session_id from audit_log
              where entity_type = 'care_logs' and entity_id = $1",
            &[&log.body["id"].as_str().unwrap().parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0).to_string(), integration);
    assert_eq!(row.get::<_, String>(1), "integrator");
    assert_eq!(row.get::<_, Uuid>(2), id(&record));

    // Scopes are RLS too: with the handler's check out of the way, the
    // integrator's role still sees no care log without `care-logs:read`
    // but the one it wrote (INSERT … RETURNING needs that one).
    app.post(
        &c.w.staff_a,
        &format!("/api/v1/patients/{}/care-logs", c.p1),
        json!({"kind": "note", "body": "Slept well."}),
    )
    .await
    .assert_status(201);
    let in_a: i64 = su
        .query_one("select count(*) from care_logs where facility_id = $1", &[&c.w.a])
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_a, 2);
    let app_role = app.connect_as("carego_app").await;
    app_role.batch_execute("begin").await.unwrap();
    app_role
        .execute(
            "select carego.begin_key_request($1, $2, $3, 'patients:read care-logs:write', 't', null, null, '5s')",
            &[&id(&record), &c.w.a, &integration.parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap();
    let seen: i64 = app_role.query_one("select count(*) from care_logs", &[]).await.unwrap().get(0);
    assert_eq!(seen, 1, "only its own");
    let patients: i64 = app_role.query_one("select count(*) from patients", &[]).await.unwrap().get(0);
    assert_eq!(patients, 2, "facility A's two patients");
    app_role.batch_execute("rollback").await.unwrap();

    // Who manages keys: the facility's admins; nobody else sees them.
    let by_b = app.get(&c.w.admin_b, &format!("/api/v1/api-keys/{}", id(&record))).await;
    by_b.assert_problem(404, "not_found");
    assert!(app.get(&c.w.admin_b, "/api/v1/api-keys").await.items().is_empty());
    app.post(&c.w.admin_b, &format!("/api/v1/api-keys/{}/revoke", id(&record)), json!({}))
        .await
        .assert_problem(404, "not_found");
    app.post(&c.w.staff_a, "/api/v1/api-keys", json!({"name": "Mine", "scopes": ["patients:read"]}))
        .await
        .assert_problem(403, "forbidden");
    app.post(&c.w.admin_a, "/api/v1/api-keys", json!({"name": "No read", "scopes": ["care-logs:write"]}))
        .await
        .assert_problem(400, "validation_failed");
    // A super admin names the facility.
    let (for_b, _) =
        make_key(&app, &c.w.sa, json!({"name": "Partner", "scopes": ["patients:read"], "facilityId": c.w.b}))
            .await;
    assert_eq!(for_b["facilityId"], c.w.b.to_string());
    // An integration is not a user anyone can log in as or make by hand.
    app.post(
        &c.w.admin_a,
        "/api/v1/users",
        json!({"email": "bot@a.example", "password": "a-long-password-1", "role": "integrator",
               "firstName": "Bot", "lastName": "Bot"}),
    )
    .await
    .assert_problem(400, "validation_failed");
}

#[tokio::test]
async fn revocation_and_rotation_take_effect_on_the_next_request_on_every_server() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (second, _state2, _bg) = app.second_server().await;
    let (record, key) =
        make_key(&app, &c.w.admin_a, json!({"name": "Sync", "scopes": ["patients:read"]})).await;
    let path = format!("/api/v1/patients/{}", c.p1);
    // Both servers have now cached the key.
    keyed(&app.client, Method::GET, &path, &key, None).await.assert_status(200);
    keyed(&second, Method::GET, &path, &key, None).await.assert_status(200);
    let last_used = app.get(&c.w.admin_a, &format!("/api/v1/api-keys/{}", id(&record))).await;
    assert!(last_used.body["lastUsedAt"].is_string(), "{}", last_used.body);

    // Rotation: the new key works at once, the old one for the overlap.
    let rotated = app
        .post(&c.w.admin_a, &format!("/api/v1/api-keys/{}/rotate", id(&record)), json!({"overlapHours": 1}))
        .await;
    rotated.assert_status(201);
    let new_key = rotated.body["secret"].as_str().unwrap().to_owned();
    let new_record = rotated.body["apiKey"].clone();
    assert_eq!(new_record["rotatedFrom"], record["id"]);
    assert_eq!(new_record["integrationId"], record["integrationId"]);
    assert_eq!(new_record["scopes"], json!(["patients:read"]));
    keyed(&second, Method::GET, &path, &new_key, None).await.assert_status(200);
    keyed(&second, Method::GET, &path, &key, None).await.assert_status(200);
    let old = app.get(&c.w.admin_a, &format!("/api/v1/api-keys/{}", id(&record))).await;
    let expires: chrono::DateTime<chrono::Utc> = old.body["expiresAt"].as_str().unwrap().parse().unwrap();
    let left = expires - chrono::Utc::now();
    assert!(left > chrono::Duration::minutes(58) && left <= chrono::Duration::hours(1), "{left}");

    // Rotating the new key with no overlap ends it at once, on both servers.
    let again = app
        .post(
            &c.w.admin_a,
            &format!("/api/v1/api-keys/{}/rotate", id(&new_record)),
            json!({"overlapHours": 0}),
        )
        .await;
    again.assert_status(201);
    let third_key = again.body["secret"].as_str().unwrap().to_owned();
    keyed(&second, Method::GET, &path, &new_key, None).await.assert_problem(401, "invalid_api_key");
    keyed(&app.client, Method::GET, &path, &new_key, None).await.assert_problem(401, "invalid_api_key");
    app.post(&c.w.admin_a, &format!("/api/v1/api-keys/{}/rotate", id(&new_record)), json!({}))
        .await
        .assert_problem(409, "api_key_closed");
    let expired = app.get(&c.w.admin_a, &format!("/api/v1/api-keys/{}", id(&new_record))).await;
    assert_eq!(expired.body["status"], "expired");

    // Revocation: server 2 still has the key cached, and refuses it anyway.
    keyed(&second, Method::GET, &path, &third_key, None).await.assert_status(200);
    let revoked = app
        .post(&c.w.admin_a, &format!("/api/v1/api-keys/{}/revoke", id(&again.body["apiKey"])), json!({}))
        .await;
    revoked.assert_status(200);
    assert_eq!(revoked.body["status"], "revoked");
    assert_eq!(revoked.body["revokedBy"], c.w.admin_a.id.to_string());
    keyed(&second, Method::GET, &path, &third_key, None).await.assert_problem(401, "invalid_api_key");
    keyed(&app.client, Method::GET, &path, &third_key, None).await.assert_problem(401, "invalid_api_key");
    // Revoking again changes nothing.
    let twice = app
        .post(&c.w.admin_a, &format!("/api/v1/api-keys/{}/revoke", id(&again.body["apiKey"])), json!({}))
        .await;
    assert_eq!(twice.body["revokedAt"], revoked.body["revokedAt"]);

    // Look-alikes: a typo fails the checksum; a well-formed unknown key is unknown.
    let mut typo = key.clone().into_bytes();
    typo[10] = if typo[10] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).unwrap();
    let unknown = carego::auth::api_keys::generate();
    for bad in [typo.as_str(), unknown.as_str(), "Bearer nonsense", ""] {
        keyed(&app.client, Method::GET, &path, bad, None).await.assert_problem(401, "invalid_api_key");
    }
    // A suspended facility's keys stop too.
    keyed(&app.client, Method::GET, &path, &key, None).await.assert_status(200);
    app.post(&c.w.sa, &format!("/api/v1/facilities/{}/suspend", c.w.a), json!({"reason": "Unpaid invoices"}))
        .await
        .assert_status(200);
    keyed(&app.client, Method::GET, &path, &key, None).await.assert_problem(403, "facility_suspended");
}

/// The database's current minute.
async fn minute(su: &tokio_postgres::Client) -> String {
    su.query_one("select date_trunc('minute', now())::text", &[]).await.unwrap().get(0)
}

/// Requests `n` times through alternating servers; the statuses seen.
async fn burst(clients: [&Client; 2], path: &str, key: &str, n: usize) -> Vec<Res> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(keyed(clients[i % 2], Method::GET, path, key, None).await);
    }
    out
}

#[tokio::test]
async fn the_rate_limit_and_the_daily_quota_are_shared_by_two_servers() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (second, _state2, _bg) = app.second_server().await;
    let path = format!("/api/v1/patients/{}", c.p1);
    let su = app.superuser().await;

    // Five a minute, across both servers. A minute turning mid-burst would
    // reset the window, so a burst that straddles one is made again.
    let mut checked = false;
    for _ in 0..3 {
        let (_, key) = make_key(
            &app,
            &c.w.admin_a,
            json!({"name": "Busy", "scopes": ["patients:read"], "rateLimitPerMinute": 5}),
        )
        .await;
        let before = minute(&su).await;
        let seen = burst([&app.client, &second], &path, &key, 7).await;
        if minute(&su).await != before {
            continue;
        }
        let statuses: Vec<u16> = seen.iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
        seen[5].assert_problem(429, "rate_limited");
        let retry: u64 = seen[5].headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        checked = true;
        break;
    }
    assert!(checked, "three bursts in a row straddled a minute");

    // Three a day: the fourth is refused until midnight UTC, and refusals are
    // not counted.
    let (record, key) = make_key(
        &app,
        &c.w.admin_a,
        json!({"name": "Nightly", "scopes": ["patients:read", "patients:write"], "dailyQuota": 3}),
    )
    .await;
    let seen = burst([&app.client, &second], &path, &key, 5).await;
    let statuses: Vec<u16> = seen.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let retry: u64 = seen[3].headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    let counted: i32 = su
        .query_one(
            "select requests from api_key_usage where api_key_id = $1 and window_kind = 'day'",
            &[&id(&record)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(counted, 3);
    // A refused write did nothing: the admission shares the request's round
    // trip, not its outcome, and the pipelined insert is rolled back.
    let before = app.count("patients").await;
    let write = keyed(
        &second,
        Method::POST,
        "/api/v1/patients",
        &key,
        Some(json!({"firstName": "No", "lastName": "Quota", "dateOfBirth": "1990-01-01"})),
    )
    .await;
    write.assert_problem(429, "rate_limited");
    assert_eq!(app.count("patients").await, before);
}

#[tokio::test]
async fn reads_through_a_key_and_pages_of_patients_are_audited_once_per_request() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (record, key) =
        make_key(&app, &c.w.admin_a, json!({"name": "Acme EHR sync", "scopes": ["patients:read"]})).await;
    let integration: Uuid = record["integrationId"].as_str().unwrap().parse().unwrap();
    let su = app.superuser().await;
    let reads_by = |actor: Uuid| {
        let su = &su;
        async move {
            su.query(
                "select entity_id, new_values -> 'ids' as ids from audit_log
                  where action = 'read' and entity_type = 'patients' and actor_id = $1",
                &[&actor],
            )
            .await
            .unwrap()
        }
    };

    // One chart: one row naming it.
    keyed(&app.client, Method::GET, &format!("/api/v1/patients/{}", c.p1), &key, None)
        .await
        .assert_status(200);
    let rows = reads_by(integration).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, Option<Uuid>>("entity_id"), Some(c.p1));

    // A page of the facility's patients: one more row, naming each of them.
    let list = keyed(&app.client, Method::GET, "/api/v1/patients?limit=100", &key, None).await;
    list.assert_status(200);
    let listed: std::collections::BTreeSet<String> =
        list.items().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    assert!(listed.len() >= 2, "{listed:?}");
    let rows = reads_by(integration).await;
    assert_eq!(rows.len(), 2, "one row for the page, not one per patient");
    let page: Vec<&tokio_postgres::Row> =
        rows.iter().filter(|r| r.get::<_, Option<Value>>("ids").is_some()).collect();
    assert_eq!(page.len(), 1, "the chart's row names no page");
    let named: std::collections::BTreeSet<String> =
        serde_json::from_value(page[0].get::<_, Value>("ids")).unwrap();
    assert_eq!(named, listed);

    // A nurse's caseload page is audited the same way; a patient's own reads are not.
    app.get(&c.w.staff_a, "/api/v1/patients").await.assert_status(200);
    let rows = reads_by(c.w.staff_a.id).await;
    assert_eq!(rows.len(), 1);
    let named: Vec<String> = serde_json::from_value(rows[0].get::<_, Value>("ids")).unwrap();
    assert_eq!(named, vec![c.p1.to_string()]);
    app.get(&c.patient1, &format!("/api/v1/patients/{}", c.p1)).await.assert_status(200);
    assert!(reads_by(c.patient1.id).await.is_empty());
}

/// A GET with `X-API-Key` over real HTTP, from `client` (an address the
/// trusted proxy in front forwards for).
async fn keyed_from(base: &str, client: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/patients"))
        .header("x-forwarded-for", client)
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn unknown_keys_are_looked_up_once_and_a_flood_is_limited_per_address() {
    let settings = carego::config::AppSettings {
        api_key_failures_per_ip: 5,
        trusted_proxies: carego::config::TrustedProxies::parse(&["127.0.0.1".into()]).unwrap(),
        ..carego::config::AppSettings::default()
    };
    let app = TestApp::spawn_with(settings, 4, std::time::Duration::from_secs(5)).await;
    let w = app.two_facilities().await;
    let (_, key) = make_key(&app, &w.admin_a, json!({"name": "Acme", "scopes": ["patients:read"]})).await;
    let (base, _stop) = app.serve_http().await;
    let (flooder, partner) = ("198.51.100.66", "198.51.100.7");
    let lookups = || app.state.api_keys.lookups();

    // A well-formed key that matches nothing reaches the database once.
    let unknown = carego::auth::api_keys::generate();
    let before = lookups();
    for _ in 0..2 {
        let res = keyed_from(&base, flooder, &unknown).await;
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "invalid_api_key");
    }
    assert_eq!(lookups(), before + 1, "the second presentation was answered from memory");

    // A flood of distinct random keys from one address: its failures are
    // spent after five, then 429 with Retry-After, and no more lookups.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..8 {
        let res = keyed_from(&base, flooder, &carego::auth::api_keys::generate()).await;
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            retry_after =
                res.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        }
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429, 429, 429]);
    assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "{retry_after:?}");
    assert_eq!(lookups(), before + 4, "only the three new keys before the limit were looked up");

    // Another address is not affected: its valid key works, and its own
    // mistake is a 401, not a 429.
    let res = keyed_from(&base, partner, &key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(keyed_from(&base, partner, &carego::auth::api_keys::generate()).await.status(), 401);
    // A valid key this server already knows costs nothing, so it is served
    // even from the limited address.
    assert_eq!(keyed_from(&base, flooder, &key).await.status(), 200);
}
