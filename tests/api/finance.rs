//! Finance: an invoice's totals follow its lines until it is issued, then
//! it is numbered and frozen; payments never overpay, refunds never exceed
//! what was paid, credit notes never exceed the invoice, and the customer
//! sees their own bill and balance and nobody else's.

use futures_util::future::join_all;
use poem::http::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

fn line(quantity: i64, unit: i64, tax_bp: i64) -> Value {
    json!({"description": "Home care visit", "quantity": quantity, "unitPriceMinor": unit, "taxRateBp": tax_bp})
}

async fn draft(app: &TestApp, admin: &Actor, customer: Uuid, lines: Vec<Value>) -> Value {
    let res = app
        .post(admin, "/api/v1/invoices", json!({"customerId": customer, "currency": "INR", "lines": lines}))
        .await;
    res.assert_status(201).body.clone()
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_is_frozen_once_issued_and_its_payments_and_credits_add_up() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let admin = &w.admin_a;
    let client = app.learner(admin, "client").await;
    let other = app.learner(admin, "client").await;

    // Totals follow the lines while it is a draft; tax is rounded half up per line.
    let inv = draft(&app, admin, client.id, vec![line(3, 33333, 1800)]).await;
    assert_eq!((inv["subtotalMinor"].as_i64(), inv["taxMinor"].as_i64()), (Some(99999), Some(18000)));
    assert!(inv["number"].is_null());
    let invoice = id(&inv);
    let lines = format!("/api/v1/invoices/{invoice}/lines");
    let body = json!({"lines": [line(2, 50000, 1800), line(1, 25000, 0)]});
    let res = app.call(Method::PUT, &lines, Some(&admin.token), Some(body)).await;
    res.assert_status(200);
    assert_eq!(res.body["totalMinor"], 143000); // 100000 + 18000 tax + 25000
    // The customer does not see a draft.
    app.get(&client, &format!("/api/v1/invoices/{invoice}")).await.assert_problem(404, "not_found");

    // Issued: numbered gap-free per facility and year, and frozen.
    let issued = app.post(admin, &format!("/api/v1/invoices/{invoice}/issue"), json!({})).await;
    issued.assert_status(200);
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(issued.body["number"], format!("INV-{year}-000001"));
    let second = draft(&app, admin, other.id, vec![line(1, 1000, 0)]).await;
    let second = app.post(admin, &format!("/api/v1/invoices/{}/issue", id(&second)), json!({})).await;
    assert_eq!(second.body["number"], format!("INV-{year}-000002"));
    let res =
        app.call(Method::PUT, &lines, Some(&admin.token), Some(json!({"lines": [line(1, 1, 0)]}))).await;
    res.assert_problem(409, "invoice_frozen");
    let su = app.superuser().await;
    assert!(su.execute("update invoices set total_minor = 1 where id = $1", &[&invoice]).await.is_err());
    assert!(su.execute("update invoice_lines set quantity = 9", &[]).await.is_err());

    // Payments: partial, then the rest from two tills at once (one wins), a refund, no more.
    let pay = format!("/api/v1/invoices/{invoice}/payments");
    let res = app.post(admin, &pay, json!({"amountMinor": 43000, "method": "cash"})).await;
    res.assert_status(201);
    assert_eq!(app.get(admin, &format!("/api/v1/invoices/{invoice}")).await.body["status"], "issued");
    let rest = json!({"amountMinor": 100000, "method": "upi", "reference": "UPI 1"});
    let both = join_all([app.post(admin, &pay, rest.clone()), app.post(admin, &pay, rest)]).await;
    let mut statuses: Vec<_> = both.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409], "one payment covers it; the other would overpay");
    both.iter().find(|r| r.status.as_u16() == 409).unwrap().assert_problem(409, "overpayment");
    let now = app.get(admin, &format!("/api/v1/invoices/{invoice}")).await;
    assert_eq!((now.body["status"].as_str(), now.body["paidMinor"].as_i64()), (Some("paid"), Some(143000)));
    let refund = app.post(admin, &pay, json!({"amountMinor": -20000, "method": "upi"})).await;
    refund.assert_status(201);
    assert_eq!(app.get(admin, &format!("/api/v1/invoices/{invoice}")).await.body["status"], "issued");
    app.post(admin, &pay, json!({"amountMinor": -200000, "method": "upi"}))
        .await
        .assert_problem(409, "refund_exceeds_paid");
    assert!(su.execute("delete from payments", &[]).await.is_err(), "payments are append-only");
    // With payments, it cannot be voided.
    app.post(admin, &format!("/api/v1/invoices/{invoice}/void"), json!({"reason": "x"}))
        .await
        .assert_problem(409, "invoice_paid");

    // A credit note corrects it; credits never exceed the invoice.
    let credit = format!("/api/v1/invoices/{invoice}/credit-notes");
    let note =
        app.post(admin, &credit, json!({"reason": "One visit missed.", "lines": [line(1, 25000, 0)]})).await;
    note.assert_status(201);
    assert_eq!(note.body["number"], format!("CN-{year}-000001"));
    assert_eq!(note.body["creditForId"], invoice.to_string());
    app.post(admin, &credit, json!({"reason": "All of it."}))
        .await
        .assert_problem(409, "credit_exceeds_invoice");

    // The balance: 143000 invoiced − 25000 credited − 123000 paid = −5000 (the client is owed).
    let balance = app.get(admin, &format!("/api/v1/customers/{}/balance", client.id)).await;
    let b = &balance.body["items"][0];
    assert_eq!(
        (
            b["invoicedMinor"].as_i64(),
            b["creditedMinor"].as_i64(),
            b["paidMinor"].as_i64(),
            b["outstandingMinor"].as_i64()
        ),
        (Some(143000), Some(25000), Some(123000), Some(-5000))
    );

    // The client sees their own invoice, credit note, payments and balance; not the other client's.
    assert_eq!(app.get(&client, "/api/v1/invoices").await.items().len(), 2);
    assert_eq!(app.get(&client, &pay).await.items().len(), 3);
    assert_eq!(
        app.get(&client, &format!("/api/v1/customers/{}/balance", client.id)).await.body,
        balance.body
    );
    app.get(&client, &format!("/api/v1/customers/{}/balance", other.id))
        .await
        .assert_problem(404, "not_found");
    app.get(&other, &format!("/api/v1/invoices/{invoice}")).await.assert_problem(404, "not_found");
    app.post(&client, &pay, json!({"amountMinor": 1, "method": "cash"}))
        .await
        .assert_problem(403, "forbidden");
    let pdf = app
        .client
        .get(format!("/api/v1/invoices/{invoice}/pdf"))
        .header("authorization", format!("Bearer {}", client.token))
        .send()
        .await;
    pdf.assert_status_is_ok();
    assert!(pdf.0.into_body().into_bytes().await.unwrap().starts_with(b"%PDF"));

    // A draft takes no payment; an issued invoice without payments is voided, once.
    let d = draft(&app, admin, client.id, vec![line(1, 1000, 0)]).await;
    app.post(
        admin,
        &format!("/api/v1/invoices/{}/payments", id(&d)),
        json!({"amountMinor": 1000, "method": "cash"}),
    )
    .await
    .assert_problem(409, "invoice_not_payable");
    app.post(admin, &format!("/api/v1/invoices/{}/void", id(&d)), json!({"reason": "x"}))
        .await
        .assert_problem(409, "invoice_not_issued");
    app.post(admin, &format!("/api/v1/invoices/{}/issue", id(&d)), json!({})).await.assert_status(200);
    let voided =
        app.post(admin, &format!("/api/v1/invoices/{}/void", id(&d)), json!({"reason": "Duplicate."})).await;
    assert_eq!(voided.body["status"], "void");
    // An empty draft is not issued; staff are not billed.
    let empty = draft(&app, admin, client.id, vec![]).await;
    app.post(admin, &format!("/api/v1/invoices/{}/issue", id(&empty)), json!({}))
        .await
        .assert_problem(409, "invoice_empty");
    let res = app
        .post(admin, "/api/v1/invoices", json!({"customerId": w.staff_a.id, "currency": "INR", "lines": []}))
        .await;
    res.assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_payment_retried_with_its_idempotency_key_is_recorded_once() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let admin = &w.admin_a;
    let client = app.learner(admin, "client").await;
    let inv = draft(&app, admin, client.id, vec![line(1, 100000, 0)]).await;
    let invoice = id(&inv);
    app.post(admin, &format!("/api/v1/invoices/{invoice}/issue"), json!({})).await.assert_status(200);

    let pay = |key: &'static str, amount: i64| {
        let path = format!("/api/v1/invoices/{invoice}/payments");
        let token = admin.token.clone();
        let app = &app;
        async move {
            let res = app
                .client
                .post(path)
                .header("authorization", format!("Bearer {token}"))
                .header("Idempotency-Key", key)
                .body_json(&json!({"amountMinor": amount, "method": "card"}))
                .send()
                .await;
            crate::helpers::read(res).await
        }
    };
    let first = pay("till-7-receipt-0042", 40000).await;
    first.assert_status(201);
    let again = pay("till-7-receipt-0042", 40000).await;
    again.assert_status(201);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.body["id"], first.body["id"], "the stored answer, not a second payment");
    pay("till-7-receipt-0042", 50000).await.assert_problem(422, "idempotency_key_reused");
    let paid = app.get(admin, &format!("/api/v1/invoices/{invoice}")).await;
    assert_eq!(paid.body["paidMinor"], 40000);
}
