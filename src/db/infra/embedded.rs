//! The embedded PostgreSQL cluster: created and started from the PostgreSQL
//! binaries on this machine when no `DATABASE_URL` is given, listening only on
//! a Unix socket inside its own 0700 data directory (no TCP at all).
//!
//! The postmaster is spawned from a dedicated thread that lives as long as
//! the cluster handle, with `PR_SET_PDEATHSIG`: if this process dies without a
//! clean shutdown, PostgreSQL still receives SIGINT (fast shutdown) instead of
//! being orphaned. PostgreSQL refuses to run as root, so when we are root the
//! cluster runs as the unprivileged `postgres` system user and owns its
//! directory.

use std::{
    ffi::CString,
    fs,
    os::unix::{
        fs::{PermissionsExt, chown},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// The name of the bootstrap superuser inside the embedded cluster.
pub const SUPERUSER: &str = "postgres";
const PORT: u16 = 5432;

/// How the cluster is tuned for its purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `serve`: PostgreSQL defaults, data survives crashes.
    Durable,
    /// Tests and benchmarks' throwaway data: no fsync.
    Throwaway,
}

/// A running cluster; [`EmbeddedCluster::stop`] shuts it down if this
/// process started it.
pub struct EmbeddedCluster {
    pgdata: PathBuf,
    /// The postmaster we started, or `None` when another process (a running
    /// `carego serve`) started it: then it is used and left running.
    started: Option<Started>,
}

struct Started {
    pid: u32,
    /// Mutex only to make the handle `Sync` (it lives in statics in tests).
    exited: std::sync::Mutex<Exited>,
    stopped: bool,
}

impl EmbeddedCluster {
    /// Initialises (first time) and starts the cluster under `root`. When
    /// another process already runs it (a CLI command beside `serve`), it is
    /// used as it is, said on stderr, and left running.
    pub async fn start(root: &Path, durability: Durability) -> anyhow::Result<Self> {
        Self::start_with(root, durability, &[]).await
    }

    /// [`start`](Self::start), with server settings of its own (`name`,
    /// `value`), such as a Citus node's `shared_preload_libraries`.
    pub async fn start_with(
        root: &Path,
        durability: Durability,
        settings: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let bin = find_bin_dir()?;
        let pgdata = data_dir(root)?;
        let run_as = run_as_user()?;

        if !pgdata.join("PG_VERSION").exists() {
            init(&bin, &pgdata, run_as)?;
        }
        if let Some(pid) = running_postmaster(&pgdata).await {
            eprintln!(
                "note: using the embedded PostgreSQL already running in {} (pid {pid}, started by \
                 another carego process); it is left running",
                pgdata.display()
            );
            return Ok(Self { pgdata, started: None });
        }
        // A postmaster.pid left by a crash names a dead process; PostgreSQL
        // itself checks that, so a stale file does not block the start.
        let (pid, exited) = spawn_postmaster(&bin, &pgdata, durability, settings, run_as)?;
        let started = Started { pid, exited: std::sync::Mutex::new(exited), stopped: false };
        let cluster = Self { pgdata, started: Some(started) };
        cluster.wait_ready().await?;
        Ok(cluster)
    }

    /// The Unix-socket directory (the data directory itself).
    pub fn socket_dir(&self) -> &Path {
        &self.pgdata
    }

    /// The port in the socket's name (`.s.PGSQL.<port>`); there is no TCP.
    pub fn port(&self) -> u16 {
        PORT
    }

    /// A libpq-style connection string for `user` on `dbname`.
    pub fn conn_str(&self, user: &str, dbname: &str) -> String {
        conn_string(&self.pgdata, user, dbname)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let conn = self.conn_str(SUPERUSER, "postgres");
        let Some(started) = &self.started else { return Ok(()) };
        loop {
            if let Ok(status) = started.exited.lock().expect("not poisoned").try_recv() {
                bail!(
                    "PostgreSQL exited during start-up ({status:?}); see {}",
                    self.pgdata.join("log/postgresql.log").display()
                );
            }
            match answers(&conn).await {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline => {}
                Err(err) => return Err(err).context("PostgreSQL did not become ready in 60 s"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fast shutdown of a cluster this process started: connections are
    /// closed, the cluster stops cleanly. One it found running is left alone.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let Some(started) = self.started.as_mut() else { return Ok(()) };
        started.signal_stop();
        let exited = std::mem::replace(started.exited.get_mut().expect("not poisoned"), mpsc::channel().1);
        tokio::task::spawn_blocking(move || exited.recv_timeout(Duration::from_secs(60)))
            .await?
            .context("PostgreSQL did not stop within 60 s")??;
        Ok(())
    }
}

impl Started {
    fn signal_stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            // SAFETY: kill(2) with a pid we spawned and a valid signal number.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGINT) };
        }
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        if let Some(started) = self.started.as_mut() {
            started.signal_stop();
        }
    }
}

/// Connects and runs one query.
async fn answers(conn: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls).await?;
    let handle = tokio::spawn(connection);
    let result = client.simple_query("select 1").await.map(drop);
    drop(client);
    let _ = handle.await;
    result
}

/// The pid of a postmaster already serving `pgdata`: its `postmaster.pid`
/// names a live process and the cluster answers on its socket. A file left
/// by a crash (dead or recycled pid) does not count.
async fn running_postmaster(pgdata: &Path) -> Option<u32> {
    let pid: u32 =
        fs::read_to_string(pgdata.join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()?;
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !alive {
        return None;
    }
    answers(&conn_string(pgdata, SUPERUSER, "postgres")).await.ok().map(|()| pid)
}

/// The data directory of a cluster under `root` (made if missing), which is
/// also its socket directory.
pub fn data_dir(root: &Path) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    Ok(root.canonicalize()?.join("pgdata"))
}

fn conn_string(pgdata: &Path, user: &str, dbname: &str) -> String {
    format!(
        "host='{}' port={PORT} user='{}' dbname='{}'",
        quote(&pgdata.to_string_lossy()),
        quote(user),
        quote(dbname)
    )
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The uid/gid to run PostgreSQL as: `None` when we are not root.
fn run_as_user() -> anyhow::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("postgres")?;
    // SAFETY: getpwnam with a valid C string; the result is read at once,
    // before any other call could overwrite the static buffer.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!(
            "carego is running as root, and PostgreSQL refuses to run as root, but there is \
             no `postgres` system user to run the embedded cluster as. Create one \
             (`useradd --system postgres`), run carego as an unprivileged user, or set \
             DATABASE_URL to use an existing PostgreSQL server."
        );
    }
    // SAFETY: pw is non-null and points at a valid passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some((uid, gid)))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    chown(path, Some(uid), Some(gid)).with_context(|| format!("chown {}", path.display()))?;
    if path.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn command(bin: &Path, program: &str, run_as: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(bin.join(program));
    if let Some((uid, gid)) = run_as {
        // std drops root's supplementary groups (setgroups) before setuid.
        cmd.uid(uid).gid(gid);
    }
    cmd.env_remove("PGDATA").env("LC_ALL", "C.UTF-8");
    cmd
}

