//! The schema as code: `sql/schema/` (functions, policies, grants and role
//! memberships) has the last word over the versioned migrations, so a
//! database migrated from empty and one upgraded from an earlier version,
//! with data in it, end with the same schema, and a grant or membership
//! changed by hand is put back as the files write it.

use std::collections::BTreeSet;

use carego::db::infra::migrate;
use tokio_postgres::Client;

use crate::helpers::empty_database;

/// The newest migration before the schema files came: main as it was.
const BEFORE_SCHEMA_FILES: u32 = 53;

/// The memberships of the carego roles, either way, one line each. Roles
/// are cluster-wide: every database of a cluster sees the same.
const MEMBERSHIPS: &str = "
        select 'membership ' || m.rolname || ' in ' || g.rolname || ' admin=' || a.admin_option
          from pg_auth_members a join pg_roles g on g.oid = a.roleid join pg_roles m on m.oid = a.member
         where g.rolname like 'carego\\_%' or m.rolname like 'carego\\_%'";

/// Everything that makes up the schema, one line per object, from the
/// catalog: tables and columns, constraints, indexes, triggers, views,
/// functions (definition, owner, grants), policies, RLS flags, table,
/// column and schema grants, role memberships, and the schema files'
/// records but their times.
async fn schema(su: &Client) -> BTreeSet<String> {
    let sql = format!(
        "
        select 'column ' || table_schema || '.' || table_name || '.' || column_name || ' ' || data_type
               || ' ' || coalesce(column_default, '-') || ' ' || is_nullable
          from information_schema.columns where table_schema in ('public', 'carego')
        union all
        select 'column grants ' || a.attrelid::regclass || '.' || a.attname || ' ' || a.attacl::text
          from pg_attribute a join pg_class c on c.oid = a.attrelid
         where c.relnamespace in ('public'::regnamespace, 'carego'::regnamespace) and a.attacl is not null
        union all
        select 'schema ' || nspname || ' ' || coalesce(nspacl::text, '-')
          from pg_namespace where nspname in ('public', 'carego')
        union all {MEMBERSHIPS}
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
        select 'migration ' || version || ' ' || name || ' ' || checksum from refinery_schema_history"
    );
    su.query(&sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
}

fn differences((a_name, a): (&str, &BTreeSet<String>), (b_name, b): (&str, &BTreeSet<String>)) -> String {
    let only = |x: &BTreeSet<String>, y: &BTreeSet<String>| x.difference(y).cloned().collect::<Vec<_>>();
    format!("only {a_name}:\n{:#?}\nonly {b_name}:\n{:#?}", only(a, b), only(b, a))
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
    // And grants changed by hand since: one given on a column, one taken
    // from a table. The schema files put both back as they write them.
    old.batch_execute(
        "grant update (notes) on patients to carego_patient;
         revoke select on audit_log from carego_facility_admin;",
    )
    .await
    .unwrap();
    migrate::run(&old_owner).await.unwrap();

    let (fresh_schema, upgraded_schema) = (schema(&fresh).await, schema(&old).await);
    assert!(fresh_schema.iter().filter(|l| l.starts_with("function carego.")).count() > 100);
    assert!(fresh_schema.iter().any(|l| l.starts_with("schema file context ")));
    assert!(fresh_schema.iter().any(|l| l.starts_with("column grants users.email ")));
    assert!(
        fresh_schema.iter().any(|l| l == "membership carego_worker in carego_facility_admin admin=false")
    );
    assert!(
        fresh_schema == upgraded_schema,
        "{}",
        differences(("when fresh", &fresh_schema), ("when upgraded", &upgraded_schema))
    );
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

/// The carego roles' memberships as `client` sees them (inside its transaction).
async fn memberships(client: &Client) -> BTreeSet<String> {
    client.query(MEMBERSHIPS, &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
}

/// Whether each of `probes` (a boolean SQL expression) holds.
async fn hold(client: &Client, probes: &[&str]) -> Vec<bool> {
    let mut out = Vec::new();
    for probe in probes {
        out.push(client.query_one(&format!("select {probe}"), &[]).await.unwrap().get(0));
    }
    out
}

#[tokio::test]
async fn a_grant_taken_or_given_by_hand_is_put_back_as_the_schema_files_write_it() {
    let (_, owner_conn, su) = empty_database("grants").await;
    migrate::run(&owner_conn).await.unwrap();
    let ours = schema(&su).await;
    let mut owner = migrate::connect(&owner_conn).await.unwrap();

    // Each true as the files write it; the owner's changes below make each false.
    let probes = [
        "has_table_privilege('carego_patient', 'public.check_ins', 'select')",
        "has_column_privilege('carego_facility_admin', 'public.api_keys', 'revoked_at', 'update')",
        "has_function_privilege('carego_staff', 'carego.current_facility_id()', 'execute')",
        "has_schema_privilege('carego_teacher', 'carego', 'usage')",
        "not has_table_privilege('carego_staff', 'public.check_ins', 'delete')",
        "not has_column_privilege('carego_staff', 'public.users', 'password_hash', 'select')",
        "not has_table_privilege('carego_platform', 'carego.context_key', 'select')",
        "not has_function_privilege('carego_app', 'carego.rotate_context_key()', 'execute')",
    ];
    assert_eq!(hold(&su, &probes).await, vec![true; probes.len()]);
    owner
        .batch_execute(
            "revoke select on table check_ins from carego_patient;
             revoke update (revoked_at) on table api_keys from carego_facility_admin;
             revoke execute on function carego.current_facility_id() from carego_staff;
             revoke usage on schema carego from carego_teacher;
             grant delete on table check_ins to carego_staff;
             grant select (password_hash) on table users to carego_staff;
             grant select on table carego.context_key to carego_platform;
             grant execute on function carego.rotate_context_key() to carego_app;",
        )
        .await
        .unwrap();
    assert_eq!(hold(&su, &probes).await, vec![false; probes.len()], "the owner changed every one");
    assert!(schema(&su).await != ours);

    // Applied again (as after a later migration, with nothing else changed).
    owner.batch_execute("delete from carego.schema_files").await.unwrap();
    let applied = migrate::apply_schema(&mut owner).await.unwrap();
    assert_eq!(applied.len(), migrate::SCHEMA_FILES.len(), "{applied:?}");
    assert_eq!(hold(&su, &probes).await, vec![true; probes.len()]);
    let now = schema(&su).await;
    assert!(now == ours, "{}", differences(("as the files write them", &ours), ("now", &now)));
}

#[tokio::test]
async fn the_role_memberships_are_the_accounts_files_list() {
    let (_, owner_conn, _) = empty_database("memberships").await;
    migrate::run(&owner_conn).await.unwrap();
    let owner = migrate::connect(&owner_conn).await.unwrap();
    let ours = memberships(&owner).await;
    assert!(ours.contains("membership carego_app in carego_staff admin=false"), "{ours:#?}");
    assert!(!ours.iter().any(|l| l.starts_with("membership carego_app in carego_super_admin")));

    // Roles are cluster-wide and other tests share the cluster: the changes
    // and the file run in one transaction that is rolled back, so no other
    // test ever sees a membership missing or one too many.
    let probe = format!("carego_schema_probe_{}", std::process::id());
    owner
        .batch_execute(&format!(
            "begin;
             set local check_function_bodies = off;
             revoke carego_teacher from carego_app;
             grant carego_super_admin to carego_app;
             grant carego_integrator to carego_platform;
             grant pg_read_all_data to carego_student;
             create role {probe} nologin;
             grant carego_staff to {probe};"
        ))
        .await
        .unwrap();
    let changed = memberships(&owner).await;
    for line in [
        "membership carego_app in carego_super_admin admin=false".to_owned(),
        "membership carego_platform in carego_integrator admin=false".to_owned(),
        "membership carego_student in pg_read_all_data admin=false".to_owned(),
        format!("membership {probe} in carego_staff admin=false"),
    ] {
        assert!(changed.contains(&line), "{line} is granted: {changed:#?}");
    }
    assert!(!changed.contains("membership carego_app in carego_teacher admin=false"));

    let accounts = migrate::SCHEMA_FILES.iter().find(|(name, _)| *name == "accounts").unwrap().1;
    owner.batch_execute(accounts).await.unwrap();
    let now = memberships(&owner).await;
    owner.batch_execute("rollback").await.unwrap();
    assert!(now == ours, "{}", differences(("as the files write them", &ours), ("now", &now)));
}

/// Migrating from empty passes through states no other database of the
/// cluster may see (V1 makes `carego_app` a member of `carego_super_admin`;
/// V41 takes it back): the migrations run in one transaction, so a session
/// watching the roles while they run never sees that membership.
#[tokio::test]
async fn a_database_migrated_from_empty_shows_the_cluster_no_state_in_between() {
    let (_, owner_conn, su) = empty_database("in_between").await;
    let migrating = tokio::spawn(async move { migrate::run(&owner_conn).await.map(|_| ()) });
    let mut looks = 0;
    while !migrating.is_finished() {
        let now = memberships(&su).await;
        assert!(
            !now.iter().any(|l| l.starts_with("membership carego_app in carego_super_admin")),
            "seen while migrating: {now:#?}"
        );
        looks += 1;
    }
    migrating.await.unwrap().unwrap();
    assert!(looks > 10, "the roles were watched while the migrations ran ({looks} looks)");
}
