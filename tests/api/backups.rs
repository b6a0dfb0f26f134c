//! The backup drill of docs/operations.md, on a real server under load:
//! WAL archiving turned on as the operator turns it on, a base backup taken
//! with `pg_basebackup` while care logs are being written, more writes, and
//! a point-in-time restore to a moment between them. Every write
//! acknowledged before that moment is in the restored database, none sent
//! after it is, and `carego audit verify` passes there.

use std::{
    os::unix::fs::MetadataExt as _,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use carego::db::infra::embedded::{Durability, EmbeddedCluster, SUPERUSER, find_bin_dir};
use tokio_postgres::NoTls;

use crate::{
    cli::{carego, data_dir, http, http_with, interrupt, json_of, serve, status_of},
    helpers::PASSWORD,
};

/// One care log the writer sent: its body, when it was sent and, if the
/// server acknowledged it (201), when the answer came.
struct Write {
    body: String,
    sent: SystemTime,
    acknowledged: Option<SystemTime>,
}

/// Writes care logs one after another until `stop`, as a nurse would.
async fn write_until(addr: String, bearer: String, patient: String, stop: Arc<AtomicBool>) -> Vec<Write> {
    let path = format!("/api/v1/patients/{patient}/care-logs");
    let mut writes = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let body = format!("drill-{n}");
        let sent = SystemTime::now();
        let resp =
            http_with(&addr, "POST", &path, &bearer, &format!(r#"{{"kind":"note","body":"{body}"}}"#)).await;
        let acknowledged = (status_of(&resp) == 201).then(SystemTime::now);
        writes.push(Write { body, sent, acknowledged });
    }
    writes
}

/// Runs a PostgreSQL tool as the owner of `pgdata` (PostgreSQL's own user
/// when we are root), as an operator runs it as `postgres`. Awaited, so the
/// writer goes on meanwhile.
async fn run_as_owner_of(pgdata: &Path, tool: &str, args: &[&str]) {
    let bin = find_bin_dir().unwrap();
    let meta = std::fs::metadata(pgdata).unwrap();
    let mut cmd = tokio::process::Command::new(bin.join(tool));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(meta.uid()).gid(meta.gid());
    }
    let out = cmd.args(args).output().await.unwrap();
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn append(file: &Path, text: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn owned_like(path: &Path, like: &Path) {
    let meta = std::fs::metadata(like).unwrap();
    std::os::unix::fs::chown(path, Some(meta.uid()), Some(meta.gid())).unwrap();
}

#[tokio::test]
async fn a_point_in_time_restore_holds_every_acknowledged_write_before_the_target_and_none_after() {
    let dir = data_dir("backup");
    // The first start makes the cluster; then archiving is turned on in its
    // postgresql.conf, as docs/operations.md says, and the server restarted.
    let (first, _) = serve(carego(&dir)).await;
    assert!(interrupt(first).await.success());
    let pgdata = dir.join("postgres/pgdata");
    let archive = dir.join("wal-archive");
    std::fs::create_dir_all(&archive).unwrap();
    owned_like(&archive, &pgdata);
    append(
        &pgdata.join("postgresql.conf"),
        &format!(
            "\n# Backups (docs/operations.md)\narchive_mode = on\narchive_command = 'test ! -f {0}/%f && cp %p {0}/%f'\n",
            archive.display()
        ),
    );
    let (server, addr) = serve(carego(&dir)).await;

    let login = format!(r#"{{"email":"nurse@sunrise.example","password":"{PASSWORD}"}}"#);
    let nurse = json_of(&http(&addr, "POST", "/api/v1/auth/login", &login).await);
    let bearer = format!("authorization: Bearer {}\r\n", nurse["accessToken"].as_str().expect("a token"));
    let patients = json_of(&http_with(&addr, "GET", "/api/v1/patients", &bearer, "").await);
    let patient = patients["items"][0]["id"].as_str().expect("a patient").to_owned();

    // Writes under load, through the base backup, past the target.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_until(addr.clone(), bearer, patient, stop.clone()));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let base = dir.join("base");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    owned_like(&base, &pgdata);
    let base_arg = base.display().to_string();
    let socket = pgdata.display().to_string();
    let backup_started = SystemTime::now();
    run_as_owner_of(
        &pgdata,
        "pg_basebackup",
        &["-h", &socket, "-p", "5432", "-U", SUPERUSER, "-D", &base_arg, "-X", "stream", "-c", "fast"],
    )
    .await;
    let backup_done = SystemTime::now();
    run_as_owner_of(&pgdata, "pg_verifybackup", &[&base_arg]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let target = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::SeqCst);
    let writes = writer.await.unwrap();

    // The WAL past the target reaches the archive before the server stops.
    let conn = format!("host='{socket}' port=5432 user={SUPERUSER} dbname=carego");
    let (su, connection) = tokio_postgres::connect(&conn, NoTls).await.unwrap();
    tokio::spawn(connection);
    let segment: String = su.query_one("select pg_walfile_name(pg_switch_wal())", &[]).await.unwrap().get(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !archive.join(&segment).exists() {
        assert!(Instant::now() < deadline, "{segment} was not archived in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(su);
    assert!(interrupt(server).await.success());

    let acknowledged = |w: &&Write| w.acknowledged.is_some_and(|at| at < target);
    let before_backup =
        writes.iter().filter(|w| w.acknowledged.is_some_and(|at| at < backup_started)).count();
    let during_backup = writes
        .iter()
        .filter(|w| w.sent > backup_started && w.acknowledged.is_some_and(|at| at < backup_done))
        .count();
    let after_target = writes.iter().filter(|w| w.sent > target).count();
    eprintln!(
        "backup drill: {} writes, {before_backup} acknowledged before the backup, {during_backup} during it, \
         {after_target} sent after the target",
        writes.len()
    );
    assert!(
        before_backup > 0 && during_backup > 0 && after_target > 0,
        "writes before the backup ({before_backup}), during it ({during_backup}) and after the target ({after_target})"
    );
    let failed: Vec<&str> =
        writes.iter().filter(|w| w.acknowledged.is_none()).map(|w| w.body.as_str()).collect();
    assert!(failed.is_empty(), "every write was acknowledged: {failed:?}");

    // The restore: the base backup copied into an empty data directory,
    // recovery.signal, and the archive replayed to the target.
    // Laid out as a data directory of its own (`<dir>/postgres/pgdata`),
    // so that `carego` commands can be pointed at it.
    let restored_dir = dir.join("restored");
    let restored_root = restored_dir.join("postgres");
    let restored = restored_root.join("pgdata");
    std::fs::create_dir_all(&restored_root).unwrap();
    let copied = std::process::Command::new("cp").arg("-a").arg(&base).arg(&restored).status().unwrap();
    assert!(copied.success());
    let target_text =
        chrono::DateTime::<chrono::Utc>::from(target).format("%Y-%m-%d %H:%M:%S%.6f+00").to_string();
    append(
        &restored.join("postgresql.conf"),
        &format!(
            "\n# Point-in-time recovery (docs/operations.md)\nrestore_command = 'cp {}/%f %p'\n\
             recovery_target_time = '{target_text}'\nrecovery_target_action = 'promote'\n\
             archive_mode = off\n",
            archive.display()
        ),
    );
    std::fs::write(restored.join("recovery.signal"), "").unwrap();
    owned_like(&restored.join("recovery.signal"), &restored);
    let cluster = EmbeddedCluster::start(&restored_root, Durability::Durable).await.unwrap();
    let (su, connection) =
        tokio_postgres::connect(&cluster.conn_str(SUPERUSER, "carego"), NoTls).await.unwrap();
    tokio::spawn(connection);
    let deadline = Instant::now() + Duration::from_secs(60);
    while su.query_one("select pg_is_in_recovery()", &[]).await.unwrap().get::<_, bool>(0) {
        assert!(Instant::now() < deadline, "recovery did not reach the target in 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let present: std::collections::HashSet<String> = su
        .query("select body from care_logs where body like 'drill-%'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let lost: Vec<&str> = writes
        .iter()
        .filter(acknowledged)
        .map(|w| w.body.as_str())
        .filter(|b| !present.contains(*b))
        .collect();
    assert!(lost.is_empty(), "acknowledged before the target but not restored: {lost:?}");
    let too_late: Vec<&str> = writes
        .iter()
        .filter(|w| w.sent > target)
        .map(|w| w.body.as_str())
        .filter(|b| present.contains(*b))
        .collect();
    assert!(too_late.is_empty(), "sent after the target but restored: {too_late:?}");
    assert!(writes.iter().filter(acknowledged).count() >= before_backup + during_backup);
    drop(su);

    // The restored database's audit chains verify (the command uses the
    // cluster running there).
    let out = carego(&restored_dir).args(["audit", "verify"]).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().filter(|l| l.contains(": ok,")).count() >= 2, "{stdout}");
    cluster.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
