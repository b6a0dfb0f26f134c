//! The test harness, by concern: `cluster` (the private PostgreSQL and a
//! database per test), `res` (responses and their assertions), `world`
//! (actors, facilities, patients built through the API). The app under test
//! connects as `carego_app`, never as a superuser.

mod cluster;
mod res;
mod world;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use carego::{
    api::AppState,
    auth::{jwt::JwtKeys, registration::KeyHasher},
    config::AppSettings,
    db::{
        Db, PoolSettings,
        infra::migrate::{APP_ROLE, OWNER_ROLE, PLATFORM_ROLE},
    },
    jobs::Background,
    server,
    storage::Storage,
};
use poem::{EndpointExt, Response, endpoint::BoxEndpoint, http::Method, test::TestClient};
use serde_json::{Value, json};
use tokio_postgres::Client;

use self::cluster::{CREATE_DB, Cluster, NEXT_DB, TEMPLATE, cluster, config_string, connect};
pub use self::{
    res::{Res, read},
    world::{Actor, Clinic, World},
};

pub const PASSWORD: &str = "correct horse battery staple";

/// A database with nothing in it yet, owned by the owner role, for tests
/// that migrate one themselves: its name, the owner's connection string and
/// a superuser's connection to it.
pub async fn empty_database(tag: &str) -> (String, String, Client) {
    let cluster = cluster().await;
    let database = format!("carego_{tag}_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst));
    {
        let _guard = CREATE_DB.lock().await;
        let su = connect(&cluster.config(&cluster.superuser, "postgres")).await;
        su.batch_execute(&format!("create database {database} owner {OWNER_ROLE}"))
            .await
            .expect("create an empty database");
    }
    let owner = config_string(&cluster.config(OWNER_ROLE, &database));
    let su = connect(&cluster.config(&cluster.superuser, &database)).await;
    (database, owner, su)
}

/// A test's document store: under the test process's own temp directory,
/// which the harness sweeps once the process is gone.
fn documents_dir(database: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("carego-test-{}", std::process::id())).join("documents").join(database)
}

