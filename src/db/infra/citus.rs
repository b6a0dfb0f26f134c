//! An embedded Citus cluster, for trying Carego on a distributed engine on
//! one machine: a coordinator and N workers, each an [`EmbeddedCluster`] in
//! its own directory, talking to each other over their Unix sockets (a
//! socket directory is a node's name), so there is still no TCP and trust
//! stays confined to 0700 directories. `carego serve --citus-workers 2`
//! starts one; so do the Citus tests.
//!
//! The app connects to the coordinator. The login roles are created in the
//! Citus database after the workers are added, so Citus creates them on the
//! workers too, and the migrations' grants, schemas and functions follow
//! them there. The tables are not distributed yet: docs/scale-out.md says
//! what stands in the way and in what order it is being cleared.
//!
//! Stock Citus 13.2.2 recreates restrictive policies as permissive on the
//! shards, which would open every facility wall; Carego runs on Citus built
//! with `citus/restrictive-policies.patch`, and [`refuse_open_walls`] makes
//! `carego migrate` refuse a cluster without it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};
use tokio_postgres::Client;

use super::{
    doctor::REQUEST_ROLES,
    embedded::{Durability, EmbeddedCluster, SUPERUSER, data_dir, find_bin_dir},
    migrate::{self, APP_ROLE, OWNER_ROLE, PLATFORM_ROLE},
};

/// A running coordinator and its workers.
pub struct EmbeddedCitus {
    /// The node the app and the operator connect to.
    pub coordinator: EmbeddedCluster,
    pub workers: Vec<EmbeddedCluster>,
}

impl EmbeddedCitus {
    /// Initialises (first time) and starts a coordinator and `workers`
    /// workers under `root`, with `database` on each holding the Citus
    /// extension, the workers added, and Carego's login roles bootstrapped
    /// on all of them. Run again, it starts the same cluster.
    pub async fn start(
        root: &Path,
        workers: usize,
        durability: Durability,
        database: &str,
    ) -> anyhow::Result<Self> {
        installed(&find_bin_dir()?)?;
        let coordinator = node(&root.join("coordinator"), durability).await?;
        let mut started = Vec::with_capacity(workers);
        for i in 1..=workers {
            started.push(node(&root.join(format!("worker-{i}")), durability).await?);
        }
        let cluster = Self { coordinator, workers: started };
        match cluster.join(root, database).await {
            Ok(()) => Ok(cluster),
            Err(err) => {
                // Leave nothing running behind the error.
                let _ = cluster.stop().await;
                Err(err)
            }
        }
    }

    /// Makes the started nodes one cluster: the database and the extension
    /// on each, the coordinator named, the workers added, the roles made.
    async fn join(&self, root: &Path, database: &str) -> anyhow::Result<()> {
        let workers = self.workers.len();
        for node in self.nodes() {
            with_extension(node, database).await?;
        }
        let su = migrate::connect(&self.coordinator.conn_str(SUPERUSER, database)).await?;
        let names: Vec<String> =
            self.workers.iter().map(|w| w.socket_dir().to_string_lossy().into_owned()).collect();
        let others: Vec<String> = su
            .query(
                "select nodename from pg_dist_node where groupid <> 0 and nodename <> all($1) order by 1",
                &[&names],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !others.is_empty() {
            bail!(
                "the Citus coordinator under {} also lists the workers {}, which --citus-workers {workers} \
                 does not start (it was started with more, or its directory moved). Start it with as \
                 many workers as before, or remove those nodes from it (`select citus_remove_node(name, \
                 port)`, once they hold no shards).",
                root.display(),
                others.join(", ")
            );
        }
        let coordinator = self.coordinator.socket_dir().to_string_lossy().into_owned();
        let port = i32::from(self.coordinator.port());
        su.execute(
            "select citus_set_coordinator_host($1, $2)
              where not exists (select from pg_dist_node where groupid = 0 and nodename = $1 and nodeport = $2)",
            &[&coordinator, &port],
        )
        .await
        .context("naming the coordinator")?;
        for (worker, name) in self.workers.iter().zip(&names) {
            let port = i32::from(worker.port());
            su.execute(
                "select citus_add_node($1, $2)
                  where not exists (select from pg_dist_node where nodename = $1 and nodeport = $2)",
                &[name, &port],
            )
            .await
            .with_context(|| format!("adding the worker {name}"))?;
        }
        // In the Citus database, after the workers: Citus creates the
        // roles on every worker as well.
        migrate::bootstrap(&su, database).await?;
        as_superuser_on(self.nodes(), database, &close_citus_functions_sql(), "closing Citus's functions")
            .await?;
        as_superuser_on(self.workers.iter(), database, &close_worker_logins_sql(), "closing Carego's logins")
            .await?;
        // Identifiers cannot be bound; `database` is ours, never user input.
        su.batch_execute(&format!("alter database \"{database}\" owner to {OWNER_ROLE}"))
            .await
            .context("handing the database to the owner role")?;
        Ok(())
    }

    /// The coordinator, then the workers.
    fn nodes(&self) -> impl Iterator<Item = &EmbeddedCluster> {
        std::iter::once(&self.coordinator).chain(&self.workers)
    }

    /// Stops the coordinator, then the workers.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.coordinator.stop().await?;
        for worker in self.workers {
            worker.stop().await?;
        }
        Ok(())
    }
}

