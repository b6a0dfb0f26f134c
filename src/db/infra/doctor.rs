//! `carego doctor`: reads the catalog and reports what would weaken the wall
//! between tenants. Each finding names the check and the object; a clean
//! database has none.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;

use crate::db::infra::{
    citus,
    migrate::{APP_ROLE, PLATFORM_ROLE, migrations},
    placement,
};

/// The roles requests run as (NOLOGIN on every node: reached only by `SET
/// ROLE` from a login role).
pub const REQUEST_ROLES: &[&str] = &[
    "carego_public",
    "carego_patient",
    "carego_staff",
    "carego_facility_admin",
    "carego_super_admin",
    "carego_integrator",
    "carego_client",
    "carego_student",
    "carego_teacher",
    "carego_worker",
];

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// Stable check name, e.g. `rls_not_forced`.
    pub check: &'static str,
    /// The table, role, function or migration concerned.
    pub object: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.check, self.object)
    }
}

fn roles_with_app() -> Vec<String> {
    REQUEST_ROLES.iter().map(|r| r.to_string()).chain(std::iter::once(APP_ROLE.to_string())).collect()
}

const TABLES_WITHOUT_FORCED_RLS: &str = "
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> 'refinery_schema_history'
       and not (c.relrowsecurity and c.relforcerowsecurity)
     order by 1";

/// Tenant tables: those with a facility_id column, and `facilities` itself.
const TENANT_TABLES: &str = "
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p')
       and (c.relname = 'facilities'
            or exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'facility_id'
                        and not a.attisdropped))";

const WITHOUT_ISOLATION_POLICY: &str = "
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relname = any($1)
       and not exists (select 1 from pg_policy p
                        where p.polrelid = c.oid and not p.polpermissive
                          and pg_get_expr(p.polqual, p.polrelid) like '%current_facility_id()%')
     order by 1";

/// Our roles, and any role the pool's login role can switch into.
const PRIVILEGED_ROLES: &str = "
    select r.rolname from pg_roles r
     where (r.rolname = any($1)
            or r.oid in (select m.roleid from pg_auth_members m join pg_roles a on a.oid = m.member
                          where a.rolname = $2))
       and (r.rolsuper or r.rolbypassrls)
     order by 1";

/// Primary keys and unique constraints of tenant tables without
/// `facility_id`: what Citus could not enforce once tables are distributed
/// by facility (docs/scale-out.md).
const KEYS_WITHOUT_FACILITY: &str = "
    select t.relname || '.' || c.conname from pg_constraint c
      join pg_class t on t.oid = c.conrelid
      join pg_namespace n on n.oid = t.relnamespace
     where n.nspname = 'public' and c.contype in ('p', 'u') and t.relname = any($1)
       and t.relname <> 'facilities'
       and not exists (select 1 from unnest(c.conkey) k join pg_attribute a
                        on a.attrelid = c.conrelid and a.attnum = k where a.attname = 'facility_id')
     order by 1";

/// Keys that omit `facility_id` on purpose, each with its reason; anything
/// else `KEYS_WITHOUT_FACILITY` finds is a finding. docs/scale-out.md says
/// what each becomes under Citus.
pub const PLATFORM_KEYS: &[(&str, &str)] = &[
    ("users.users_pkey", "super admins belong to no facility"),
    ("users.users_email_key", "login by email names no facility"),
    ("users.users_phone_key", "login by phone names no facility"),
    ("sessions.sessions_pkey", "a session is found by its id before its facility is known"),
    ("mfa_factors.mfa_factors_pkey", "super admins' second factors name no facility"),
    ("registration_keys.registration_keys_key_hash_key", "a key is redeemed before its facility is known"),
    ("jobs.jobs_pkey", "one queue for every facility and the platform's own jobs"),
    ("jobs.jobs_dedupe_key_key", "periodic jobs are deduplicated platform-wide"),
    ("audit_log.audit_log_pkey", "platform rows (facility_id null) share the log"),
    ("idempotency_keys.idempotency_keys_pkey", "a super admin's keys name no facility"),
    ("leads.leads_pkey", "a platform lead has no facility until it is routed"),
    ("lead_notes.lead_notes_pkey", "notes of platform leads"),
    ("lead_events.lead_events_pkey", "history of platform leads"),
    ("api_keys.api_keys_secret_hmac_key", "a presented key is found before its facility is known"),
    ("certificates.certificates_code_key", "certificate codes are verified publicly, platform-wide"),
];

