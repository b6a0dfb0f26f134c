//! Passwords: argon2id with OWASP's parameters (19 MiB, t=2, p=1), hashed on
//! the blocking pool and bounded by a semaphore so a login burst cannot eat
//! every core and gigabytes of memory. The server never sees a stored hash:
//! it derives the presented password's hash under the stored one's
//! parameters and salt, and the database compares (V46). Unknown accounts
//! are derived under a dummy hash's, so timing does not reveal which exist.

use std::sync::OnceLock;

use argon2::{
    Argon2, PasswordHash, PasswordHasher,
    password_hash::{SaltString, rand_core::OsRng},
};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// Passwords must be at least this long, and at most the upper bound (argon2
/// itself has no practical limit; the bound keeps hashing cost predictable).
pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Semaphore::new(cores * 2)
    })
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"carego-dummy-password-never-matches", &salt)
            .expect("hashing a constant cannot fail")
            .to_string()
    })
}

/// Checks the password policy; the message is for the `password` field.
pub fn validate(password: &str) -> std::result::Result<(), &'static str> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err("must be at least 10 characters");
    }
    if len > MAX_LEN {
        return Err("must be at most 128 characters");
    }
    Ok(())
}

/// Hashes a new password.
pub async fn hash(password: String) -> Result<String> {
    let _permit = permits().acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(anyhow::anyhow!("argon2: {e}")))
    })
    .await
    .map_err(Error::internal)?
}

/// The parameters and salt of a stored hash: its PHC string without the last
/// field (the hash itself), which is all the database hands out.
pub fn params_of(phc: &str) -> &str {
    phc.rsplit_once('$').map_or(phc, |(params, _)| params)
}

/// Derives the PHC hash of `password` under `params` (the parameters and
/// salt of the account's stored hash, from [`params_of`]), for the database
/// to compare with what it holds. Without params (no such account, or no
/// password yet) it derives under the dummy hash's, so timing tells nothing.
pub async fn derive(password: String, params: Option<String>) -> Result<String> {
    let _permit = permits().acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(move || {
        let params = params.unwrap_or_else(|| params_of(dummy_hash()).to_owned());
        let unreadable = |e| Error::internal(anyhow::anyhow!("stored hash parameters unreadable: {e}"));
        let parsed = PasswordHash::new(&params).map_err(unreadable)?;
        let salt = parsed.salt.ok_or_else(|| Error::internal(anyhow::anyhow!("stored hash has no salt")))?;
        let argon = argon2::Params::try_from(&parsed).map_err(unreadable)?;
        Argon2::default()
            .hash_password_customized(
                password.as_bytes(),
                Some(parsed.algorithm),
                parsed.version,
                argon,
                salt,
            )
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(anyhow::anyhow!("argon2: {e}")))
    })
    .await
    .map_err(Error::internal)?
}

/// Warms the dummy hash so the first unknown-account login is not faster.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_derived_hash_matches_the_stored_one_only_for_the_right_password() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        let params = params_of(&stored).to_owned();
        assert!(stored.starts_with(&params) && stored.len() > params.len() + 20, "the hash field is cut off");
        assert_eq!(derive("correct horse battery".into(), Some(params.clone())).await.unwrap(), stored);
        assert_ne!(derive("correct horse batterz".into(), Some(params)).await.unwrap(), stored);
        let unknown = derive("correct horse battery".into(), None).await.unwrap();
        assert_ne!(unknown, stored, "without an account the dummy's salt is used");
        assert!(unknown.starts_with("$argon2id$"));
    }
}
