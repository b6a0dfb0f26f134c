//! Query plans stay flat as tenants grow: on a dataset large enough for the
//! planner to care, every hot query, run as its request role, narrows by an
//! index condition on `facility_id`, and the context functions (and the
//! caseload) are computed once per statement in an InitPlan, never per row.

use carego::db::{
    accounts::{api_keys, care_recipients, clients, facilities, users},
    audit,
    catalog::{courses, leads, services},
    clinical::{attendance, care_logs, caseloads, patients, vitals},
    communication::{
        announcements, conversations,
        crisis::{self, CrisisAlert},
        documents::Document,
        webhooks,
    },
    filters::Variants,
    finance::{invoices, plans},
    recovery::{
        Logged,
        check_ins::CheckIn,
        cravings::Craving,
        goals::{Goal, GoalProgress},
        medications::{self, DoseEvent},
        meetings::Meeting,
        sobriety::SobrietyReset,
        treatment_plans,
    },
    training::{batches, certificates},
};
use serde_json::Value;
use tokio_postgres::{Client, types::ToSql};
use uuid::Uuid;

use crate::helpers::TestApp;

const SEED: &str = "
    set session_replication_role = replica; -- no audit rows for synthetic data
    insert into facilities (id, slug, name, kind)
         select md5('f' || f)::uuid, 'plan-' || f, 'Facility ' || f, 'clinic' from generate_series(1, 40) f;
    insert into users (id, facility_id, email, role, first_name, last_name)
         select md5('u' || f || '-' || s)::uuid, md5('f' || f)::uuid, 'u' || f || '-' || s || '@plan.example',
                case when s = 1 then 'facility_admin' else 'staff' end, 'U', 'S' || s
           from generate_series(1, 40) f, generate_series(1, 20) s;
    insert into patients (facility_id, id, first_name, last_name, date_of_birth, status, admission_date,
                          primary_counsellor_id)
         select md5('f' || f)::uuid, md5('p' || f || '-' || p)::uuid, 'P', 'Q' || p, '1980-01-01', 'active',
                '2026-01-01', md5('u' || f || '-' || (2 + p % 19))::uuid
           from generate_series(1, 40) f, generate_series(1, 300) p;
    insert into assignments (facility_id, patient_id, staff_id, role)
         select facility_id, id, primary_counsellor_id, 'nurse' from patients;
    -- Each user signed in, with a session whose id is theirs (the prologue
    -- opens no context without one).
    insert into sessions (id, facility_id, user_id, expires_at)
         select id, facility_id, id, now() + interval '1 day' from users where email like '%@plan.example';
    insert into care_logs (facility_id, patient_id, kind, body, occurred_at, recorded_by, recorded_at)
         select p.facility_id, p.id, 'note', 'entry', now() - make_interval(hours => n), p.primary_counsellor_id, now()
           from patients p, generate_series(1, 10) n;
    insert into audit_log (facility_id, action, entity_type, chain_seq, prev_hash, hash, created_at)
         select md5('f' || f)::uuid, 'create', 'synthetic', n, '\\x', '\\x', now() - make_interval(secs => n)
           from generate_series(1, 40) f, generate_series(1, 2000) n;
    set session_replication_role = origin;
    analyze;";

/// The id the seed gave `name` (`md5(name)::uuid`).
async fn seeded(su: &Client, name: &str) -> Uuid {
    su.query_one("select md5($1)::uuid", &[&name]).await.unwrap().get(0)
}

struct Plan {
    nodes: Vec<Value>,
}

impl Plan {
    fn collect(node: &Value, out: &mut Vec<Value>) {
        out.push(node.clone());
        for child in node["Plans"].as_array().into_iter().flatten() {
            Self::collect(child, out);
        }
    }

    fn conditions(node: &Value) -> Vec<String> {
        ["Index Cond", "Recheck Cond", "Filter", "Join Filter", "Hash Cond", "One-Time Filter"]
            .iter()
            .filter_map(|k| node[*k].as_str().map(str::to_owned))
            .collect()
    }

