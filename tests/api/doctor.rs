//! `carego doctor` finds nothing on the migrated schema and every kind of
//! weakness in a deliberately broken copy.

use std::collections::BTreeSet;

use carego::db::infra::doctor;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_migrated_schema_is_clean_and_each_breakage_is_found() {
    let app = TestApp::spawn().await;
    let owner = app.connect_as("carego_owner").await;
    let clean = doctor::examine(&owner).await.unwrap();
    assert!(clean.is_empty(), "{clean:#?}");
    // Every facility wall names the whole tenant group (V44), not only the
    // roles of its day: a role left out is one a later grant would expose.
    let unnamed: Vec<String> = owner
        .query(
            "select pol.polname || ' omits ' || r from pg_policy pol
              cross join unnest(carego.role_group('tenant')) r
              where not pol.polpermissive and pol.polname like '%\\_facility\\_isolation'
                and not (select oid from pg_roles where rolname = r) = any (pol.polroles)
                and not exists (select 1 from pg_policy o where o.polrelid = pol.polrelid
                                   and not o.polpermissive and o.polname <> pol.polname
                                   and (select oid from pg_roles where rolname = r) = any (o.polroles))",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(unnamed.is_empty(), "{unnamed:#?}");

    let su = app.superuser().await;
    let db = app.database.clone();
    su.batch_execute(&format!(
        "create table bad_tenant (facility_id uuid not null, id uuid primary key);
         create table bad_child (facility_id uuid not null, user_id uuid references users (id));
         alter table bad_child enable row level security; alter table bad_child force row level security;
         create policy bad_child_isolation on bad_child as restrictive for all to carego_staff
             using (facility_id = (select carego.current_facility_id()));
         create table staff_owned (id int); alter table staff_owned owner to carego_staff;
         alter table staff_owned enable row level security; alter table staff_owned force row level security;
         create view leaky_view as select id from patients;
         create materialized view leaky_matview as select id, facility_id from patients;
         grant select on leaky_matview to carego_staff;
         create function carego.leaky() returns bigint language sql security definer as 'select count(*) from patients';
         grant execute on function carego.leaky() to carego_staff;
         create function carego.replanned_ids() returns uuid[] language sql stable security definer
             set search_path = pg_catalog, public as 'select array[]::uuid[]';
         create policy bad_child_replanned on bad_child for select to carego_staff
             using (facility_id = any (carego.replanned_ids()));
         grant update on care_logs to carego_staff;
         alter role carego_staff in database {db} set carego.facility_id = '00000000-0000-0000-0000-000000000000';
         alter role carego_platform in database {db} set work_mem = '64kB';
         grant temporary on database {db} to public;
         grant select on bad_child to carego_patient;
         alter table bad_tenant add column api_token text;
         grant select (password_hash) on users to carego_staff;
         create trigger bad_tenant_audit after insert on bad_tenant
             for each row execute function carego.audit_row('facility_id');
         create trigger bad_child_audit after insert on bad_child
             for each row execute function carego.audit_row('facility_id', 'patients');
         alter table stream_tickets rename to stream_tickets_renamed;"
    ))
    .await
    .unwrap();
    // Roles are cluster-wide and every request role is in use by other
    // tests: a privileged role of this test's own that the pool's login role
    // can switch into, removed again; and a request role given a login
    // (no test relies on its absence) and taken back.
    let probe = format!("carego_probe_{}", std::process::id());
    // A request role that can log in, for as short a time.
    su.batch_execute(&format!(
        "create role {probe} nologin bypassrls; grant {probe} to carego_app; alter role carego_teacher login"
    ))
    .await
    .unwrap();
    let broken = doctor::examine(&owner).await;
    su.batch_execute(&format!("alter role carego_teacher nologin; drop role {probe}")).await.unwrap();
    let broken = broken.unwrap();

    let checks: BTreeSet<&str> = broken.iter().map(|f| f.check).collect();
    let expected: BTreeSet<&str> = [
        "rls_not_forced",
        "no_facility_isolation_policy",
        "privileged_role",
        "request_role_owns_object",
        "view_without_security_invoker",
        "materialized_view_reachable",
        "security_definer_without_search_path",
        "policy_function_planned_per_statement",
        "non_composite_tenant_foreign_key",
        "append_only_table_writable",
        "session_level_setting",
        "unregistered_secret_column",
        "secret_readable",
        "tenant_key_without_facility_id",
        "temporary_objects_allowed",
        "privilege_without_restrictive_policy",
        "audit_trigger_misnamed",
        "request_role_can_log_in",
        "table_without_placement",
        "placement_without_table",
    ]
    .into();
    assert_eq!(checks, expected, "{broken:#?}");
    let objects: Vec<String> = broken.iter().map(ToString::to_string).collect();
    for needle in [
        "rls_not_forced: bad_tenant",
        "no_facility_isolation_policy: bad_tenant",
        "privileged_role: carego_probe_",
        "request_role_owns_object: carego_staff owns staff_owned",
        "view_without_security_invoker: public.leaky_view",
        "materialized_view_reachable: public.leaky_matview",
        "security_definer_without_search_path: carego.leaky",
        "policy_function_planned_per_statement: carego.replanned_ids",
        "non_composite_tenant_foreign_key: bad_child.bad_child_user_id_fkey",
        "append_only_table_writable: care_logs grants UPDATE to carego_staff",
        "tenant_key_without_facility_id: bad_tenant.bad_tenant_pkey",
        "temporary_objects_allowed: carego_app",
        "privilege_without_restrictive_policy: bad_child: carego_patient",
        "temporary_objects_allowed: carego_platform",
        "unregistered_secret_column: bad_tenant.api_token",
        "secret_readable: users.password_hash: carego_staff",
        "audit_trigger_misnamed: bad_tenant.bad_tenant_audit",
        "audit_trigger_misnamed: bad_child.bad_child_audit",
        "request_role_can_log_in: carego_teacher",
        "table_without_placement: bad_tenant",
        "table_without_placement: stream_tickets_renamed",
        "placement_without_table: stream_tickets",
    ] {
        assert!(objects.iter().any(|o| o.starts_with(needle)), "missing {needle:?} in {objects:#?}");
    }
    assert!(
        objects.iter().any(|o| o.starts_with("session_level_setting: carego_staff: carego.facility_id="))
    );
    assert!(
        objects.iter().any(|o| o == "session_level_setting: carego_platform: work_mem=64kB"),
        "{objects:#?}"
    );
}
