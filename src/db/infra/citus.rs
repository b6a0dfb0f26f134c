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
        close_remote_commands(self.nodes(), database).await?;
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

/// The Citus functions that run SQL text of their caller's choosing, as the
/// caller, on other nodes, or connect as the caller to a host and port it
/// names (`citus_check_connection_to_node`: a probe of whatever the database
/// host can reach). Citus grants them to PUBLIC, so a request's SQL
/// could use one to open a session on a worker as its request role (which
/// logs in there, for the coordinator: [`request_roles_log_in_on_workers`])
/// with no prologue in it, or run them from a worker, where Citus keeps the
/// metadata too. The embedded cluster takes them from PUBLIC on every node
/// and gives them to the owner role, as which the doctor runs them
/// ([`close_remote_commands`]); `carego migrate` refuses a cluster where a
/// request or login role can still call one ([`open_remote_commands`]).
pub const REMOTE_COMMANDS: &[&str] = &[
    "run_command_on_workers",
    "run_command_on_all_nodes",
    "run_command_on_coordinator",
    "run_command_on_placements",
    "run_command_on_shards",
    "run_command_on_colocated_placements",
    "master_run_on_worker",
    "citus_check_connection_to_node",
];

/// The roles that must not call a [`REMOTE_COMMANDS`] function: the request
/// roles and the servers' login roles.
fn roles_without_remote_commands() -> Vec<String> {
    REQUEST_ROLES.iter().copied().chain([APP_ROLE, PLATFORM_ROLE]).map(str::to_owned).collect()
}

/// A `{roles}`/`{functions}` array literal of our own constants.
fn array(items: &[String]) -> String {
    format!("array['{}']", items.join("', '"))
}

/// For a superuser, on one node: takes every [`REMOTE_COMMANDS`] function
/// from PUBLIC and gives it to the owner role. With DDL propagation off,
/// so that each node's grants are changed by its own statement alone.
/// Idempotent.
fn close_remote_commands_sql() -> String {
    let functions: Vec<String> = REMOTE_COMMANDS.iter().map(|f| (*f).to_owned()).collect();
    format!(
        "do $$
         declare f regprocedure;
         begin
           perform set_config('citus.enable_ddl_propagation', 'off', true);
           for f in select p.oid from pg_proc p
                     where p.pronamespace = 'pg_catalog'::regnamespace and p.proname = any({functions})
           loop
             execute format('revoke execute on function %s from public', f);
             execute format('grant execute on function %s to {OWNER_ROLE}', f);
           end loop;
         end $$",
        functions = array(&functions)
    )
}

/// Takes Citus's remote-command functions from PUBLIC on every node of the
/// embedded cluster, as its superuser.
async fn close_remote_commands(
    nodes: impl Iterator<Item = &EmbeddedCluster>,
    database: &str,
) -> anyhow::Result<()> {
    for node in nodes {
        let su = migrate::connect(&node.conn_str(SUPERUSER, database)).await?;
        su.batch_execute(&close_remote_commands_sql())
            .await
            .with_context(|| format!("closing Citus's remote commands on {}", node.socket_dir().display()))?;
    }
    Ok(())
}

/// On a Citus coordinator, every `node: function: roles` where a request or
/// login role may call a [`REMOTE_COMMANDS`] function, on the coordinator
/// and on each worker; a worker that did not answer is listed with why.
/// Empty on plain PostgreSQL.
pub async fn open_remote_commands(client: &Client) -> anyhow::Result<Vec<String>> {
    if !has_citus(client).await? {
        return Ok(Vec::new());
    }
    let functions: Vec<String> = REMOTE_COMMANDS.iter().map(|f| (*f).to_owned()).collect();
    let check = format!(
        "select coalesce(string_agg(f, '; ' order by f), '')
           from (select p.proname || ': ' || string_agg(r, ',' order by r) f
                   from pg_proc p, unnest({roles}) r
                  where p.pronamespace = 'pg_catalog'::regnamespace and p.proname = any({functions})
                    and has_function_privilege(r, p.oid, 'execute')
                  group by p.proname) open",
        roles = array(&roles_without_remote_commands()),
        functions = array(&functions)
    );
    let mut open = Vec::new();
    let here: String =
        client.query_one(&check, &[]).await.context("reading who may run Citus's remote commands")?.get(0);
    let coordinator: String = client
        .query_one(
            "select coalesce((select nodename from pg_dist_node where groupid = 0), 'the coordinator')",
            &[],
        )
        .await?
        .get(0);
    open.extend(here.split("; ").filter(|s| !s.is_empty()).map(|s| format!("{coordinator}: {s}")));
    for row in
        client.query("select nodename, success, result from run_command_on_workers($1)", &[&check]).await?
    {
        let node: String = row.get(0);
        let result: String = row.get(2);
        if row.get(1) {
            open.extend(result.split("; ").filter(|s| !s.is_empty()).map(|s| format!("{node}: {s}")));
        } else {
            open.push(format!("{node}: did not answer: {result}"));
        }
    }
    Ok(open)
}

