//! Access tokens: HS256 JWTs with a `kid` header naming the key, so keys can
//! be rotated with an overlap (sign with the new, verify with both). One
//! algorithm is pinned; `alg: none`, other algorithms, unknown kids, bad
//! signatures, expired tokens, tokens not yet valid (`nbf`, or `iat` in the
//! future beyond the leeway) and tokens for another issuer or audience are
//! all refused.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::ids::{FacilityId, SessionId, UserId};
use crate::error::{Error, Unauthenticated};
use crate::identity::Role;

const ALGORITHM: Algorithm = Algorithm::HS256;
const MIN_SECRET_BYTES: usize = 32;
/// Who issues access tokens (`iss`) and for whom (`aud`): a token another
/// service signed with a shared secret is not ours to accept.
pub const ISSUER: &str = "carego";
pub const AUDIENCE: &str = "carego-api";
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECS: u64 = 5;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub sid: SessionId,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid: Option<FacilityId>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: Uuid,
}

struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The signing key and every key still accepted for verification.
pub struct JwtKeys {
    keys: Vec<Key>,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("JwtKeys").field("kids", &kids).finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Parses `kid:base64secret[,kid:base64secret...]`; the first key signs.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kid, secret) = part
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("each JWT key must be `kid:base64secret`"))?;
            anyhow::ensure!(!kid.is_empty(), "a JWT key has an empty kid");
            let secret = STANDARD
                .decode(secret)
                .map_err(|_| anyhow::anyhow!("JWT key `{kid}` is not valid base64"))?;
            anyhow::ensure!(
                secret.len() >= MIN_SECRET_BYTES,
                "JWT key `{kid}` must decode to at least {MIN_SECRET_BYTES} bytes"
            );
            keys.push(Key {
                kid: kid.to_owned(),
                encoding: EncodingKey::from_secret(&secret),
                decoding: DecodingKey::from_secret(&secret),
            });
        }
        anyhow::ensure!(!keys.is_empty(), "no JWT keys configured");
        let mut validation = Validation::new(ALGORITHM);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss", "aud"]);
        Ok(Self { keys, validation })
    }

    /// A fresh random key spec (`kid:base64`), for development set-ups.
    pub fn generate_spec() -> String {
        let mut secret = [0u8; 48];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        format!("k{}:{}", chrono::Utc::now().format("%Y%m%d"), STANDARD.encode(secret))
    }

    /// Issues an access token valid for `ttl`.
    pub fn issue(
        &self,
        user: UserId,
        session: SessionId,
        role: Role,
        facility: Option<FacilityId>,
        ttl: Duration,
    ) -> Result<String, Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            sid: session,
            role,
            fid: facility,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            nbf: now,
            exp: now + ttl.as_secs() as i64,
            jti: Uuid::new_v4(),
        };
        let key = &self.keys[0];
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(Error::internal)
    }

    /// Verifies signature, algorithm, kid and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        let invalid = Error::Unauthenticated(Unauthenticated::InvalidToken);
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid)?;
        if header.alg != ALGORITHM {
            return Err(Error::Unauthenticated(Unauthenticated::InvalidToken));
        }
        let kid = header.kid.ok_or(Error::Unauthenticated(Unauthenticated::InvalidToken))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(Error::Unauthenticated(Unauthenticated::InvalidToken))?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => Error::Unauthenticated(Unauthenticated::TokenExpired),
                _ => Error::Unauthenticated(Unauthenticated::InvalidToken),
            })?;
        // jsonwebtoken checks `nbf` but not `iat`: a token "issued" in the
        // future was not issued by us.
        if claims.iat > chrono::Utc::now().timestamp() + LEEWAY_SECS as i64 {
            return Err(Error::Unauthenticated(Unauthenticated::InvalidToken));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue_with(spec: &str) -> String {
        JwtKeys::parse(spec)
            .unwrap()
            .issue(
                UserId(Uuid::new_v4()),
                SessionId(Uuid::new_v4()),
                Role::Staff,
                Some(FacilityId(Uuid::new_v4())),
                Duration::from_secs(60),
            )
            .unwrap()
    }

    #[test]
    fn a_rotated_key_keeps_verifying_until_it_is_removed() {
        let old = JwtKeys::generate_spec().replacen(':', "old:", 1);
        let new = JwtKeys::generate_spec().replacen(':', "new:", 1);
        let old_token = issue_with(&old);
        let overlap = JwtKeys::parse(&format!("{new},{old}")).unwrap();
        assert!(overlap.verify(&old_token).is_ok(), "old tokens still verify during the overlap");
        let fresh = overlap
            .issue(
                UserId(Uuid::new_v4()),
                SessionId(Uuid::new_v4()),
                Role::Patient,
                None,
                Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
            Some(new.split(':').next().unwrap())
        );
        let after = JwtKeys::parse(&new).unwrap();
        assert!(matches!(
            after.verify(&old_token),
            Err(Error::Unauthenticated(Unauthenticated::InvalidToken))
        ));
        assert!(after.verify(&fresh).is_ok());
    }

    #[test]
    fn claims_round_trip() {
        let keys = JwtKeys::parse(&JwtKeys::generate_spec()).unwrap();
        let (user, session, facility) =
            (UserId(Uuid::new_v4()), SessionId(Uuid::new_v4()), FacilityId(Uuid::new_v4()));
        let token =
            keys.issue(user, session, Role::FacilityAdmin, Some(facility), Duration::from_secs(900)).unwrap();
        let c = keys.verify(&token).unwrap();
        assert_eq!((c.sub, c.sid, c.role, c.fid), (user, session, Role::FacilityAdmin, Some(facility)));
        assert_eq!(c.exp - c.iat, 900);
    }

    #[test]
    fn weak_or_malformed_key_specs_are_refused() {
        for bad in ["", "nokid", ":c2VjcmV0", "k:not base64!", "k:c2hvcnQ="] {
            assert!(JwtKeys::parse(bad).is_err(), "{bad:?}");
        }
    }
}
