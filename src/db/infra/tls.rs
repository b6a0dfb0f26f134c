//! TLS to PostgreSQL (rustls with the ring provider). Used when the
//! connection string asks for it (`sslmode=prefer`, the default, or
//! `require`) and the host is reached over TCP; Unix sockets and
//! `sslmode=disable` connect in the clear. Server certificates are verified
//! against the system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` add a private
//! CA), including the host name.

use std::sync::Arc;

use tokio_postgres::config::{Config, Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The TLS connector this configuration needs, if any.
pub fn connector_for(config: &Config) -> anyhow::Result<Option<MakeRustlsConnect>> {
    let over_tcp = config.get_hosts().iter().any(|h| matches!(h, Host::Tcp(_)));
    if !over_tcp || config.get_ssl_mode() == SslMode::Disable {
        return Ok(None);
    }
    let roots = native_roots();
    if roots.is_empty() {
        anyhow::ensure!(
            config.get_ssl_mode() != SslMode::Require,
            "sslmode=require, but no trusted root certificates were found (set SSL_CERT_FILE)"
        );
        tracing::warn!("no trusted root certificates found; connecting to PostgreSQL without TLS");
        return Ok(None);
    }
    Ok(Some(MakeRustlsConnect::new(client_config(roots)?)))
}

/// The system's trusted roots (`SSL_CERT_FILE` is honoured).
pub fn native_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// A TLS client on ring trusting `roots`: PostgreSQL's and the webhooks'.
pub fn client_config(roots: rustls::RootCertStore) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs_tls(conn: &str) -> bool {
        connector_for(&conn.parse().unwrap()).unwrap().is_some()
    }

    #[test]
    fn tls_is_used_over_tcp_unless_disabled() {
        assert!(!needs_tls("host=/run/postgresql user=u dbname=d"), "Unix sockets need no TLS");
        assert!(!needs_tls("postgres://u@db.internal/d?sslmode=disable"));
        // The machine has system roots (ca-certificates); with them TCP uses TLS.
        if !rustls_native_certs::load_native_certs().certs.is_empty() {
            assert!(needs_tls("postgres://u@db.internal/d"));
            assert!(needs_tls("postgres://u@db.internal/d?sslmode=require"));
        }
    }
}
