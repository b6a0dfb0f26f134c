//! What an embedded cluster starts with, so that `serve` with no
//! configuration can be tried at once: the demo facilities of `tenants/`, a
//! demo super admin, one password for them all (generated once, kept in the
//! data dir), and the lines of the startup banner that name them.

use std::path::Path;

use super::{Opened, admin::create_super_admin, serve::persistent_secret};
use crate::{
    auth::password, config::ServeSettings, db::Db, db::accounts::users, domain::contact::Email, tenants,
};

/// The variable demo manifests take their password from.
pub const PASSWORD_ENV: &str = "CAREGO_DEMO_PASSWORD";
const SUPER_ADMIN: &str = "root@carego.example";

/// Applies the demo manifests and the demo super admin; returns the
/// banner's login lines.
pub async fn seed(opened: &Opened, serve: &ServeSettings, data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut logins = Vec::new();
    let demo = password(data_dir)?;
    if serve.tenants_dir.is_dir() {
        let manifests = tenants::load_dir(&serve.tenants_dir)?;
        let secret = opened.secret_resolver(data_dir)?;
        tenants::apply(&opened.db, &manifests, &secret).await?;
        for (_, m) in &manifests {
            let emails: Vec<&str> = m
                .admins
                .iter()
                .chain(&m.staff)
                .filter(|u| u.password_env.as_deref() == Some(PASSWORD_ENV))
                .map(|u| u.email.as_str())
                .collect();
            if !emails.is_empty() {
                logins.push(format!("{}: {}", m.facility.slug, emails.join(", ")));
            }
        }
    }
    let email = Email::parse(SUPER_ADMIN).expect("constant email is valid");
    if ensure_super_admin(&opened.db, &email, &demo).await? {
        tracing::debug!("created demo super admin");
    }
    logins.insert(0, format!("{SUPER_ADMIN} (super admin)"));
    logins.insert(0, format!("Demo logins (embedded database only), password {demo}:"));
    Ok(logins)
}

/// The demo password: `CAREGO_DEMO_PASSWORD`, or one made once and kept.
pub fn password(data_dir: &Path) -> anyhow::Result<String> {
    if let Ok(pw) = std::env::var(PASSWORD_ENV) {
        return Ok(pw);
    }
    std::fs::create_dir_all(data_dir)?;
    persistent_secret(&data_dir.join("demo-password"), || {
        let (token, _) = crate::auth::tokens::new_refresh_token();
        format!("demo-{}", &token[..16])
    })
}

async fn ensure_super_admin(db: &Db, email: &Email, demo: &str) -> anyhow::Result<bool> {
    let mut tx = db.begin_system("demo super admin").await?;
    let exists = users::find_by_email(&mut tx, email).await?.is_some();
    tx.commit().await?;
    if exists {
        return Ok(false);
    }
    let hash = password::hash(demo.to_owned()).await?;
    create_super_admin(db, email, "Demo", "Root", hash).await?;
    Ok(true)
}
