//! Carego on a Citus cluster: `serve --citus-workers 2` starts an embedded
//! coordinator and two workers and serves from the coordinator. These need
//! Citus installed, so `cargo test` skips them (ignored, not passed);
//! `.ci/citus` installs Citus and runs them (`-- --ignored citus::`).

use carego::db::infra::{
    citus::{self, EmbeddedCitus},
    doctor,
    embedded::{Durability, EmbeddedCluster},
    migrate::{self, APP_ROLE, OWNER_ROLE, PLATFORM_ROLE},
};
use std::os::unix::fs::PermissionsExt as _;

use tokio_postgres::{Client, NoTls};

use crate::{
    cli::{carego, data_dir, http, http_with, interrupt, json_of, serve, status_of},
    helpers::PASSWORD,
};

/// Every carego role's memberships and login attributes, one line each.
const ROLES: &str = "
    select r.rolname || ' login=' || r.rolcanlogin || ' inherit=' || r.rolinherit
           || ' in ' || coalesce(string_agg(g.rolname, ',' order by g.rolname), '-')
      from pg_roles r
      left join pg_auth_members m on m.member = r.oid
      left join pg_roles g on g.oid = m.roleid
     where r.rolname like 'carego\\_%'
     group by r.rolname, r.rolcanlogin, r.rolinherit
     order by 1";

