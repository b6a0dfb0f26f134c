//! One private PostgreSQL cluster per test process (or the server at
//! `DATABASE_URL`), a template database migrated once, and a database per
//! test copied from it.

use std::sync::atomic::AtomicUsize;

use carego::db::infra::{
    embedded::{Durability, EmbeddedCluster, SUPERUSER},
    migrate::{self, APP_ROLE, OWNER_ROLE, PLATFORM_ROLE},
};
use tokio::sync::{Mutex, OnceCell};
use tokio_postgres::{Client, Config, NoTls};

pub const TEMPLATE: &str = "carego_template";
/// Password set on the login roles when tests run against `DATABASE_URL`.
const ROLE_PASSWORD: &str = "carego-test-password";

/// How to reach the cluster as a given role.
pub struct Cluster {
    /// Keeps the embedded cluster alive for the whole test process; at exit
    /// the postmaster gets its parent-death signal and stops.
    _embedded: Option<EmbeddedCluster>,
    base: Config,
    pub superuser: String,
}

impl Cluster {
    pub fn config(&self, user: &str, dbname: &str) -> Config {
        let mut c = self.base.clone();
        c.user(user).dbname(dbname);
        if user != self.superuser {
            c.password(ROLE_PASSWORD);
        }
        c
    }
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();
pub static CREATE_DB: Mutex<()> = Mutex::const_new(());
pub static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

pub async fn connect(config: &Config) -> Client {
    let (client, conn) = config.connect(NoTls).await.expect("connect to the test cluster");
    tokio::spawn(conn);
    client
}

pub async fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| async {
        let (embedded, base, superuser) = match std::env::var("DATABASE_URL") {
            Ok(url) => {
                let base: Config = url.parse().expect("DATABASE_URL parses");
                let su = base.get_user().unwrap_or("postgres").to_owned();
                (None, base, su)
            }
            Err(_) => {
                sweep_dead_clusters();
                let dir = std::env::temp_dir().join(format!("carego-test-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let embedded = EmbeddedCluster::start(&dir, Durability::Throwaway).await.expect("start the test cluster");
                let base: Config = embedded.conn_str(SUPERUSER, "postgres").parse().unwrap();
                (Some(embedded), base, SUPERUSER.to_owned())
            }
        };
        let cluster = Cluster { _embedded: embedded, base, superuser };
        let su = connect(&cluster.config(&cluster.superuser, "postgres")).await;
        migrate::bootstrap(&su, TEMPLATE).await.unwrap();
        su.batch_execute(&format!(
            "alter role {OWNER_ROLE} password '{ROLE_PASSWORD}'; alter role {APP_ROLE} password '{ROLE_PASSWORD}';
             alter role {PLATFORM_ROLE} password '{ROLE_PASSWORD}';"
        ))
        .await
        .unwrap();
        let owner = cluster.config(OWNER_ROLE, TEMPLATE);
        migrate::run(&config_string(&owner)).await.expect("migrate the template");
        cluster
    })
    .await
}

/// The cluster lives in a static, which is never dropped, so a test process
/// leaves its data directory behind (a test runner that starts one process
/// per test leaves one per test). Each process removes those of processes
/// that are gone.
fn sweep_dead_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) =
            name.to_str().and_then(|n| n.strip_prefix("carego-test-")).and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// tokio-postgres has no Config → string; build the key=value form.
pub fn config_string(c: &Config) -> String {
    use tokio_postgres::config::Host;
    let host = match &c.get_hosts()[0] {
        Host::Tcp(h) => h.clone(),
        Host::Unix(p) => p.display().to_string(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let mut s = format!(
        "host='{host}' port={port} user='{}' dbname='{}'",
        c.get_user().unwrap_or_default(),
        c.get_dbname().unwrap_or_default()
    );
    if let Some(pw) = c.get_password() {
        s.push_str(&format!(" password='{}'", String::from_utf8_lossy(pw)));
    }
    s
}
