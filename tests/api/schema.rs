//! The schema as code: `sql/schema/` (functions and policies) has the last
//! word over the versioned migrations, so a database migrated from empty and
//! one upgraded from an earlier version, with data in it, end with the same
//! schema.

use std::collections::BTreeSet;

use carego::db::infra::migrate;
use tokio_postgres::Client;

use crate::helpers::empty_database;

/// The newest migration before the schema files came: main as it was.
const BEFORE_SCHEMA_FILES: u32 = 53;

/// Everything that makes up the schema, one line per object, from the
/// catalog: tables and columns, constraints, indexes, triggers, views,
/// functions (definition, owner, grants), policies, RLS flags, table grants,
/// and the schema files' records but their times.
async fn schema(su: &Client) -> BTreeSet<String> {
    let sql = "
        select 'column ' || table_schema || '.' || table_name || '.' || column_name || ' ' || data_type
               || ' ' || coalesce(column_default, '-') || ' ' || is_nullable
          from information_schema.columns where table_schema in ('public', 'carego')
        union all
        select 'constraint ' || conrelid::regclass || '.' || conname || ' ' || pg_get_constraintdef(oid)
          from pg_constraint where connamespace in ('public'::regnamespace, 'carego'::regnamespace)
        union all
        select 'index ' || schemaname || '.' || indexname || ' ' || indexdef
          from pg_indexes where schemaname in ('public', 'carego')
        union all
        select 'trigger ' || pg_get_triggerdef(oid) from pg_trigger where not tgisinternal
        union all
        select 'view ' || schemaname || '.' || viewname || ' ' || definition
          from pg_views where schemaname in ('public', 'carego')
        union all
        select 'function ' || p.oid::regprocedure || ' ' || p.proowner::regrole || ' '
               || coalesce(p.proacl::text, '-') || ' ' || pg_get_functiondef(p.oid)
          from pg_proc p where p.pronamespace in ('public'::regnamespace, 'carego'::regnamespace)
        union all
        select 'policy ' || schemaname || '.' || tablename || '.' || policyname || ' ' || permissive || ' '
               || roles::text || ' ' || cmd || ' ' || coalesce(qual, '-') || ' ' || coalesce(with_check, '-')
          from pg_policies
        union all
        select 'relation ' || c.oid::regclass || ' ' || c.relkind::text || ' rls=' || c.relrowsecurity
               || ' forced=' || c.relforcerowsecurity || ' ' || coalesce(c.relacl::text, '-')
          from pg_class c where c.relnamespace in ('public'::regnamespace, 'carego'::regnamespace)
        union all
        select 'schema file ' || name || ' ' || encode(checksum, 'hex') || ' ' || after_migration
          from carego.schema_files
        union all
        select 'migration ' || version || ' ' || name || ' ' || checksum from refinery_schema_history";
    su.query(sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
}

fn differences(a: &BTreeSet<String>, b: &BTreeSet<String>) -> String {
    let only = |x: &BTreeSet<String>, y: &BTreeSet<String>| x.difference(y).cloned().collect::<Vec<_>>();
    format!("only when fresh:\n{:#?}\nonly when upgraded:\n{:#?}", only(a, b), only(b, a))
}

#[tokio::test]
async fn a_fresh_database_and_one_upgraded_from_main_with_data_end_with_the_same_schema() {
    let (_, fresh_owner, fresh) = empty_database("fresh").await;
    migrate::run(&fresh_owner).await.unwrap();

    let (_, old_owner, old) = empty_database("upgraded").await;
    migrate::run_to(&old_owner, Some(BEFORE_SCHEMA_FILES)).await.unwrap();
    // A facility with a user and a patient, as main held them (written by a
    // superuser: the rows, their triggers and the audit chain, no request).
    old.batch_execute(
        "insert into facilities (name, slug, kind) values ('Upgraded', 'upgraded', 'rehab_centre');
         insert into users (facility_id, email, role, first_name, last_name)
              select id, 'nurse@upgraded.example', 'staff', 'Nora', 'Nurse' from facilities;
         insert into patients (facility_id, first_name, last_name, date_of_birth)
              select id, 'Pat', 'Doe', '1980-01-01' from facilities;",
    )
    .await
    .unwrap();
    let audited: i64 = old.query_one("select count(*) from audit_log", &[]).await.unwrap().get(0);
    assert!(audited >= 3, "the data is in the audit chain: {audited}");
    migrate::run(&old_owner).await.unwrap();

    let (fresh_schema, upgraded_schema) = (schema(&fresh).await, schema(&old).await);
    assert!(fresh_schema.iter().filter(|l| l.starts_with("function carego.")).count() > 100);
    assert!(fresh_schema.iter().any(|l| l.starts_with("schema file context ")));
    assert!(fresh_schema == upgraded_schema, "{}", differences(&fresh_schema, &upgraded_schema));
    // The data came through, still chained.
    let chain = old
        .query_one("select ok, checked from carego.audit_verify((select id from facilities))", &[])
        .await
        .unwrap();
    assert!(chain.get::<_, bool>(0), "the chain holds");
    assert!(chain.get::<_, i64>(1) >= 3, "and has the rows written before the upgrade");
}

#[tokio::test]
async fn a_schema_file_outlasts_a_later_migration_and_an_unchanged_one_is_not_applied_again() {
    let (_, owner_conn, su) = empty_database("outlast").await;
    migrate::run(&owner_conn).await.unwrap();
    let definition = "select pg_get_functiondef('carego.current_app_role()'::regprocedure)";
    let ours: String = su.query_one(definition, &[]).await.unwrap().get(0);
    let mut owner = migrate::connect(&owner_conn).await.unwrap();

    // Nothing changed: nothing is applied.
    assert!(migrate::apply_schema(&mut owner).await.unwrap().is_empty());

    let wall = "select qual from pg_policies where policyname = 'check_ins_facility_isolation'";
    let our_wall: String = su.query_one(wall, &[]).await.unwrap().get(0);

    // A later migration replaces a function the context file defines, and
    // opens the wall of a table the recovery file holds.
    owner
        .batch_execute(
            "create or replace function carego.current_app_role() returns text
                 language sql stable as $$ select 'super_admin' $$;
             alter policy check_ins_facility_isolation on check_ins using (true);
             insert into refinery_schema_history (version, name, applied_on, checksum)
                  values (100000, 'a_later_migration', now()::text, '0');",
        )
        .await
        .unwrap();
    let applied = migrate::apply_schema(&mut owner).await.unwrap();
    assert!(applied.contains(&"context") && applied.contains(&"recovery"), "{applied:?}");
    let now: String = su.query_one(definition, &[]).await.unwrap().get(0);
    assert_eq!(now, ours, "the schema file has the last word");
    let wall_now: String = su.query_one(wall, &[]).await.unwrap().get(0);
    assert_eq!(wall_now, our_wall, "and the wall is back");
    assert!(wall_now.contains("current_facility_id"), "{wall_now}");
    assert!(migrate::apply_schema(&mut owner).await.unwrap().is_empty(), "applied once");
}
