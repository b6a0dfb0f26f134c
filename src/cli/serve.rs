//! `carego serve`: settings, storage, the database, keys, the job worker,
//! the metrics endpoint and the HTTP server, and a graceful stop.

use std::{
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
    time::Duration,
};

use anyhow::{Context as _, bail};

use super::{Opened, demo};
use crate::{
    api::AppState,
    auth::{jwt::JwtKeys, password, registration::KeyHasher},
    config::{AppSettings, DbSettings, ServeSettings},
    db::infra::embedded::Durability,
    server,
    storage::Storage,
};

pub async fn serve(db_settings: DbSettings, serve: ServeSettings) -> anyhow::Result<()> {
    let settings = AppSettings::from_serve(&serve)?;
    let storage = match &serve.storage_url {
        Some(url) => {
            let storage = Storage::open(url)?;
            storage.refuse_documents_outside_the_prefix(url).await?;
            storage
        }
        None => {
            let dir = std::path::absolute(db_settings.data_dir.join("documents"))?;
            Storage::open(&format!("file://{}", dir.display()))?
        }
    };
    let opened = Opened::open(&db_settings, Durability::Durable).await?;
    let keys = match (&serve.jwt_keys, opened.embedded()) {
        (Some(spec), _) => JwtKeys::parse(spec)?,
        (None, true) => JwtKeys::parse(&persistent_secret(
            &db_settings.data_dir.join("jwt-keys"),
            JwtKeys::generate_spec,
        )?)?,
        (None, false) => {
            opened.stop().await?;
            bail!("CAREGO_JWT_KEYS must be set when DATABASE_URL is (see README, Configuration)");
        }
    };

    let logins = if opened.embedded() {
        demo::seed(&opened, &serve, &db_settings.data_dir).await?
    } else {
        Vec::new()
    };

    let key_hasher = match (&serve.key_secret, opened.embedded()) {
        (Some(spec), _) => KeyHasher::parse(spec)?,
        (None, true) => KeyHasher::parse(&persistent_secret(
            &db_settings.data_dir.join("key-secret"),
            KeyHasher::generate_spec,
        )?)?,
        (None, false) => {
            opened.stop().await?;
            bail!("CAREGO_KEY_SECRET must be set when DATABASE_URL is (see README, Configuration)");
        }
    };

    password::warm_up();
    let state = AppState::new(opened.db.clone(), keys, key_hasher, settings, storage);
    // The LISTEN connection and the job worker, for as long as we serve.
    let _background = crate::jobs::Background::start(&state, state.settings.job_poll_interval);
    if let Some(listen) = serve.metrics_listen {
        let metrics_state = state.clone();
        tokio::spawn(async move {
            if let Err(err) = server::metrics::serve(&metrics_state, listen).await {
                tracing::error!(error = %err, %listen, "the metrics endpoint stopped");
            }
        });
    }
    let banner_logins = logins.join("\n  ");
    server::serve(state, serve.listen, shutdown_signal(), Duration::from_secs(20), |addr| {
        eprintln!("Carego is listening on http://{addr} (API docs: /docs, OpenAPI: /openapi.json)");
        if let Some(listen) = serve.metrics_listen {
            eprintln!("Metrics on http://{listen}/metrics");
        }
        if !banner_logins.is_empty() {
            eprintln!("{banner_logins}");
        }
    })
    .await?;
    tracing::info!("HTTP server stopped; closing the pool");
    opened.stop().await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Reads (or creates, 0600) a secret file in the data dir.
pub(super) fn persistent_secret(path: &Path, generate: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        return Ok(existing.trim().to_owned());
    }
    let value = generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, value.as_bytes())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(value)
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when
/// this is called, not when it is first polled: a signal that arrives just
/// after the "listening" banner still shuts down cleanly instead of killing
/// the process (and leaving the embedded cluster running).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(term) => {},
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}
