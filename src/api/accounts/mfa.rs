//! Staff second factor: enrol a TOTP app, confirm it (ten recovery codes,
//! shown once), verify it on each new session, see where it stands, turn it
//! off; and a facility's requirement of it.

use std::sync::Arc;

use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::json;

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::Example;
use crate::{
    api::wire,
    api::{ApiTags, NoContent, body::JsonBody},
    auth::{
        BearerAuth,
        mfa::{self, SecretBox},
        rate_limit::RateLimiter,
        registration::KeyHasher,
    },
    db::{
        Db,
        accounts::mfa::{self as store, Attempt},
    },
    domain::{
        ids::{FacilityId, UserId},
        text::Opt,
    },
    error::{Conflict, Error, Forbidden, Result},
    identity::Principal,
};

/// A TOTP enrolment to confirm.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MfaEnrolment {
    /// The secret, base32, for apps that take it typed in.
    pub secret: String,
    /// The `otpauth://` URI, for apps that scan it as a QR code.
    pub otpauth_uri: String,
}

/// A code from the authenticator app.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaCodeRequest {
    /// Six digits.
    #[oai(validator(pattern = "^[0-9]{6}$"))]
    pub code: String,
}

/// A second factor to verify: a code from the app, or one recovery code.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaVerifyRequest {
    /// Six digits from the authenticator app.
    #[oai(validator(pattern = "^[0-9]{6}$"))]
    pub code: Opt<String>,
    /// One of the recovery codes (`XXXXX-XXXXX`); each works once.
    #[oai(validator(min_length = 10, max_length = 20))]
    pub recovery_code: Opt<String>,
}

/// The recovery codes, shown once.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MfaRecoveryCodes {
    /// Ten single-use codes, for when the app is lost. Only their HMACs are kept.
    pub recovery_codes: Vec<String>,
}

/// Whether a facility requires a second factor of its admins and staff.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaPolicy {
    /// When true, an admin or staff member without a confirmed second factor can do nothing
    /// but enrol one, and every session must verify it.
    pub require_mfa: bool,
}

