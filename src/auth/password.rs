//! Passwords: argon2id with OWASP's parameters (19 MiB, t=2, p=1), hashed on
//! the blocking pool and bounded by a semaphore so a login burst cannot eat
//! every core and gigabytes of memory. Unknown accounts are verified against
//! a dummy hash, so timing does not reveal which accounts exist.

use std::sync::OnceLock;

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
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

/// Verifies `password` against `stored`, or against the dummy hash when there
/// is no account (or no password yet), taking the same time either way.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool> {
    let _permit = permits().acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (dummy_hash(), false),
        };
        let parsed = PasswordHash::new(hash)
            .map_err(|e| Error::internal(anyhow::anyhow!("stored hash unreadable: {e}")))?;
        let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(ok && real)
    })
    .await
    .map_err(Error::internal)?
}

/// Warms the dummy hash so the first unknown-account login is not faster.
pub fn warm_up() {
    let _ = dummy_hash();
}
