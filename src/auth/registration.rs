//! Patient registration keys: `K9M2-P4N8-REC7-X3Y4`, 16 characters from an
//! alphabet without look-alikes (no 0/O, 1/I/L) — 79 bits from the OS CSPRNG.
//! Only an HMAC-SHA256 under the server's key secret is stored.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use rand::{Rng, rngs::OsRng};
use sha2::Sha256;

const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const GROUPS: usize = 4;
const GROUP_LEN: usize = 4;
const MIN_SECRET_BYTES: usize = 32;

/// The secret registration keys are hashed under. Never printed.
#[derive(Clone)]
pub struct KeyHasher {
    secret: Vec<u8>,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(..)")
    }
}

impl KeyHasher {
    /// From base64 (at least 32 bytes once decoded).
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let secret =
            STANDARD.decode(spec.trim()).map_err(|_| anyhow::anyhow!("CAREGO_KEY_SECRET is not base64"))?;
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "CAREGO_KEY_SECRET must decode to at least 32 bytes"
        );
        Ok(Self { secret })
    }

    /// A fresh random secret, base64, for development set-ups.
    pub fn generate_spec() -> String {
        let mut secret = [0u8; 32];
        OsRng.fill(&mut secret);
        STANDARD.encode(secret)
    }

    /// A new key (to show once) and its stored hash.
    pub fn new_key(&self) -> (String, Vec<u8>) {
        let mut key = String::with_capacity(GROUPS * (GROUP_LEN + 1));
        for g in 0..GROUPS {
            if g > 0 {
                key.push('-');
            }
            for _ in 0..GROUP_LEN {
                key.push(ALPHABET[OsRng.gen_range(0..ALPHABET.len())] as char);
            }
        }
        let hash = self.hash(&key).expect("a generated key is well-formed");
        (key, hash)
    }

    /// An id that only this server's secret maps `parts` to: the same parts
    /// always give the same id (a repeated submission is the same record),
    /// and no one without the secret can compute or guess it.
    pub fn derive_id(&self, purpose: &str, parts: &[&str]) -> uuid::Uuid {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        for part in parts {
            mac.update(&[0]);
            mac.update(part.as_bytes());
        }
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }

    /// An HMAC of `bytes` under the server secret, for `purpose`: the stored
    /// form of a secret with enough entropy of its own (API keys).
    pub fn mac(&self, purpose: &str, bytes: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(bytes);
        mac.finalize().into_bytes().to_vec()
    }

    /// The stored form of a presented key, or `None` if it cannot be a key.
    /// Case, spaces and dashes do not matter.
    pub fn hash(&self, presented: &str) -> Option<Vec<u8>> {
        let normal: String =
            presented.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
        if normal.len() != GROUPS * GROUP_LEN || !normal.bytes().all(|b| ALPHABET.contains(&b)) {
            return None;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(normal.as_bytes());
        Some(mac.finalize().into_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape_and_enough_entropy() {
        let hasher = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        let (key, hash) = hasher.new_key();
        assert_eq!(key.len(), 19);
        assert!(key.split('-').all(|g| g.len() == 4 && g.bytes().all(|b| ALPHABET.contains(&b))));
        assert!((ALPHABET.len() as f64).log2() * 16.0 >= 60.0);
        assert_eq!(hasher.hash(&key.to_lowercase().replace('-', " ")), Some(hash.clone()));
        assert_ne!(hasher.new_key().0, key);
        let other = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        assert_ne!(other.hash(&key), Some(hash), "the hash depends on the server secret");
    }

    #[test]
    fn look_alikes_and_wrong_lengths_are_not_keys() {
        let hasher = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        for bad in
            ["", "ABCD-EFGH-JKMN", "ABCD-EFGH-JKMN-PQR0", "ABCD-EFGH-JKMN-PQRI", "ABCD-EFGH-JKMN-PQRST"]
        {
            assert_eq!(hasher.hash(bad), None, "{bad}");
        }
    }
}
