//! The binary as an operator meets it: `serve` with no configuration starts
//! its own PostgreSQL, serves, and shuts everything down on Ctrl-C; a second
//! start reuses the data directory; the operator's commands work on it.

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
};

use crate::helpers::PASSWORD;

pub(crate) fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("carego-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub(crate) fn carego(data_dir: &PathBuf) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carego"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("PLATFORM_DATABASE_URL")
        .env_remove("MIGRATION_DATABASE_URL")
        .env_remove("CAREGO_JWT_KEYS")
        .env_remove("CAREGO_CITUS_WORKERS")
        .env("CAREGO_DATA_DIR", data_dir)
        .env("CAREGO_TENANTS_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/tenants"))
        .env("CAREGO_DEMO_PASSWORD", PASSWORD)
        .env("CAREGO_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

/// Starts `serve` and returns it with the address from its banner.
async fn start(data_dir: &PathBuf) -> (Child, String) {
    serve(carego(data_dir)).await
}

/// Starts `serve` from a prepared command (extra environment, say).
pub(crate) async fn serve(mut cmd: Command) -> (Child, String) {
    let mut child = cmd.arg("serve").stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("Carego is listening on http://") {
                return rest.split_whitespace().next().expect("an address").to_owned();
            }
        }
        panic!("serve exited before listening");
    })
    .await
    .expect("serve listens within 90 s");
    // Keep draining stderr so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

pub(crate) async fn http(addr: &str, method: &str, path: &str, body: &str) -> String {
    http_with(addr, method, path, "", body).await
}

/// A request with extra header lines (`name: value\r\n` each).
pub(crate) async fn http_with(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).await.unwrap();
    resp
}

pub(crate) async fn interrupt(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().unwrap() as libc::pid_t;
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    tokio::time::timeout(Duration::from_secs(60), child.wait()).await.expect("exits after Ctrl-C").unwrap()
}