const OWNED_BY_REQUEST_ROLES: &str = "
    select r.rolname || ' owns ' || c.relname from pg_class c join pg_roles r on r.oid = c.relowner
     where r.rolname = any($1) and c.relkind in ('r', 'p', 'v', 'm', 'f')
    union all
    select r.rolname || ' owns function ' || p.proname from pg_proc p join pg_roles r on r.oid = p.proowner
     where r.rolname = any($1)
     order by 1";

const VIEWS_WITHOUT_SECURITY_INVOKER: &str = "
    select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'v' and n.nspname not in ('pg_catalog', 'information_schema')
       -- An extension's own views (Citus's citus_tables, …) are its to keep.
       and not exists (select from pg_depend d
                        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
       and not exists (select 1 from unnest(coalesce(c.reloptions, '{}')) o
                        where o in ('security_invoker=true', 'security_invoker=on', 'security_invoker=1'))
     order by 1";

const REACHABLE_MATVIEWS: &str = "
    select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'm'
       and exists (select 1 from unnest($1::text[]) r where has_table_privilege(r, c.oid, 'select'))
     order by 1";

const DEFINERS_WITHOUT_SEARCH_PATH: &str = "
    select n.nspname || '.' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
       and exists (select 1 from unnest($1::text[]) r where has_function_privilege(r, p.oid, 'execute'))
       and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')
     order by 1";

/// A function a policy calls that PostgreSQL can neither inline nor keep a
/// plan for: a SQL function with SECURITY DEFINER or a SET clause has its
/// body parsed and planned again for every statement that calls it (V49,
/// V53; docs/performance.md). Write it in PL/pgSQL, or as an inlinable
/// SQL expression.
const POLICY_FUNCTIONS_PLANNED_PER_STATEMENT: &str = "
    select distinct n.nspname || '.' || p.proname from pg_depend d
      join pg_policy pol on d.classid = 'pg_policy'::regclass and d.objid = pol.oid
      join pg_proc p on d.refclassid = 'pg_proc'::regclass and d.refobjid = p.oid
      join pg_namespace n on n.oid = p.pronamespace
      join pg_language l on l.oid = p.prolang
     where l.lanname = 'sql' and (p.prosecdef or p.proconfig is not null)
     order by 1";

/// A request role holding a privilege on a tenant table that no
/// restrictive policy applies to (directly or through a role it inherits):
/// only its permissive policies would stand between it and every facility.
const PRIVILEGE_WITHOUT_RESTRICTIVE_POLICY: &str = "
    select c.relname || ': ' || r from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
     cross join unnest($1::text[]) r
     where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relrowsecurity
       and (c.relname = 'facilities'
            or exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'facility_id'
                        and not a.attisdropped))
       and exists (select 1 from pg_roles where rolname = r)
       and (has_any_column_privilege(r, c.oid, 'SELECT') or has_any_column_privilege(r, c.oid, 'INSERT')
            or has_any_column_privilege(r, c.oid, 'UPDATE') or has_table_privilege(r, c.oid, 'DELETE'))
       and not exists (select 1 from pg_policy p
                        where p.polrelid = c.oid and not p.polpermissive
                          and exists (select 1 from unnest(p.polroles) pr
                                       where pr = 0 or pg_has_role(r, pr, 'USAGE')))
     order by 1";

/// Roles that may create temporary objects in this database: a temporary
/// table or type is searched before `public` by any function whose
/// search_path does not name pg_temp last.
const TEMPORARY_ALLOWED: &str = "
    select r from unnest($1::text[]) r
     where exists (select 1 from pg_roles where rolname = r)
       and has_database_privilege(r, current_database(), 'TEMPORARY')
     order by 1";

const FOREIGN_KEYS: &str = "
    select c.conname, t.relname as tbl, r.relname as ref,
           array(select a.attname::text from unnest(c.conkey) k join pg_attribute a
                  on a.attrelid = c.conrelid and a.attnum = k) as cols
      from pg_constraint c
      join pg_class t on t.oid = c.conrelid
      join pg_class r on r.oid = c.confrelid
      join pg_namespace n on n.oid = t.relnamespace
     where c.contype = 'f' and n.nspname = 'public'";

