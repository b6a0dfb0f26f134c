//! The test harness: one private PostgreSQL cluster per test process (or the
//! server at `DATABASE_URL`), a template database migrated once, and a fresh
//! database copied from it for every test. The app under test connects as
//! `carego_app`, never as a superuser.

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
        infra::{
            embedded::{Durability, EmbeddedCluster, SUPERUSER},
            migrate::{self, APP_ROLE, OWNER_ROLE},
        },
    },
    server,
};
use poem::{
    EndpointExt, Response,
    endpoint::BoxEndpoint,
    http::{HeaderMap, Method, StatusCode},
    test::TestClient,
};
use serde_json::{Value, json};
use tokio::sync::{Mutex, OnceCell};
use tokio_postgres::{Client, Config, NoTls};
use uuid::Uuid;

const TEMPLATE: &str = "carego_template";
/// Password set on the login roles when tests run against `DATABASE_URL`.
const ROLE_PASSWORD: &str = "carego-test-password";
pub const PASSWORD: &str = "correct horse battery staple";

/// How to reach the cluster as a given role.
struct Cluster {
    /// Keeps the embedded cluster alive for the whole test process; at exit
    /// the postmaster gets its parent-death signal and stops.
    _embedded: Option<EmbeddedCluster>,
    base: Config,
    superuser: String,
}

impl Cluster {
    fn config(&self, user: &str, dbname: &str) -> Config {
        let mut c = self.base.clone();
        c.user(user).dbname(dbname);
        if user != self.superuser {
            c.password(ROLE_PASSWORD);
        }
        c
    }
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();
static CREATE_DB: Mutex<()> = Mutex::const_new(());
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

async fn connect(config: &Config) -> Client {
    let (client, conn) = config.connect(NoTls).await.expect("connect to the test cluster");
    tokio::spawn(conn);
    client
}

async fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| async {
        let (embedded, base, superuser) = match std::env::var("DATABASE_URL") {
            Ok(url) => {
                let base: Config = url.parse().expect("DATABASE_URL parses");
                let su = base.get_user().unwrap_or("postgres").to_owned();
                (None, base, su)
            }
            Err(_) => {
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
            "alter role {OWNER_ROLE} password '{ROLE_PASSWORD}'; alter role {APP_ROLE} password '{ROLE_PASSWORD}';"
        ))
        .await
        .unwrap();
        let owner = cluster.config(OWNER_ROLE, TEMPLATE);
        migrate::run(&config_string(&owner)).await.expect("migrate the template");
        cluster
    })
    .await
}

/// tokio-postgres has no Config → string; build the key=value form.
fn config_string(c: &Config) -> String {
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

/// One test's application and database.
pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    pub state: AppState,
    pub db: Db,
    pub keys_spec: String,
    pub database: String,
    cluster: &'static Cluster,
    next: AtomicUsize,
}

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: Uuid,
    pub email: String,
    pub facility_id: Option<Uuid>,
    pub token: String,
    pub refresh: String,
}