/// Starts one node: Citus loaded, and told its own name (its socket
/// directory) for the connections it makes to itself.
async fn node(root: &Path, durability: Durability) -> anyhow::Result<EmbeddedCluster> {
    let name = data_dir(root)?.to_string_lossy().into_owned();
    let settings = [("shared_preload_libraries", "citus".to_owned()), ("citus.local_hostname", name)];
    EmbeddedCluster::start_with(root, durability, &settings).await
}

/// Makes `database` on `node` (owned by the superuser until the roles
/// exist everywhere) with the Citus extension in it.
async fn with_extension(node: &EmbeddedCluster, database: &str) -> anyhow::Result<()> {
    let su = migrate::connect(&node.conn_str(SUPERUSER, "postgres")).await?;
    if su.query_opt("select from pg_database where datname = $1", &[&database]).await?.is_none() {
        // Identifiers cannot be bound; `database` is ours, never user input.
        su.batch_execute(&format!("create database \"{database}\""))
            .await
            .context("creating the database")?;
    }
    let su = migrate::connect(&node.conn_str(SUPERUSER, database)).await?;
    su.batch_execute("create extension if not exists citus").await.context("creating the citus extension")?;
    Ok(())
}

/// On a Citus coordinator with nodes to hold shards, fails unless a
/// restrictive policy stays restrictive on a distributed table's shards.
/// Stock Citus 13.2.2 recreates it permissive there, where distributed
/// queries are filtered, so every facility wall would be OR'ed with the
/// roles' own policies and one facility would read another's rows. The
/// probe is behavioural: a scratch table with two rows, a wall that admits
/// one and a policy that admits both, read by its owner under FORCE ROW
/// LEVEL SECURITY on the shard; all in one transaction, rolled back. On
/// plain PostgreSQL, or before any node can hold shards, it does nothing.
pub async fn refuse_open_walls(client: &mut Client) -> anyhow::Result<()> {
    // pg_dist_node exists only with the extension.
    if !has_citus(client).await?
        || !client
            .query_one(
                "select exists (select from pg_dist_node where isactive and shouldhaveshards and noderole = 'primary')",
                &[],
            )
            .await
            .context("looking for Citus nodes")?
            .get::<_, bool>(0)
    {
        return Ok(());
    }
    let tx = client.transaction().await?;
    // One statement at a time: Citus forwards a distributed table's DDL to
    // the shards as the statement's own text.
    for statement in [
        "create table public.carego_wall_probe (facility int not null)",
        "select create_distributed_table('public.carego_wall_probe', 'facility', shard_count => 1,
                                         colocate_with => 'none')",
        "insert into public.carego_wall_probe values (1), (2)",
        "alter table public.carego_wall_probe enable row level security",
        "alter table public.carego_wall_probe force row level security",
        "create policy wall on public.carego_wall_probe as restrictive for all to public using (facility = 1)",
        "create policy everyone on public.carego_wall_probe for select to public using (true)",
    ] {
        tx.batch_execute(statement).await.context("probing how Citus keeps row-level security policies")?;
    }
    let seen: i64 = tx.query_one("select count(*) from public.carego_wall_probe", &[]).await?.get(0);
    tx.rollback().await?;
    if seen != 1 {
        bail!(
            "this Citus recreates restrictive row-level security policies as permissive on the shards \
             (a probe table's wall let {seen} of 2 rows through), so every facility wall would open once \
             tables are distributed. Carego needs Citus built with citus/restrictive-policies.patch: \
             `sudo bash citus/install.sh` from a Carego checkout builds it (docs/scale-out.md)."
        );
    }
    Ok(())
}

