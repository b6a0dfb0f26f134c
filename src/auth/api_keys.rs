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
//!
//! Unknown keys cost nothing: a well-formed key that matches nothing is
//! remembered for a few minutes (in a bounded set: a flood of distinct
//! random keys cannot grow it), and failed attempts are counted per client
//! address (an IPv6 client by its /64) in this process; past the limit an
//! address is answered 429 without a database round trip until its minute
//! turns. A key already known to this server is still served from such an
//! address (it costs nothing and cannot be guessed), and other addresses
//! are never affected. Each server counts on its own: N servers behind a
//! balancer allow N times the limit, which bounds the database's work all
//! the same.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use poem::Request;
use poem_openapi::{SecurityScheme, auth::ApiKey};
use rand::Rng;

use super::registration::KeyHasher;
use crate::{
    db::{Db, accounts::api_keys},
    error::{Error, Unauthenticated},
    identity::{Credential, KeyGrant, KeyIdentity, Principal, RequestMeta, Role},
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
/// Unknown keys remembered per server, and for how long (at least; at most
/// twice as long).
const UNKNOWN_LIMIT: usize = 20_000;
const UNKNOWN_TTL: Duration = Duration::from_secs(5 * 60);
/// Client addresses whose failures are counted at once, and their window.
const CLIENTS_LIMIT: usize = 20_000;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

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

/// Verifies presented keys: shape and checksum, then the HMAC, looked up
/// once per server and cached; unknown ones remembered, and failures
/// limited per client address.
pub struct ApiKeys {
    hasher: Arc<KeyHasher>,
    db: Db,
    cache: Mutex<HashMap<Vec<u8>, KeyIdentity>>,
    unknown: Mutex<Remembered>,
    failures: Mutex<Failures>,
    /// Lookups that reached the database (also `carego_api_key_checks_total`).
    lookups: AtomicU64,
}

impl ApiKeys {
    /// `failures_per_minute`: failed attempts allowed per client address.
    pub fn new(hasher: Arc<KeyHasher>, db: Db, failures_per_minute: u32) -> Self {
        Self {
            hasher,
            db,
            cache: Mutex::new(HashMap::new()),
            unknown: Mutex::new(Remembered::new(UNKNOWN_LIMIT, UNKNOWN_TTL, Instant::now())),
            failures: Mutex::new(Failures::new(failures_per_minute, FAILURE_WINDOW, CLIENTS_LIMIT)),
            lookups: AtomicU64::new(0),
        }
    }

    /// The stored form of a key.
    pub fn secret_hmac(&self, key: &str) -> Vec<u8> {
        self.hasher.mac(PURPOSE, key.as_bytes())
    }

    /// How many presented keys this server has looked up in the database.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    async fn identify(&self, presented: &str, meta: &RequestMeta) -> Result<KeyIdentity, Error> {
        let hmac = well_formed(presented).then(|| self.secret_hmac(presented));
        if let Some(hmac) = &hmac
            && let Some(found) = lock(&self.cache).get(hmac)
        {
            metrics::counter!("carego_api_key_checks_total", "outcome" => "cached").increment(1);
            return Ok(found.clone());
        }
        let client = meta.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()).map(client_key);
        let now = Instant::now();
        if let Some(wait) = lock(&self.failures).blocked(client, now) {
            metrics::counter!("carego_api_key_checks_total", "outcome" => "limited").increment(1);
            return Err(Error::RateLimited { retry_after_secs: wait.as_secs().max(1) });
        }
        let refuse = |outcome: &'static str| {
            metrics::counter!("carego_api_key_checks_total", "outcome" => outcome).increment(1);
            lock(&self.failures).fail(client, now);
            Error::Unauthenticated(Unauthenticated::InvalidApiKey)
        };
        let Some(hmac) = hmac else { return Err(refuse("malformed")) };
        if lock(&self.unknown).contains(&hmac, now) {
            return Err(refuse("remembered"));
        }
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let found = self
            .db
            .run_public(&meta.request_id, meta.ip.as_deref(), async |tx| api_keys::lookup(tx, &hmac).await)
            .await?;
        let Some(found) = found else {
            lock(&self.unknown).insert(hmac, now);
            return Err(refuse("unknown"));
        };
        metrics::counter!("carego_api_key_checks_total", "outcome" => "found").increment(1);
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(hmac, found.clone());
        Ok(found)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whose failures count together: an IPv4 address, or an IPv6 /64 (what
/// one client is usually given).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        },
        v4 => v4,
    }
}

/// Unknown keys' HMACs, in two generations: the current one fills for a
/// TTL (or to half the limit), then becomes the previous one and the
/// previous is dropped. Memory stays under `limit` entries whatever is
/// presented; an entry lives from one to two TTLs, less under a flood.
struct Remembered {
    current: HashSet<Vec<u8>>,
    previous: HashSet<Vec<u8>>,
    since: Instant,
    limit: usize,
    ttl: Duration,
}