/// A response, read.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Res {
    /// Asserts an RFC 9457 problem with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.body);
        assert_eq!(
            self.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "content type"
        );
        assert_eq!(self.body["code"], code, "problem code; body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"].as_str().unwrap().starts_with("urn:carego:problem:"));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self
    }

    /// Asserts the body is an object without `field` (our responses omit
    /// an absent optional field rather than send `null`). `body[field]
    /// .is_null()` would also pass for a misspelt field.
    #[track_caller]
    pub fn assert_absent(&self, field: &str) -> &Self {
        let object = self.body.as_object().unwrap_or_else(|| panic!("an object body: {}", self.body));
        assert!(!object.contains_key(field), "`{field}` should be absent: {}", self.body);
        self
    }

    pub fn items(&self) -> &Vec<Value> {
        self.body["items"].as_array().expect("a list body")
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(
            AppSettings {
                login_limit_per_ip: 10_000,
                login_limit_per_account: 10_000,
                ..AppSettings::default()
            },
            8,
            Duration::from_secs(5),
        )
        .await
    }

    pub async fn spawn_with(settings: AppSettings, pool_size: usize, checkout_timeout: Duration) -> Self {
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
            su.batch_execute(&format!("create database {database} template {TEMPLATE} owner {OWNER_ROLE}"))
                .await
                .expect("create the test database");
        }
        let db = Db::connect(
            &config_string(&cluster.config(APP_ROLE, &database)),
            &PoolSettings {
                max_size: pool_size,
                checkout_timeout,
                statement_timeout: Duration::from_secs(10),
            },
        )
        .unwrap();
        let keys_spec = JwtKeys::generate_spec();
        let hasher = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        let state = AppState::new(db.clone(), JwtKeys::parse(&keys_spec).unwrap(), hasher, settings);
        let client = TestClient::new(server::app(state.clone()).boxed());
        Self { client, state, db, keys_spec, database, cluster, next: AtomicUsize::new(0) }
    }

    /// Serves the app over real HTTP on a loopback port until the returned
    /// sender is dropped; returns the base URL.
    pub async fn serve_http(&self) -> (String, tokio::sync::oneshot::Sender<()>) {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let state = self.state.clone();
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

    /// A libpq connection string for the app role on this test's database.
    pub fn app_conn_str(&self) -> String {
        config_string(&self.cluster.config(APP_ROLE, &self.database))
    }

    /// A direct connection as `role` to this test's database.
    pub async fn connect_as(&self, role: &str) -> Client {
        connect(&self.cluster.config(role, &self.database)).await
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

    pub async fn delete(&self, actor: &Actor, path: &str) -> Res {
        self.call(Method::DELETE, path, Some(&actor.token), None).await
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

    pub async fn login_actor(&self, email: &str) -> Actor {
        let res = self.login(email, PASSWORD).await;
        res.assert_status(200);
        Actor {
            id: res.body["user"]["id"].as_str().unwrap().parse().unwrap(),
            email: email.to_owned(),
            facility_id: res.body["user"]["facilityId"].as_str().map(|s| s.parse().unwrap()),
            token: res.body["accessToken"].as_str().unwrap().to_owned(),
            refresh: res.body["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// A super admin, created the way an operator would (system context).
    pub async fn super_admin(&self) -> Actor {
        let email = format!("{}@platform.example", self.unique("root"));
        let hash = carego::auth::password::hash(PASSWORD.to_owned()).await.unwrap();
        let mut tx = self.db.begin_system("test setup").await.unwrap();
        let email_v = carego::domain::contact::Email::parse(&email).unwrap();
        carego::db::accounts::users::insert(
            &mut tx,
            &carego::db::accounts::users::NewUser {
                facility_id: None,
                email: Some(&email_v),
                phone: None,
                password_hash: Some(hash),
                role: carego::auth::Role::SuperAdmin,
                first_name: "Root",
                last_name: "Admin",
                job_title: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        self.login_actor(&email).await
    }

    /// A facility created by `sa`, and its first admin, logged in.
    pub async fn facility(&self, sa: &Actor) -> (Uuid, Actor) {
        let slug = self.unique("facility-");
        let admin_email = format!("admin@{slug}.example");
        let res = self
            .post(
                sa,
                "/api/v1/facilities",
                json!({
                    "slug": slug, "name": format!("Facility {slug}"), "kind": "rehab_centre",
                    "admin": {"email": admin_email, "password": PASSWORD, "firstName": "Ada", "lastName": "Admin"}
                }),
            )
            .await;
        res.assert_status(201);
        let id = res.body["facility"]["id"].as_str().unwrap().parse().unwrap();
        (id, self.login_actor(&admin_email).await)
    }

    /// A staff member created by `admin` in the admin's facility, logged in.
    pub async fn staff(&self, admin: &Actor, job_title: &str) -> Actor {
        let email = format!("{}@staff.example", self.unique(job_title));
        self.post(
            admin,
            "/api/v1/users",
            json!({"email": email, "password": PASSWORD, "role": "staff", "firstName": "Sam", "lastName": "Staff", "jobTitle": job_title}),
        )
        .await
        .assert_status(201);
        self.login_actor(&email).await
    }

    /// Two facilities with an admin and a nurse each, and a super admin.
    pub async fn two_facilities(&self) -> World {
        let sa = self.super_admin().await;
        let (a, admin_a) = self.facility(&sa).await;
        let (b, admin_b) = self.facility(&sa).await;
        let staff_a = self.staff(&admin_a, "nurse").await;
        let staff_b = self.staff(&admin_b, "nurse").await;
        World { sa, a, b, admin_a, admin_b, staff_a, staff_b }
    }

    /// A patient created by `creator`; returns its id and registration key.
    pub async fn patient(&self, creator: &Actor) -> (Uuid, String) {
        let res = self
            .post(
                creator,
                "/api/v1/patients",
                json!({"firstName": "Pat", "lastName": self.unique("Ient"), "dateOfBirth": "1990-04-01",
                       "admissionDate": "2026-01-10", "sobrietyDate": "2026-01-01"}),
            )
            .await;
        res.assert_status(201);
        let id = res.body["patient"]["id"].as_str().unwrap().parse().unwrap();
        (id, res.body["registrationKey"].as_str().unwrap().to_owned())
    }

    pub async fn register(&self, key: &str, email: &str) -> Res {
        self.call(
            Method::POST,
            "/api/v1/auth/patient/register",
            None,
            Some(json!({"registrationKey": key, "password": PASSWORD, "email": email})),
        )
        .await
    }

    /// Registers with `key` and logs in as the patient.
    pub async fn patient_actor(&self, key: &str) -> Actor {
        let email = format!("{}@patients.example", self.unique("patient"));
        self.register(key, &email).await.assert_status(201);
        self.login_actor(&email).await
    }

    pub async fn assign(&self, admin: &Actor, patient: Uuid, staff: &Actor) -> Uuid {
        let res = self
            .post(
                admin,
                &format!("/api/v1/patients/{patient}/assignments"),
                json!({"staffId": staff.id, "role": "nurse"}),
            )
            .await;
        res.assert_status(201);
        res.body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn clinic(&self) -> Clinic {
        let w = self.two_facilities().await;
        let nurse_a2 = self.staff(&w.admin_a, "nurse").await;
        let (p1, key1) = self.patient(&w.admin_a).await;
        self.assign(&w.admin_a, p1, &w.staff_a).await;
        let patient1 = self.patient_actor(&key1).await;
        let (p2, key2) = self.patient(&w.admin_a).await;
        let patient2 = self.patient_actor(&key2).await;
        let (pb, keyb) = self.patient(&w.admin_b).await;
        self.assign(&w.admin_b, pb, &w.staff_b).await;
        let patient_b = self.patient_actor(&keyb).await;
        Clinic { w, nurse_a2, p1, patient1, p2, patient2, pb, patient_b }
    }

    /// Counts rows of `table` as the superuser (what is really there).
    pub async fn count(&self, table: &str) -> i64 {
        self.superuser().await.query_one(&format!("select count(*) from {table}"), &[]).await.unwrap().get(0)
    }
}

/// Facility A with a nurse caring for patient 1 (registered), an unassigned
/// nurse, and patient 2 (registered, nobody's caseload); facility B with its
/// own admin, nurse and registered patient; and a super admin.
pub struct Clinic {
    pub w: World,
    pub nurse_a2: Actor,
    pub p1: Uuid,
    pub patient1: Actor,
    pub p2: Uuid,
    pub patient2: Actor,
    pub pb: Uuid,
    pub patient_b: Actor,
}

pub struct World {
    pub sa: Actor,
    pub a: Uuid,
    pub b: Uuid,
    pub admin_a: Actor,
    pub admin_b: Actor,
    pub staff_a: Actor,
    pub staff_b: Actor,
}

pub async fn read(resp: poem::test::TestResponse) -> Res {
    let resp = resp.0;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().into_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Res { status, headers, body }
}