/// Fails on a Citus cluster where a request or login role may call one of
/// Citus's remote-command functions, saying what to run as a superuser.
pub async fn refuse_open_remote_commands(client: &Client) -> anyhow::Result<()> {
    let open = open_remote_commands(client).await?;
    if !open.is_empty() {
        // One line per node and function; `carego doctor` names the roles.
        let open: Vec<&str> =
            open.iter().map(|o| o.rsplit_once(": ").map_or(o.as_str(), |(f, _)| f)).collect();
        bail!(
            "on this Citus cluster the request and login roles may run SQL on other nodes through \
             Citus's remote-command functions ({}), which would let a request's SQL reach a worker \
             with no prologue. As a superuser, on the coordinator and on every worker, run: {}",
            open.join("; "),
            close_remote_commands_sql().split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    Ok(())
}

/// On a Citus coordinator, lets every request role log in on every worker,
/// and nowhere else. The coordinator runs a distributed query's pieces on
/// the workers as the current role, and a request runs as a NOLOGIN request
/// role (`SET LOCAL ROLE`): without a login there, every distributed query
/// fails. The roles stay NOLOGIN on the coordinator, where only the login
/// roles' `SET ROLE` reaches them. One statement per worker, with DDL
/// propagation off in it, since Citus would otherwise carry an ALTER ROLE
/// from a worker back to the coordinator and the other workers; then each
/// worker is read back. Only once [`refuse_open_remote_commands`] passed:
/// a login there must not be reachable from a request's SQL. Idempotent;
/// run by `carego migrate` and needed again after a worker is added (the
/// doctor reports `request_role_cannot_log_in_on_worker` until then).
pub async fn request_roles_log_in_on_workers(client: &Client) -> anyhow::Result<()> {
    if !has_workers(client).await? {
        return Ok(());
    }
    // Identifiers cannot be bound; the roles are our constants.
    let alters: String = REQUEST_ROLES.iter().map(|role| format!(" alter role {role} login;")).collect();
    let command = format!(
        "do $$ begin perform set_config('citus.enable_ddl_propagation', 'off', true);{alters} end $$"
    );
    for row in
        client.query("select nodename, success, result from run_command_on_workers($1)", &[&command]).await?
    {
        if !row.get::<_, bool>(1) {
            bail!(
                "letting the request roles log in on the Citus worker {}: {}",
                row.get::<_, String>(0),
                row.get::<_, String>(2)
            );
        }
    }
    let cannot = request_roles_without_login_on_workers(client).await?;
    if !cannot.is_empty() {
        bail!("request roles still cannot log in on Citus workers: {}", cannot.join("; "));
    }
    Ok(())
}

/// Every `worker: roles` where a request role cannot log in (or `worker: did
/// not answer: why`).
pub async fn request_roles_without_login_on_workers(client: &Client) -> anyhow::Result<Vec<String>> {
    let roles: Vec<String> = REQUEST_ROLES.iter().map(|r| (*r).to_owned()).collect();
    let check = format!(
        "select coalesce(string_agg(r, ',' order by r), '') from unnest({roles}) r
          where not exists (select from pg_roles where rolname = r and rolcanlogin)",
        roles = array(&roles)
    );
    let mut out = Vec::new();
    for row in
        client.query("select nodename, success, result from run_command_on_workers($1)", &[&check]).await?
    {
        let node: String = row.get(0);
        let result: String = row.get(2);
        match (row.get::<_, bool>(1), result.is_empty()) {
            (true, true) => {}
            (true, false) => out.push(format!("{node}: {result}")),
            (false, _) => out.push(format!("{node}: did not answer: {result}")),
        }
    }
    Ok(out)
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
