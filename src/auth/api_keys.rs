//! Partner integrators' API keys.
//!
//! A key reads `cgk_` + 32 random base62 characters (190 bits) + 6 base62
//! characters of their CRC-32: a secret scanner can match
//! `cgk_[0-9A-Za-z]{38}` and tell a real key from a look-alike without asking
//! us, and a mistyped key is refused here without a database round trip.
//! Only an HMAC of the key under the server's key secret is stored.
//!
//! What a key is (its facility, integration and scopes) never changes once
//! it is made, so each server caches it by HMAC after the first request.
//! What can change — revocation, expiry, the integration's or the facility's
//! status, the rate limit and the daily quota — is checked by the request
//! prologue on every request (`db::tx`), so a revocation takes effect on
//! the very next request on every server.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use poem::Request;
use poem_openapi::{SecurityScheme, auth::ApiKey};
use rand::Rng;

use super::{Principal, RequestMeta, Role, registration::KeyHasher};
use crate::{
    db::{Db, accounts::api_keys},
    domain::ids::{ApiKeyId, FacilityId, SessionId, UserId},
    error::{Error, Unauthenticated},
};

/// Every key starts with this.
pub const PREFIX: &str = "cgk_";
const RANDOM_LEN: usize = 32;
const CHECK_LEN: usize = 6;
/// The characters shown in lists to tell keys apart: the prefix and 8 more.
const DISPLAY_LEN: usize = PREFIX.len() + 8;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The HMAC purpose, so a key's stored form can never equal another secret's.
const PURPOSE: &str = "api-key";
/// Keys cached per server; beyond this the cache starts again (keys are few).
const CACHE_LIMIT: usize = 10_000;

/// What a key may do. Each is enforced twice: the handler answers 403
/// `insufficient_scope`, and the integrator's RLS policies read the key's
/// scopes from `carego.scopes`, so a missed check still shows nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, poem_openapi::Enum)]
pub enum Scope {
    /// List and read the facility's patients. Every key needs it.
    #[oai(rename = "patients:read")]
    PatientsRead,
    /// Admit patients.
    #[oai(rename = "patients:write")]
    PatientsWrite,
    /// Read care logs.
    #[oai(rename = "care-logs:read")]
    CareLogsRead,
    /// Write care logs (as the integration).
    #[oai(rename = "care-logs:write")]
    CareLogsWrite,
}

impl Scope {
    pub const ALL: [Scope; 4] =
        [Self::PatientsRead, Self::PatientsWrite, Self::CareLogsRead, Self::CareLogsWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PatientsRead => "patients:read",
            Self::PatientsWrite => "patients:write",
            Self::CareLogsRead => "care-logs:read",
            Self::CareLogsWrite => "care-logs:write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// The key a request came with, as the prologue needs it.
#[derive(Clone, Debug)]
pub struct KeyGrant {
    pub id: ApiKeyId,
    pub scopes: Vec<Scope>,
}

impl KeyGrant {
    /// `carego.scopes`: space-separated.
    pub fn scopes_setting(&self) -> String {
        self.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// A new key: shown once, never stored.
pub fn generate() -> String {
    let mut rng = rand::rngs::OsRng;
    let random: String =
        (0..RANDOM_LEN).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    format!("{PREFIX}{random}{}", checksum(&random))
}

/// The first characters of a key, kept to tell keys apart.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(DISPLAY_LEN).collect()
}

/// Whether `presented` has a key's shape and its checksum matches.
pub fn well_formed(presented: &str) -> bool {
    let Some(rest) = presented.strip_prefix(PREFIX) else { return false };
    if rest.len() != RANDOM_LEN + CHECK_LEN || !rest.bytes().all(|b| ALPHABET.contains(&b)) {
        return false;
    }
    let (random, check) = rest.split_at(RANDOM_LEN);
    checksum(random) == check
}

fn checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes()) as u64;
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("the alphabet is ASCII")
}

/// What the server knows about a key without asking the database.
#[derive(Clone, Debug)]
pub struct KeyIdentity {
    pub id: ApiKeyId,
    pub facility_id: FacilityId,
    pub integration_id: UserId,
    pub scopes: Vec<Scope>,
}

/// Verifies presented keys: shape and checksum, then the HMAC, looked up
/// once per server and cached.
pub struct ApiKeys {
    hasher: Arc<KeyHasher>,
    db: Db,
    cache: Mutex<HashMap<Vec<u8>, KeyIdentity>>,
}

impl ApiKeys {
    pub fn new(hasher: Arc<KeyHasher>, db: Db) -> Self {
        Self { hasher, db, cache: Mutex::new(HashMap::new()) }
    }