/// The functions of Citus that PUBLIC may call on every node: the ones
/// Citus's own plans call as the current role when a non-owner runs a
/// distributed query — a subplan's intermediate result read on the
/// workers, a reference table's shard locked on the first worker before a
/// write through a foreign key to it, the filter that hides shards from a
/// read of `pg_class`, the aggregates that combine `array_agg`, `json_agg`
/// and `jsonb_agg`. Each does no more than the caller could on that node
/// already; each, revoked by hand on a live cluster, made a query shape of
/// `tests/api/citus.rs` fail, and the test shows the list is enough for
/// them (docs/scale-out.md). Every other
/// function of the extension is the owner's alone ([`closed_functions`]):
/// Citus grants PUBLIC some that run SQL text of the caller's choosing as
/// the caller on other nodes (`run_command_on_workers`,
/// `broadcast_intermediate_result`, whose result id is pasted into the COPY
/// it sends), connect as the caller to a host it names
/// (`citus_check_connection_to_node`, `fetch_intermediate_results`), write
/// Citus's metadata on a node that believes the caller is Citus
/// (`citus_internal.*`, checked by an application_name any session can
/// set; `add_tenant_schema` checks nothing), or show and cancel other
/// sessions (`citus_stat_activity`, `pg_cancel_backend(bigint)`); these
/// are reachable from a request's SQL on the coordinator, through `SET
/// ROLE` or `RESET ROLE`. Repartitioned joins and INSERT … SELECT need some of them;
/// queries within one facility, co-located by `facility_id`, never
/// repartition.
pub const REQUEST_FUNCTIONS: &[&str] = &[
    "read_intermediate_result",
    "lock_shard_resources",
    "relation_is_a_known_shard",
    "array_cat_agg",
    "json_cat_agg",
    "jsonb_cat_agg",
];

/// PUBLIC may call these on the workers too: the coordinator opens each
/// remote transaction by giving it its own distributed transaction id, as
/// the current role. Not on the coordinator, where nothing sends it: there
/// a request's SQL could take the id of another transaction of its role,
/// and with it the directory where that transaction's intermediate results
/// are kept.
pub const WORKER_REQUEST_FUNCTIONS: &[&str] = &["assign_distributed_transaction_id"];

/// The roles a request's SQL may be in, with `SET ROLE` or `RESET ROLE`:
/// the request roles and the servers' login roles. None may call a Citus
/// function outside the allowlists (nor may any role it may `SET ROLE`
/// to), and none logs in on a worker: only the owner (migrations, DDL, the
/// doctor) and Citus's superuser connect there.
fn request_and_login_roles() -> Vec<&'static str> {
    REQUEST_ROLES.iter().copied().chain([APP_ROLE, PLATFORM_ROLE]).collect()
}

/// `sql` on one line, for an error message to print.
fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A `{roles}`/`{functions}` array literal of our own constants.
fn array(items: &[&str]) -> String {
    format!("array['{}']", items.join("', '"))
}

