//! Typed settings from flags and environment variables, validated at start-up
//! so a misconfigured server fails fast instead of at its first request.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use clap::Args;

/// Where the database is and how to reach it.
#[derive(Args, Debug, Clone)]
pub struct DbSettings {
    /// The app's login role (e.g. postgres://carego_app:...@host/carego). Unset: an
    /// embedded PostgreSQL cluster is created and started under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The platform's login role (e.g. postgres://carego_platform:...@host/carego):
    /// super admins, the job worker and the operator's commands. Required with
    /// DATABASE_URL; the embedded cluster makes its own.
    #[arg(long, env = "PLATFORM_DATABASE_URL", hide_env_values = true)]
    pub platform_database_url: Option<String>,

    /// The owner role, used only to run migrations. Unset with DATABASE_URL set:
    /// migrations are not run by `serve`.
    #[arg(long, env = "MIGRATION_DATABASE_URL", hide_env_values = true)]
    pub migration_database_url: Option<String>,

    /// Directory for the embedded cluster, its socket, and generated dev secrets.
    #[arg(long, env = "CAREGO_DATA_DIR", default_value = ".carego")]
    pub data_dir: PathBuf,

    /// With the embedded cluster: a Citus coordinator and this many workers
    /// in place of one PostgreSQL (Citus must be installed; docs/scale-out.md).
    /// 0: one PostgreSQL.
    #[arg(long, env = "CAREGO_CITUS_WORKERS", default_value_t = 0)]
    pub citus_workers: usize,

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

    /// Address of the Prometheus metrics endpoint (`GET /metrics`), apart
    /// from the API so it need not be exposed with it. Unset: no metrics.
    #[arg(long, env = "CAREGO_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

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

    /// Largest accepted document upload, in bytes (larger: 413, nothing stored).
    #[arg(long, env = "CAREGO_DOCUMENT_LIMIT_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub document_limit_bytes: u64,

    /// Where documents' bytes are kept: `file:///absolute/dir`, or `s3://bucket[/prefix]` with
    /// the standard `AWS_*` variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ENDPOINT` for an S3-compatible service). Unset: `documents/` under
    /// --data-dir.
    #[arg(long, env = "CAREGO_STORAGE_URL")]
    pub storage_url: Option<String>,

    /// Login attempts allowed per client IP per minute.
    #[arg(long, env = "CAREGO_LOGIN_LIMIT_PER_IP", default_value_t = 30)]
    pub login_limit_per_ip: u32,

    /// Login attempts allowed per account per 15 minutes.
    #[arg(long, env = "CAREGO_LOGIN_LIMIT_PER_ACCOUNT", default_value_t = 10)]
    pub login_limit_per_account: u32,

    /// Patient registration attempts allowed per client IP per 15 minutes.
    #[arg(long, env = "CAREGO_REGISTER_LIMIT_PER_IP", default_value_t = 10)]
    pub register_limit_per_ip: u32,

    /// Website lead submissions allowed per client IP per hour.
    #[arg(long, env = "CAREGO_LEAD_LIMIT_PER_IP", default_value_t = 10)]
    pub lead_limit_per_ip: u32,

    /// Failed API-key attempts allowed per client address per minute (this
    /// server's count); beyond it, 429 without asking the database.
    #[arg(long, env = "CAREGO_API_KEY_FAILURES_PER_IP", default_value_t = 30)]
    pub api_key_failures_per_ip: u32,

    /// Let webhooks reach loopback and private addresses. For development
    /// and tests only: in production it opens the internal network to
    /// whoever can make a subscription.
    #[arg(long, env = "CAREGO_WEBHOOK_ALLOW_PRIVATE", default_value_t = false)]
    pub webhook_allow_private: bool,

    /// Facility manifests applied at start-up with the embedded cluster.
    #[arg(long, env = "CAREGO_TENANTS_DIR", default_value = "tenants")]
    pub tenants_dir: PathBuf,