async fn superuser(socket_dir: &std::path::Path) -> Client {
    let conn = format!("host='{}' port=5432 user=postgres dbname=carego", socket_dir.display());
    let (client, connection) = tokio_postgres::connect(&conn, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Runs `serve` as `cmd` is set up, which must refuse to start: what it
/// said on stderr.
async fn refused(mut cmd: tokio::process::Command) -> String {
    let out = cmd.arg("serve").output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

/// The error `sql` (a batch that opens a transaction) fails with, the
/// transaction rolled back after it.
async fn refused_in_transaction(client: &Client, sql: &str) -> String {
    let err = client.batch_execute(sql).await.expect_err(sql);
    client.batch_execute("rollback").await.unwrap();
    format!("{err:?}")
}

/// The error `role` is refused a login on `node` with.
async fn login_refused(node: &EmbeddedCluster, role: &str) -> String {
    match migrate::connect(&node.conn_str(role, "carego")).await {
        Ok(_) => panic!("{role} logged in on {}", node.socket_dir().display()),
        Err(err) => format!("{err:?}"),
    }
}

async fn lines(client: &Client, sql: &str) -> Vec<String> {
    client.query(sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
#[ignore = "needs Citus installed: .ci/citus installs it and runs these"]
async fn serve_with_citus_workers_serves_from_a_coordinator_with_two_workers() {
    let dir = data_dir("citus");
    let start = || {
        let mut cmd = carego(&dir);
        cmd.env("CAREGO_CITUS_WORKERS", "2");
        serve(cmd)
    };
    let (child, addr) = start().await;

    // The demo facility works through the coordinator: a login, and a read
    // through the request prologue and the facility's policies.
    let login = format!(r#"{{"email":"nurse@sunrise.example","password":"{PASSWORD}"}}"#);
    let nurse = json_of(&http(&addr, "POST", "/api/v1/auth/login", &login).await);
    let bearer = format!("authorization: Bearer {}\r\n", nurse["accessToken"].as_str().expect("a token"));
    let patients = http_with(&addr, "GET", "/api/v1/patients", &bearer, "").await;
    assert_eq!(status_of(&patients), 200, "{patients}");
    assert!(!json_of(&patients)["items"].as_array().expect("a page").is_empty(), "{patients}");

    // The coordinator has two active workers, and each worker has Carego's
    // roles as the coordinator has them: the request roles must exist there
    // before any table is distributed.
    let citus = dir.join("citus");
    let coordinator = superuser(&citus.join("coordinator/pgdata")).await;
    let workers: Vec<String> = lines(
        &coordinator,
        "select nodename from pg_dist_node where isactive and noderole = 'primary' and groupid <> 0
          order by nodename",
    )
    .await;
    let expected: Vec<String> =
        (1..=2).map(|i| citus.join(format!("worker-{i}/pgdata")).display().to_string()).collect();
    assert_eq!(workers, expected);
    // The same roles and memberships on every node. The request roles log
    // in nowhere, and the servers' login roles on the coordinator only: a
    // worker takes no Carego connection but the owner's (docs/scale-out.md).
    let roles = lines(&coordinator, ROLES).await;
    assert!(roles.iter().any(|r| r.starts_with("carego_app login=true inherit=false in ")), "{roles:#?}");
    assert!(
        roles.iter().any(|r| r.starts_with("carego_platform login=true inherit=false in ")),
        "{roles:#?}"
    );
    for role in doctor::REQUEST_ROLES {
        assert!(roles.iter().any(|r| r.starts_with(&format!("{role} login=false"))), "{roles:#?}");
    }
    let on_workers_expected: Vec<String> = roles
        .iter()
        .map(|r| match r.split_once(" login=true") {
            Some((role, rest)) if [APP_ROLE, PLATFORM_ROLE].contains(&role) => {
                format!("{role} login=false{rest}")
            }
            _ => r.clone(),
        })
        .collect();
    for worker in &workers {
        let on_worker = lines(&superuser(std::path::Path::new(worker)).await, ROLES).await;
        assert_eq!(on_worker, on_workers_expected, "the roles on {worker}");
    }

    // Ctrl-C stops all three nodes; a second start finds them set up.
    assert!(interrupt(child).await.success(), "clean exit");
    for node in ["coordinator", "worker-1", "worker-2"] {
        assert!(!citus.join(node).join("pgdata/postmaster.pid").exists(), "{node} stopped");
    }
    let (child, addr) = start().await;
    let again = http(&addr, "POST", "/api/v1/auth/login", &login).await;
    assert_eq!(status_of(&again), 200, "{again}");
    assert!(interrupt(child).await.success());

    // Started with fewer workers than it has, it says which nodes it lacks
    // instead of failing somewhere inside Citus.
    let mut fewer = carego(&dir);
    fewer.env("CAREGO_CITUS_WORKERS", "1");
    let stderr = refused(fewer).await;
    assert!(stderr.contains("also lists the workers") && stderr.contains("worker-2"), "{stderr}");
    for node in ["coordinator", "worker-1", "worker-2"] {
        assert!(!citus.join(node).join("pgdata/postmaster.pid").exists(), "{node} stopped");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without Citus installed, `--citus-workers` fails at once and says how
/// to install it; nothing is left running.
#[tokio::test]
async fn citus_workers_without_citus_say_how_to_install_it() {
    let dir = data_dir("no_citus");
    // A PostgreSQL bin directory without Citus beside it: the real binaries
    // linked into a directory whose `lib` has no citus.so.
    let bin = dir.join("pg/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(dir.join("pg/lib")).unwrap();
    let real = carego::db::infra::embedded::find_bin_dir().unwrap();
    for tool in ["initdb", "postgres"] {
        std::os::unix::fs::symlink(real.join(tool), bin.join(tool)).unwrap();
    }
    let mut cmd = carego(&dir);
    cmd.env("CAREGO_CITUS_WORKERS", "2").env("PG_BINDIR", &bin);
    let stderr = refused(cmd).await;
    assert!(stderr.contains("Citus is not installed") && stderr.contains("install.sh"), "{stderr}");
    assert!(!dir.join("citus").exists(), "nothing was started: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The one finding this test is about.
async fn shards_that_differ(owner: &Client) -> Vec<String> {
    let findings = doctor::examine(owner).await.unwrap();
    findings.into_iter().filter(|f| f.check == "shard_rls_differs").map(|f| f.object).collect()
}

/// The rows of `probe` a transaction sees with `probe.facility` set to
/// `facility`, the setting carried to the workers as the request prologue
/// will carry its own.
async fn probe_rows(owner: &mut Client, facility: &str) -> i64 {
    let tx = owner.transaction().await.unwrap();
    tx.batch_execute(&format!(
        "set local citus.propagate_set_commands = 'local'; set local probe.facility = '{facility}';"
    ))
    .await
    .unwrap();
    let n = tx.query_one("select count(*) from probe", &[]).await.unwrap().get(0);
    tx.commit().await.unwrap();
    n
}

/// Stock Citus 13.2.2 recreates a restrictive policy on a distributed
/// table's shards as permissive, and the shards are where a distributed
/// query is filtered: the facility wall would be OR'ed with the other
/// policies and one facility would read another's rows. Carego's Citus
/// (`citus/install.sh`, with `citus/restrictive-policies.patch`) keeps the
/// wall as written; `carego migrate` has probed that (and left no probe
/// behind), the wall holds on the shards, and the doctor is quiet. A
/// policy changed as a schema file changes it reaches the shards. A shard
/// whose wall is made permissive by hand, as stock Citus would make it, lets
/// the other facility's row through, and the doctor names every such shard.
#[tokio::test]
#[ignore = "needs Citus installed: .ci/citus installs it and runs these"]
async fn the_facility_wall_holds_on_the_shards_and_the_doctor_names_a_shard_that_drifts() {
    let dir = data_dir("citus_doctor");
    let citus = EmbeddedCitus::start(&dir, 2, Durability::Throwaway, "carego").await.unwrap();
    let owner_conn = citus.coordinator.conn_str(OWNER_ROLE, "carego");
    migrate::run(&owner_conn).await.unwrap();
    let mut owner = migrate::connect(&owner_conn).await.unwrap();
    let clean = doctor::examine(&owner).await.unwrap();
    assert!(clean.is_empty(), "a migrated Citus coordinator is clean: {clean:#?}");
    let left: i64 = owner
        .query_one(
            "select (select count(*) from pg_class where relname like 'carego_wall_probe%')
                  + (select count(*) from pg_dist_partition)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "migrate's probe of the walls was rolled back");

    let (mine, theirs) = ("3f0b9a52-6c1e-4d0a-9a4f-2b6f1c7d8e90", "9b8a7c6d-5e4f-4321-8fed-cba987654321");
    let wall = "using (facility_id = nullif(current_setting('probe.facility', true), '')::uuid)";
    // One statement at a time: Citus passes a distributed table's DDL to the
    // workers as the client's query string, which must then hold one command.
    for statement in [
        "create table probe (facility_id uuid not null, v int)".to_owned(),
        "select create_distributed_table('probe', 'facility_id', shard_count => 4)".to_owned(),
        format!("insert into probe values ('{mine}', 1), ('{theirs}', 2)"),
        "alter table probe enable row level security".to_owned(),
        "alter table probe force row level security".to_owned(),
        format!("create policy probe_wall on probe as restrictive for all to public {wall}"),
        "create policy probe_read on probe for select to public using (true)".to_owned(),
    ] {
        owner.batch_execute(&statement).await.unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    }
    // A schema file changes a policy by dropping and creating it. Sent as
    // one batch, Citus refuses it on a distributed table (it forwards the
    // DROP to the shards as the query string); `execute_each`, as
    // `carego migrate` applies the files, sends one statement at a time.
    let file = "-- probe_read, as a schema file writes it\n\
                drop policy if exists probe_read on probe;\n\
                create policy probe_read on probe for select to public using (v > 0);\n";
    let batch = owner.batch_execute(file).await.expect_err("one batch is refused");
    assert!(format!("{batch:?}").contains("cannot insert multiple commands"), "{batch:?}");
    migrate::execute_each(&owner, "probe.sql", file).await.unwrap();
    // A request role's distributed read fails closed: the coordinator runs
    // the pieces on the workers as the current role, and no request role
    // may log in there (docs/scale-out.md says what must be closed first).
    owner.batch_execute("grant select on probe to carego_staff").await.unwrap();
    let app = migrate::connect(&citus.coordinator.conn_str(APP_ROLE, "carego")).await.unwrap();
    let refused = refused_in_transaction(
        &app,
        &format!(
            "begin; set local role carego_staff; set local probe.facility = '{mine}'; select count(*) from probe"
        ),
    )
    .await;
    assert!(refused.contains("not permitted to log in"), "{refused}");
    // Nor does a request's SQL back in the pool's login role: the login
    // roles log in on no worker, so nothing that would carry a request's
    // text there as them (Citus sends the whole string around a propagated
    // SET LOCAL on every connection it opens) reaches one, and a default
    // the login role gives itself fails with Citus's carrying it to the
    // workers.
    for role in [APP_ROLE, PLATFORM_ROLE] {
        let direct = login_refused(&citus.workers[0], role).await;
        assert!(direct.contains("not permitted to log in"), "{direct}");
    }
    let err = refused_in_transaction(
        &app,
        "begin; set local role carego_staff; reset role; alter role carego_app set work_mem = '65kB'",
    )
    .await;
    assert!(err.contains("not permitted to log in"), "{err}");
    // What such a read needs is shown with a role made for the test, which
    // logs in everywhere and holds nothing but its grants.
    superuser(citus.coordinator.socket_dir())
        .await
        .batch_execute("create role probe_reader login")
        .await
        .unwrap();
    owner.batch_execute("grant select on probe to probe_reader").await.unwrap();
    let reader = migrate::connect(&citus.coordinator.conn_str("probe_reader", "carego")).await.unwrap();
    reader
        .batch_execute(&format!(
            "begin; set local citus.propagate_set_commands = 'local'; set local probe.facility = '{mine}'"
        ))
        .await
        .unwrap();
    let seen: i64 = reader.query_one("select count(*) from probe", &[]).await.unwrap().get(0);
    assert_eq!(seen, 1, "a distributed read as a role of no privilege, inside its own facility");
    reader.batch_execute("commit").await.unwrap();
    // The prologue is a function. A setting it makes with set_config never
    // reaches the workers (the wall then admits nothing there); one it makes
    // by executing a SET LOCAL statement does, as Citus's utility hook sees
    // that statement: the way for the prologue to carry its context there.
    owner
        .batch_execute(
            "create function probe_enter(f uuid, by_statement boolean) returns void language plpgsql as $f$
             begin
               if by_statement then execute format('set local probe.facility = %L', f);
               else perform set_config('probe.facility', f::text, true);
               end if;
             end $f$;
             grant execute on function probe_enter to probe_reader",
        )
        .await
        .unwrap();
    for (by_statement, expected) in [(false, 0), (true, 1)] {
        reader.batch_execute("begin; set local citus.propagate_set_commands = 'local'").await.unwrap();
        reader.execute("select probe_enter($1::text::uuid, $2)", &[&mine, &by_statement]).await.unwrap();
        let seen: i64 = reader.query_one("select count(*) from probe", &[]).await.unwrap().get(0);
        let here: String =
            reader.query_one("select current_setting('probe.facility')", &[]).await.unwrap().get(0);
        reader.batch_execute("commit").await.unwrap();
        assert_eq!((seen, here.as_str()), (expected, mine), "set by a statement: {by_statement}");
    }
    // What a signature could be bound to on the workers, in place of the
    // coordinator's backend and transaction start: Citus's distributed
    // transaction id (read here as the owner: PUBLIC may not). The
    // coordinator has none until the transaction first reaches a worker; a
    // worker answering for it has the very same one.
    let id = "(select format('%s:%s:%s', initiator_node_identifier, transaction_number, transaction_stamp)
                 from get_current_transaction_id())";
    owner
        .batch_execute(&format!(
            "begin; set local citus.propagate_set_commands = 'local'; set local probe.facility = '{mine}'"
        ))
        .await
        .unwrap();
    let before: String = owner.query_one(&format!("select {id}"), &[]).await.unwrap().get(0);
    // Each node's name is its socket directory: the row shows where it
    // was evaluated.
    let row = owner
        .query_one(
            &format!(
                "select {id}, current_setting('citus.local_hostname') from probe where facility_id = $1::text::uuid"
            ),
            &[&mine],
        )
        .await
        .unwrap();
    let (on_worker, evaluated_on): (String, String) = (row.get(0), row.get(1));
    let after: String = owner.query_one(&format!("select {id}"), &[]).await.unwrap().get(0);
    owner.batch_execute("commit").await.unwrap();
    assert!(before.contains(":0:"), "no distributed transaction before a worker is reached: {before}");
    assert!(!after.contains(":0:"), "{after}");
    assert!(
        citus.workers.iter().any(|w| w.socket_dir().to_string_lossy() == evaluated_on),
        "evaluated on {evaluated_on}, not a worker"
    );
    assert_eq!(on_worker, after, "the worker shares the coordinator's distributed transaction id");
    // A request role logs in nowhere.
    for node in std::iter::once(&citus.coordinator).chain(&citus.workers) {
        let direct = login_refused(node, "carego_staff").await;
        assert!(direct.contains("not permitted to log in"), "{direct}");
    }
    // A worker is reached only through its socket, in a directory nobody
    // but the PostgreSQL user enters: no TCP listener.
    let worker_dir = citus.workers[0].socket_dir();
    let mode = std::fs::metadata(worker_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", worker_dir.display());
    let on_worker = superuser(worker_dir).await;
    let listens: String = on_worker.query_one("show listen_addresses", &[]).await.unwrap().get(0);
    assert_eq!(listens, "", "a worker listening on TCP");
    // And a session there verifies no request context: the signing key is
    // on the coordinator alone (docs/scale-out.md).
    let key: Option<String> =
        on_worker.query_one("select to_regclass('carego.context_key')::text", &[]).await.unwrap().get(0);
    assert_eq!(key, None, "the signing key on a worker");
    // On every node, PUBLIC may call no Citus function but those Citus's
    // own plans call as the request's role (and, on the workers alone, the
    // one that opens a remote transaction); the rest are the owner's.
    let extension_functions = "select p.proname::text from pg_proc p
          join pg_depend d on d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
          join pg_extension e on e.oid = d.refobjid and e.extname like 'citus%'
         where has_function_privilege('public', p.oid, 'execute') order by 1";
    for node in std::iter::once(&citus.coordinator).chain(&citus.workers) {
        let public = lines(&superuser(node.socket_dir()).await, extension_functions).await;
        let mut allowed: Vec<&str> = citus::REQUEST_FUNCTIONS.to_vec();
        if node.socket_dir() != citus.coordinator.socket_dir() {
            allowed.extend(citus::WORKER_REQUEST_FUNCTIONS);
        }
        allowed.sort_unstable();
        assert_eq!(public, allowed, "on {}", node.socket_dir().display());
    }
    // So no request's SQL on the coordinator, nor a role of no privilege on
    // a worker, opens a session on another node, sends SQL there, writes
    // Citus's metadata, or sees or cancels other sessions.
    let denied = [
        "select run_command_on_workers('select 1')",
        "select run_command_on_coordinator('select 1')",
        "select run_command_on_all_nodes('select 1')",
        "select master_run_on_worker(array['x'], array[5432], array['select 1'], false)",
        "select citus_check_connection_to_node('127.0.0.1', 5432)",
        "select broadcast_intermediate_result('x', 'select 1')",
        "select fetch_intermediate_results(array['x'], '127.0.0.1', 5432)",
        "select citus_internal.add_tenant_schema('public'::regnamespace, 1)",
        "select citus_internal.delete_placement_metadata(1)",
        "select pg_cancel_backend(1::bigint)",
        "select count(*) from citus_stat_activity",
    ];
    let on_coordinator = ["select assign_distributed_transaction_id(0, 1, now())"];
    for (node, role, enter, calls) in [
        (
            &citus.coordinator,
            APP_ROLE,
            "set local role carego_staff;",
            [&denied[..], &on_coordinator[..]].concat(),
        ),
        (&citus.workers[0], "probe_reader", "", denied.to_vec()),
    ] {
        let client = migrate::connect(&node.conn_str(role, "carego")).await.unwrap();
        for call in calls {
            let err = refused_in_transaction(&client, &format!("begin; {enter} {call}")).await;
            assert!(err.contains("permission denied for function"), "{call}: {err}");
        }
    }
    // And the allowlist is enough for the shapes of query a request runs
    // on distributed and reference tables, for a role of no privilege:
    // writes through a foreign key to a reference table (the reference
    // shard is locked on the first worker, as the caller), a multi-shard
    // update, a reference write, a join, a subplan whose intermediate
    // result the workers read, aggregates combined on the coordinator, a
    // read of pg_class that must not show the shards.
    for statement in [
        "create table shape_kind (v int primary key)",
        "select create_reference_table('shape_kind')",
        "insert into shape_kind values (1), (2)",
        "create table shape (facility_id uuid not null, v int not null references shape_kind (v))",
        "select create_distributed_table('shape', 'facility_id', colocate_with => 'probe')",
        "grant select, insert, update on shape to probe_reader",
        "grant select, insert on shape_kind to probe_reader",
    ] {
        owner.batch_execute(statement).await.unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    }
    reader.batch_execute("begin").await.unwrap();
    // (A reference table is written before the distributed tables that
    // refer to it, as Citus requires within one transaction.)
    for statement in [
        "insert into shape_kind values (3)".to_owned(),
        format!("insert into shape values ('{mine}', 1), ('{theirs}', 2)"),
        "update shape set v = 2 where v = 1".to_owned(),
        format!("insert into shape values ('{mine}', 3)"),
    ] {
        reader.batch_execute(&statement).await.unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    }
    let shapes = [
        ("select count(*)::text from shape join shape_kind using (v)", "3"),
        (
            "with first as materialized (select facility_id from shape order by v desc limit 1)
             select count(*)::text from shape join first using (facility_id)",
            "2",
        ),
        (
            "select array_agg(v order by v)::text || jsonb_agg(v order by v)::text from shape",
            "{2,2,3}[2, 2, 3]",
        ),
        (
            "select string_agg(n::text, ',' order by n) from
               (select facility_id, count(*) n from shape group by facility_id) per",
            "1,2",
        ),
        (
            "select string_agg(v || ':' || b || ':' || j, ' ' order by v)
               from (select v, jsonb_agg(v)::text b, json_agg(v)::text j from shape group by v) per",
            "2:[2, 2]:[2, 2] 3:[3]:[3]",
        ),
        // The coordinator holds the reference table's shard: hidden.
        (
            "select string_agg(relname, ',' order by relname) from pg_class where relname like 'shape%'",
            "shape,shape_kind,shape_kind_pkey",
        ),
    ];
    for (query, expected) in shapes {
        let got: String =
            reader.query_one(query, &[]).await.unwrap_or_else(|e| panic!("{query}: {e:?}")).get(0);
        assert_eq!(got, expected, "{query}");
    }
    reader.batch_execute("rollback").await.unwrap();
    owner.batch_execute("drop table shape; drop table shape_kind").await.unwrap();

    let on_shards = lines(
        &owner,
        "select result from run_command_on_placements('probe',
             $q$select string_agg(polname || ' ' || polpermissive, ',' order by polname)
                  from pg_policy where polrelid = '%1$s'::regclass$q$)",
    )
    .await;
    assert_eq!(
        on_shards,
        vec!["probe_read true,probe_wall false"; 4],
        "every shard holds the wall as written, and the policy as changed"
    );
    let read = lines(
        &owner,
        "select result from run_command_on_placements('probe',
             $q$select pg_get_expr(polqual, polrelid) from pg_policy
                 where polrelid = '%1$s'::regclass and polname = 'probe_read'$q$)",
    )
    .await;
    assert_eq!(read, vec!["(v > 0)"; 4], "the changed policy reached every shard");
    assert_eq!(shards_that_differ(&owner).await, Vec::<String>::new());
    assert_eq!(probe_rows(&mut owner, mine).await, 1, "the wall holds on the shards");
    assert_eq!(probe_rows(&mut owner, theirs).await, 1);

    // The shards given the wall as stock Citus writes it: the other
    // facility's row comes through, and the doctor names all four shards.
    for statement in [
        "select run_command_on_placements('probe', 'drop policy probe_wall on %s')".to_owned(),
        format!(
            "select run_command_on_placements('probe', $q$create policy probe_wall on %s for all to public {wall}$q$)"
        ),
    ] {
        owner.batch_execute(&statement).await.unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    }
    let differ = shards_that_differ(&owner).await;
    assert_eq!(differ.len(), 4, "every shard's wall is permissive: {differ:#?}");
    assert!(differ.iter().all(|d| d.starts_with("probe shard ")), "{differ:#?}");
    assert_eq!(probe_rows(&mut owner, mine).await, 2, "with the wall permissive, one facility reads both");

    // A worker where a request role can log in (as stop 37's migrate left
    // every worker) and the login roles have defaults, in one database and
    // in all: the doctor names each, migrate refuses and says what a
    // superuser must run there, and once that has run all is well again.
    let worker = superuser(citus.workers[0].socket_dir()).await;
    worker
        .batch_execute(
            "set citus.enable_ddl_propagation = off; alter role carego_patient login; \
             alter role carego_app in database carego set work_mem = '77kB'; \
             alter role carego_platform set work_mem = '78kB'",
        )
        .await
        .unwrap();
    let findings = doctor::examine(&owner).await.unwrap();
    let on_worker: Vec<String> =
        findings.iter().filter(|f| f.check == "role_on_worker").map(|f| f.object.clone()).collect();
    let at = citus.workers[0].socket_dir().display();
    assert_eq!(
        on_worker,
        [
            format!("{at}: carego_app default work_mem=77kB"),
            format!("{at}: carego_patient login"),
            format!("{at}: carego_platform default work_mem=78kB"),
        ],
        "{findings:#?}"
    );
    let refused = format!("{:?}", migrate::run(&owner_conn).await.expect_err("migrate refuses"));
    assert!(
        refused.contains("can log in, or have defaults, on workers")
            && refused.contains(&format!("{at}: carego_patient login")),
        "{refused}"
    );
    // (On a connection of its own: the statement turns DDL propagation
    // off itself.)
    superuser(citus.workers[0].socket_dir())
        .await
        .batch_execute(&citus::close_worker_logins_sql())
        .await
        .unwrap();
    migrate::run(&owner_conn).await.unwrap();
    let again = doctor::examine(&owner).await.unwrap();
    assert!(!again.iter().any(|f| f.check == "role_on_worker"), "{again:#?}");
    // It stayed on the worker: the login role still logs in on the coordinator.
    migrate::connect(&citus.coordinator.conn_str(APP_ROLE, "carego")).await.unwrap();
    let direct = login_refused(&citus.workers[0], "carego_patient").await;
    assert!(direct.contains("not permitted to log in"), "{direct}");

    // A worker where Citus's grant to PUBLIC came back (the extension
    // recreated, say): the doctor names the function for every role that
    // could call it there, and migrate refuses to go on.
    let grant = |verb: &str| {
        format!(
            "set citus.enable_ddl_propagation = off; \
             {verb} execute on function pg_catalog.run_command_on_coordinator {} public",
            if verb == "grant" { "to" } else { "from" }
        )
    };
    worker.batch_execute(&grant("grant")).await.unwrap();
    let open: Vec<String> = doctor::examine(&owner)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.check == "citus_function_open")
        .map(|f| f.object)
        .collect();
    let prefix =
        format!("{}: run_command_on_coordinator(text,boolean)", citus.workers[0].socket_dir().display());
    let mut every: Vec<&str> =
        doctor::REQUEST_ROLES.iter().copied().chain([APP_ROLE, PLATFORM_ROLE]).collect();
    every.sort_unstable();
    assert_eq!(open, [format!("{prefix}: {}", every.join(","))], "the ten request roles and two login roles");
    let refused = format!("{:?}", migrate::run(&owner_conn).await.expect_err("migrate refuses"));
    assert!(
        refused.contains("Citus functions that only the owner may")
            && refused.contains(&format!("({prefix})")),
        "{refused}"
    );
    worker.batch_execute(&grant("revoke")).await.unwrap();
    migrate::run(&owner_conn).await.unwrap();

    owner.batch_execute("drop table probe; drop function probe_enter").await.unwrap();
    superuser(citus.coordinator.socket_dir()).await.batch_execute("drop role probe_reader").await.unwrap();
    drop(owner);
    citus.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--citus-workers` starts an embedded cluster, so with `DATABASE_URL` it
/// is refused at once rather than silently ignored.
#[tokio::test]
async fn citus_workers_with_a_database_url_are_refused() {
    let dir = data_dir("citus_url");
    let mut cmd = carego(&dir);
    cmd.env("CAREGO_CITUS_WORKERS", "2").env("DATABASE_URL", "postgres://carego_app@127.0.0.1:1/carego");
    let stderr = refused(cmd).await;
    assert!(stderr.contains("cannot be used with DATABASE_URL"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