/// The functions this node keeps from PUBLIC, as `p` (pg_proc rows): a
/// query's `from` item. Every function of the Citus extensions outside the
/// node's allowlist.
fn closed_functions() -> String {
    format!(
        "(select p.* from pg_proc p
           where (exists (select from pg_depend d join pg_extension e on e.oid = d.refobjid
                           where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
                             and e.extname like 'citus%')
                  and not (p.pronamespace = 'pg_catalog'::regnamespace
                           and (p.proname = any({everywhere})
                                or (p.proname = any({workers})
                                    and exists (select from pg_dist_local_group where groupid <> 0)))))) p",
        everywhere = array(REQUEST_FUNCTIONS),
        workers = array(WORKER_REQUEST_FUNCTIONS)
    )
}

/// For a superuser, on one node: takes from PUBLIC every function the
/// node keeps from it ([`closed_functions`]) and gives it to the owner
/// role, which runs the DDL Citus carries to the workers with them and the
/// doctor's remote checks. With DDL propagation off, so that each node's grants are
/// changed by its own statement alone. Idempotent.
fn close_citus_functions_sql() -> String {
    format!(
        "do $$
         declare f regprocedure;
         begin
           perform set_config('citus.enable_ddl_propagation', 'off', true);
           for f in select p.oid from {closed} where has_function_privilege('public', p.oid, 'execute')
           loop
             execute format('grant execute on routine %s to {OWNER_ROLE}', f);
             execute format('revoke execute on routine %s from public', f);
           end loop;
         end $$",
        closed = closed_functions()
    )
}

/// Runs `sql` on each of `nodes`, as the embedded cluster's superuser;
/// `what` names it in an error.
async fn as_superuser_on<'a>(
    nodes: impl Iterator<Item = &'a EmbeddedCluster>,
    database: &str,
    sql: &str,
    what: &str,
) -> anyhow::Result<()> {
    for node in nodes {
        let su = migrate::connect(&node.conn_str(SUPERUSER, database)).await?;
        su.batch_execute(sql).await.with_context(|| format!("{what} on {}", node.socket_dir().display()))?;
    }
    Ok(())
}

/// What one node says of the functions it keeps from PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CitusFunctions {
    /// `roles` (request or login roles, comma-separated) may call `function`
    /// on `node`, themselves or through a role they may `SET ROLE` to.
    Open { node: String, function: String, roles: String },
    /// A worker that did not answer the check.
    Unanswered { node: String, why: String },
}

impl CitusFunctions {
    /// The doctor's object: `node: function: roles`, or `node: did not
    /// answer: why`.
    pub fn object(&self) -> String {
        match self {
            Self::Open { node, function, roles } => format!("{node}: {function}: {roles}"),
            Self::Unanswered { node, why } => format!("{node}: did not answer: {why}"),
        }
    }
}

/// On a Citus coordinator, every function a node keeps from PUBLIC
/// ([`closed_functions`]) that a request or login role may call there, on
/// the coordinator and on each worker (run there as the caller, who must be
/// allowed `run_command_on_workers`: the owner). Empty on plain PostgreSQL.
pub async fn open_citus_functions(client: &Client) -> anyhow::Result<Vec<CitusFunctions>> {
    if !has_citus(client).await? {
        return Ok(Vec::new());
    }
    // A role missing on a node is skipped (has_function_privilege would
    // fail on its name); the doctor reports missing roles on its own.
    let check = format!(
        "select coalesce(string_agg(f, '; ' order by f), '')
           from (select p.oid::regprocedure::text || ': ' || string_agg(r.rolname, ',' order by r.rolname) f
                   from {closed} cross join pg_roles r
                  where r.rolname = any({roles})
                    and exists (select from pg_roles m
                                 where pg_has_role(r.oid, m.oid, 'MEMBER')
                                   and has_function_privilege(m.oid, p.oid, 'execute'))
                  group by p.oid) open",
        closed = closed_functions(),
        roles = array(&request_and_login_roles())
    );
    let parse = |node: &str, answer: &str| -> Vec<CitusFunctions> {
        answer
            .split("; ")
            .filter_map(|open| open.rsplit_once(": "))
            .map(|(function, roles)| CitusFunctions::Open {
                node: node.to_owned(),
                function: function.to_owned(),
                roles: roles.to_owned(),
            })
            .collect()
    };
    let here: String =
        client.query_one(&check, &[]).await.context("reading who may call Citus's functions")?.get(0);
    let coordinator: String = client
        .query_one(
            "select coalesce((select nodename from pg_dist_node where groupid = 0), 'the coordinator')",
            &[],
        )
        .await?
        .get(0);
    let mut open = parse(&coordinator, &here);
    for (node, answered, result) in on_workers(client, &check).await? {
        if answered {
            open.extend(parse(&node, &result));
        } else {
            open.push(CitusFunctions::Unanswered { node, why: result });
        }
    }
    Ok(open)
}

