//! Facility manifests apply idempotently and never carry passwords.

use std::path::Path;

use carego::tenants;

use crate::helpers::TestApp;

fn demo_manifests() -> Vec<(String, tenants::Manifest)> {
    tenants::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tenants")).expect("demo manifests parse")
}

#[tokio::test]
async fn demo_manifests_apply_idempotently() {
    let app = TestApp::spawn().await;
    let manifests = demo_manifests();
    assert!(manifests.len() >= 2);
    let secret = |name: &str| (name == "CAREGO_DEMO_PASSWORD").then(|| crate::helpers::PASSWORD.to_owned());
    let first = tenants::apply(&app.db, &manifests, &secret).await.unwrap();
    assert_eq!(first.facilities_created, manifests.len());
    assert!(first.users_created >= 6);
    assert_eq!((first.patients_created, first.assignments_created, first.care_logs_created), (4, 3, 5));
    let audit_after_first = app.count("audit_log").await;

    let second = tenants::apply(&app.db, &manifests, &secret).await.unwrap();
    assert_eq!(second, tenants::Report::default(), "nothing new the second time");
    assert_eq!(app.count("audit_log").await, audit_after_first, "and nothing changed");

    // The demo nurse sees her assigned patient and the log she wrote.
    let nurse = app.login_actor("nurse@sunrise.example").await;
    let mine = app.get(&nurse, "/api/v1/patients").await;
    assert_eq!(mine.items().len(), 1);
    let logs = app
        .get(&nurse, &format!("/api/v1/patients/{}/care-logs", mine.items()[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(logs.items().len(), 2);
    assert!(logs.items().iter().any(|l| l["original"]["authorId"] == nurse.id.to_string()));

    // Users with a password_env can log in; one without is an invitation.
    app.login_actor("admin@sunrise.example").await;
    app.login("therapist@sunrise.example", crate::helpers::PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let su = app.superuser().await;
    let status: String = su
        .query_one("select status from users where email = 'therapist@sunrise.example'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "pending");
}

#[tokio::test]
async fn an_apply_that_fails_part_way_loses_no_care_log_when_applied_again() {
    let app = TestApp::spawn().await;
    let secret = |name: &str| (name == "CAREGO_DEMO_PASSWORD").then(|| crate::helpers::PASSWORD.to_owned());
    // Between the first manifest's first patient's two care logs comes one
    // the database refuses (too long).
    let mut broken = demo_manifests();
    let patient = &mut broken[0].1.patients[0];
    let good = &patient.care_logs[0];
    let bad = tenants::CareLogSpec {
        author: good.author.clone(),
        kind: good.kind,
        body: "x".repeat(20_001),
        occurred_at: good.occurred_at,
        visible_to_patient: false,
    };
    assert_eq!(patient.care_logs.len(), 2);
    patient.care_logs.insert(1, bad);
    assert!(tenants::apply(&app.db, &broken, &secret).await.is_err(), "the broken manifest fails");
    assert_eq!(app.count("patients").await, 1, "its patient was created");
    assert_eq!(app.count("care_logs").await, 1, "the failure came part-way, after one care log");

    // Fixed and applied again: the missing care logs are written (the
    // patient's second, and the other manifest's three), none twice.
    let report = tenants::apply(&app.db, &demo_manifests(), &secret).await.unwrap();
    assert_eq!(report.care_logs_created, 4);
    assert_eq!(app.count("care_logs").await, 5);
    let again = tenants::apply(&app.db, &demo_manifests(), &secret).await.unwrap();
    assert_eq!(again, tenants::Report::default());
    assert_eq!(app.count("care_logs").await, 5);
}

#[test]
fn manifests_hold_no_plaintext_passwords() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tenants");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let value: toml::Value = toml::from_str(&text).unwrap();
            for key in ["password", "password_hash"] {
                assert!(
                    !text.lines().any(|l| l.trim_start().starts_with(&format!("{key} "))),
                    "{} has `{key}`",
                    path.display()
                );
            }
            assert!(value.get("facility").is_some());
        }
    }
    // And the parser refuses such a field outright.
    let bad = "[facility]\nslug='x1'\nname='X'\nkind='clinic'\n[[staff]]\nemail='a@b.example'\nfirst_name='A'\nlast_name='B'\npassword='hunter2hunter2'\n";
    assert!(toml::from_str::<tenants::Manifest>(bad).is_err());
}
