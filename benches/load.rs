//! The side-by-side benchmark: the release server under a closed-loop load
//! versus the very same SQL transactions driven straight at PostgreSQL by
//! `pgbench -M prepared`, at the same concurrency, on the same data, in the
//! same run. Prints a table and writes `target/bench/results.json`.
//!
//!     cargo bench --bench load                  # scales S and L, then live events
//!     cargo bench --bench load -- --scale S     # S only (quicker), then live events
//!     cargo bench --bench load -- --live-only   # live events alone
//!     cargo bench --bench load -- --catalog-only  # the website's cached catalog alone
//!     cargo bench --bench load -- --keys-only   # API keys with and without a random-key flood
//!
//! Knobs (environment): BENCH_CONCURRENCY (16), BENCH_SECONDS (8 per
//! scenario and side), BENCH_WARMUP_SECONDS (2), BENCH_PROFILE (a scenario
//! name, e.g. "audit list": its server side runs under `perf record`, the
//! whole machine and the server's own call graph, into target/bench/),
//! BENCH_SCENARIOS (numbers, e.g. "0,4": only those scenarios, and no live
//! events — for comparing builds side by side).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use carego::{
    auth::{jwt::JwtKeys, registration::KeyHasher},
    db::{
        PROLOGUE, audit,
        clinical::{care_logs, patients},
        infra::{embedded, migrate},
        recovery::{Logged, check_ins::CheckIn, sync},
    },
    domain::ids::{FacilityId, SessionId, UserId},
    identity::Role,
};
use hdrhistogram::Histogram;

#[path = "load/catalog.rs"]
mod catalog;
#[path = "load/live.rs"]
mod live;
#[path = "load/unknown_keys.rs"]
mod unknown_keys;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

const PRINCIPALS: usize = 100; // pgbench takes at most 128 scripts
const BENCH_PASSWORD: &str = "bench-password-0001";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A principal of the benchmark: who calls, and the patient they use.
#[derive(Clone)]
struct Principal {
    role: Role,
    facility: Uuid,
    user: Uuid,
    session: Uuid,
    patient: Uuid,
    email: String,
    token: String,
    /// The statements the server runs for this principal's sync pull
    /// (`since=0`), learnt from one pull once the data stands still.
    pull: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    /// The yardstick, run by pgbench alone: a facility admin's prologue and
    /// a page of 20 patients by `(created_at, id)`, which only the facility
    /// policy filters. Every scenario's pgbench figure is also given as a
    /// fraction of it, so the SQL's own cost shows (a ratio to pgbench
    /// cannot: both sides pay it).
    BareRlsPage,
    CaseloadList,
    GetPatient,
    AppendCareLog,
    AuditList,
    Login,
    CheckInWrite,
    SyncPull,
    /// The website's service list for a city: the server answers from its
    /// cache; pgbench runs the query it caches, as `carego_public`.
    CatalogList,
    /// The same with the `ETag` sent back: 304, no body.
    CatalogRevalidate,
}

impl Scenario {
    /// The number the name starts with.
    fn number(self) -> u8 {
        self.name().split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(u8::MAX)
    }

    fn name(self) -> &'static str {
        match self {
            Self::BareRlsPage => "0 bare RLS page",
            Self::CaseloadList => "1 caseload list",
            Self::GetPatient => "2 get patient",
            Self::AppendCareLog => "3 append care log",
            Self::AuditList => "4 audit list",
            Self::Login => "5 login (argon2id)",
            Self::CheckInWrite => "6 check-in write",
            Self::SyncPull => "7 sync pull",
            Self::CatalogList => "8 catalog (cached)",
            Self::CatalogRevalidate => "9 catalog (304)",
        }
    }
}

struct Side {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// How pgbench sends a transaction: one statement at a time (the design's
/// reference), or all four in one pipeline (stricter than the server, which
/// pipelines BEGIN, prologue and statement but sends COMMIT on its own).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Pipelined,
}