    /// Browser origins allowed to call the API (CORS), comma-separated, e.g.
    /// `https://app.example.org`. Unset: no CORS headers, browsers on other
    /// origins are refused by their own same-origin rule.
    #[arg(long, env = "CAREGO_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Proxies (addresses or CIDR ranges, comma-separated) whose
    /// `X-Forwarded-For` is believed; the client is the nearest address in it
    /// that is not a listed proxy. Unset: the peer address is the client.
    #[arg(long, env = "CAREGO_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Seconds a client has to send a request's headers once it starts.
    #[arg(long, env = "CAREGO_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Seconds a client has to send a request's body.
    #[arg(long, env = "CAREGO_BODY_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub body_read_timeout_secs: u64,

    /// Seconds a connection may stay quiet (keep-alive) before it is closed.
    #[arg(long, env = "CAREGO_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Seconds between the job worker's looks for due jobs when nothing woke it (the backstop for
    /// NOTIFY, and what brings delayed jobs on time).
    #[arg(long, env = "CAREGO_JOB_POLL_SECS", default_value_t = 5)]
    pub job_poll_secs: u64,

    /// Seconds between an idle event stream's heartbeats (each also re-checks the session).
    #[arg(long, env = "CAREGO_STREAM_HEARTBEAT_SECS", default_value_t = 15)]
    pub stream_heartbeat_secs: u64,

    /// Connections served at once; more wait until one closes.
    #[arg(long, env = "CAREGO_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
}

/// The validated runtime settings the HTTP layer uses.
#[derive(Clone, Debug)]
pub struct AppSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub refresh_grace: Duration,
    pub body_limit_bytes: usize,
    /// Largest document upload; counted while it streams.
    pub document_limit_bytes: u64,
    pub login_limit_per_ip: u32,
    pub login_limit_per_account: u32,
    pub register_limit_per_ip: u32,
    pub lead_limit_per_ip: u32,
    /// Failed API-key attempts per client address per minute, per server.
    pub api_key_failures_per_ip: u32,
    /// Webhooks may reach loopback and private addresses (tests only).
    pub webhook_allow_private: bool,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: TrustedProxies,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// How often the job worker looks for due jobs without being woken
    /// (the backstop for NOTIFY, and what runs scheduled work on time).
    pub job_poll_interval: Duration,
    /// How often an idle event stream sends a heartbeat and re-checks its
    /// session.
    pub stream_heartbeat: Duration,
}

/// Addresses and CIDR ranges of the proxies in front of the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    pub fn parse(specs: &[String]) -> anyhow::Result<Self> {
        let mut nets = Vec::new();
        for spec in specs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let (addr, bits) = match spec.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (spec, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| anyhow::anyhow!("CAREGO_TRUSTED_PROXIES: `{spec}` is not an address"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max),
                None => Some(max),
            }
            .ok_or_else(|| anyhow::anyhow!("CAREGO_TRUSTED_PROXIES: `{spec}` has a bad prefix length"))?;
            nets.push((addr, bits));
        }
        Ok(Self(nets))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|(net, bits)| match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*bits)).unwrap_or(0);
                u32::from(*net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*bits)).unwrap_or(0);
                u128::from(*net) & mask == u128::from(ip) & mask
            }
            _ => false,
        })
    }

    /// The client of a request that reached us from `peer` with this
    /// `X-Forwarded-For`: the peer itself unless it is a trusted proxy; else
    /// the nearest forwarded address that is not one.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> =
            forwarded_for.unwrap_or_default().split(',').filter_map(|hop| hop.trim().parse().ok()).collect();
        hops.iter().rev().copied().find(|hop| !self.contains(*hop)).or(hops.first().copied()).unwrap_or(peer)
    }
}