impl Remembered {
    fn new(limit: usize, ttl: Duration, now: Instant) -> Self {
        Self { current: HashSet::new(), previous: HashSet::new(), since: now, limit, ttl }
    }

    /// Generations turn on the TTL's beat (so an entry is gone two TTLs
    /// after its generation began, however seldom it is asked about), and
    /// early when the current one is full.
    fn turn(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.since);
        if age >= self.ttl * 2 {
            self.previous.clear();
            self.current.clear();
            self.since = now;
        } else if age >= self.ttl {
            self.previous = std::mem::take(&mut self.current);
            self.since += self.ttl;
        } else if self.current.len() >= self.limit / 2 {
            self.previous = std::mem::take(&mut self.current);
            self.since = now;
        }
    }

    fn contains(&mut self, hmac: &[u8], now: Instant) -> bool {
        self.turn(now);
        self.current.contains(hmac) || self.previous.contains(hmac)
    }

    fn insert(&mut self, hmac: Vec<u8>, now: Instant) {
        self.turn(now);
        self.current.insert(hmac);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// Failed attempts per client in fixed windows. At most `clients` are
/// counted at once: when full, ended windows are dropped, and if every
/// window is still running a new client is not counted (never refused for
/// someone else's failures). Requests without a known address (none reach
/// a real server) share one count.
struct Failures {
    limit: u32,
    window: Duration,
    clients: usize,
    counts: HashMap<Option<IpAddr>, (Instant, u32)>,
}

impl Failures {
    fn new(limit: u32, window: Duration, clients: usize) -> Self {
        Self { limit, window, clients, counts: HashMap::new() }
    }

    /// How long `client` must wait, if its window's failures are spent.
    fn blocked(&self, client: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let &(start, n) = self.counts.get(&client)?;
        let ends = start + self.window;
        (n >= self.limit && now < ends).then(|| ends - now)
    }

    fn fail(&mut self, client: Option<IpAddr>, now: Instant) {
        if !self.counts.contains_key(&client) && self.counts.len() >= self.clients {
            let window = self.window;
            self.counts.retain(|_, (start, _)| now < *start + window);
            if self.counts.len() >= self.clients {
                return;
            }
        }
        let entry = self.counts.entry(client).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
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
            facility_id: Some(found.facility_id),
            role: Role::Integrator,
            meta,
            // The audit log's session column names the key (the key prologue sets it).
            credential: Credential::ApiKey(KeyGrant { id: found.id, scopes: found.scopes }),
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
    fn unknown_keys_are_remembered_within_a_bound() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut unknown = Remembered::new(1000, ttl, t0);
        unknown.insert(b"key".to_vec(), t0);
        assert!(unknown.contains(b"key", t0 + Duration::from_secs(59)));
        assert!(!unknown.contains(b"other", t0));
        // A flood of distinct keys never holds more than the limit.
        for i in 0..100_000u32 {
            unknown.insert(i.to_be_bytes().to_vec(), t0);
            assert!(unknown.len() <= 1000, "{}", unknown.len());
        }
        // And nothing outlives two TTLs.
        let mut unknown = Remembered::new(1000, ttl, t0);
        unknown.insert(b"key".to_vec(), t0);
        assert!(unknown.contains(b"key", t0 + ttl + Duration::from_secs(1)), "in the previous generation");
        assert!(!unknown.contains(b"key", t0 + ttl * 2));
    }

    #[test]
    fn failures_are_limited_per_client_and_never_for_others() {
        let t0 = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap());
        let mut failures = Failures::new(3, Duration::from_secs(60), 4);
        for _ in 0..3 {
            assert_eq!(failures.blocked(Some(a), t0), None);
            failures.fail(Some(a), t0);
        }
        assert_eq!(failures.blocked(Some(a), t0 + Duration::from_secs(10)), Some(Duration::from_secs(50)));
        assert_eq!(failures.blocked(Some(b), t0), None, "another client is not limited");
        assert_eq!(failures.blocked(None, t0), None);
        assert_eq!(failures.blocked(Some(a), t0 + Duration::from_secs(60)), None, "the window turned");
        // A full table does not lock anybody out: a new client goes uncounted...
        for i in 3..6u8 {
            failures.fail(Some(IpAddr::from([198, 51, 100, i])), t0);
        }
        for _ in 0..10 {
            failures.fail(Some(b), t0);
        }
        assert_eq!(failures.blocked(Some(b), t0), None);
        assert!(failures.counts.len() <= 4);
        // ...until windows end and make room.
        let later = t0 + Duration::from_secs(61);
        for _ in 0..3 {
            failures.fail(Some(b), later);
        }
        assert!(failures.blocked(Some(b), later).is_some());
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let one: IpAddr = "2a00:1450:4001:81c::1".parse().unwrap();
        let same: IpAddr = "2a00:1450:4001:81c:ffff::2".parse().unwrap();
        let other: IpAddr = "2a00:1450:4001:81d::1".parse().unwrap();
        assert_eq!(client_key(one), client_key(same));
        assert_ne!(client_key(one), client_key(other));
        assert_eq!(client_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