/// Tables guarded by the append-only trigger.
const APPEND_ONLY_WRITABLE: &str = "
    select distinct c.relname || ' grants ' || w.priv || ' to ' || r.role
      from pg_trigger g
      join pg_class c on c.oid = g.tgrelid
      join pg_proc f on f.oid = g.tgfoid
      cross join unnest($1::text[]) r(role)
      cross join unnest(array['UPDATE', 'DELETE', 'TRUNCATE']) w(priv)
     where f.proname = 'forbid_change' and has_table_privilege(r.role, c.oid, w.priv)
     order by 1";

/// Defaults for our roles (`ALTER ROLE … SET`, in any database or all): a
/// `carego.*` or role default would hold outside any transaction, and any
/// other (a search path, a timeout) would reach every connection of a pool.
/// Carego sets none. (On Citus workers: checked apart.)
const ROLE_SETTINGS: &str = "
    select r.rolname || ': ' || s
      from pg_db_role_setting d
      join pg_roles r on r.oid = d.setrole
      cross join unnest(d.setconfig) s
     where r.rolname = any($1)
     order by 1";

/// Columns whose names say they hold a secret or a credential's digest but
/// that the secrets registry (`carego.secret_columns`, V46) does not list:
/// the audit trigger would copy them into `audit_log`.
const UNREGISTERED_SECRETS: &str = "
    select c.relname || '.' || a.attname from pg_attribute a
      join pg_class c on c.oid = a.attrelid
      join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'carego') and c.relkind in ('r', 'p') and a.attnum > 0
       and not a.attisdropped
       and a.atttypid in ('text'::regtype, 'bytea'::regtype, 'varchar'::regtype, 'text[]'::regtype,
                          'bytea[]'::regtype)
       and a.attname ~ '(password|secret|hmac|token|recovery|key_hash|_pad$)'
       and not exists (select 1 from carego.secret_columns s
                        where s.table_name = c.relname and s.column_name = a.attname)
     order by 1";

/// Triggers calling `carego.audit_row` whose second argument is not their
/// table's name (V55). The trigger records, and reads the secrets registry
/// by, that name rather than `tg_table_name`, which on a Citus shard is the
/// shard's: a trigger without it raises, one naming another table would
/// strip that table's secrets and not its own.
const AUDIT_TRIGGERS_MISNAMED: &str = "
    select c.relname || '.' || t.tgname from pg_trigger t
      join pg_class c on c.oid = t.tgrelid
      join pg_namespace n on n.oid = c.relnamespace
     where t.tgfoid = 'carego.audit_row'::regproc and not t.tgisinternal and n.nspname = 'public'
       and (t.tgnargs <> 2
            or (string_to_array(encode(t.tgargs, 'escape'), '\\000'))[2] is distinct from c.relname::text)
     order by 1";

/// A request role (or the pool's login role) that can read a registered
/// secret. Sealed columns are ciphertext under a key the database never
/// holds; the server reads them under RLS to open them.
const READABLE_SECRETS: &str = "
    select s.table_name || '.' || s.column_name || ': ' || r
      from carego.secret_columns s
      join pg_class c on c.relname = s.table_name
      join pg_namespace n on n.oid = c.relnamespace and n.nspname in ('public', 'carego')
     cross join unnest($1::text[]) r
     where not s.sealed and exists (select 1 from pg_roles where rolname = r)
       and has_column_privilege(r, c.oid, s.column_name::text, 'SELECT')
     order by 1";

/// Request roles that can log in here: a login would reach them without
/// the login roles' `SET ROLE` and the prologue that comes with it. (On
/// Citus workers the login roles may not either; that is checked apart.)
const REQUEST_ROLES_WITH_LOGIN: &str = "
    select rolname::text from pg_roles where rolname = any($1) and rolcanlogin order by 1";