    fn text(&self) -> String {
        serde_json::to_string_pretty(&self.nodes[0]).unwrap()
    }

    /// Some scan of `table` has an index condition on `column`.
    fn narrows_by(&self, table: &str, column: &str) -> bool {
        self.nodes.iter().any(|n| {
            n["Relation Name"] == table
                && ["Index Cond", "Recheck Cond"]
                    .iter()
                    .any(|k| n[*k].as_str().is_some_and(|c| c.contains(column)))
        })
    }

    /// The plan narrows `table` by an index condition on facility_id.
    fn assert_flat(&self, name: &str, table: &str) {
        let text = serde_json::to_string_pretty(&self.nodes[0]).unwrap();
        let indexed = self.nodes.iter().any(|n| {
            n["Relation Name"] == table
                && ["Index Cond", "Recheck Cond"]
                    .iter()
                    .any(|k| n[*k].as_str().is_some_and(|c| c.contains("facility_id")))
        });
        assert!(indexed, "{name}: no index condition on {table}.facility_id:\n{text}");
        let subplans = self.nodes.iter().filter(|n| n["Parent Relationship"] == "SubPlan").count();
        assert_eq!(subplans, 0, "{name}: per-row SubPlan:\n{text}");
        let initplans = self.nodes.iter().filter(|n| n["Parent Relationship"] == "InitPlan").count();
        assert!(initplans > 0, "{name}: no InitPlan:\n{text}");
        for n in &self.nodes {
            for cond in Self::conditions(n) {
                // SQL context functions are inlined, so also look for what they inline to.
                for f in [
                    "current_setting(",
                    "current_facility_id()",
                    "current_user_id()",
                    "visible_patient_ids()",
                    "is_super_admin()",
                ] {
                    assert!(!cond.contains(f), "{name}: {f} evaluated per row in `{cond}`:\n{text}");
                }
            }
        }
    }
}