#[tokio::test]
async fn serve_needs_no_configuration_and_stops_cleanly_on_ctrl_c() {
    let dir = data_dir("serve");
    let (child, addr) = start(&dir).await;
    assert!(http(&addr, "GET", "/api/v1/ready", "").await.starts_with("HTTP/1.1 200"));
    let login = format!(r#"{{"email":"nurse@sunrise.example","password":"{PASSWORD}"}}"#);
    let resp = http(&addr, "POST", "/api/v1/auth/login", &login).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let pgdata = dir.join("postgres/pgdata");
    assert!(pgdata.join("postmaster.pid").exists(), "the cluster runs");

    // An operator command beside the server uses its cluster, says so, and
    // leaves it running.
    let out = carego(&dir).args(["audit", "verify", "--facility", "sunrise-rehab"]).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("already running"), "{stderr}");
    assert!(http(&addr, "GET", "/api/v1/ready", "").await.starts_with("HTTP/1.1 200"), "still serving");

    assert!(interrupt(child).await.success(), "clean exit");
    assert!(!pgdata.join("postmaster.pid").exists(), "the cluster it started has stopped");

    // A second start reuses the data directory: same demo data, same JWT key.
    let (child, addr) = start(&dir).await;
    let resp = http(&addr, "POST", "/api/v1/auth/login", &login).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(interrupt(child).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// What an operator reads when `serve` starts, at the default level and in
/// the human format: a handful of short lines, no module paths, no JSON,
/// and each request on one line with its id, status and time.
#[tokio::test]
async fn serve_starts_in_a_few_human_lines() {
    let dir = data_dir("lines");
    let mut cmd = carego(&dir);
    cmd.env_remove("RUST_LOG").env("CAREGO_LOG_FORMAT", "text").arg("serve").stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if let Some(rest) = line.strip_prefix("Carego is listening on http://") {
                return rest.split_whitespace().next().expect("an address").to_owned();
            }
        }
        panic!("serve exited before listening: {seen:#?}");
    })
    .await
    .expect("serve listens within 90 s");
    assert!(http(&addr, "GET", "/api/v1/ready", "").await.starts_with("HTTP/1.1 200"));
    // Everything it says until the request's line, however late the worker's.
    let request = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if line.contains("path=\"/api/v1/ready\"") {
                return line;
            }
        }
        panic!("no request line: {seen:#?}");
    })
    .await
    .expect("the request is logged");
    let startup = seen.len() - 1;
    assert!(startup <= 10, "{startup} lines at startup: {seen:#?}");
    assert!(seen.iter().any(|l| l.contains("nurse@sunrise.example")), "the demo logins: {seen:#?}");
    for line in &seen {
        assert!(!line.starts_with('{'), "not JSON on a terminal's format: {line}");
        assert!(!line.contains(".rs:") && !line.contains("carego::"), "no source paths: {line}");
        assert!(line.chars().count() <= 240, "short: {line}");
    }
    assert!(request.contains("status=200") && request.contains("request_id="), "{request}");
    assert!(interrupt(child).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn operator_commands_work_on_the_embedded_database() {
    let dir = data_dir("ops");
    let out = carego(&dir).arg("migrate").output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = carego(&dir)
        .args(["tenants", "apply"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tenants"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("2 facilit(ies) created"), "{stdout}");
    let out = carego(&dir).args(["tenants", "apply"]).output().await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 facilit(ies) created, 0 user(s) created"));

    // Every chain verifies: the platform's and each facility's.
    let out = carego(&dir).args(["audit", "verify"]).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.contains(": ok,")).count(), 3, "{stdout}");
    // One facility's chain, by slug; a facility that does not exist is an error.
    let out =
        carego(&dir).args(["audit", "verify", "--facility", "harbor-home-care"]).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.lines().count() == 1 && stdout.contains(": ok,"), "{stdout}");
    for unknown in ["no-such-facility", &uuid::Uuid::new_v4().to_string()] {
        let out = carego(&dir).args(["audit", "verify", "--facility", unknown]).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{unknown}: {stderr}");
        assert!(stderr.contains("no facility has this id or slug"), "{stderr}");
    }

    let out = carego(&dir).arg("doctor").output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("doctor: no findings"), "{stdout}");
    // Given only the login role, it says what it needs instead of failing
    // on what that role may not read.
    let out = carego(&dir)
        .arg("doctor")
        .env("DATABASE_URL", "postgres://carego_app@127.0.0.1:1/carego")
        .env_remove("MIGRATION_DATABASE_URL")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("set MIGRATION_DATABASE_URL"), "{stderr}");

    let create = |pw_on_stdin: &'static str| {
        let mut cmd = carego(&dir);
        cmd.args(["users", "create-super-admin", "--email", "ops@platform.example"])
            .env_remove("CAREGO_SUPER_ADMIN_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        async move {
            let mut child = cmd.spawn().unwrap();
            child.stdin.take().unwrap().write_all(pw_on_stdin.as_bytes()).await.unwrap();
            child.wait_with_output().await.unwrap()
        }
    };
    let out = create("short\n").await;
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("at least 10"));
    let out = create("an operator passphrase\n").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = create("an operator passphrase\n").await;
    assert!(!out.status.success(), "a second super admin with the same email is refused");
    assert!(!dir.join("postgres/pgdata/postmaster.pid").exists(), "each command stops its cluster");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_missing_postgres_is_a_clear_error() {
    let dir = data_dir("nopg");
    let out = carego(&dir).arg("migrate").env("PG_BINDIR", "/nonexistent/pg/bin").output().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PG_BINDIR=/nonexistent/pg/bin does not contain initdb"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn serve_with_an_unreachable_database_fails_at_once_with_the_cause() {
    let dir = data_dir("unreachable");
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        carego(&dir)
            .arg("serve")
            .env("DATABASE_URL", format!("postgres://carego_app@127.0.0.1:{port}/carego?sslmode=disable"))
            .env(
                "PLATFORM_DATABASE_URL",
                format!("postgres://carego_platform@127.0.0.1:{port}/carego?sslmode=disable"),
            )
            .env("CAREGO_JWT_KEYS", carego::auth::jwt::JwtKeys::generate_spec())
            .env("CAREGO_KEY_SECRET", carego::auth::registration::KeyHasher::generate_spec())
            .output(),
    )
    .await
    .expect("serve gives up promptly")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
    assert!(
        stderr.contains("DATABASE_URL cannot be reached") && stderr.contains("Connection refused"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn request_spans_reach_an_otlp_collector_in_the_callers_trace_without_paths() {
    use std::sync::{Arc, Mutex};

    use poem::listener::{Acceptor, Listener};

    // A collector: keeps every OTLP/HTTP export it is sent.
    let exports: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let kept = exports.clone();
    let collector = poem::endpoint::make(move |req: poem::Request| {
        let kept = kept.clone();
        async move {
            assert_eq!(req.uri().path(), "/v1/traces");
            let body = req.into_body().into_vec().await.unwrap_or_default();
            kept.lock().unwrap().push(body);
            poem::Response::builder().status(poem::http::StatusCode::OK).finish()
        }
    });
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let collector_addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(collector));

    let dir = data_dir("otlp");
    let mut cmd = carego(&dir);
    cmd.env("CAREGO_OTLP_ENDPOINT", format!("http://{collector_addr}/v1/traces")).env("RUST_LOG", "info");
    let (child, addr) = serve(cmd).await;

    // A request in the caller's trace, naming a patient in its path.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let patient = uuid::Uuid::new_v4();
    let traceparent = format!("traceparent: 00-{trace_id}-00f067aa0ba902b7-01\r\n");
    let resp = http_with(&addr, "GET", &format!("/api/v1/patients/{patient}"), &traceparent, "").await;
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    // Ctrl-C flushes what is batched.
    let status = interrupt(child).await;
    assert!(status.success(), "{status:?}");

    let exported = exports.lock().unwrap().concat();
    let trace_bytes: Vec<u8> =
        (0..16).map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap()).collect();
    assert!(exported.windows(16).any(|w| w == trace_bytes.as_slice()), "the span joined the caller's trace");
    assert!(exported.windows(10).any(|w| w == b"getPatient"), "named by its operation");
    let text = String::from_utf8_lossy(&exported);
    assert!(!text.contains(&patient.to_string()) && !text.contains("/api/v1/patients"), "no path, no id");
    let _ = std::fs::remove_dir_all(&dir);
}