impl AppSettings {
    pub fn from_serve(s: &ServeSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(s.access_ttl_secs >= 60, "CAREGO_ACCESS_TTL_SECS must be at least 60");
        anyhow::ensure!(
            s.refresh_ttl_secs > s.access_ttl_secs,
            "CAREGO_REFRESH_TTL_SECS must exceed CAREGO_ACCESS_TTL_SECS"
        );
        anyhow::ensure!(s.body_limit_bytes >= 1024, "CAREGO_BODY_LIMIT_BYTES must be at least 1024");
        anyhow::ensure!(s.document_limit_bytes >= 1024, "CAREGO_DOCUMENT_LIMIT_BYTES must be at least 1024");
        anyhow::ensure!((1..=300).contains(&s.job_poll_secs), "CAREGO_JOB_POLL_SECS must be 1 to 300");
        anyhow::ensure!(
            (1..=300).contains(&s.stream_heartbeat_secs),
            "CAREGO_STREAM_HEARTBEAT_SECS must be 1 to 300"
        );
        Ok(Self {
            access_ttl: Duration::from_secs(s.access_ttl_secs),
            refresh_ttl: Duration::from_secs(s.refresh_ttl_secs),
            refresh_grace: Duration::from_secs(s.refresh_grace_secs),
            body_limit_bytes: s.body_limit_bytes,
            document_limit_bytes: s.document_limit_bytes,
            login_limit_per_ip: s.login_limit_per_ip,
            login_limit_per_account: s.login_limit_per_account,
            register_limit_per_ip: s.register_limit_per_ip,
            lead_limit_per_ip: s.lead_limit_per_ip,
            api_key_failures_per_ip: s.api_key_failures_per_ip.max(1),
            webhook_allow_private: s.webhook_allow_private,
            cors_origins: cors_origins(&s.cors_origins)?,
            trusted_proxies: TrustedProxies::parse(&s.trusted_proxies)?,
            header_read_timeout: Duration::from_secs(s.header_read_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(s.body_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(s.idle_timeout_secs.max(1)),
            max_connections: s.max_connections.max(1),
            job_poll_interval: Duration::from_secs(s.job_poll_secs),
            stream_heartbeat: Duration::from_secs(s.stream_heartbeat_secs),
        })
    }
}

/// Origins as browsers send them: `scheme://host[:port]`, no path, never `*`.
fn cors_origins(specs: &[String]) -> anyhow::Result<Vec<String>> {
    specs
        .iter()
        .map(|s| s.trim().trim_end_matches('/'))
        .filter(|s| !s.is_empty())
        .map(|origin| {
            let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.split_once("://").is_some_and(|(_, rest)| rest.contains('/') || rest.is_empty());
            anyhow::ensure!(
                ok,
                "CAREGO_CORS_ORIGINS: `{origin}` is not an origin like https://app.example.org"
            );
            Ok(origin.to_owned())
        })
        .collect()
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            body_limit_bytes: 64 * 1024,
            document_limit_bytes: 20 * 1024 * 1024,
            login_limit_per_ip: 30,
            login_limit_per_account: 10,
            register_limit_per_ip: 10,
            lead_limit_per_ip: 10,
            api_key_failures_per_ip: 30,
            webhook_allow_private: false,
            cors_origins: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            job_poll_interval: Duration::from_secs(5),
            stream_heartbeat: Duration::from_secs(15),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_see_through_their_own_hops_only() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.7".into()]).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Straight from a client: X-Forwarded-For is the client's own word, ignored.
        assert_eq!(proxies.client(ip("203.0.113.9"), Some("1.2.3.4")), ip("203.0.113.9"));
        // Through our proxies: the nearest hop that is not ours.
        assert_eq!(
            proxies.client(ip("10.1.2.3"), Some("1.2.3.4, 198.51.100.5, 192.0.2.7")),
            ip("198.51.100.5")
        );
        assert_eq!(proxies.client(ip("::ffff:10.1.2.3"), Some("198.51.100.5")), ip("198.51.100.5"));
        // A proxy that forwarded nothing parsable: the proxy itself.
        assert_eq!(proxies.client(ip("10.1.2.3"), Some("garbage")), ip("10.1.2.3"));
        for bad in ["nope", "10.0.0.0/33", "::1/129"] {
            assert!(TrustedProxies::parse(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn cors_origins_are_origins() {
        assert_eq!(cors_origins(&["https://app.example.org/".into()]).unwrap(), ["https://app.example.org"]);
        for bad in ["*", "app.example.org", "https://app.example.org/path", "https://"] {
            assert!(cors_origins(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