/// Runs `command` on every worker through `run_command_on_workers`: each
/// worker's name, whether it answered, and its answer or error. The caller
/// must be allowed the function (the owner role; `carego doctor` says so
/// when it is not).
async fn on_workers(client: &Client, command: &str) -> anyhow::Result<Vec<(String, bool, String)>> {
    Ok(client
        .query("select nodename, success, result from run_command_on_workers($1)", &[&command])
        .await
        .context("running a command on the Citus workers")?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

/// Fails on a Citus cluster where a request or login role may call a
/// Citus function outside the allowlists, saying what to run as a
/// superuser.
pub async fn refuse_open_citus_functions(client: &Client) -> anyhow::Result<()> {
    let open = open_citus_functions(client).await?;
    if open.is_empty() {
        return Ok(());
    }
    // One entry per node and function; `carego doctor` names the roles.
    let mut listed: Vec<String> = open
        .iter()
        .map(|o| match o {
            CitusFunctions::Open { node, function, .. } => format!("{node}: {function}"),
            CitusFunctions::Unanswered { .. } => o.object(),
        })
        .collect();
    let more = listed.len().saturating_sub(12);
    listed.truncate(12);
    if more > 0 {
        listed.push(format!("and {more} more (carego doctor lists them)"));
    }
    bail!(
        "on this Citus cluster the request and login roles may call Citus functions that only the \
         owner may ({}); some would let a request's SQL run SQL on other nodes or write Citus's \
         metadata. As a superuser, on the coordinator and on every worker, run: {}",
        listed.join("; "),
        one_line(&close_citus_functions_sql())
    );
}

/// For a superuser, on one worker: makes every request role and login role
/// there NOLOGIN, with no defaults in any database. Citus creates the roles
/// on a worker as they are on the coordinator (logins and defaults
/// included, again whenever a node is added or activated) and connects to
/// a worker as the current role: a request's SQL, back in the login role
/// after `RESET ROLE`, could otherwise reach a worker with text of its
/// choosing (through `citus.propagate_set_commands`, which any role may
/// set, and which sends the whole query string around a `SET LOCAL`) or
/// leave a default there (`ALTER ROLE` oneself, which Citus carries to
/// every node). With no login there, a request's distributed query fails
/// closed (docs/scale-out.md says what stands before request roles may log
/// in on the workers). A superuser's, since from PostgreSQL 16 the owner
/// may alter only the roles it created, and the login roles are the
/// superuser's. With DDL propagation off, so that each worker's roles are
/// changed by its own statement alone. Idempotent.
pub fn close_worker_logins_sql() -> String {
    format!(
        "do $$
         declare r text; d text;
         begin
           perform set_config('citus.enable_ddl_propagation', 'off', true);
           for r in select rolname from pg_roles where rolname = any({roles}) and rolcanlogin loop
             execute format('alter role %I nologin', r);
           end loop;
           for r, d in select o.rolname, b.datname from pg_db_role_setting s
                         join pg_roles o on o.oid = s.setrole
                         left join pg_database b on b.oid = s.setdatabase
                        where o.rolname = any({roles}) loop
             if d is null then execute format('alter role %I reset all', r);
             else execute format('alter role %I in database %I reset all', r, d);
             end if;
           end loop;
         end $$",
        roles = array(&request_and_login_roles())
    )
}

/// Fails on a Citus cluster where a request or login role can log in on a
/// worker or has a default there (a worker added since, say), saying what
/// to run there as a superuser.
pub async fn refuse_worker_logins(client: &Client) -> anyhow::Result<()> {
    if !has_workers(client).await? {
        return Ok(());
    }
    let (found, unanswered) = roles_on_workers_and_silent(client).await?;
    if !unanswered.is_empty() {
        bail!("could not check Carego's roles on the Citus workers: {}", unanswered.join("; "));
    }
    if !found.is_empty() {
        bail!(
            "on this Citus cluster Carego's request or login roles can log in, or have defaults, on \
             workers ({}); a request's SQL could reach a worker through them. As a superuser, on \
             every worker (again after adding or activating one), run: {}",
            found.join("; "),
            one_line(&close_worker_logins_sql())
        );
    }
    Ok(())
}

/// Every `worker: role login` or `worker: role default` where a request or
/// login role can log in or has a default (or `worker: did not answer:
/// why`).
pub async fn roles_on_workers(client: &Client) -> anyhow::Result<Vec<String>> {
    let (found, unanswered) = roles_on_workers_and_silent(client).await?;
    Ok(found.into_iter().chain(unanswered).collect())
}

/// [`roles_on_workers`]: what the workers that answered said, and the
/// workers that did not answer, apart.
async fn roles_on_workers_and_silent(client: &Client) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let check = format!(
        "select coalesce(string_agg(f, chr(30) order by f), '') from (
             select rolname || ' login' f from pg_roles where rolname = any({roles}) and rolcanlogin
             union all
             select r.rolname || ' default ' || s from pg_db_role_setting d
               join pg_roles r on r.oid = d.setrole, unnest(d.setconfig) s
              where r.rolname = any({roles})) found",
        roles = array(&request_and_login_roles())
    );
    let (mut found, mut unanswered) = (Vec::new(), Vec::new());
    for (node, answered, result) in on_workers(client, &check).await? {
        match (answered, result.is_empty()) {
            (true, true) => {}
            (true, false) => found.extend(result.split('\x1e').map(|f| format!("{node}: {f}"))),
            (false, _) => unanswered.push(format!("{node}: did not answer: {result}")),
        }
    }
    Ok((found, unanswered))
}