/// A table's row-level security as one line: whether it is enabled and
/// forced, and each policy's name, kind, command, roles and expressions.
/// `{rel}` is the table; the same line is read on the coordinator and on
/// every shard.
const RLS_LINE: &str = "
    (select c.relrowsecurity::text || ' ' || c.relforcerowsecurity::text || ' '
            || coalesce((select string_agg(p.polname || ' ' || p.polpermissive::text || ' ' || p.polcmd::text || ' '
                                           || p.polroles::regrole[]::text
                                           || ' ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '-')
                                           || ' ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-'),
                                           '; ' order by p.polname)
                           from pg_policy p where p.polrelid = c.oid), '')
       from pg_class c where c.oid = {rel})";

/// On a Citus coordinator, every shard (placement) of a Citus table, with
/// what it holds of the table's row-level security: `differs` when that is
/// not the coordinator's, `unreadable` (and why) when the shard did not
/// answer. Citus 13.2 recreates a restrictive policy on the shards as
/// permissive, and a query on a distributed table is filtered on its
/// shards, where the facility wall would then be OR'ed with the role's
/// other policies (docs/scale-out.md).
fn shard_rls_sql() -> String {
    let on_shard = RLS_LINE.replace("{rel}", "'%1$s'::regclass");
    let on_coordinator = RLS_LINE.replace("{rel}", "x.logicalrelid");
    format!(
        "with placements as (
             select p.logicalrelid, r.nodename, r.shardid, r.success, r.result
               from pg_dist_partition p,
                    run_command_on_placements(p.logicalrelid, $q$select {on_shard}$q$) r)
         select case when x.success then 'differs' else 'unreadable' end,
                x.logicalrelid::regclass || ' shard ' || x.shardid || ' on ' || x.nodename
                || case when x.success then '' else ': ' || x.result end
           from placements x
          where not x.success or x.result is distinct from {on_coordinator}
          order by 2"
    )
}

async fn names(client: &Client, sql: &str, roles: Option<&[String]>) -> anyhow::Result<Vec<String>> {
    let rows = match roles {
        Some(r) => client.query(sql, &[&r]).await?,
        None => client.query(sql, &[]).await?,
    };
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// Runs every check against the database `client` is connected to.
pub async fn examine(client: &Client) -> anyhow::Result<Vec<Finding>> {
    let roles = roles_with_app();
    let request_roles: Vec<String> = REQUEST_ROLES.iter().map(|r| r.to_string()).collect();
    let mut findings = Vec::new();
    let mut add = |check: &'static str, objects: Vec<String>| {
        findings.extend(objects.into_iter().map(|object| Finding { check, object }));
    };

    add("rls_not_forced", names(client, TABLES_WITHOUT_FORCED_RLS, None).await?);
    let tenant: Vec<String> = names(client, TENANT_TABLES, None).await?;
    add("no_facility_isolation_policy", names(client, WITHOUT_ISOLATION_POLICY, Some(&tenant)).await?);
    let privileged = client.query(PRIVILEGED_ROLES, &[&roles, &APP_ROLE]).await?;
    add("privileged_role", privileged.iter().map(|r| r.get(0)).collect());
    add("request_role_owns_object", names(client, OWNED_BY_REQUEST_ROLES, Some(&roles)).await?);
    add("view_without_security_invoker", names(client, VIEWS_WITHOUT_SECURITY_INVOKER, None).await?);
    add("materialized_view_reachable", names(client, REACHABLE_MATVIEWS, Some(&roles)).await?);
    add(
        "security_definer_without_search_path",
        names(client, DEFINERS_WITHOUT_SEARCH_PATH, Some(&request_roles)).await?,
    );
    add(
        "policy_function_planned_per_statement",
        names(client, POLICY_FUNCTIONS_PLANNED_PER_STATEMENT, None).await?,
    );
    let logins: Vec<String> = roles.iter().cloned().chain([PLATFORM_ROLE.to_owned()]).collect();
    add("temporary_objects_allowed", names(client, TEMPORARY_ALLOWED, Some(&logins)).await?);
    add("non_composite_tenant_foreign_key", non_composite_fks(client, &tenant).await?);
    let keys = names(client, KEYS_WITHOUT_FACILITY, Some(&tenant)).await?;
    add(
        "tenant_key_without_facility_id",
        keys.into_iter().filter(|k| !PLATFORM_KEYS.iter().any(|(known, _)| known == k)).collect(),
    );
    add("append_only_table_writable", names(client, APPEND_ONLY_WRITABLE, Some(&roles)).await?);
    add(
        "privilege_without_restrictive_policy",
        names(client, PRIVILEGE_WITHOUT_RESTRICTIVE_POLICY, Some(&request_roles)).await?,
    );
    // Any default at all: a request's SQL can `RESET ROLE` and give its
    // login role one (`ALTER ROLE … SET` needs no privilege for oneself),
    // which every new connection of the pool would then start with.
    add("session_level_setting", names(client, ROLE_SETTINGS, Some(&logins)).await?);
    add("unregistered_secret_column", names(client, UNREGISTERED_SECRETS, None).await?);
    add("secret_readable", names(client, READABLE_SECRETS, Some(&roles)).await?);
    add("audit_trigger_misnamed", names(client, AUDIT_TRIGGERS_MISNAMED, None).await?);
    add("session_level_setting", session_level_sql());
    let tables = names(client, placement::TABLES, None).await?;
    let columns = names(client, placement::COLUMNS, None).await?;
    for (check, object) in placement::check(&tables, &columns) {
        add(check, vec![object]);
    }
    add("request_role_can_log_in", names(client, REQUEST_ROLES_WITH_LOGIN, Some(&request_roles)).await?);
    let citus =
        client.query_one("select exists (select from pg_extension where extname = 'citus')", &[]).await?;
    if citus.get(0) {
        // No request or login role logs in on a worker, or has a default
        // there (`citus::close_worker_logins_sql`). The workers are
        // examined through run_command_on_workers: the owner's alone.
        add("role_on_worker", citus::roles_on_workers(client).await?);
        let open = citus::open_citus_functions(client).await?;
        add("citus_function_open", open.iter().map(citus::CitusFunctions::object).collect());
        for row in client.query(&shard_rls_sql(), &[]).await? {
            let check =
                if row.get::<_, &str>(0) == "differs" { "shard_rls_differs" } else { "shard_unreadable" };
            add(check, vec![row.get(1)]);
        }
    }
    findings.sort();
    Ok(findings)
}