    /// The stored form of a key.
    pub fn secret_hmac(&self, key: &str) -> Vec<u8> {
        self.hasher.mac(PURPOSE, key.as_bytes())
    }

    async fn identify(&self, presented: &str, meta: &RequestMeta) -> Result<KeyIdentity, Error> {
        let invalid = Error::Unauthenticated(Unauthenticated::InvalidApiKey);
        if !well_formed(presented) {
            return Err(invalid);
        }
        let hmac = self.secret_hmac(presented);
        if let Some(found) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&hmac) {
            return Ok(found.clone());
        }
        let found = self
            .db
            .run_public(&meta.request_id, meta.ip.as_deref(), async |tx| api_keys::lookup(tx, &hmac).await)
            .await?
            .ok_or(invalid)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(hmac, found.clone());
        Ok(found)
    }
}

/// A partner integrator's API key (`cgk_…`), made by a facility admin at
/// `POST /api/v1/api-keys`. A request that sends one is answered for it: a
/// refused key is the request's error (401 `invalid_api_key`), never
/// replaced by the bearer scheme's "no token" (see `KeyOrBearer`).
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "X-API-Key", key_in = "header", checker = "verify_api_key")]
pub struct ApiKeyAuth(pub Result<Principal, Error>);

async fn verify_api_key(req: &Request, key: ApiKey) -> poem::Result<Result<Principal, Error>> {
    let keys = req
        .data::<Arc<ApiKeys>>()
        .ok_or_else(|| Error::internal(anyhow::anyhow!("API keys not installed")))?;
    let meta = RequestMeta::from_request(req);
    Ok(keys.principal(key.key.trim(), meta).await)
}

impl ApiKeys {
    async fn principal(&self, presented: &str, meta: RequestMeta) -> Result<Principal, Error> {
        let found = self.identify(presented, &meta).await?;
        Ok(Principal {
            user_id: found.integration_id,
            // The key is the credential: the audit log's session column names it.
            session_id: SessionId(found.id.0),
            facility_id: Some(found.facility_id),
            role: Role::Integrator,
            meta,
            api_key: Some(KeyGrant { id: found.id, scopes: found.scopes }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_recognisable_and_carry_enough_entropy() {
        let key = generate();
        assert!(key.starts_with(PREFIX));
        assert_eq!(key.len(), PREFIX.len() + RANDOM_LEN + CHECK_LEN);
        assert!(well_formed(&key));
        assert!((62f64).log2() * RANDOM_LEN as f64 >= 190.0);
        assert_ne!(generate(), key);
        assert_eq!(display_prefix(&key).len(), 12);
        assert!(key.starts_with(&display_prefix(&key)));
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let key = generate();
        let mut flipped = 0;
        for i in PREFIX.len()..key.len() {
            let mut bytes = key.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(!well_formed(&typo), "{typo}");
            flipped += 1;
        }
        assert_eq!(flipped, RANDOM_LEN + CHECK_LEN);
        for bad in ["", "cgk_", "cgk_short", &key[1..], &format!("{key}x"), &key.replace("cgk_", "cgx_")] {
            assert!(!well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn the_stored_form_depends_on_the_server_secret() {
        let key = generate();
        let a = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        let b = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        assert_eq!(a.mac(PURPOSE, key.as_bytes()), a.mac(PURPOSE, key.as_bytes()));
        assert_ne!(a.mac(PURPOSE, key.as_bytes()), b.mac(PURPOSE, key.as_bytes()));
        assert_ne!(a.mac(PURPOSE, key.as_bytes()), a.mac("other", key.as_bytes()));
    }

    #[test]
    fn scopes_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("patients:delete"), None);
    }
}