/// The generic plan of `sql` run with `args` (SQL literals), as PostgreSQL
/// may settle on for a prepared statement after its fifth run.
async fn generic_plan(
    client: &Client,
    role: (&str, &str),
    facility: Uuid,
    user: Uuid,
    sql: &str,
    args: &str,
) -> Plan {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!("generic_{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let settings = format!("set local plan_cache_mode = force_generic_plan; prepare {name} as {sql}");
    let plan =
        explain_with(client, &settings, role, facility, user, &format!("execute {name}({args})"), &[]).await;
    client.batch_execute(&format!("deallocate {name}")).await.unwrap();
    plan
}

async fn explain(
    client: &Client,
    role: (&str, &str),
    facility: Uuid,
    user: Uuid,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Plan {
    explain_with(client, "", role, facility, user, sql, params).await
}

/// [`explain`] with planner settings (`set local ...`) applied first.
async fn explain_with(
    client: &Client,
    settings: &str,
    role: (&str, &str),
    facility: Uuid,
    user: Uuid,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Plan {
    client.batch_execute("begin").await.unwrap();
    client
        .execute(
            carego::db::PROLOGUE,
            &[
                &role.0,
                &role.1,
                &facility,
                &user,
                &Some(user), // the seed's session of `user`
                &"plans",
                &None::<String>,
                &None::<String>,
                &"5s",
            ],
        )
        .await
        .unwrap();
    client.batch_execute(settings).await.unwrap();
    let row = client.query_one(&format!("explain (format json) {sql}"), params).await.unwrap();
    client.batch_execute("rollback").await.unwrap();
    let plan: Value = row.get(0);
    let mut nodes = Vec::new();
    Plan::collect(&plan[0]["Plan"], &mut nodes);
    Plan { nodes }
}

#[tokio::test]
async fn hot_queries_use_facility_indexes_and_initplans() {
    let app = TestApp::spawn().await;
    let su = app.superuser().await;
    su.batch_execute(SEED).await.unwrap();
    let client = app.connect_as("carego_app").await;
    let facility = seeded(&su, "f7").await;
    let staff = seeded(&su, "u7-2").await;
    let admin = seeded(&su, "u7-1").await;
    let patient = seeded(&su, "p7-19").await;
    let staff_role = ("carego_staff", "staff");
    let admin_role = ("carego_facility_admin", "facility_admin");

    // Every request's prologue sets `plan_cache_mode = force_generic_plan`
    // (sql/schema/context.sql): these are the plans the server runs.
    let plan =
        generic_plan(&client, staff_role, facility, staff, patients::LIST.get(patients::LIVE), "21").await;
    plan.assert_flat("caseload list", "patients");

    let plan =
        generic_plan(&client, staff_role, facility, staff, patients::GET, &format!("'{patient}'")).await;
    plan.assert_flat("patient by id", "patients");

    let plan = generic_plan(
        &client,
        staff_role,
        facility,
        staff,
        care_logs::LIST.get(0),
        &format!("'{patient}', 21"),
    )
    .await;
    plan.assert_flat("care log list", "care_logs");

    let args = format!("'{patient}', 'note', 'x', null, false");
    let plan = generic_plan(&client, staff_role, facility, staff, care_logs::INSERT, &args).await;
    plan.assert_flat("care log append", "patients");

    let plan = generic_plan(&client, admin_role, facility, admin, audit::LIST.get(0), "21").await;
    plan.assert_flat("audit list", "audit_log");

    let plan = generic_plan(&client, admin_role, facility, admin, users::LIST.get(0), "21").await;
    plan.assert_flat("user list", "users");

    // No bad generic plans: after its fifth run a prepared statement may be
    // run with a generic plan, which cannot use an index for a condition a
    // NULL switches off. The list's statement for "filtered by counsellor"
    // holds that condition alone, so even its generic plan narrows by the
    // counsellor's index.
    let by_counsellor = patients::LIST.get(patients::LIVE | patients::BY_COUNSELLOR);
    let args = format!("21, '{staff}'");
    let plan = generic_plan(&client, admin_role, facility, admin, by_counsellor, &args).await;
    assert!(plan.narrows_by("patients", "primary_counsellor_id"), "{by_counsellor}:\n{}", plan.text());
    // The check is not blind: one statement for every filter, as the list
    // had before, does not, generically.
    let one_for_all = "select id from patients where deleted_at is null
                          and ($1::uuid is null or primary_counsellor_id = $1)
                        order by created_at, id limit $2";
    let args = format!("'{staff}', 21");
    let plan = generic_plan(&client, admin_role, facility, admin, one_for_all, &args).await;
    assert!(!plan.narrows_by("patients", "primary_counsellor_id"), "{}", plan.text());

    // The checker itself is not blind: a context function evaluated per row,
    // and a scan without a facility condition, both fail it.
    let per_row = explain(
        &client,
        staff_role,
        facility,
        staff,
        "select id from patients where last_name <> coalesce(carego.current_app_role(), '') and facility_id = $1",
        &[&facility],
    )
    .await;
    let why = failure_of(|| per_row.assert_flat("per row", "patients"));
    assert!(why.contains("evaluated per row"), "a per-row context function must fail the check: {why}");
    // The same table the check names, scanned without its facility index.
    let unindexed = explain_with(
        &client,
        "set local enable_indexscan = off; set local enable_bitmapscan = off",
        admin_role,
        facility,
        admin,
        "select id from care_logs where body = $1",
        &[&"entry"],
    )
    .await;
    let why = failure_of(|| unindexed.assert_flat("no index", "care_logs"));
    assert!(
        why.contains("no index condition on care_logs.facility_id"),
        "a plan without the facility index condition must fail the check: {why}"
    );
}

/// Every statement of every list with optional conditions prepares, the
/// combinations no other test asks for too: one typo in a condition would
/// otherwise wait for the request that first switches it on.
#[tokio::test]
async fn every_combination_of_every_list_prepares() {
    let app = TestApp::spawn().await;
    let su = app.superuser().await;
    macro_rules! named {
        ($($list:expr),* $(,)?) => { vec![$((stringify!($list), $list)),*] };
    }
    let lists: Vec<(&str, &Variants)> = named![
        &api_keys::LIST,
        &care_recipients::LIST,
        &care_recipients::SHARED_LOGS,
        &care_recipients::VISITS,
        &clients::LIST_TEACHERS,
        &clients::LIST_CLIENTS,
        &clients::LIST_STUDENTS,
        &facilities::LIST,
        &users::LIST,
        &audit::LIST,
        &courses::LIST,
        &courses::PUBLIC_LIST,
        &courses::PUBLIC_TRAINING_CENTRES,
        &leads::LIST,
        &leads::NOTES,
        &leads::HISTORY,
        &services::LIST,
        &services::PUBLIC_LIST,
        &attendance::LIST,
        &care_logs::LIST,
        &caseloads::LIST,
        &patients::LIST,
        &vitals::LIST,
        &announcements::LIST,
        &announcements::ACKNOWLEDGEMENTS,
        &conversations::LIST,
        &conversations::MESSAGES,
        &crisis::OPEN,
        &webhooks::LIST,
        &webhooks::DELIVERIES,
        &invoices::LIST,
        &invoices::PAYMENTS,
        &plans::LIST,
        &medications::LIST,
        &treatment_plans::LIST,
        &treatment_plans::LIST_TEMPLATES,
        &batches::LIST,
        &batches::ENROLLMENTS,
        &batches::ATTENDANCE,
        &certificates::LIST,
        CheckIn::list(),
        Craving::list(),
        CrisisAlert::list(),
        Document::list(),
        DoseEvent::list(),
        Goal::list(),
        GoalProgress::list(),
        Meeting::list(),
        SobrietyReset::list(),
    ];
    let mut prepared = 0;
    for (name, list) in &lists {
        for sql in list.all() {
            su.prepare(sql).await.unwrap_or_else(|e| panic!("{name}: {e:?}\n{sql}"));
            prepared += 1;
        }
    }
    assert!(prepared > lists.len(), "only {prepared} statements");
}

/// The panic message of a check expected to fail ("" if it passed).
fn failure_of(check: impl FnOnce()) -> String {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        Ok(()) => String::new(),
        Err(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

/// The audit chain's head (V50): the trigger that links every audit row
/// reads its facility's last link. Under the table's forced row security
/// the owner's plan must walk the chain index backwards to one row, not
/// read and sort the facility's whole history (which grows forever).
#[tokio::test]
async fn the_audit_chain_head_comes_from_the_index_not_the_facility_history() {
    let app = TestApp::spawn().await;
    let su = app.superuser().await;
    su.batch_execute(SEED).await.unwrap();
    let facility = seeded(&su, "f7").await;
    // The trigger's own statement, as it stands in the database.
    let body: String = su
        .query_one("select prosrc from pg_proc where oid = 'carego.audit_chain()'::regprocedure", &[])
        .await
        .unwrap()
        .get(0);
    let start = body.find("select a.chain_seq").expect("the chain trigger reads the last link");
    let end = start + body[start..].find("limit 1").expect("one link") + "limit 1".len();
    let head = body[start..end]
        .replace(" into v_prev", "")
        .replace("new.facility_id", "$1::uuid")
        .replace("v_lane", "$2::smallint");

    // Lane 0, the changes: the seed's 2 000 rows.
    let (sorts, hits) = chain_head_plan(&su, &head, &[&facility, &0i16]).await;
    assert!(!sorts, "the chain head is sorted out of the facility's history:\n{head}");
    assert!(hits <= 10, "reading the chain head touched {hits} buffers:\n{head}");

    // The check is not blind: the form V2 shipped (ordered by chain_seq
    // alone) reads and sorts all 2 000 of the facility's rows.
    let v2 = "select a.chain_seq, a.hash from public.audit_log a
               where coalesce(a.facility_id, '00000000-0000-0000-0000-000000000000'::uuid)
                     = coalesce($1::uuid, '00000000-0000-0000-0000-000000000000'::uuid)
               order by a.chain_seq desc limit 1";
    let (sorts, hits) = chain_head_plan(&su, v2, &[&facility]).await;
    assert!(sorts && hits > 10, "V2's chain head query should sort the history ({hits} buffers)");
}

/// Whether `sql` sorts, and the buffers it touched, run as the owner (the
/// role the chain trigger runs as) with a generic plan, as PL/pgSQL keeps it.
async fn chain_head_plan(su: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> (bool, i64) {
    su.batch_execute("begin; set local role carego_owner; set local plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    let row = su.query_one(&format!("explain (analyze, buffers, format json) {sql}"), params).await.unwrap();
    su.batch_execute("rollback").await.unwrap();
    let plan: Value = row.get(0);
    let mut nodes = Vec::new();
    Plan::collect(&plan[0]["Plan"], &mut nodes);
    let sorts = nodes.iter().any(|n| n["Node Type"] == "Sort");
    let hits = plan[0]["Plan"]["Shared Hit Blocks"].as_i64().unwrap_or(0)
        + plan[0]["Plan"]["Shared Read Blocks"].as_i64().unwrap_or(0);
    (sorts, hits)
}

/// Every request runs its statements with generic plans: a custom plan of a
/// list with RLS cost as much to plan as to run (0.18 ms against 0.2 ms for
/// the audit page, docs/performance.md), and PostgreSQL's cost comparison
/// keeps choosing it whenever a `limit $1` makes the generic plan look dear.
/// The prologue sets it for the transaction only.
#[tokio::test]
async fn a_request_plans_generically_and_only_for_its_transaction() {
    let app = TestApp::spawn().await;
    let su = app.superuser().await;
    su.batch_execute(SEED).await.unwrap();
    let client = app.connect_as("carego_app").await;
    let facility = seeded(&su, "f3").await;
    let staff = seeded(&su, "u3-2").await;
    let mode = async |client: &Client| -> String {
        client.query_one("show plan_cache_mode", &[]).await.unwrap().get(0)
    };
    assert_eq!(mode(&client).await, "auto");
    client.batch_execute("begin").await.unwrap();
    let params: [&(dyn ToSql + Sync); 9] = [
        &"carego_staff",
        &"staff",
        &facility,
        &staff,
        &staff,
        &"plans",
        &None::<String>,
        &None::<String>,
        &"5s",
    ];
    client.execute(carego::db::PROLOGUE, &params).await.unwrap();
    assert_eq!(mode(&client).await, "force_generic_plan");
    // The server's prepared list, run more than five times: never a custom plan.
    let list = client.prepare(patients::LIST.get(patients::LIVE)).await.unwrap();
    for _ in 0..8 {
        assert!(!client.query(&list, &[&21_i64]).await.unwrap().is_empty());
    }
    let plans: (i64, i64) = {
        let row = client
            .query_one(
                "select generic_plans, custom_plans from pg_prepared_statements where statement = $1",
                &[&patients::LIST.get(patients::LIVE)],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(plans, (8, 0), "(generic, custom) plans of the caseload list");
    client.batch_execute("commit").await.unwrap();
    assert_eq!(mode(&client).await, "auto", "the setting outlived its transaction");

    // Every door's prologue sets it, not only the session's (or hands over
    // to the session's, as the second-factor step does).
    let doors: Vec<String> = su
        .query(
            "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = 'carego' and p.proname like 'begin\\_%'
                and p.prosrc not like '%set_config(''plan_cache_mode'', ''force_generic_plan'', true)%'
                and p.prosrc not like '%perform carego.begin_request(%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(doors.is_empty(), "prologues that leave custom plans on: {doors:?}");
}