fn main() -> anyhow::Result<()> {
    carego::install_tls_provider();
    let args: Vec<String> = std::env::args().collect();
    let scales: Vec<&str> = match args.iter().position(|a| a == "--scale").and_then(|i| args.get(i + 1)) {
        _ if args.iter().any(|a| a == "--live-only") => vec![],
        _ if args.iter().any(|a| a == "--keys-only") => vec!["keys"],
        _ if args.iter().any(|a| a == "--catalog-only") => vec!["catalog"],
        Some(s) if s == "S" => vec!["S"],
        Some(s) if s == "L" => vec!["S", "L"],
        _ => vec!["S", "L"],
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(run(scales))
}

async fn run(scales: Vec<&str>) -> anyhow::Result<()> {
    let concurrency = env_num("BENCH_CONCURRENCY", 16) as usize;
    let seconds = env_num("BENCH_SECONDS", 8);
    let warmup = env_num("BENCH_WARMUP_SECONDS", 2);
    let only: Option<Vec<u8>> = std::env::var("BENCH_SCENARIOS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let root = std::env::temp_dir().join(format!("carego-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;

    // The release server creates and migrates its own embedded cluster.
    let keys_spec = JwtKeys::generate_spec();
    let keys = JwtKeys::parse(&keys_spec)?;
    let port = free_port()?;
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_carego"))
        .arg("serve")
        .env("CAREGO_DATA_DIR", &root)
        .env("CAREGO_LISTEN", format!("127.0.0.1:{port}"))
        .env("CAREGO_JWT_KEYS", &keys_spec)
        .env("CAREGO_KEY_SECRET", KeyHasher::generate_spec())
        .env("CAREGO_TENANTS_DIR", root.join("no-manifests"))
        .env("CAREGO_POOL_SIZE", concurrency.to_string())
        .env("CAREGO_LOGIN_LIMIT_PER_IP", "100000000")
        .env("CAREGO_LOGIN_LIMIT_PER_ACCOUNT", "100000000")
        .env("CAREGO_MAX_CONNECTIONS", "2048")
        // The API-key scenario's two clients name themselves in X-Forwarded-For.
        .env("CAREGO_TRUSTED_PROXIES", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.starts_with("Carego is listening") {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let server_pid = server.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let socket = root.join("postgres/pgdata");
    let su = migrate::connect(&format!("host='{}' user=postgres dbname=carego", socket.display())).await?;
    let hash = carego::auth::password::hash(BENCH_PASSWORD.to_owned()).await?;
    let bin = embedded::find_bin_dir()?;

    let mut rows: Vec<Row> = Vec::new();
    let mut seeded = 0;
    let catalog_only = scales == ["catalog"];
    let keys_only = scales == ["keys"];
    let mut key_rows = Vec::new();
    if keys_only {
        seed(&su, 1, 2, &hash).await?;
        let admins = principals(&su, &keys, 2, Role::FacilityAdmin).await?;
        key_rows = unknown_keys::run(&base, &admins[0].token, concurrency, warmup, seconds).await?;
        let hwm = peak_rss_kb(server_pid, "VmHWM").unwrap_or(0);
        drop(su);
        let _ = server.kill().await;
        let _ = std::fs::remove_dir_all(&root);
        return report(&rows, None, &key_rows, concurrency, seconds, hwm);
    }
    for scale in scales {
        let facilities = if scale == "L" { 200 } else { 20 };
        let started = Instant::now();
        seed(&su, seeded + 1, facilities, &hash).await?;
        seeded = facilities;
        let counts = su
            .query_one("select (select count(*) from facilities), (select count(*) from patients), (select count(*) from care_logs)", &[])
            .await?;
        eprintln!(
            "scale {scale}: {} facilities, {} patients, {} care logs (seeded in {:.0?})",
            counts.get::<_, i64>(0),
            counts.get::<_, i64>(1),
            counts.get::<_, i64>(2),
            started.elapsed()
        );
        let mut staff = principals(&su, &keys, facilities, Role::Staff).await?;
        let admins = principals(&su, &keys, facilities, Role::FacilityAdmin).await?;

        let mut scenarios = vec![
            Scenario::BareRlsPage,
            Scenario::CaseloadList,
            Scenario::GetPatient,
            Scenario::AppendCareLog,
            Scenario::AuditList,
            Scenario::Login,
            Scenario::CheckInWrite,
            Scenario::SyncPull,
        ];
        if catalog_only {
            scenarios.clear();
        }
        if scale != "L" {
            scenarios.extend([Scenario::CatalogList, Scenario::CatalogRevalidate]);
        }
        if let Some(wanted) = &only {
            scenarios.retain(|s| wanted.contains(&s.number()));
        }
        if scenarios.iter().any(|s| matches!(s, Scenario::CatalogList | Scenario::CatalogRevalidate)) {
            catalog::seed(&su, &base, facilities).await?;
        }
        for scenario in scenarios {
            if scenario == Scenario::SyncPull {
                learn_pulls(&base, &mut staff).await?;
            }
            let who = if matches!(scenario, Scenario::AuditList | Scenario::BareRlsPage) {
                &admins
            } else {
                &staff
            };
            let (server_side, rss) = if scenario == Scenario::BareRlsPage {
                (None, 0)
            } else {
                let (side, rss) =
                    drive_server(&base, scenario, who, concurrency, warmup, seconds, server_pid).await?;
                (Some(side), rss)
            };
            let (pgbench, pipelined) = if scenario == Scenario::Login {
                (None, None)
            } else {
                (
                    Some(
                        drive_pgbench(&bin, &socket, &root, scenario, who, concurrency, seconds, Mode::Plain)
                            .await?,
                    ),
                    Some(
                        drive_pgbench(
                            &bin,
                            &socket,
                            &root,
                            scenario,
                            who,
                            concurrency,
                            seconds,
                            Mode::Pipelined,
                        )
                        .await?,
                    ),
                )
            };
            eprintln!(
                "  {:<22} server {:>7.0} req/s   pgbench {:>7.0} tps   pipelined {:>7.0} tps",
                scenario.name(),
                server_side.as_ref().map_or(0.0, |s| s.rps),
                pgbench.as_ref().map_or(0.0, |p| p.rps),
                pipelined.as_ref().map_or(0.0, |p| p.rps)
            );
            rows.push(Row { scale, scenario, server: server_side, pgbench, pipelined, rss });
        }
    }
    if catalog_only || only.is_some() {
        let hwm = peak_rss_kb(server_pid, "VmHWM").unwrap_or(0);
        drop(su);
        let _ = server.kill().await;
        let _ = std::fs::remove_dir_all(&root);
        return report(&rows, None, &key_rows, concurrency, seconds, hwm);
    }
    if seeded > 0 {
        let admins = principals(&su, &keys, seeded, Role::FacilityAdmin).await?;
        key_rows = unknown_keys::run(&base, &admins[0].token, concurrency, warmup, seconds).await?;
    }
    // Live events over the first 50 facilities.
    if seeded < live::FACILITIES {
        seed(&su, seeded + 1, live::FACILITIES, &hash).await?;
    }
    let live = live::run(&base, &su, &keys, server_pid, env_num("BENCH_ANNOUNCEMENTS", 400) as usize).await?;
    eprintln!(
        "  live events: {} subscribers, {}/{} delivered, p99 {:.1} ms from commit",
        live.subscribers, live.delivered, live.expected, live.from_commit_p99_ms
    );
    let hwm = peak_rss_kb(server_pid, "VmHWM").unwrap_or(0);
    drop(su);
    if let Some(pid) = server.id() {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), server.wait()).await;
    let _ = std::fs::remove_dir_all(&root);
    report(&rows, Some(&live), &key_rows, concurrency, seconds, hwm)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Facilities `from..=to`: 20 users each (one admin), 500 patients each
/// assigned to a staff member who also counsels them, 20 care logs per
/// patient, 1000 audit rows per facility. Generated in SQL, not row by row;
/// synthetic rows skip the audit triggers.
async fn seed(su: &tokio_postgres::Client, from: usize, to: usize, hash: &str) -> anyhow::Result<()> {
    // Values are our own integers and argon2 output (no quotes), not input.
    let range = format!("generate_series({from}, {to})");
    let in_range = format!("(select md5('bf' || f)::uuid from {range} f)");
    su.batch_execute(&format!(
        "set session_replication_role = replica;
         insert into facilities (id, slug, name, kind)
              select md5('bf' || f)::uuid, 'bench-' || f, 'Bench ' || f, 'rehab_centre' from {range} f;
         insert into users (id, facility_id, email, role, first_name, last_name, password_hash, status)
              select md5('bu' || f || '-' || s)::uuid, md5('bf' || f)::uuid, 'u' || f || '-' || s || '@bench.example',
                     case when s = 1 then 'facility_admin' else 'staff' end, 'Bench', 'User ' || s, '{hash}', 'active'
                from {range} f, generate_series(1, 20) s;
         insert into patients (facility_id, id, first_name, last_name, date_of_birth, status, admission_date,
                               primary_counsellor_id)
              select md5('bf' || f)::uuid, md5('bp' || f || '-' || p)::uuid, 'Pat', 'Number ' || p, '1980-01-01',
                     'active', '2026-01-01', md5('bu' || f || '-' || (2 + p % 19))::uuid
                from {range} f, generate_series(1, 500) p;
         insert into assignments (facility_id, patient_id, staff_id, role)
              select facility_id, id, primary_counsellor_id, 'nurse' from patients where facility_id in {in_range};
         insert into care_logs (facility_id, patient_id, kind, body, occurred_at, recorded_by, recorded_at)
              select p.facility_id, p.id, 'note', 'Routine observation ' || n, now() - make_interval(hours => n),
                     p.primary_counsellor_id, now()
                from patients p, generate_series(1, 20) n where p.facility_id in {in_range};
         insert into audit_log (facility_id, actor_role, action, entity_type, chain_seq, prev_hash, hash, created_at)
              select md5('bf' || f)::uuid, 'staff', 'create', 'care_logs', n, '\\x', sha256(int4send(n)),
                     now() - make_interval(secs => 2000 - n)
                from {range} f, generate_series(1, 1000) n;
         set session_replication_role = origin;"
    ))
    .await?;
    su.batch_execute("vacuum analyze").await?;
    Ok(())
}

/// PRINCIPALS users spread over the facilities, each with a live session, a
/// token, and one patient of their caseload.
async fn principals(
    su: &tokio_postgres::Client,
    keys: &JwtKeys,
    facilities: usize,
    role: Role,
) -> anyhow::Result<Vec<Principal>> {
    let mut out = Vec::new();
    let count = if role == Role::Staff { PRINCIPALS } else { PRINCIPALS.min(facilities) };
    for i in 0..count {
        let f = 1 + i * facilities / count;
        let s = if role == Role::Staff { 2 + i % 19 } else { 1 };
        let p = 19 * (1 + i % 25) + (s.max(2) - 2);
        let ids = su
            .query_one(
                "select md5('bf' || $1)::uuid, md5('bu' || $1 || '-' || $2)::uuid, md5('bp' || $1 || '-' || $3)::uuid",
                &[&(f as i32).to_string(), &(s as i32).to_string(), &(p as i32).to_string()],
            )
            .await?;
        let (facility, user, patient): (Uuid, Uuid, Uuid) = (ids.get(0), ids.get(1), ids.get(2));
        let session: Uuid = su
            .query_one(
                "insert into sessions (facility_id, user_id, expires_at) values ($1, $2, now() + interval '1 day') returning id",
                &[&facility, &user],
            )
            .await?
            .get(0);
        let token = keys.issue(
            UserId(user),
            SessionId(session),
            role,
            Some(FacilityId(facility)),
            Duration::from_secs(3600),
        )?;
        let email = format!("u{f}-{s}@bench.example");
        out.push(Principal { role, facility, user, session, patient, email, token, pull: Vec::new() });
    }
    Ok(out)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

fn rss_kb(pid: u32) -> Option<u64> {
    peak_rss_kb(pid, "VmRSS")
}

fn peak_rss_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// Closed loop: `concurrency` workers, each sending its next request as soon
/// as the previous answer arrives, cycling through the principals.
async fn drive_server(
    base: &str,
    scenario: Scenario,
    who: &[Principal],
    concurrency: usize,
    warmup: u64,
    seconds: u64,
    pid: u32,
) -> anyhow::Result<(Side, u64)> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let run = || {
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..concurrency)
            .map(|w| {
                let (client, stop, who, base) = (client.clone(), stop.clone(), who.to_vec(), base.to_owned());
                tokio::spawn(async move {
                    let mut hist = histogram();
                    let mut i = w;
                    while !stop.load(Ordering::Relaxed) {
                        let p = &who[i % who.len()];
                        i += concurrency;
                        let started = Instant::now();
                        let status = request(&client, &base, scenario, p, i).await;
                        assert!(matches!(status, 200 | 201 | 304), "{}: HTTP {status}", scenario.name());
                        hist.record(started.elapsed().as_micros() as u64).unwrap();
                    }
                    hist
                })
            })
            .collect();
        (stop, workers)
    };
    let (stop, workers) = run();
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await?;
    }
    let (stop, workers) = run();
    let profiles = profile(scenario, pid, seconds)?;
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        peak = peak.max(rss_kb(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for mut p in profiles {
        p.wait().await?;
    }
    let elapsed = started.elapsed();
    let mut total = histogram();
    for w in workers {
        total.add(w.await?)?;
    }
    Ok((
        Side {
            rps: total.len() as f64 / elapsed.as_secs_f64(),
            p50_ms: total.value_at_quantile(0.50) as f64 / 1000.0,
            p99_ms: total.value_at_quantile(0.99) as f64 / 1000.0,
        },
        peak,
    ))
}

/// With BENCH_PROFILE naming `scenario`, two `perf record`s over its
/// measured seconds: every process on the machine (where the cores go:
/// server, client, PostgreSQL, kernel) and the server's call graph (DWARF
/// unwinding: the release build keeps line tables but no frame pointers).
/// Read them with `perf report -i target/bench/<file> --sort comm,dso` and
/// `--no-children --sort sym`.
fn profile(scenario: Scenario, pid: u32, seconds: u64) -> anyhow::Result<Vec<tokio::process::Child>> {
    match std::env::var("BENCH_PROFILE") {
        Ok(wanted) if !wanted.is_empty() && scenario.name().contains(wanted.as_str()) => {}
        _ => return Ok(Vec::new()),
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let stem = scenario.name().replace(' ', "-");
    let record = |file: String, target: &[&str]| {
        tokio::process::Command::new("perf")
            .args(["record", "-F", "499", "-o"])
            .arg(dir.join(file))
            .args(target)
            .args(["--", "sleep", &seconds.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    };
    let whole = record(format!("{stem}.machine.perf.data"), &["-a", "-g"])?;
    let server =
        record(format!("{stem}.server.perf.data"), &["-p", &pid.to_string(), "--call-graph", "dwarf,16384"])?;
    eprintln!("  profiling {} into {}", scenario.name(), dir.display());
    Ok(vec![whole, server])
}

async fn request(client: &reqwest::Client, base: &str, scenario: Scenario, p: &Principal, i: usize) -> u16 {
    let auth = format!("Bearer {}", p.token);
    let req = match scenario {
        Scenario::BareRlsPage => unreachable!("the bare page is pgbench's alone"),
        Scenario::CaseloadList => {
            client.get(format!("{base}/api/v1/patients?limit=20")).header("authorization", auth)
        }
        Scenario::GetPatient => {
            client.get(format!("{base}/api/v1/patients/{}", p.patient)).header("authorization", auth)
        }
        Scenario::AppendCareLog => client
            .post(format!("{base}/api/v1/patients/{}/care-logs", p.patient))
            .header("authorization", auth)
            .json(&json!({"kind": "note", "body": format!("Benchmark note {i}")})),
        Scenario::AuditList => {
            client.get(format!("{base}/api/v1/audit-logs?limit=20")).header("authorization", auth)
        }
        Scenario::Login => client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": p.email, "password": BENCH_PASSWORD})),
        Scenario::CheckInWrite => client
            .post(format!("{base}/api/v1/patients/{}/check-ins", p.patient))
            .header("authorization", auth)
            .json(&json!({"id": Uuid::new_v4(), "mood": 1 + i % 10, "tired": i % 2 == 0})),
        Scenario::SyncPull => {
            client.get(format!("{base}/api/v1/sync/changes?since=0&limit=20")).header("authorization", auth)
        }
        Scenario::CatalogList => client.get(format!("{base}{}", catalog::path())),
        Scenario::CatalogRevalidate => {
            client.get(format!("{base}{}", catalog::path())).header("if-none-match", catalog::etag())
        }
    };
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let _ = resp.bytes().await;
            status
        }
        Err(_) => 0,
    }
}

/// Scenario 0's statement: the patients list's columns and order, with no
/// filter but the policies' and no audited read.
const BARE_RLS_PAGE: &str = "select id, facility_id, mrn, user_id, first_name, last_name, date_of_birth, status, \
    admission_date, discharge_date, sobriety_date, primary_counsellor_id, room, emergency_contact, notes, deleted_at, \
    created_at, updated_at from patients where deleted_at is null order by created_at, id limit 21";

/// A SQL literal for one parameter.
enum Lit<'a> {
    Null,
    Text(&'a str),
    Bool(bool),
    Int(i64),
    /// An SQL expression, for a value the client would have made (an id).
    Raw(&'a str),
}

/// `sql` with `$n` replaced by literals: the server's statement, verbatim
/// but for its parameters. pgbench cannot hold uuids in variables, so each
/// principal gets a script of its own (at most 128) instead.
fn bind(sql: &str, args: &[Lit]) -> String {
    let mut out = sql.to_owned();
    for (i, arg) in args.iter().enumerate().rev() {
        let lit = match arg {
            Lit::Null => "NULL".to_owned(),
            Lit::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Lit::Bool(b) => b.to_string(),
            Lit::Int(n) => n.to_string(),
            Lit::Raw(sql) => (*sql).to_owned(),
        };
        out = out.replace(&format!("${}", i + 1), &lit);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn script(scenario: Scenario, p: &Principal, mode: Mode) -> String {
    let (role, app_role) = match p.role {
        Role::FacilityAdmin => ("carego_facility_admin", "facility_admin"),
        _ => ("carego_staff", "staff"),
    };
    let (facility, user, session, patient) =
        (p.facility.to_string(), p.user.to_string(), p.session.to_string(), p.patient.to_string());
    let prologue = bind(
        PROLOGUE,
        &[
            Lit::Text(role),
            Lit::Text(app_role),
            Lit::Text(&facility),
            Lit::Text(&user),
            Lit::Text(&session),
            Lit::Text("pgbench"),
            Lit::Null,
            Lit::Null,
            Lit::Text("5000ms"),
        ],
    );
    let statement = match scenario {
        Scenario::BareRlsPage => BARE_RLS_PAGE.to_owned(),
        // The first page of live patients, no filter: the limit alone.
        Scenario::CaseloadList => bind(patients::LIST.get(patients::LIVE), &[Lit::Int(21)]),
        Scenario::GetPatient => bind(patients::GET, &[Lit::Text(&patient)]),
        Scenario::AppendCareLog => bind(
            care_logs::INSERT,
            &[
                Lit::Text(&patient),
                Lit::Text("note"),
                Lit::Text("Benchmark note"),
                Lit::Null,
                Lit::Bool(false),
            ],
        ),
        Scenario::AuditList => bind(audit::LIST.get(0), &[Lit::Int(21)]),
        Scenario::Login => unreachable!("login is the server's own work"),
        Scenario::CheckInWrite => bind(
            CheckIn::INSERT,
            &[
                Lit::Raw("gen_random_uuid()"),
                Lit::Text(&patient),
                Lit::Null,
                Lit::Int(6),
                Lit::Bool(true),
                Lit::Bool(false),
                Lit::Bool(false),
                Lit::Bool(false),
                Lit::Null,
                Lit::Null,
                Lit::Null,
            ],
        ),
        Scenario::SyncPull => p.pull.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(";\n"),
        Scenario::CatalogList | Scenario::CatalogRevalidate => {
            // The website's transaction: no facility, no user, no session.
            let public = bind(
                PROLOGUE,
                &[
                    Lit::Text("carego_public"),
                    Lit::Text("public"),
                    Lit::Null,
                    Lit::Null,
                    Lit::Null,
                    Lit::Text("pgbench"),
                    Lit::Null,
                    Lit::Null,
                    Lit::Text("5000ms"),
                ],
            );
            let list = bind(
                carego::db::catalog::services::PUBLIC_LIST.get(carego::db::catalog::services::IN_CITY),
                &[Lit::Int(carego::db::catalog::services::PUBLIC_LIST_CAP), Lit::Text(&catalog::city())],
            );
            return match mode {
                Mode::Plain => format!("BEGIN;\n{public};\n{list};\nCOMMIT;\n"),
                Mode::Pipelined => {
                    format!("\\startpipeline\nBEGIN;\n{public};\n{list};\nCOMMIT;\n\\endpipeline\n")
                }
            };
        }
    };
    match mode {
        Mode::Plain => format!("BEGIN;\n{prologue};\n{statement};\nCOMMIT;\n"),
        Mode::Pipelined => {
            format!("\\startpipeline\nBEGIN;\n{prologue};\n{statement};\nCOMMIT;\n\\endpipeline\n")
        }
    }
}

/// Pulls once per principal (the check-ins written before now stand still)
/// and writes down the statements the server runs for that pull, in its
/// order: the feed, the records of each type found, the audited reads.
async fn learn_pulls(base: &str, who: &mut [Principal]) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for p in who.iter_mut() {
        let res: Value = client
            .get(format!("{base}/api/v1/sync/changes?since=0&limit=20"))
            .header("authorization", format!("Bearer {}", p.token))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let items = res["items"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(
            items.iter().all(|i| i["type"] == "check_in"),
            "the bench's feed holds only check-ins"
        );
        let array = |ids: Vec<&str>| format!("{{{}}}", ids.join(","));
        let check_ins: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
        let mut read: Vec<&str> = items.iter().filter_map(|i| i["patientId"].as_str()).collect();
        read.sort_unstable();
        read.dedup();
        p.pull = vec![bind(sync::CHANGES, &[Lit::Int(0), Lit::Int(21)])];
        if !check_ins.is_empty() {
            p.pull.push(bind(CheckIn::BY_IDS, &[Lit::Text(&array(check_ins))]));
        }
        if !read.is_empty() {
            p.pull.push(bind(sync::AUDIT_READS, &[Lit::Text(&array(read))]));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn drive_pgbench(
    bin: &Path,
    socket: &Path,
    root: &Path,
    scenario: Scenario,
    who: &[Principal],
    concurrency: usize,
    seconds: u64,
    mode: Mode,
) -> anyhow::Result<Side> {
    let dir = root.join(format!("pgbench-{}-{}", scenario as u8, mode as u8));
    std::fs::create_dir_all(&dir)?;
    let mut cmd = tokio::process::Command::new(bin.join("pgbench"));
    cmd.args(["-n", "-M", "prepared", "-c", &concurrency.to_string(), "-j", "2", "-T", &seconds.to_string()])
        .args(["-l", "--log-prefix"])
        .arg(dir.join("log"))
        .arg("-h")
        .arg(socket)
        .args(["-U", "carego_app", "-d", "carego"]);
    for (i, p) in who.iter().enumerate() {
        let path: PathBuf = dir.join(format!("s{i}.sql"));
        std::fs::write(&path, script(scenario, p, mode))?;
        cmd.arg("-f").arg(&path);
    }
    let out = cmd.current_dir(&dir).output().await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "pgbench failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let tps = stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {stdout}"))?;
    // Per-transaction latencies (µs, third column) from the logs.
    let mut hist = histogram();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("log")) {
            for line in std::fs::read_to_string(&path)?.lines() {
                if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse::<u64>().ok()) {
                    hist.record(us.max(1))?;
                }
            }
        }
    }
    Ok(Side {
        rps: tps,
        p50_ms: hist.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
    })
}

struct Row<'a> {
    scale: &'a str,
    scenario: Scenario,
    /// None for scenario 0, which the server does not run.
    server: Option<Side>,
    pgbench: Option<Side>,
    pipelined: Option<Side>,
    rss: u64,
}

/// A figure to `digits` places, or "—" where there is none.
fn fixed(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.digits$}"))
}

fn report(
    rows: &[Row],
    live: Option<&live::LiveFigures>,
    key_rows: &[unknown_keys::KeyRow],
    concurrency: usize,
    seconds: u64,
    hwm_kb: u64,
) -> anyhow::Result<()> {
    let mut table = String::new();
    writeln!(
        table,
        "\ncarego benchmark — concurrency {concurrency}, {seconds} s per scenario and side, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )?;
    writeln!(
        table,
        "| scale | scenario | server req/s | p50 ms | p99 ms | pgbench tps | p50 ms | p99 ms | ratio | pgbench of scenario 0 | pipelined pgbench tps | ratio | server RSS MB |"
    )?;
    writeln!(table, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    let mut json_rows = Vec::new();
    let yardstick = |scale: &str| {
        rows.iter()
            .find(|r| r.scale == scale && r.scenario == Scenario::BareRlsPage)
            .and_then(|r| r.pgbench.as_ref().map(|p| p.rps))
    };
    for r in rows {
        let ratio = r.pgbench.as_ref().zip(r.server.as_ref()).map(|(p, s)| s.rps / p.rps);
        let ratio_pipelined = r.pipelined.as_ref().zip(r.server.as_ref()).map(|(p, s)| s.rps / p.rps);
        let of_bare = r.pgbench.as_ref().zip(yardstick(r.scale)).map(|(p, bare)| p.rps / bare);
        writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scale,
            r.scenario.name(),
            fixed(r.server.as_ref().map(|s| s.rps), 0),
            fixed(r.server.as_ref().map(|s| s.p50_ms), 2),
            fixed(r.server.as_ref().map(|s| s.p99_ms), 2),
            fixed(r.pgbench.as_ref().map(|s| s.rps), 0),
            fixed(r.pgbench.as_ref().map(|s| s.p50_ms), 2),
            fixed(r.pgbench.as_ref().map(|s| s.p99_ms), 2),
            fixed(ratio, 2),
            fixed(of_bare, 2),
            fixed(r.pipelined.as_ref().map(|s| s.rps), 0),
            fixed(ratio_pipelined, 2),
            fixed(r.server.as_ref().map(|_| r.rss as f64 / 1024.0), 0),
        )?;
        let side = |s: &Option<Side>| {
            s.as_ref().map(|p| json!({"tps": p.rps, "p50Ms": p.p50_ms, "p99Ms": p.p99_ms}))
        };
        json_rows.push(json!({
            "scale": r.scale, "scenario": r.scenario.name(),
            "server": r.server.as_ref().map(|s| json!({"rps": s.rps, "p50Ms": s.p50_ms, "p99Ms": s.p99_ms, "peakRssMb": r.rss as f64 / 1024.0})),
            "pgbench": side(&r.pgbench), "pgbenchPipelined": side(&r.pipelined),
            "ratio": ratio, "ratioPipelined": ratio_pipelined, "pgbenchOfScenario0": of_bare,
        }));
    }
    let mut by: BTreeMap<(Scenario, &str), f64> = BTreeMap::new();
    for r in rows {
        if let Some(server) = &r.server {
            by.insert((r.scenario, r.scale), server.p99_ms);
        }
    }
    let mut growth = Vec::new();
    for scenario in [Scenario::CaseloadList, Scenario::GetPatient, Scenario::AppendCareLog] {
        if let (Some(s), Some(l)) = (by.get(&(scenario, "S")), by.get(&(scenario, "L"))) {
            writeln!(table, "server p99 L/S for {}: {:.2}", scenario.name(), l / s)?;
            growth.push(json!({"scenario": scenario.name(), "p99LOverS": l / s}));
        }
    }
    writeln!(table, "server peak RSS over the whole run (VmHWM): {:.0} MB", hwm_kb as f64 / 1024.0)?;
    if let Some(live) = live {
        writeln!(
            table,
            "\n| live events | subscribers | facilities | announcements | delivered / expected | from commit p50 ms | p99 ms | from request p50 ms | p99 ms | server RSS before → idle MB | per idle subscriber KiB |"
        )?;
        writeln!(table, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        writeln!(
            table,
            "| SSE | {} | {} | {} | {} / {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} → {:.0} | {:.1} |",
            live.subscribers,
            live::FACILITIES,
            live.announcements,
            live.delivered,
            live.expected,
            live.from_commit_p50_ms,
            live.from_commit_p99_ms,
            live.from_request_p50_ms,
            live.from_request_p99_ms,
            live.rss_before_mb,
            live.rss_idle_mb,
            live.idle_kib_per_subscriber,
        )?;
    }
    if !key_rows.is_empty() {
        writeln!(table, "\n{}", unknown_keys::TABLE_HEAD)?;
        for row in key_rows {
            writeln!(table, "{}", row.table_row())?;
        }
    }
    println!("{table}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out)?;
    let doc: Value = json!({
        "concurrency": concurrency, "secondsPerSide": seconds, "rows": json_rows,
        "p99Growth": growth, "serverPeakRssMb": hwm_kb as f64 / 1024.0, "liveEvents": live.map(|l| l.to_json()),
        "apiKeys": key_rows.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
    });
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(&doc)?)?;
    eprintln!("wrote {}", out.join("results.json").display());
    Ok(())
}
