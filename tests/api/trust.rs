//! The request context holds against SQL run inside a request: an attacker
//! connected as the pool's role, after a real prologue of a staff member, a
//! patient, a client or an integrator of facility A, rewrites every setting,
//! switches to every role it can, calls the prologue again without a
//! session, and forges audit rows — and still sees nothing of facility B,
//! never becomes a super admin and writes nothing into B's audit chain
//! (V41, docs/security.md).

use serde_json::json;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};

/// Runs `statements` in order inside a savepoint, then undoes them all, so
/// one attack never carries into the next. The last statement's rows, or
/// the first error's SQLSTATE.
async fn attack(c: &Client, statements: &[String]) -> Result<Vec<Row>, String> {
    c.batch_execute("savepoint attack").await.unwrap();
    let mut out = Ok(Vec::new());
    for sql in statements {
        match c.query(sql.as_str(), &[]).await {
            Ok(rows) => out = Ok(rows),
            Err(e) => {
                out = Err(e.code().map_or_else(|| e.to_string(), |c| c.code().to_owned()));
                break;
            }
        }
    }
    c.batch_execute("rollback to savepoint attack").await.unwrap();
    out
}

/// How many of facility `b`'s patients, users and audit rows an attacker
/// sees after `prefix`. A table the role holds no grant on (42501) shows
/// none.
async fn b_rows_seen(c: &Client, prefix: &[String], b: Uuid) -> i64 {
    let mut seen = 0;
    for table in ["patients", "users", "audit_log"] {
        let mut statements = prefix.to_vec();
        statements.push(format!("select count(*) from {table} where facility_id = '{b}'"));
        match attack(c, &statements).await {
            Ok(rows) => seen += rows[0].get::<_, i64>(0),
            Err(code) if code == "42501" => {}
            Err(code) => panic!("{prefix:?} then {table}: SQLSTATE {code}"),
        }
    }
    seen
}

/// Every role the pool's login role can switch into.
const TENANT_ROLES: &[&str] = &[
    "carego_public",
    "carego_patient",
    "carego_staff",
    "carego_facility_admin",
    "carego_client",
    "carego_student",
    "carego_teacher",
    "carego_integrator",
];

