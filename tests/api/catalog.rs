//! The public website: the catalog shows what is published and nothing
//! else, its answers are cached and revalidated, a change anywhere reaches
//! every server's cache, and the lead form routes, deduplicates, ignores
//! robots and is rate limited.

use std::time::Duration;

use poem::http::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp, read};

async fn public(app: &TestApp, path: &str) -> crate::helpers::Res {
    app.call(Method::GET, path, None, None).await
}

fn service(city: Uuid, slug: &str, published: bool) -> Value {
    json!({"slug": slug, "name": format!("Service {slug}"), "summary": "Care at home.", "cityId": city,
           "priceFrom": {"amountMinor": 49900, "currency": "INR"}, "published": published})
}

async fn add_service(app: &TestApp, admin: &Actor, body: Value) -> Uuid {
    let res = app.post(admin, "/api/v1/services", body).await;
    res.assert_status(201).body["id"].as_str().unwrap().parse().unwrap()
}

fn names(res: &crate::helpers::Res) -> Vec<String> {
    res.items().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_public_sees_published_services_of_active_facilities_only() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let city = app.city(&w.sa).await;
    add_service(&app, &w.admin_a, service(city, "nursing", true)).await;
    add_service(&app, &w.admin_a, service(city, "draft", false)).await;
    add_service(&app, &w.admin_b, service(city, "physio", true)).await;

    let listed = public(&app, &format!("/api/v1/public/services?cityId={city}")).await;
    listed.assert_status(200);
    assert_eq!(names(&listed), ["Service nursing", "Service physio"]);
    let a_slug = listed.items()[0]["slug"].as_str().unwrap().to_owned();
    assert!(a_slug.ends_with(".nursing"), "{a_slug}");
    let detail = public(&app, &format!("/api/v1/public/services/{a_slug}")).await;
    detail.assert_status(200);
    assert_eq!(detail.body["provider"]["id"], w.a.to_string());
    // A draft is 404, exactly like a handle that does not exist.
    let draft = a_slug.replace(".nursing", ".draft");
    public(&app, &format!("/api/v1/public/services/{draft}")).await.assert_problem(404, "not_found");
    public(&app, "/api/v1/public/services/no.such").await.assert_problem(404, "not_found");

    // Suspending facility B takes its services off the website as soon as the change's
    // NOTIFY reaches this server's cache (milliseconds; polled for up to 2 s).
    app.post(&w.sa, &format!("/api/v1/facilities/{}/suspend", w.b), json!({"reason": "unpaid"}))
        .await
        .assert_status(200);
    let mut shown = Vec::new();
    for _ in 0..100 {
        shown = names(&public(&app, &format!("/api/v1/public/services?cityId={city}")).await);
        if shown == ["Service nursing"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(shown, ["Service nursing"]);
    // Another city's list is empty.
    let other = app.city(&w.sa).await;
    assert!(public(&app, &format!("/api/v1/public/services?cityId={other}")).await.items().is_empty());
}

#[tokio::test]
async fn catalog_answers_are_revalidated_and_follow_changes_on_every_server() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let city = app.city(&w.sa).await;
    let id = add_service(&app, &w.admin_a, service(city, "nursing", true)).await;
    let (second, state2, _bg) = app.second_server().await;
    let mut listening = state2.hub.listening();
    tokio::time::timeout(Duration::from_secs(10), listening.wait_for(|n| *n > 0)).await.unwrap().unwrap();
    let path = format!("/api/v1/public/services?cityId={city}");

    // Server 2 answers, and answers 304 to its own ETag.
    let first = read(second.get(&path).send().await).await;
    first.assert_status(200);
    let etag = first.headers.get("etag").unwrap().to_str().unwrap().to_owned();
    assert_eq!(first.headers.get("cache-control").unwrap(), "public, max-age=60");
    let again = second.get(&path).header("If-None-Match", &etag).send().await;
    assert_eq!(again.0.status().as_u16(), 304);
    assert_eq!(again.0.headers().get("etag").unwrap().to_str().unwrap(), etag);

    // Unpublished through server 1: server 2's cached answer goes at once.
    let mut body = service(city, "nursing", false);
    body["name"] = json!("Service nursing");
    let res =
        app.call(Method::PUT, &format!("/api/v1/services/{id}"), Some(&w.admin_a.token), Some(body)).await;
    res.assert_status(200);
    let mut fresh = None;
    for _ in 0..100 {
        let res = read(second.get(&path).header("If-None-Match", &etag).send().await).await;
        if res.status.as_u16() == 200 {
            fresh = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fresh = fresh.expect("server 2 saw the change within 2 s");
    assert!(fresh.items().is_empty(), "{}", fresh.body);
    assert_ne!(fresh.headers.get("etag").unwrap().to_str().unwrap(), etag);
}

#[tokio::test]
async fn leads_are_routed_to_whoever_published_what_they_name() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let city = app.city(&w.sa).await;
    let nursing = add_service(&app, &w.admin_a, service(city, "nursing", true)).await;
    let draft = add_service(&app, &w.admin_b, service(city, "draft", false)).await;

    let a_lead = app
        .submit_lead(json!({"leadType": "service", "name": "Asha", "phone": "+91 98100 00001",
                            "email": "Asha@Example.com", "serviceId": nursing, "cityId": city}))
        .await;
    let platform =
        app.submit_lead(json!({"leadType": "training", "name": "Ravi", "phone": "9810000002"})).await;
    // A draft is not there to ask about.
    let res = app
        .call(
            Method::POST,
            "/api/v1/public/leads",
            None,
            Some(json!({"leadType": "service", "name": "X", "phone": "9810000003", "serviceId": draft})),
        )
        .await;
    res.assert_problem(404, "not_found");
    // A service on a training lead is refused by field.
    let res = app
        .call(
            Method::POST,
            "/api/v1/public/leads",
            None,
            Some(json!({"leadType": "training", "name": "X", "phone": "9810000003", "serviceId": nursing})),
        )
        .await;
    res.assert_problem(400, "validation_failed");
    assert_eq!(res.body["errors"][0]["field"], "serviceId");

    let lead = app.get(&w.admin_a, &format!("/api/v1/leads/{a_lead}")).await;
    lead.assert_status(200);
    assert_eq!(lead.body["facilityId"], w.a.to_string());
    assert_eq!(
        (lead.body["phone"].as_str(), lead.body["email"].as_str()),
        (Some("+919810000001"), Some("asha@example.com"))
    );
    assert_eq!(lead.body["status"], "new");
    // B never sees A's lead, and the platform lead is the super admin's alone.
    app.get(&w.admin_b, &format!("/api/v1/leads/{a_lead}")).await.assert_problem(404, "not_found");
    app.get(&w.admin_a, &format!("/api/v1/leads/{platform}")).await.assert_problem(404, "not_found");
    let mine = app.get(&w.sa, "/api/v1/leads?platform=true").await;
    assert_eq!(
        mine.items().iter().map(|l| l["id"].as_str().unwrap()).collect::<Vec<_>>(),
        [platform.to_string()]
    );
    let history = app.get(&w.admin_a, &format!("/api/v1/leads/{a_lead}/history")).await;
    assert_eq!(history.items()[0]["actorRole"], "public");
    assert_eq!(history.items()[0]["status"], "new");
}

#[tokio::test]
async fn the_same_form_twice_is_one_lead_and_a_robots_form_is_not_kept() {
    let app = TestApp::spawn().await;
    let form = json!({"leadType": "service", "name": "Asha", "phone": "9810000001", "message": "Mornings."});
    let first = app.submit_lead(form.clone()).await;
    let second = app.submit_lead(form.clone()).await;
    assert_eq!(first, second, "a repeat answers with the same reference");
    assert_eq!(app.count("leads").await, 1);
    assert_eq!(app.count("lead_events").await, 1);

    let mut robot = form.clone();
    robot["phone"] = json!("9810000009");
    robot["website"] = json!("http://spam.example");
    let reference = app.submit_lead(robot).await;
    assert_ne!(reference, first);
    assert_eq!(app.count("leads").await, 1, "the robot's form is answered, not kept");
}

#[tokio::test]
async fn the_lead_form_is_rate_limited_per_ip() {
    let settings = carego::config::AppSettings { lead_limit_per_ip: 3, ..Default::default() };
    let app = TestApp::spawn_with(settings, 4, Duration::from_secs(5)).await;
    for i in 0..3 {
        app.submit_lead(json!({"leadType": "service", "name": "A", "phone": format!("981000000{i}")})).await;
    }
    let res = app
        .call(
            Method::POST,
            "/api/v1/public/leads",
            None,
            Some(json!({"leadType": "service", "name": "A", "phone": "9810000009"})),
        )
        .await;
    res.assert_problem(429, "rate_limited");
    let retry: u64 = res.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(app.count("leads").await, 3);
}