/// One test's application and database.
pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    pub state: AppState,
    pub db: Db,
    pub keys_spec: String,
    pub database: String,
    /// Where this test's documents are stored (the local-filesystem store).
    pub documents_dir: std::path::PathBuf,
    cluster: &'static Cluster,
    next: AtomicUsize,
    /// The LISTEN connection and the job worker, as `serve` runs them.
    _background: Background,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(
            AppSettings {
                login_limit_per_ip: 10_000,
                login_limit_per_account: 10_000,
                // The webhook tests' receivers listen on loopback.
                webhook_allow_private: true,
                ..AppSettings::default()
            },
            8,
            Duration::from_secs(5),
        )
        .await
    }

    pub async fn spawn_with(settings: AppSettings, pool_size: usize, checkout_timeout: Duration) -> Self {
        // As `main` does: the HTTP clients of the tests use the same provider.
        carego::install_tls_provider();
        // Server logs (warnings and errors by default) show with a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let cluster = cluster().await;
        let database =
            format!("carego_test_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst));
        {
            let _guard = CREATE_DB.lock().await;
            let su = connect(&cluster.config(&cluster.superuser, "postgres")).await;
            // A new database takes no privileges from its template: revoke
            // temporary objects again, as V41 did on the template.
            su.batch_execute(&format!("create database {database} template {TEMPLATE} owner {OWNER_ROLE}"))
                .await
                .expect("create the test database");
            su.batch_execute(&format!("revoke temporary on database {database} from public"))
                .await
                .expect("revoke temporary objects");
        }
        let db = Db::connect(
            &config_string(&cluster.config(APP_ROLE, &database)),
            &config_string(&cluster.config(PLATFORM_ROLE, &database)),
            &PoolSettings {
                max_size: pool_size,
                checkout_timeout,
                statement_timeout: Duration::from_secs(10),
            },
        )
        .unwrap();
        let keys_spec = JwtKeys::generate_spec();
        let hasher = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        let documents_dir = documents_dir(&database);
        let storage = Storage::open(&format!("file://{}", documents_dir.display())).unwrap();
        let state = AppState::new(db.clone(), JwtKeys::parse(&keys_spec).unwrap(), hasher, settings, storage);
        let client = TestClient::new(server::app(state.clone()).boxed());
        let background = Background::start(&state, state.settings.job_poll_interval);
        Self {
            client,
            state,
            db,
            keys_spec,
            database,
            documents_dir,
            cluster,
            next: AtomicUsize::new(0),
            _background: background,
        }
    }

    /// A second server process's worth of state on this test's database: its
    /// own pool, LISTEN connection, job worker, rate limiters and hub, but the
    /// same signing keys and document store (as replicas behind one load
    /// balancer share their configuration).
    pub async fn second_server(&self) -> (TestClient<BoxEndpoint<'static, Response>>, AppState, Background) {
        self.second_server_with(Duration::from_secs(10)).await
    }

    /// [`second_server`](Self::second_server) whose statements time out
    /// after `statement_timeout`.
    pub async fn second_server_with(
        &self,
        statement_timeout: Duration,
    ) -> (TestClient<BoxEndpoint<'static, Response>>, AppState, Background) {
        let db = Db::connect(
            &self.app_conn_str(),
            &self.platform_conn_str(),
            &PoolSettings { max_size: 8, checkout_timeout: Duration::from_secs(5), statement_timeout },
        )
        .unwrap();
        let state = AppState::new(
            db.clone(),
            JwtKeys::parse(&self.keys_spec).unwrap(),
            (*self.state.key_hasher).clone(),
            self.state.settings.clone(),
            self.state.storage.clone(),
        );
        let client = TestClient::new(server::app(state.clone()).boxed());
        let background = Background::start(&state, state.settings.job_poll_interval);
        (client, state, background)
    }

    /// Serves the app over real HTTP on a loopback port until the returned
    /// sender is dropped; returns the base URL.
    pub async fn serve_http(&self) -> (String, tokio::sync::oneshot::Sender<()>) {
        serve_http(self.state.clone()).await
    }

    /// A libpq connection string for the app role on this test's database.
    pub fn app_conn_str(&self) -> String {
        config_string(&self.cluster.config(APP_ROLE, &self.database))
    }

    /// A libpq connection string for the platform's login role on this
    /// test's database.
    pub fn platform_conn_str(&self) -> String {
        config_string(&self.cluster.config(PLATFORM_ROLE, &self.database))
    }

    /// A direct connection as `role` to this test's database.
    pub async fn connect_as(&self, role: &str) -> Client {
        connect(&self.cluster.config(role, &self.database)).await
    }

    /// A connection as the app role inside an open request transaction of a
    /// staff member (`db_role`, `app_role`: as the prologue sets them), for
    /// tests that must hold a transaction open between requests.
    pub async fn open_as(&self, actor: &Actor, db_role: &str, app_role: &str) -> Client {
        let client = self.connect_as(APP_ROLE).await;
        client.batch_execute("begin").await.unwrap();
        client
            .execute(
                carego::db::PROLOGUE,
                &[
                    &db_role,
                    &app_role,
                    &actor.facility_id,
                    &actor.id,
                    &actor.session_id(),
                    &"test-open-as",
                    &None::<String>,
                    &None::<String>,
                    &"10s",
                ],
            )
            .await
            .unwrap();
        client
    }

    /// A connection of the login role that can switch into `role`: the
    /// platform's for super admins and the worker, the pool's for the rest.
    pub async fn connect_for(&self, role: &str) -> Client {
        match role {
            "carego_super_admin" | "carego_worker" => self.connect_as(PLATFORM_ROLE).await,
            _ => self.connect_as(APP_ROLE).await,
        }
    }

    pub async fn superuser(&self) -> Client {
        self.connect_as(&self.cluster.superuser.clone()).await
    }

    /// A unique suffix for emails and slugs.
    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.next.fetch_add(1, Ordering::SeqCst))
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Res {
        let mut req = self.client.request(method, path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.body_json(&b);
        }
        read(req.send().await).await
    }

    pub async fn get(&self, actor: &Actor, path: &str) -> Res {
        self.call(Method::GET, path, Some(&actor.token), None).await
    }

    pub async fn post(&self, actor: &Actor, path: &str, body: Value) -> Res {
        self.call(Method::POST, path, Some(&actor.token), Some(body)).await
    }

    pub async fn patch(&self, actor: &Actor, path: &str, body: Value) -> Res {
        self.call(Method::PATCH, path, Some(&actor.token), Some(body)).await
    }

    pub async fn put_json(&self, actor: &Actor, path: &str, body: Value) -> Res {
        self.call(Method::PUT, path, Some(&actor.token), Some(body)).await
    }

    pub async fn delete(&self, actor: &Actor, path: &str) -> Res {
        self.call(Method::DELETE, path, Some(&actor.token), None).await
    }

    /// `PUT` of raw bytes, as a document upload sends them.
    pub async fn put_bytes(&self, actor: &Actor, path: &str, body: poem::Body) -> Res {
        let req = self
            .client
            .put(path)
            .header("authorization", format!("Bearer {}", actor.token))
            .content_type("application/octet-stream")
            .body(body);
        read(req.send().await).await
    }

    /// The files in this test's document store (what is really stored).
    pub fn stored_files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() { walk(&path, out) } else { out.push(path) }
            }
        }
        let mut out = Vec::new();
        walk(&self.documents_dir, &mut out);
        out
    }

    pub async fn login(&self, email: &str, password: &str) -> Res {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }
}

/// Serves `state` over real HTTP on a loopback port until the returned
/// sender is dropped; returns the base URL.
pub async fn serve_http(state: AppState) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        server::serve(state, "127.0.0.1:0".parse().unwrap(), shutdown, Duration::from_secs(5), |addr| {
            let _ = addr_tx.send(addr);
        })
        .await
        .unwrap();
    });
    (format!("http://{}", addr_rx.await.unwrap()), stop_tx)
}
