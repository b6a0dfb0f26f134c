//! Typed settings from flags and environment variables, validated at start-up
//! so a misconfigured server fails fast instead of at its first request.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

/// Where the database is and how to reach it.
#[derive(Args, Debug, Clone)]
pub struct DbSettings {
    /// The app's login role (e.g. postgres://carego_app:...@host/carego). Unset: an
    /// embedded PostgreSQL cluster is created and started under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The owner role, used only to run migrations. Unset with DATABASE_URL set:
    /// migrations are not run by `serve`.
    #[arg(long, env = "MIGRATION_DATABASE_URL", hide_env_values = true)]
    pub migration_database_url: Option<String>,

    /// Directory for the embedded cluster, its socket, and generated dev secrets.
    #[arg(long, env = "CAREGO_DATA_DIR", default_value = ".carego")]
    pub data_dir: PathBuf,

    /// Maximum pooled connections.
    #[arg(long, env = "CAREGO_POOL_SIZE", default_value_t = 16)]
    pub pool_size: usize,

    /// How long a request waits for a pooled connection before answering 503.
    #[arg(long, env = "CAREGO_POOL_TIMEOUT_MS", default_value_t = 2000)]
    pub pool_timeout_ms: u64,

    /// Upper bound for every statement of a request (set in the prologue).
    #[arg(long, env = "CAREGO_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub statement_timeout_ms: u64,
}

impl DbSettings {
    pub fn pool_timeout(&self) -> Duration {
        Duration::from_millis(self.pool_timeout_ms)
    }
}

/// Everything `serve` needs beyond the database.
#[derive(Args, Debug, Clone)]
pub struct ServeSettings {
    /// Address to listen on.
    #[arg(long, env = "CAREGO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// JWT keys as `kid:base64secret[,kid:base64secret...]`; the first signs, all
    /// verify (rotation with overlap). Secrets must decode to at least 32 bytes.
    /// Unset with the embedded cluster: a key is generated and kept in --data-dir.
    #[arg(long, env = "CAREGO_JWT_KEYS", hide_env_values = true)]
    pub jwt_keys: Option<String>,

    /// Secret (base64, ≥ 32 bytes) under which registration keys are hashed.
    /// Unset with the embedded cluster: generated and kept in --data-dir.
    #[arg(long, env = "CAREGO_KEY_SECRET", hide_env_values = true)]
    pub key_secret: Option<String>,

    /// Access-token lifetime in seconds.
    #[arg(long, env = "CAREGO_ACCESS_TTL_SECS", default_value_t = 900)]
    pub access_ttl_secs: u64,

    /// Session (refresh-token) lifetime in seconds.
    #[arg(long, env = "CAREGO_REFRESH_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub refresh_ttl_secs: u64,

    /// How long a just-rotated refresh token gets the "superseded" answer instead
    /// of revoking its session (two concurrent refreshes from one client).
    #[arg(long, env = "CAREGO_REFRESH_GRACE_SECS", default_value_t = 10)]
    pub refresh_grace_secs: u64,

    /// Largest accepted request body, in bytes (larger: 413).
    #[arg(long, env = "CAREGO_BODY_LIMIT_BYTES", default_value_t = 64 * 1024)]
    pub body_limit_bytes: usize,

    /// Login attempts allowed per client IP per minute.
    #[arg(long, env = "CAREGO_LOGIN_LIMIT_PER_IP", default_value_t = 30)]
    pub login_limit_per_ip: u32,

    /// Login attempts allowed per account per 15 minutes.
    #[arg(long, env = "CAREGO_LOGIN_LIMIT_PER_ACCOUNT", default_value_t = 10)]
    pub login_limit_per_account: u32,

    /// Patient registration attempts allowed per client IP per 15 minutes.
    #[arg(long, env = "CAREGO_REGISTER_LIMIT_PER_IP", default_value_t = 10)]
    pub register_limit_per_ip: u32,

    /// Facility manifests applied at start-up with the embedded cluster.
    #[arg(long, env = "CAREGO_TENANTS_DIR", default_value = "tenants")]
    pub tenants_dir: PathBuf,
}

/// The validated runtime settings the HTTP layer uses.
#[derive(Clone, Debug)]
pub struct AppSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub refresh_grace: Duration,
    pub body_limit_bytes: usize,
    pub login_limit_per_ip: u32,
    pub login_limit_per_account: u32,
    pub register_limit_per_ip: u32,
}

impl AppSettings {
    pub fn from_serve(s: &ServeSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(s.access_ttl_secs >= 60, "CAREGO_ACCESS_TTL_SECS must be at least 60");
        anyhow::ensure!(
            s.refresh_ttl_secs > s.access_ttl_secs,
            "CAREGO_REFRESH_TTL_SECS must exceed CAREGO_ACCESS_TTL_SECS"
        );
        anyhow::ensure!(s.body_limit_bytes >= 1024, "CAREGO_BODY_LIMIT_BYTES must be at least 1024");
        Ok(Self {
            access_ttl: Duration::from_secs(s.access_ttl_secs),
            refresh_ttl: Duration::from_secs(s.refresh_ttl_secs),
            refresh_grace: Duration::from_secs(s.refresh_grace_secs),
            body_limit_bytes: s.body_limit_bytes,
            login_limit_per_ip: s.login_limit_per_ip,
            login_limit_per_account: s.login_limit_per_account,
            register_limit_per_ip: s.register_limit_per_ip,
        })
    }
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            body_limit_bytes: 64 * 1024,
            login_limit_per_ip: 30,
            login_limit_per_account: 10,
            register_limit_per_ip: 10,
        }
    }
}