/// The attacks, against a transaction already through its prologue as
/// `signed_role` in facility `a`. `b` is the other facility, `admin_b` its
/// admin.
async fn every_attack_fails(app: &TestApp, c: &Client, a: Uuid, b: Uuid, admin_b: &Actor, signed_role: &str) {
    let su = app.superuser().await;
    let b_audit_before: i64 =
        su.query_one("select count(*) from audit_log where facility_id = $1", &[&b]).await.unwrap().get(0);

    // The honest context works: it sees its own facility (so the zeros
    // below are the wall, not an empty database).
    let own = attack(c, &["select carego.current_facility_id()".to_owned()]).await.unwrap();
    assert_eq!(
        own[0].get::<_, Option<Uuid>>(0),
        Some(a),
        "{signed_role}: the prologue's context is verified"
    );

    // 1. Rewriting each setting voids the whole context: no rows at all.
    for (setting, value) in [
        ("carego.facility_id", b.to_string()),
        ("carego.user_id", admin_b.id.to_string()),
        ("carego.role", "super_admin".to_owned()),
        ("carego.role", "facility_admin".to_owned()),
        ("carego.db_role", "carego_facility_admin".to_owned()),
        ("carego.session_id", admin_b.session_id().to_string()),
        ("carego.scopes", "patients:read patients:write care-logs:read care-logs:write".to_owned()),
        ("carego.context", "00".repeat(32)),
    ] {
        let set = format!("select set_config('{setting}', '{value}', true)");
        assert_eq!(
            b_rows_seen(c, std::slice::from_ref(&set), b).await,
            0,
            "{signed_role}: {setting} = {value}"
        );
        let ctx = attack(
            c,
            &[
                set,
                "select carego.current_facility_id() is null and not carego.is_super_admin()
                        and carego.current_user_id() is null and carego.current_app_role() is null"
                    .to_owned(),
            ],
        )
        .await
        .unwrap();
        assert!(ctx[0].get::<_, bool>(0), "{signed_role}: {setting} rewritten, the accessors yield nothing");
    }
    // Rewriting them all consistently is no better: the signature covers them.
    let forged = b_rows_seen(
        c,
        &[
            format!(
                "select set_config('carego.facility_id', '{b}', true), set_config('carego.user_id', '{}', true),
                        set_config('carego.role', 'facility_admin', true),
                        set_config('carego.db_role', 'carego_facility_admin', true),
                        set_config('carego.session_id', '{}', true)",
                admin_b.id,
                admin_b.session_id()
            ),
            "set local role carego_facility_admin".to_owned(),
        ],
        b,
    )
    .await;
    assert_eq!(forged, 0, "{signed_role}: a consistent forgery of admin B");

    // 2. No super-admin branch: the role cannot be reached, the setting grants nothing.
    for role in ["carego_super_admin", "carego_worker", "carego_platform", "carego_owner"] {
        let res = attack(c, &[format!("set local role {role}")]).await;
        assert_eq!(res.err().as_deref(), Some("42501"), "{signed_role}: set role {role}");
    }
    let res = attack(c, &["reset role".to_owned(), "set role carego_super_admin".to_owned()]).await;
    assert_eq!(res.err().as_deref(), Some("42501"), "{signed_role}: set role from the login role");
    // Nor can it plant a temporary table or type for a function to find.
    for sql in ["create temp table users (id uuid)", "create type pg_temp.text as (x int)"] {
        let res = attack(c, &["reset role".to_owned(), sql.to_owned()]).await;
        assert_eq!(res.err().as_deref(), Some("42501"), "{signed_role}: {sql}");
    }

    // 3. Every role it can switch into sees nothing of B, and nothing at all
    //    but under the role it was signed for.
    for role in TENANT_ROLES {
        assert_eq!(
            b_rows_seen(c, &[format!("set local role {role}")], b).await,
            0,
            "{signed_role}: as {role}"
        );
        let ctx =
            attack(c, &[format!("set local role {role}"), "select carego.current_facility_id()".to_owned()])
                .await
                .unwrap();
        let expected = (*role == signed_role).then_some(a);
        assert_eq!(ctx[0].get::<_, Option<Uuid>>(0), expected, "{signed_role}: as {role}");
    }

    // 4. The prologue again, without a session, naming B's admin: refused.
    let res = attack(
        c,
        &[
            "reset role".to_owned(),
            format!(
                "select carego.begin_request('carego_facility_admin', 'facility_admin', '{b}', '{}', null,
                                             'x', null, null, '5s')",
                admin_b.id
            ),
        ],
    )
    .await;
    assert_eq!(res.err().as_deref(), Some("CG401"), "{signed_role}: a prologue without a session");
    // Nor can a super admin be opened on the tenant login, session or not.
    let res = attack(
        c,
        &[
            "reset role".to_owned(),
            "select carego.begin_request('carego_super_admin', 'super_admin', null, gen_random_uuid(), null,
                                         'x', null, null, '5s')"
                .to_owned(),
        ],
    )
    .await;
    assert_eq!(res.err().as_deref(), Some("CG401"), "{signed_role}: a super admin without a session");
    // The operator's and the worker's doors are the platform's alone.
    for sql in [
        "select carego.begin_operator_request(null, 'x', 'attack', '5s')",
        "select carego.begin_job(1, 'w', null, true, 'x', '5s')",
        "select carego.claim_jobs('w', 10, '1 minute')",
        "select * from carego.cleanup_expired()",
        "select carego.set_context('operator', 'carego_super_admin', null, null, null, null, 'x', null, null)",
    ] {
        let res = attack(c, &["reset role".to_owned(), sql.to_owned()]).await;
        assert_eq!(res.err().as_deref(), Some("42501"), "{signed_role}: {sql}");
    }

    // 5. No row in B's audit chain, whatever it claims.
    for statements in [
        vec![format!("select carego.audit_read('patients', gen_random_uuid(), '{b}')")],
        vec![
            format!("select set_config('carego.facility_id', '{b}', true)"),
            format!("select carego.audit_read('patients', gen_random_uuid(), '{b}')"),
        ],
        vec![
            "select set_config('carego.role', 'super_admin', true)".to_owned(),
            format!("select carego.audit_read('patients', gen_random_uuid(), '{b}')"),
        ],
        vec![format!("select carego.audit_download(gen_random_uuid(), '{b}')")],
    ] {
        let _ = attack(c, &statements).await;
    }
    let b_audit_after: i64 =
        su.query_one("select count(*) from audit_log where facility_id = $1", &[&b]).await.unwrap().get(0);
    assert_eq!(b_audit_after, b_audit_before, "{signed_role}: B's audit chain is untouched");
}

