//! No secret leaves its table (issue 20, item 4): every registered secret
//! the suite creates is found nowhere but in its own column, and login
//! compares password hashes inside the database, so the public role can
//! neither read a hash nor open a session without the password.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp};

/// Every value stored in a registered secret column, as JSON renders it
/// (bytea as hex), with the column it belongs to.
async fn stored_secrets(su: &tokio_postgres::Client) -> Vec<(String, String)> {
    let columns = su
        .query(
            "select n.nspname::text, s.table_name::text, s.column_name::text
               from carego.secret_columns s
               join pg_class c on c.relname = s.table_name
               join pg_namespace n on n.oid = c.relnamespace and n.nspname in ('public', 'carego')",
            &[],
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for c in columns {
        let (schema, table, column): (String, String, String) = (c.get(0), c.get(1), c.get(2));
        let sql = format!(
            "select x.s from {schema}.{table} t,
                    lateral (select jsonb_array_elements_text(to_jsonb(t.{column}))
                              where jsonb_typeof(to_jsonb(t.{column})) = 'array'
                             union all
                             select to_jsonb(t.{column}) #>> '{{}}'
                              where jsonb_typeof(to_jsonb(t.{column})) = 'string') x(s)"
        );
        for row in su.query(&sql, &[]).await.unwrap() {
            let value: String = row.get(0);
            let value = value.strip_prefix("\\x").map(str::to_owned).unwrap_or(value);
            out.push((format!("{table}.{column}"), value));
        }
    }
    out
}

#[tokio::test]
async fn no_secret_the_suite_creates_is_found_outside_its_own_column() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    // A live registration key, an API key, a second factor's recovery codes
    // and a changed password, on top of the clinic's logins and registrations.
    let (_, live_key) = app.patient(&c.w.admin_a).await;
    let made = app
        .post(&c.w.admin_a, "/api/v1/api-keys", json!({"name": "Probe", "scopes": ["patients:read"]}))
        .await;
    made.assert_status(201);
    let api_secret = made.body["secret"].as_str().unwrap().to_owned();
    let new_password = "a brand new passphrase";
    app.post(
        &c.w.staff_a,
        "/api/v1/auth/password",
        json!({"currentPassword": PASSWORD, "newPassword": new_password}),
    )
    .await
    .assert_status(204);
    app.login(&c.w.staff_a.email, new_password).await.assert_status(200);
    app.login(&c.w.staff_a.email, PASSWORD).await.assert_problem(401, "invalid_credentials");

    let su = app.superuser().await;
    let mut needles = stored_secrets(&su).await;
    for column in [
        "users.password_hash",
        "registration_keys.key_hash",
        "api_keys.secret_hmac",
        "refresh_tokens.token_hash",
    ] {
        assert!(needles.iter().any(|(c, _)| c == column), "the suite stored no {column}: {needles:?}");
    }
    let plain = [PASSWORD, new_password, &live_key, &api_secret, &c.patient1.refresh, &c.patient1.token];
    needles.extend(plain.iter().map(|p| ("plaintext".to_owned(), p.to_string())));

    // Every table of ours, each row as JSON without its own registered
    // columns: no secret of any column may be anywhere in it.
    let tables = su
        .query(
            "select n.nspname::text, c.relname::text from pg_class c
               join pg_namespace n on n.oid = c.relnamespace
              where n.nspname in ('public', 'carego') and c.relkind in ('r', 'p')",
            &[],
        )
        .await
        .unwrap();
    assert!(tables.len() > 40, "the sweep found only {} tables", tables.len());
    let mut found = Vec::new();
    for t in tables {
        let (schema, table): (String, String) = (t.get(0), t.get(1));
        let sql = format!("select carego.strip_secrets($1, to_jsonb(t))::text from {schema}.{table} t");
        for row in su.query(&sql, &[&table]).await.unwrap() {
            let text: String = row.get(0);
            for (column, value) in &needles {
                if text.contains(value.as_str()) {
                    found.push(format!("{column} in {schema}.{table}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[tokio::test]
async fn the_public_role_reads_no_hash_and_opens_no_session_without_the_password() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let su = app.superuser().await;
    let stored: String =
        su.query_one("select password_hash from users where id = $1", &[&w.sa.id]).await.unwrap().get(0);

    // As the pool's login role, switched into the website's role.
    let public = app.connect_as(carego::db::infra::migrate::APP_ROLE).await;
    public.batch_execute("begin; set local role carego_public").await.unwrap();
    let row = public
        .query_one(
            "select user_id, password_params from carego.auth_login_candidate($1, null)",
            &[&w.sa.email],
        )
        .await
        .unwrap();
    let params: String = row.get(1);
    assert!(
        stored.starts_with(&params) && stored.len() > params.len() + 20,
        "{params} is more than the salt"
    );
    let gone = public.query("select * from carego.auth_login_lookup($1, null)", &[&w.sa.email]).await;
    assert_eq!(gone.unwrap_err().code(), Some(&tokio_postgres::error::SqlState::UNDEFINED_FUNCTION));
    public.batch_execute("rollback; begin; set local role carego_public").await.unwrap();
    let read = public.query("select password_hash from users", &[]).await;
    assert_eq!(read.unwrap_err().code(), Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE));
    public.batch_execute("rollback; begin; set local role carego_public").await.unwrap();

    // The super admin's session, asked for by id with a guessed hash (and
    // with none), is not opened.
    let open =
        "select outcome, session_id from carego.auth_open_session($1, $2, $3, interval '1 hour', null, null)";
    for guess in [format!("{params}$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), String::new()] {
        let row = public.query_one(open, &[&w.sa.id, &guess, &b"attacker".as_slice()]).await.unwrap();
        assert_eq!(row.get::<_, &str>(0), "invalid");
        assert_eq!(row.get::<_, Option<Uuid>>(1), None);
    }
    let row = public.query_one(open, &[&Uuid::new_v4(), &stored, &b"attacker-2".as_slice()]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "invalid", "a hash opens only its own account");
    public.batch_execute("commit").await.unwrap();
    let planted: i64 = su
        .query_one(
            "select count(*) from refresh_tokens where token_hash in ('\\x61747461636b6572', '\\x61747461636b65722d32')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(planted, 0, "no session was opened for the attacker's refresh tokens");
    // The honest path still works end to end.
    app.login(&w.sa.email, PASSWORD).await.assert_status(200);
}

#[tokio::test]
async fn an_audit_row_written_before_the_registry_shows_no_secret() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    // A registration key's row as the trigger wrote it before V46: the hash
    // in its values (the chain covers it, so it stays in the table).
    let su = app.superuser().await;
    su.execute(
        "insert into audit_log (facility_id, action, entity_type, entity_id, new_values)
         values ($1, 'create', 'registration_keys', gen_random_uuid(),
                 jsonb_build_object('key_hash', '\\x0badc0de', 'expires_at', now()))",
        &[&w.a],
    )
    .await
    .unwrap();
    let listed = app.get(&w.admin_a, "/api/v1/audit-logs?entityType=registration_keys").await;
    let row = &listed.items()[0];
    assert!(row["newValues"]["expires_at"].is_string(), "{row}");
    assert!(row["newValues"].get("key_hash").is_none(), "{row}");
}

/// On a Citus shard the audit trigger runs under the shard's name
/// (`users_103550`), which the secrets registry does not list; a trial
/// cluster wrote a password hash into the audit that way. The trigger
/// records, and strips by, the table name it was given (V55), so a copy of
/// `users` under a shard's name, with the trigger as Citus copies it, is
/// recorded as `users` and without the hash; a trigger not given the name
/// refuses the write rather than record it unstripped.
#[tokio::test]
async fn the_audit_trigger_strips_by_its_tables_name_even_under_a_shards_name() {
    let app = TestApp::spawn().await;
    let w = app.two_facilities().await;
    let su = app.superuser().await;
    su.batch_execute(
        "create table users_103550 (like users including all);
         create trigger users_audit after insert or update or delete on users_103550
             for each row execute function carego.audit_row('facility_id', 'users');
         create table users_103551 (like users including all);
         create trigger users_audit after insert on users_103551
             for each row execute function carego.audit_row('facility_id');",
    )
    .await
    .unwrap();
    let user: Uuid = su
        .query_one(
            "select id from users where facility_id = $1 and password_hash is not null limit 1",
            &[&w.a],
        )
        .await
        .unwrap()
        .get(0);
    su.execute("insert into users_103550 select * from users where id = $1", &[&user]).await.unwrap();
    let recorded: Vec<(String, serde_json::Value)> = su
        .query(
            "select entity_type, new_values from audit_log
              where entity_id = $1 and action = 'create' order by chain_seq",
            &[&user],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(recorded.len(), 2, "the account's creation and its copy on the shard: {recorded:#?}");
    for (entity_type, values) in &recorded {
        assert_eq!(entity_type, "users");
        assert_eq!(values["id"], json!(user.to_string()), "{values}");
        assert!(values.get("password_hash").is_none(), "{values}");
    }

    let refused = su.execute("insert into users_103551 select * from users where id = $1", &[&user]).await;
    let err = format!("{:?}", refused.expect_err("an audit trigger without its table's name refuses"));
    assert!(err.contains("needs the table's name"), "{err}");
}