/// Whether `client` is on a database with the Citus extension.
async fn has_citus(client: &Client) -> anyhow::Result<bool> {
    Ok(client
        .query_one("select exists (select from pg_extension where extname = 'citus')", &[])
        .await
        .context("looking for Citus")?
        .get(0))
}

/// Whether `client` is on a Citus coordinator with active workers.
async fn has_workers(client: &Client) -> anyhow::Result<bool> {
    // pg_dist_node exists only with the extension.
    Ok(has_citus(client).await?
        && client
            .query_one(
                "select exists (select from pg_dist_node where isactive and noderole = 'primary' and groupid <> 0)",
                &[],
            )
            .await
            .context("looking for Citus workers")?
            .get::<_, bool>(0))
}

/// Fails, saying how to install it, when the PostgreSQL in `bin` has no
/// Citus.
fn installed(bin: &Path) -> anyhow::Result<()> {
    let libdir = Command::new(bin.join("pg_config"))
        .arg("--pkglibdir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .or_else(|| bin.parent().map(|p| p.join("lib")))
        .unwrap_or_default();
    if !libdir.join("citus.so").is_file() {
        bail!(
            "Citus is not installed for the PostgreSQL in {} (no citus.so in {}). Install Citus \
             13.2.2 with Carego's patch for it: from a Carego checkout, `sudo bash citus/install.sh` \
             builds it from ../shared/citus with citus/restrictive-policies.patch. Without \
             --citus-workers, serve runs on one PostgreSQL.",
            bin.display(),
            libdir.display()
        );
    }
    Ok(())
}