pub(crate) fn status_of(resp: &str) -> u16 {
    resp.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

pub(crate) fn json_of(resp: &str) -> serde_json::Value {
    serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap_or_default()
}

#[tokio::test]
async fn two_server_processes_on_one_database_behave_as_one() {
    // Two `carego serve` processes: the second uses the cluster the first
    // started (and the same generated keys), as replicas share a database.
    let dir = data_dir("twoproc");
    std::fs::create_dir_all(&dir).unwrap();
    let start_with_limit = || {
        let mut cmd = carego(&dir);
        cmd.env("CAREGO_LOGIN_LIMIT_PER_ACCOUNT", "3");
        serve(cmd)
    };
    let (first, a) = start_with_limit().await;
    let (second, b) = start_with_limit().await;
    let login = |email: &str, password: &str| format!(r#"{{"email":"{email}","password":"{password}"}}"#);

    // Sessions: a token from one process works on the other, and a logout
    // through the other ends it on the first.
    let nurse =
        json_of(&http(&a, "POST", "/api/v1/auth/login", &login("nurse@sunrise.example", PASSWORD)).await);
    let bearer = format!("authorization: Bearer {}\r\n", nurse["accessToken"].as_str().unwrap());
    assert_eq!(status_of(&http_with(&b, "GET", "/api/v1/auth/me", &bearer, "").await), 200);
    assert_eq!(status_of(&http_with(&b, "POST", "/api/v1/auth/logout", &bearer, "").await), 204);
    assert_eq!(status_of(&http_with(&a, "GET", "/api/v1/auth/me", &bearer, "").await), 401);

    // The login limit counts attempts through both.
    let wrong = login("counsellor@sunrise.example", "not the password");
    let mut seen = Vec::new();
    for addr in [&a, &b, &a, &b] {
        seen.push(status_of(&http(addr, "POST", "/api/v1/auth/login", &wrong).await));
    }
    assert_eq!(seen, [401, 401, 401, 429]);

    // An API key's daily quota too.
    let admin =
        json_of(&http(&a, "POST", "/api/v1/auth/login", &login("admin@sunrise.example", PASSWORD)).await);
    let bearer = format!("authorization: Bearer {}\r\n", admin["accessToken"].as_str().unwrap());
    let made = http_with(
        &a,
        "POST",
        "/api/v1/api-keys",
        &bearer,
        r#"{"name":"Two","scopes":["patients:read"],"dailyQuota":2}"#,
    )
    .await;
    assert_eq!(status_of(&made), 201, "{made}");
    let key = format!("x-api-key: {}\r\n", json_of(&made)["secret"].as_str().unwrap());
    let mut seen = Vec::new();
    for addr in [&a, &b, &a] {
        seen.push(status_of(&http_with(addr, "GET", "/api/v1/patients", &key, "").await));
    }
    assert_eq!(seen, [200, 200, 429]);

    // The second leaves the cluster to the first, which stops it.
    assert!(interrupt(second).await.success());
    assert!(interrupt(first).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}
