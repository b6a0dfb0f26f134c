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

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use super::{
    embedded::{Durability, EmbeddedCluster, SUPERUSER, data_dir, find_bin_dir},
    migrate::{self, OWNER_ROLE},
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
             13.2 for it: from a Carego checkout, `sudo bash ../shared/citus/install.sh` builds it \
             from source (Debian also needs `apt-get install libkrb5-dev`); or your platform's \
             Citus package. Without --citus-workers, serve runs on one PostgreSQL.",
            bin.display(),
            libdir.display()
        );
    }
    Ok(())
}