/// A connection as the pool's role inside a transaction opened by an API
/// key's prologue.
async fn open_as_key(app: &TestApp, facility: Uuid, key_id: Uuid, integration: Uuid, scopes: &str) -> Client {
    let client = app.connect_as("carego_app").await;
    client.batch_execute("begin").await.unwrap();
    client
        .execute(
            "select carego.begin_key_request($1, $2, $3, $4, 'test', null, null, '10s')",
            &[&key_id, &facility, &integration, &scopes],
        )
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn sql_inside_a_request_cannot_leave_its_facility_or_its_role() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (a, b) = (c.w.a, c.w.b);
    let client_a = app.learner(&c.w.admin_a, "client").await;
    let key = app
        .post(&c.w.admin_a, "/api/v1/api-keys", json!({"name": "Acme", "scopes": ["patients:read"]}))
        .await;
    key.assert_status(201);
    let key_id: Uuid = key.body["apiKey"]["id"].as_str().unwrap().parse().unwrap();
    let integration: Uuid = key.body["apiKey"]["integrationId"].as_str().unwrap().parse().unwrap();

    let staff = app.open_as(&c.w.staff_a, "carego_staff", "staff").await;
    every_attack_fails(&app, &staff, a, b, &c.w.admin_b, "carego_staff").await;
    let patient = app.open_as(&c.patient1, "carego_patient", "patient").await;
    every_attack_fails(&app, &patient, a, b, &c.w.admin_b, "carego_patient").await;
    let client = app.open_as(&client_a, "carego_client", "client").await;
    every_attack_fails(&app, &client, a, b, &c.w.admin_b, "carego_client").await;
    let integrator = open_as_key(&app, a, key_id, integration, "patients:read").await;
    every_attack_fails(&app, &integrator, a, b, &c.w.admin_b, "carego_integrator").await;
}

#[tokio::test]
async fn a_prologue_refuses_what_it_cannot_verify() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let c = app.connect_as("carego_app").await;
    let prologue = |role: &'static str,
                    app_role: &'static str,
                    facility: Option<Uuid>,
                    user: Uuid,
                    session: Option<Uuid>| {
        let c = &c;
        async move {
            c.batch_execute("begin").await.unwrap();
            let out = c
                .execute(
                    carego::db::PROLOGUE,
                    &[
                        &role,
                        &app_role,
                        &facility,
                        &Some(user),
                        &session,
                        &"t",
                        &None::<String>,
                        &None::<String>,
                        &"5s",
                    ],
                )
                .await
                .map_err(|e| e.code().unwrap().code().to_owned());
            c.batch_execute("rollback").await.unwrap();
            out.map(|_| ())
        }
    };
    // No session, no context.
    assert_eq!(
        prologue("carego_facility_admin", "facility_admin", Some(w.b), w.admin_b.id, None)
            .await
            .err()
            .as_deref(),
        Some("CG401")
    );
    // A session names its user, role and facility; none may be swapped.
    let sid = Some(w.admin_a.session_id());
    assert_eq!(
        prologue("carego_facility_admin", "facility_admin", Some(w.b), w.admin_a.id, sid)
            .await
            .err()
            .as_deref(),
        Some("CG401")
    );
    assert_eq!(
        prologue("carego_staff", "facility_admin", Some(w.a), w.admin_a.id, sid).await.err().as_deref(),
        Some("CG401")
    );
    assert_eq!(
        prologue("carego_facility_admin", "facility_admin", Some(w.a), w.staff_a.id, sid)
            .await
            .err()
            .as_deref(),
        Some("CG401")
    );
    // A live super admin's session does not open on the tenant login.
    assert_eq!(
        prologue("carego_super_admin", "super_admin", None, w.sa.id, Some(w.sa.session_id()))
            .await
            .err()
            .as_deref(),
        Some("CGP03")
    );
    // And the honest one opens.
    assert_eq!(
        prologue("carego_facility_admin", "facility_admin", Some(w.a), w.admin_a.id, sid).await,
        Ok(())
    );
    // Over HTTP, super admins are served all the same (on the platform's login).
    app.get(&w.sa, "/api/v1/facilities").await.assert_status(200);
}