/// A foreign key between two tenant tables must carry `facility_id`, unless
/// the table also has a composite twin over the same columns plus
/// `facility_id` (platform rows with no facility need the single-column one).
/// References to `facilities` itself are the tenant key.
async fn non_composite_fks(client: &Client, tenant: &[String]) -> anyhow::Result<Vec<String>> {
    let tenant: HashSet<&str> = tenant.iter().map(String::as_str).collect();
    let rows = client.query(FOREIGN_KEYS, &[]).await?;
    let fks: Vec<(String, String, String, Vec<String>)> =
        rows.iter().map(|r| (r.get("conname"), r.get("tbl"), r.get("ref"), r.get("cols"))).collect();
    let mut by_table: HashMap<(&str, &str), Vec<&Vec<String>>> = HashMap::new();
    for (_, tbl, rf, cols) in &fks {
        by_table.entry((tbl.as_str(), rf.as_str())).or_default().push(cols);
    }
    let mut out = Vec::new();
    for (name, tbl, rf, cols) in &fks {
        let between_tenants =
            tenant.contains(tbl.as_str()) && tenant.contains(rf.as_str()) && rf != "facilities";
        if !between_tenants || cols.iter().any(|c| c == "facility_id") {
            continue;
        }
        let twin = by_table[&(tbl.as_str(), rf.as_str())]
            .iter()
            .any(|other| other.iter().any(|c| c == "facility_id") && cols.iter().all(|c| other.contains(c)));
        if !twin {
            out.push(format!("{tbl}.{name}"));
        }
    }
    Ok(out)
}

/// Session-level settings in SQL the app ships: `SET` without `LOCAL` and
/// `set_config(…, false)`. On a pooled connection they would outlive the
/// request. Scans the embedded migrations, the schema files and the
/// database layer's source.
fn session_level_sql() -> Vec<String> {
    let sources: Vec<(String, String)> = migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| (m.name().to_owned(), m.sql().unwrap_or_default().to_owned()))
        .chain(APP_SQL_SOURCES.iter().map(|(name, text)| (name.to_string(), text.to_string())))
        .chain(
            super::migrate::SCHEMA_FILES
                .iter()
                .map(|(name, text)| (format!("sql/schema/{name}.sql"), text.to_string())),
        )
        .collect();
    sources
        .into_iter()
        .flat_map(|(name, text)| scan(&text).into_iter().map(move |line| format!("{name}: {line}")))
        .collect()
}