fn init(bin: &Path, pgdata: &Path, run_as: Option<(u32, u32)>) -> anyhow::Result<()> {
    fs::create_dir_all(pgdata)?;
    fs::set_permissions(pgdata, fs::Permissions::from_mode(0o700))?;
    if let Some((uid, gid)) = run_as {
        chown_tree(pgdata, uid, gid)?;
    }
    let out = command(bin, "initdb", run_as)
        .arg("-D")
        .arg(pgdata)
        .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"])
        .stdin(Stdio::null())
        .output()
        .context("running initdb")?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(pgdata);
        bail!(
            "initdb failed for {}: {}\n(when running as root, the `postgres` user must be able \
             to reach this directory; choose another with --data-dir / CAREGO_DATA_DIR)",
            pgdata.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // Trust is confined to the Unix socket in this 0700 directory: only its
    // owner (and root) can reach it. TCP is disabled below. The superuser
    // may also open a replication connection, which `pg_basebackup` needs
    // (docs/operations.md).
    fs::write(
        pgdata.join("pg_hba.conf"),
        format!("local all all trust\nlocal replication {SUPERUSER} trust\n"),
    )?;
    if let Some((uid, gid)) = run_as {
        chown(pgdata.join("pg_hba.conf"), Some(uid), Some(gid))?;
    }
    Ok(())
}

type Exited = mpsc::Receiver<std::io::Result<std::process::ExitStatus>>;

fn spawn_postmaster(
    bin: &Path,
    pgdata: &Path,
    durability: Durability,
    settings: &[(&str, String)],
    run_as: Option<(u32, u32)>,
) -> anyhow::Result<(u32, Exited)> {
    let mut cmd = command(bin, "postgres", run_as);
    cmd.arg("-D")
        .arg(pgdata)
        .arg("-k")
        .arg(pgdata)
        .args(["-p", &PORT.to_string(), "-c", "listen_addresses=", "-c", "max_connections=300"])
        .args(["-c", "logging_collector=on", "-c", "log_directory=log"])
        .args(["-c", "log_filename=postgresql.log", "-c", "log_min_messages=warning"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if durability == Durability::Throwaway {
        cmd.args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
    }
    for (name, value) in settings {
        cmd.arg("-c").arg(format!("{name}={value}"));
    }
    // SAFETY: prctl is async-signal-safe. It runs after the uid change, which
    // would otherwise clear the parent-death signal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (pid_tx, pid_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel();
    // The parent-death signal fires when the spawning *thread* exits, so the
    // postmaster is spawned from a thread that waits for it for its whole life.
    std::thread::Builder::new().name("carego-postgres".into()).spawn(move || match cmd.spawn() {
        Ok(mut child) => {
            let _ = pid_tx.send(Ok(child.id()));
            let _ = exit_tx.send(child.wait());
        }
        Err(err) => {
            let _ = pid_tx.send(Err(err));
        }
    })?;
    let pid = pid_rx.recv()?.context("starting postgres")?;
    Ok((pid, exit_rx))
}

/// Finds the directory holding `initdb` and `postgres`.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PG_BINDIR").map(PathBuf::from) {
        if has_tools(&dir) {
            return Ok(dir);
        }
        bail!("PG_BINDIR={} does not contain initdb and postgres", dir.display());
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // Debian puts an initdb wrapper on PATH; resolve it to the real bindir.
            if let Ok(real) = dir.join("initdb").canonicalize() {
                if let Some(parent) = real.parent() {
                    candidates.push(parent.to_path_buf());
                }
            }
            candidates.push(dir);
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    for pattern_root in ["/usr/lib/postgresql", "/opt/homebrew/opt", "/usr/local/opt"] {
        let mut versioned: Vec<PathBuf> = fs::read_dir(pattern_root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                pattern_root == "/usr/lib/postgresql" || name.starts_with("postgresql")
            })
            .collect();
        // Highest version first.
        versioned.sort_by_key(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            std::cmp::Reverse(name.rsplit(['@', '/']).next().and_then(|v| v.parse::<u32>().ok()))
        });
        candidates.extend(versioned.into_iter().map(|p| p.join("bin")));
    }
    candidates.push(PathBuf::from("/usr/local/pgsql/bin"));
    candidates.into_iter().find(|dir| has_tools(dir)).ok_or_else(|| {
        anyhow::anyhow!(
            "No PostgreSQL server binaries (initdb, postgres) were found on PATH, via \
             `pg_config --bindir`, in /usr/lib/postgresql/*/bin, /usr/local/pgsql/bin or \
             Homebrew's postgresql@* prefixes. Install PostgreSQL 15 or newer (Debian/Ubuntu: \
             `apt-get install postgresql`; macOS: `brew install postgresql@16`), point \
             PG_BINDIR at the directory holding initdb, or set DATABASE_URL (and \
             MIGRATION_DATABASE_URL) to use an existing server."
        )
    })
}
