//! Staff second factor: TOTP (RFC 6238: HMAC-SHA1, 30-second steps, six
//! digits, one step of clock drift either way) and ten single-use recovery
//! codes.
//!
//! The TOTP secret is sealed at rest with ChaCha20-Poly1305 (ring, already
//! built for TLS) under a key derived from the server's key secret, with the
//! user's id as associated data, so a sealed secret copied onto another
//! account does not open. Recovery codes are stored as HMACs. Which time
//! step was last accepted is kept in the database, so a code seen once is
//! refused after (replay), on every server.

use rand::{Rng, RngCore, rngs::OsRng};
use ring::aead::{CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::registration::KeyHasher;

const STEP_SECS: i64 = 30;
const DIGITS: u32 = 6;
/// Steps either side of now that still count (clock drift).
const DRIFT_STEPS: i64 = 1;
const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 10;
/// Unambiguous characters (no 0/O, 1/I/L), as registration keys use.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const RECOVERY_LEN: usize = 10;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new TOTP secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut secret);
    secret
}

/// RFC 4648 base32 without padding: how authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The bytes of a base32 secret (as [`base32`] writes it), or `None`.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app scans.
pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
    let label: String = account
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'@' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!(
        "otpauth://totp/Carego:{label}?secret={}&issuer=Carego&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

/// The time step of a Unix time.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code of one time step.
pub fn code_at(secret: &[u8], step: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value =
        u32::from_be_bytes([digest[offset], digest[offset + 1], digest[offset + 2], digest[offset + 3]])
            & 0x7fff_ffff;
    format!("{:0width$}", value % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// The step `code` belongs to, within the drift around `unix_secs`; the
/// caller still has to check it was not used before.
pub fn matching_step(secret: &[u8], code: &str, unix_secs: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    (now - DRIFT_STEPS..=now + DRIFT_STEPS)
        .find(|&step| constant_time_eq(code_at(secret, step).as_bytes(), code.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a [`SecretBox`] seals. Each kind has its own key, derived from the
/// server's key secret under its own label, so a key that opens one kind
/// opens nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealed {
    /// Staff TOTP secrets, bound to the user's id.
    TotpSecrets,
    /// Webhook subscriptions' signing secrets, bound to the subscription's id.
    WebhookSecrets,
}

impl Sealed {
    fn label(self) -> &'static str {
        match self {
            Self::TotpSecrets => "mfa-totp-seal",
            Self::WebhookSecrets => "webhook-secret-seal",
        }
    }
}

/// Seals and opens one kind of secret.
pub struct SecretBox {
    key: LessSafeKey,
}

impl SecretBox {
    /// The sealing key for `kind`, derived from the server's key secret.
    pub fn new(hasher: &KeyHasher, kind: Sealed) -> Self {
        let key = hasher.mac(kind.label(), b"");
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key).expect("a 32-byte key");
        Self { key: LessSafeKey::new(unbound) }
    }

    /// nonce ‖ ciphertext ‖ tag, bound to `owner` (a user's or a
    /// subscription's id).
    pub fn seal(&self, owner: &[u8], secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let mut sealed = secret.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(owner),
                &mut sealed,
            )
            .expect("sealing a short secret cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The secret, or `None` when the box was not sealed for `owner` under
    /// this key.
    pub fn open(&self, owner: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = rest.to_vec();
        let plain = self.key.open_in_place(nonce, ring::aead::Aad::from(owner), &mut buffer).ok()?;
        Some(plain.to_vec())
    }
}

/// Ten new recovery codes (`XXXXX-XXXXX`, about 49 bits each) and their
/// stored forms.
pub fn new_recovery_codes(hasher: &KeyHasher) -> (Vec<String>, Vec<Vec<u8>>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw: String = (0..RECOVERY_LEN)
                .map(|_| CODE_ALPHABET[OsRng.gen_range(0..CODE_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let hashes = codes.iter().filter_map(|c| recovery_hash(hasher, c)).collect();
    (codes, hashes)
}

/// The stored form of a presented recovery code (case, spaces and dashes do
/// not matter), or `None` if it cannot be one.
pub fn recovery_hash(hasher: &KeyHasher, presented: &str) -> Option<Vec<u8>> {
    let normal: String =
        presented.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
    if normal.len() != RECOVERY_LEN || !normal.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        return None;
    }
    Some(hasher.mac("mfa-recovery-code", normal.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;

    #[test]
    fn rfc_6238_vectors() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890"; the
        // RFC's 8-digit values end in these 6.
        let secret = b"12345678901234567890";
        for (time, code) in
            [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")]
        {
            assert_eq!(code_at(secret, step_at(time)), code, "t={time}");
        }
        assert_eq!(base32(secret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").as_deref(), Some(&secret[..]));
        let random = new_secret();
        assert_eq!(base32_decode(&base32(&random)), Some(random));
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, step_at(now));
        assert_eq!(matching_step(&secret, &code, now), Some(step_at(now)));
        assert_eq!(matching_step(&secret, &code, now + 30), Some(step_at(now)), "one step late");
        assert_eq!(matching_step(&secret, &code, now - 30), Some(step_at(now)), "one step early");
        assert_eq!(matching_step(&secret, &code, now + 90), None, "three steps late");
        for bad in ["", "12345", "1234567", "abcdef"] {
            assert_eq!(matching_step(&secret, bad, now), None, "{bad}");
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let hasher = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        let other = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        let (user, someone) = (UserId(uuid::Uuid::new_v4()), UserId(uuid::Uuid::new_v4()));
        let secret = new_secret();
        let sealed = SecretBox::new(&hasher, Sealed::TotpSecrets).seal(user.0.as_bytes(), &secret);
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()), "not in the clear");
        assert_eq!(
            SecretBox::new(&hasher, Sealed::TotpSecrets).open(user.0.as_bytes(), &sealed),
            Some(secret)
        );
        assert_eq!(SecretBox::new(&hasher, Sealed::TotpSecrets).open(someone.0.as_bytes(), &sealed), None);
        assert_eq!(SecretBox::new(&other, Sealed::TotpSecrets).open(user.0.as_bytes(), &sealed), None);
        assert_eq!(
            SecretBox::new(&hasher, Sealed::WebhookSecrets).open(user.0.as_bytes(), &sealed),
            None,
            "another kind's key does not open it"
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(SecretBox::new(&hasher, Sealed::TotpSecrets).open(user.0.as_bytes(), &tampered), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_whatever_their_spelling() {
        let hasher = KeyHasher::parse(&KeyHasher::generate_spec()).unwrap();
        let (codes, hashes) = new_recovery_codes(&hasher);
        assert_eq!((codes.len(), hashes.len()), (RECOVERY_CODES, RECOVERY_CODES));
        let unique: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert_eq!(
            recovery_hash(&hasher, &codes[0].to_lowercase().replace('-', " ")),
            Some(hashes[0].clone())
        );
        assert_eq!(recovery_hash(&hasher, "short"), None);
        assert!((CODE_ALPHABET.len() as f64).log2() * RECOVERY_LEN as f64 >= 49.0);
    }
}