/// The Rust files holding the SQL that runs on the pool's connections:
/// every file of the database layer but `infra/` (the cluster, migrations
/// and TLS run on connections of their own; this file's patterns would match
/// themselves). A test keeps the list complete.
const APP_SQL_SOURCES: &[(&str, &str)] = &[
    ("src/db/mod.rs", include_str!("../mod.rs")),
    ("src/db/tx.rs", include_str!("../tx.rs")),
    ("src/db/errors.rs", include_str!("../errors.rs")),
    ("src/db/filters.rs", include_str!("../filters.rs")),
    ("src/db/amendments.rs", include_str!("../amendments.rs")),
    ("src/db/audit.rs", include_str!("../audit.rs")),
    ("src/db/idempotency.rs", include_str!("../idempotency.rs")),
    ("src/db/jobs.rs", include_str!("../jobs.rs")),
    ("src/db/accounts/api_keys.rs", include_str!("../accounts/api_keys.rs")),
    ("src/db/accounts/care_recipients.rs", include_str!("../accounts/care_recipients.rs")),
    ("src/db/accounts/mfa.rs", include_str!("../accounts/mfa.rs")),
    ("src/db/communication/webhooks.rs", include_str!("../communication/webhooks.rs")),
    ("src/db/accounts/clients.rs", include_str!("../accounts/clients.rs")),
    ("src/db/accounts/facilities.rs", include_str!("../accounts/facilities.rs")),
    ("src/db/accounts/sessions.rs", include_str!("../accounts/sessions.rs")),
    ("src/db/accounts/staff_profiles.rs", include_str!("../accounts/staff_profiles.rs")),
    ("src/db/accounts/users.rs", include_str!("../accounts/users.rs")),
    ("src/db/catalog/mod.rs", include_str!("../catalog/mod.rs")),
    ("src/db/catalog/cities.rs", include_str!("../catalog/cities.rs")),
    ("src/db/catalog/courses.rs", include_str!("../catalog/courses.rs")),
    ("src/db/catalog/leads.rs", include_str!("../catalog/leads.rs")),
    ("src/db/catalog/services.rs", include_str!("../catalog/services.rs")),
    ("src/db/finance/mod.rs", include_str!("../finance/mod.rs")),
    ("src/db/finance/invoices.rs", include_str!("../finance/invoices.rs")),
    ("src/db/finance/plans.rs", include_str!("../finance/plans.rs")),
    ("src/db/clinical/attendance.rs", include_str!("../clinical/attendance.rs")),
    ("src/db/clinical/care_logs.rs", include_str!("../clinical/care_logs.rs")),
    ("src/db/clinical/caseloads.rs", include_str!("../clinical/caseloads.rs")),
    ("src/db/clinical/patients.rs", include_str!("../clinical/patients.rs")),
    ("src/db/clinical/vitals.rs", include_str!("../clinical/vitals.rs")),
    ("src/db/communication/announcements.rs", include_str!("../communication/announcements.rs")),
    ("src/db/communication/conversations.rs", include_str!("../communication/conversations.rs")),
    ("src/db/communication/crisis.rs", include_str!("../communication/crisis.rs")),
    ("src/db/communication/documents.rs", include_str!("../communication/documents.rs")),
    ("src/db/communication/events.rs", include_str!("../communication/events.rs")),
    ("src/db/recovery/mod.rs", include_str!("../recovery/mod.rs")),
    ("src/db/recovery/check_ins.rs", include_str!("../recovery/check_ins.rs")),
    ("src/db/recovery/cravings.rs", include_str!("../recovery/cravings.rs")),
    ("src/db/recovery/goals.rs", include_str!("../recovery/goals.rs")),
    ("src/db/recovery/medications.rs", include_str!("../recovery/medications.rs")),
    ("src/db/recovery/meetings.rs", include_str!("../recovery/meetings.rs")),
    ("src/db/recovery/metrics.rs", include_str!("../recovery/metrics.rs")),
    ("src/db/recovery/sobriety.rs", include_str!("../recovery/sobriety.rs")),
    ("src/db/recovery/progress.rs", include_str!("../recovery/progress.rs")),
    ("src/db/recovery/report.rs", include_str!("../recovery/report.rs")),
    ("src/db/recovery/sync.rs", include_str!("../recovery/sync.rs")),
    ("src/db/recovery/treatment_plans.rs", include_str!("../recovery/treatment_plans.rs")),
    ("src/db/training/mod.rs", include_str!("../training/mod.rs")),
    ("src/db/training/batches.rs", include_str!("../training/batches.rs")),
    ("src/db/training/certificates.rs", include_str!("../training/certificates.rs")),
];