pub struct MfaApi {
    pub db: Db,
    pub hasher: Arc<KeyHasher>,
    pub sealer: Arc<SecretBox>,
    /// Verification attempts per account.
    pub limiter: Arc<RateLimiter>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl MfaApi {
    /// In one transaction: the caller's factor (409 `conflict` unless it is
    /// as `confirmed` as wanted), what `choose` makes of its opened secret (a
    /// matched time step, a recovery code's hash, or neither), and that
    /// attempt recorded for this session. The transaction commits whatever
    /// the outcome, so failures count towards the lock; a wrong code is 400
    /// `validation_failed` naming `field`, a locked factor 403 `mfa_locked`.
    async fn attempt(
        &self,
        p: &Principal,
        confirmed: bool,
        conflict: Conflict,
        choose: impl FnOnce(&[u8]) -> (Option<i64>, Option<Vec<u8>>),
        new_recovery: Option<&[Vec<u8>]>,
        wrong: Error,
    ) -> Result<()> {
        let outcome = self
            .db
            .run_before_mfa(p, async |tx| {
                let sealed = match store::sealed(tx).await? {
                    Some((sealed, is)) if is == confirmed => sealed,
                    _ => return Err(Error::Conflict(conflict)),
                };
                let secret = self
                    .sealer
                    .open(p.user_id.0.as_bytes(), &sealed)
                    .ok_or_else(|| Error::internal(anyhow::anyhow!("a TOTP secret does not open")))?;
                let (step, recovery) = choose(&secret);
                store::attempt(tx, step, recovery.as_deref(), new_recovery).await
            })
            .await?;
        match outcome {
            Attempt::Accepted => Ok(()),
            Attempt::Rejected => Err(wrong),
            Attempt::Locked => Err(Error::Forbidden(Forbidden::MfaLocked)),
        }
    }

    fn wrong_code() -> Error {
        Error::invalid("code", "is not a valid code")
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("getMfaStatus").before_mfa(),
        Contract::of("startMfaEnrolment").conflicts(&[Conflict::MFA_ALREADY_ENABLED]).before_mfa(),
        Contract::of("confirmMfaEnrolment")
            .conflicts(&[Conflict::MFA_NOT_PENDING])
            .rate_limited()
            .before_mfa()
            .forbidden(&[Forbidden::MfaLocked]),
        Contract::of("verifyMfa")
            .conflicts(&[Conflict::MFA_NOT_ENABLED])
            .rate_limited()
            .before_mfa()
            .forbidden(&[Forbidden::MfaLocked]),
        Contract::of("disableMfa").conflicts(&[Conflict::MFA_NOT_ENABLED]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<MfaStatus>(
            json!({"enabled": true, "sessionVerified": false, "requiredByFacility": true, "recoveryCodesLeft": 9,
                   "locked": false}),
        ),
        Example::of::<MfaEnrolment>(json!({
            "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "otpauthUri": "otpauth://totp/Carego:nurse@sunrise.example?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Carego&algorithm=SHA1&digits=6&period=30"
        })),
        Example::of::<MfaCodeRequest>(json!({"code": "492039"})),
        Example::of::<MfaVerifyRequest>(json!({"code": "492039"})),
        Example::of::<MfaRecoveryCodes>(
            json!({"recoveryCodes": ["7KQ4M-XP2RT", "H9W3C-ND6FJ", "T2MZ8-QK4VB", "R6YH2-WC9PM", "E3JX7-GV5NK",
                                     "M8PD4-ZT2QH", "C5VN9-RK3WX", "Y4HQ6-JM8TD", "N2XC7-PB5RG", "W9KT3-HF6ZM"]}),
        ),
        Example::of::<MfaPolicy>(json!({"requireMfa": true})),
    ]
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Auth")]
impl MfaApi {
    /// Where my second factor stands.
    ///
    /// Whether one is enabled, whether this session has verified it, whether the facility requires
    /// one, and how many recovery codes are left. Reachable before the second factor.
    #[oai(path = "/auth/mfa", method = "get", operation_id = "getMfaStatus")]
    async fn status(&self, auth: BearerAuth) -> Result<Json<MfaStatus>> {
        self.db.run_before_mfa(&auth.0, async |tx| store::status(tx).await).await.map(wire)
    }

    /// Start a TOTP enrolment.
    ///
    /// Staff, facility admins and super admins. A new secret for an authenticator app, sealed at
    /// rest; nothing changes until it is confirmed with a code. Starting again replaces a pending
    /// enrolment; 409 `mfa_already_enabled` when one is confirmed.
    #[oai(path = "/auth/mfa/totp", method = "post", operation_id = "startMfaEnrolment")]
    async fn start(&self, auth: BearerAuth) -> Result<Json<MfaEnrolment>> {
        let p = &auth.0;
        let secret = mfa::new_secret();
        let sealed = self.sealer.seal(p.user_id.0.as_bytes(), &secret);
        let account = self
            .db
            .run_before_mfa(p, async |tx| {
                store::enrol(tx, &sealed).await?;
                crate::db::accounts::users::me(tx).await
            })
            .await?;
        let label = account.email.as_ref().map_or_else(|| account.id.to_string(), |e| e.to_string());
        Ok(Json(MfaEnrolment {
            secret: mfa::base32(&secret),
            otpauth_uri: mfa::otpauth_uri(&secret, &label),
        }))
    }

    /// Confirm a TOTP enrolment.
    ///
    /// With a code from the app. Enables the factor, verifies this session, and answers ten
    /// recovery codes, shown only here. Rate limited per account (429).
    #[oai(path = "/auth/mfa/totp/confirm", method = "post", operation_id = "confirmMfaEnrolment")]
    async fn confirm(
        &self,
        auth: BearerAuth,
        body: JsonBody<MfaCodeRequest>,
    ) -> Result<Json<MfaRecoveryCodes>> {
        let p = &auth.0;
        self.limiter.check(&p.user_id.to_string()).await?;
        let (codes, hashes) = mfa::new_recovery_codes(&self.hasher);
        let step = |secret: &[u8]| (mfa::matching_step(secret, &body.0.code, now()), None);
        self.attempt(p, false, Conflict::MFA_NOT_PENDING, step, Some(&hashes), Self::wrong_code()).await?;
        Ok(Json(MfaRecoveryCodes { recovery_codes: codes }))
    }

    /// Verify my second factor.
    ///
    /// A code from the app, or one recovery code (used up). Marks this session verified; every
    /// other operation answers 403 `mfa_required` until then. A code is accepted once: the same
    /// code again is refused, on every server. Rate limited per account (429). After 100 wrong
    /// codes in a row the factor locks (403 `mfa_locked`): a recovery code still works and unlocks
    /// it, or an admin unlocks it.
    #[oai(path = "/auth/mfa/verify", method = "post", operation_id = "verifyMfa")]
    async fn verify(&self, auth: BearerAuth, body: JsonBody<MfaVerifyRequest>) -> Result<NoContent> {
        let p = &auth.0;
        let b = body.0;
        if b.code.is_some() == b.recovery_code.is_some() {
            return Err(Error::invalid("code", "give a code or a recovery code"));
        }
        self.limiter.check(&p.user_id.to_string()).await?;
        let hasher = &self.hasher;
        type Choose = Box<dyn FnOnce(&[u8]) -> (Option<i64>, Option<Vec<u8>>) + Send>;
        let (wrong, choose): (Error, Choose) = match (b.code.0, b.recovery_code.0) {
            (Some(code), _) => (
                Error::invalid("code", "is not a valid code (a code is accepted once)"),
                Box::new(move |secret: &[u8]| (mfa::matching_step(secret, &code, now()), None)),
            ),
            (None, recovery) => {
                let hash = recovery.as_deref().and_then(|r| mfa::recovery_hash(hasher, r));
                // A code that is not even well formed counts as a failure too.
                let hash = hash.unwrap_or_default();
                (
                    Error::invalid("recoveryCode", "is not a valid, unused recovery code"),
                    Box::new(move |_: &[u8]| (None, Some(hash))),
                )
            }
        };
        self.attempt(p, true, Conflict::MFA_NOT_ENABLED, choose, None, wrong).await?;
        Ok(NoContent::NoContent)
    }

    /// Turn my second factor off.
    ///
    /// From a session that has verified it. In a facility that requires one, the next session
    /// must enrol again.
    #[oai(path = "/auth/mfa", method = "delete", operation_id = "disableMfa")]
    async fn disable(&self, auth: BearerAuth) -> Result<NoContent> {
        self.db.run(&auth.0, async |tx| store::disable(tx).await).await?;
        Ok(NoContent::NoContent)
    }

    /// Unlock a user's second factor.
    ///
    /// Facility admins (users of their own facility) and super admins. After 100 wrong codes in a
    /// row a factor is locked; this lifts the lock and clears the count (the factor stays). 409
    /// `mfa_not_enabled` when the user has no factor.
    #[oai(path = "/users/:id/mfa/unlock", method = "post", operation_id = "unlockUserMfa")]
    async fn unlock(&self, auth: BearerAuth, id: Path<UserId>) -> Result<NoContent> {
        self.db.run(&auth.0, async |tx| store::unlock(tx, id.0).await).await?;
        Ok(NoContent::NoContent)
    }

    /// Require a second factor in a facility.
    ///
    /// Facility admins (their own facility) and super admins. Takes effect on the next request of
    /// every admin and staff member of the facility.
    #[oai(path = "/facilities/:id/mfa-policy", method = "put", operation_id = "setFacilityMfaPolicy")]
    async fn set_policy(
        &self,
        auth: BearerAuth,
        id: Path<FacilityId>,
        body: JsonBody<MfaPolicy>,
    ) -> Result<Json<MfaPolicy>> {
        let required = body.0.require_mfa;
        let require_mfa =
            self.db.run(&auth.0, async |tx| store::set_policy(tx, id.0, required).await).await?;
        Ok(Json(MfaPolicy { require_mfa }))
    }
}

/// Where the caller's second factor stands.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct MfaStatus {
    /// A confirmed factor exists: every new session must verify it.
    pub enabled: bool,
    /// This session has verified it.
    pub session_verified: bool,
    /// The caller's facility requires a second factor of its admins and staff.
    pub required_by_facility: bool,
    /// Recovery codes not yet used.
    pub recovery_codes_left: i32,
    /// After 100 wrong codes in a row the factor is locked: only a recovery code, or an admin's
    /// unlock, opens it again.
    pub locked: bool,
}

impl From<crate::db::accounts::mfa::MfaStatus> for MfaStatus {
    fn from(row: crate::db::accounts::mfa::MfaStatus) -> Self {
        Self {
            enabled: row.enabled,
            session_verified: row.session_verified,
            required_by_facility: row.required_by_facility,
            recovery_codes_left: row.recovery_codes_left,
            locked: row.locked,
        }
    }
}