/// Statements in `text` that set something for the whole session: a `SET`
/// (not `SET LOCAL`, `SET TRANSACTION`, `SET CONSTRAINTS`) where a statement
/// starts, and `set_config(…, false)`. An UPDATE's `SET` follows a table name
/// and a function's `SET search_path` clause follows its attributes, so
/// neither counts.
pub fn scan(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let bytes = lower.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("set") {
        let i = from + pos;
        from = i + 3;
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let word_end = bytes.get(i + 3).is_some_and(u8::is_ascii_whitespace);
        if !(word_start && word_end) {
            continue;
        }
        let before = lower[..i].trim_end();
        let prev_word = before.rsplit(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap_or("");
        let statement_start = before.is_empty()
            || before.ends_with([';', '"', '(', '\'', '$'])
            || (before.ends_with(|c: char| c.is_ascii_alphabetic())
                && matches!(prev_word, "begin" | "then" | "else" | "loop"));
        let next = lower[i + 3..].split_whitespace().next().unwrap_or("");
        if statement_start && !matches!(next, "local" | "transaction" | "constraints") {
            found.push(line_at(text, i));
        }
    }
    let mut from = 0;
    while let Some(pos) = lower[from..].find("set_config(") {
        let i = from + pos;
        from = i + 11;
        let call = &lower[i..lower[i..].find(')').map_or(lower.len(), |e| i + e + 1)];
        if call.replace(' ', "").ends_with(",false)") {
            found.push(line_at(text, i));
        }
    }
    found
}

fn line_at(text: &str, i: usize) -> String {
    let start = text[..i].rfind('\n').map_or(0, |p| p + 1);
    let end = text[i..].find('\n').map_or(text.len(), |p| i + p);
    text[start..end].trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_database_layer_is_scanned() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path.to_string_lossy().into_owned());
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        walk(&root.join("src/db"), &mut files);
        for file in files {
            let name = file.strip_prefix(&format!("{}/", root.display())).unwrap().to_owned();
            let listed = APP_SQL_SOURCES.iter().any(|(n, _)| *n == name);
            let exempt =
                name.starts_with("src/db/infra/") || name.ends_with("/mod.rs") && name != "src/db/mod.rs";
            assert!(listed || exempt, "{name} is not in APP_SQL_SOURCES");
        }
    }

    #[test]
    fn the_scanner_finds_session_level_settings_and_nothing_else() {
        let bad = [
            "SET ROLE carego_staff;",
            "select 1; set carego.user_id = 'x';",
            "client.batch_execute(\"set session authorization x\")",
            "begin\n  set role carego_owner;\nend",
            "select set_config('carego.facility_id', $1, false);",
        ];
        for text in bad {
            assert_eq!(scan(text).len(), 1, "{text:?}: {:?}", scan(text));
        }
        let good = "set local role carego_staff;\nselect set_config('carego.user_id', $1, true);\n\
                    security definer\n    set search_path = pg_catalog, public\nupdate t set x = 1;\n\
                    update sessions\n   set revoked_at = now()\n on conflict (k) do update\n set a = 1";
        assert!(scan(good).is_empty(), "{:?}", scan(good));
    }

    #[test]
    fn the_shipped_sql_sets_nothing_for_the_session() {
        assert!(session_level_sql().is_empty(), "{:?}", session_level_sql());
    }
}
