//! Login, refresh rotation, logout, sessions and password change.

use poem::Request;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::{Value, json};

use crate::api::accounts::users::User;
use crate::api::accounts::users::user_example;
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, Example, SESSION};
use crate::{
    api::{ApiTags, AppState, Created, NoContent, accounts::users::parse_contact, body::JsonBody},
    api::{wire, wire_all},
    auth::{BearerAuth, password, tokens},
    db::{
        TenantTx,
        accounts::{
            sessions::{self, Opening, Revoke, Rotation},
            users,
        },
    },
    domain::{
        contact::{Email, Phone},
        ids::{FacilityId, SessionId, UserId},
        text::{Opt, Text},
    },
    error::{Conflict, Error, Forbidden, Result, Unauthenticated, Validator},
    identity::{Credential, Principal, RequestMeta, Role},
};
use chrono::{DateTime, Utc};

pub struct AuthApi {
    pub state: AppState,
}

/// Log in with an email or a phone number.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// Log in by email (or by phone; give one of the two).
    #[oai(validator(max_length = 254))]
    pub email: Opt<Text>,
    /// Log in by phone number (or by email; give one of the two).
    #[oai(validator(max_length = 32))]
    pub phone: Opt<Text>,
    /// The account's password.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub password: Text,
}

/// A new access token and refresh token.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct TokenPair {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque, single-use; exchange at `/auth/refresh` before it expires.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// Tokens plus the account they belong to.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct LoginResponse {
    #[oai(flatten)]
    pub tokens: TokenPair,
    /// The account that logged in.
    pub user: User,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh; it works once.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub refresh_token: Text,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password in use now.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub current_password: Text,
    /// 10–128 characters.
    #[oai(validator(min_length = 10, max_length = 128))]
    pub new_password: Text,
}

/// A patient creates their account with the key their care team gave them.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct PatientRegisterRequest {
    /// e.g. `K9M2-P4N8-REC7-X3Y4` (case, spaces and dashes do not matter).
    #[oai(validator(min_length = 1, max_length = 40))]
    pub registration_key: Text,
    /// 10–128 characters.
    #[oai(validator(min_length = 10, max_length = 128))]
    pub password: Text,
    /// To log in with later (email or phone, at least one).
    #[oai(validator(max_length = 254))]
    pub email: Opt<Text>,
    /// Phone number to log in with (or email; give at least one).
    #[oai(validator(max_length = 32))]
    pub phone: Opt<Text>,
}

/// The caller's active sessions.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionList {
    /// The sessions, newest first.
    pub items: Vec<Session>,
}

/// The account identifier of a login, normalised.
enum LoginId {
    Email(Email),
    Phone(Phone),
}

impl LoginId {
    fn parse(req: &LoginRequest) -> Result<Self> {
        match (&req.email.0, &req.phone.0) {
            (Some(e), None) => Email::parse(e).map(Self::Email).map_err(|m| Error::invalid("email", m)),
            (None, Some(p)) => Phone::parse(p).map(Self::Phone).map_err(|m| Error::invalid("phone", m)),
            _ => Err(Error::invalid("email", "give exactly one of email or phone")),
        }
    }

    fn key(&self) -> &str {
        match self {
            Self::Email(e) => e.as_str(),
            Self::Phone(p) => p.as_str(),
        }
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("login").rate_limited().public_credentials(
            &[Unauthenticated::InvalidCredentials],
            &[
                Forbidden::AccountSuspended,
                Forbidden::AccountTerminated,
                Forbidden::AccountPending,
                Forbidden::FacilitySuspended,
            ],
        ),
        Contract::of("registerPatient")
            .conflicts(&[Conflict::EMAIL_TAKEN, Conflict::PHONE_TAKEN])
            .rate_limited(),
        Contract::of("refresh").conflicts(&[Conflict::REFRESH_TOKEN_SUPERSEDED]).public_credentials(
            &[Unauthenticated::InvalidRefreshToken, Unauthenticated::RefreshTokenReused],
            &[Forbidden::AccountInactive, Forbidden::FacilitySuspended],
        ),
        Contract::of("logout").before_mfa().self_service(),
        Contract::of("logoutAll").before_mfa().self_service(),
        Contract::of("me").before_mfa().self_service(),
        Contract::of("listSessions").self_service(),
        Contract::of("revokeSession").self_service(),
        Contract::of("changePassword").self_service(),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    let mut login = tokens_example();
    login["user"] = user_example();
    vec![
        Example::of::<LoginRequest>(
            json!({"email": "nina.rao@sunrise.example", "password": "a long passphrase"}),
        ),
        Example::of::<PatientRegisterRequest>(
            json!({"registrationKey": "K9M2-P4N8-REC7-X3Y4", "password": "a long passphrase",
                   "email": "kiran@patients.example"}),
        ),
        Example::of::<RefreshRequest>(json!({"refreshToken": "Zm9yLWV4YW1wbGUtb25seS1yZWZyZXNoLXRva2Vu"})),
        Example::of::<ChangePasswordRequest>(
            json!({"currentPassword": "a long passphrase", "newPassword": "an even longer one"}),
        ),
        Example::of::<TokenPair>(tokens_example()),
        Example::of::<LoginResponse>(login),
        Example::of::<SessionList>(
            json!({"items": [{"id": SESSION, "current": true, "createdAt": AT, "expiresAt": "2026-11-27T08:30:00Z",
                              "userAgent": "Carego/2.3 (Android 15)", "ip": "203.0.113.7"}]}),
        ),
    ]
}

fn tokens_example() -> Value {
    json!({"accessToken": "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsyMDI2MTEyMiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
           "refreshToken": "Zm9yLWV4YW1wbGUtb25seS1yZWZyZXNoLXRva2Vu", "tokenType": "Bearer", "expiresIn": 900})
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Log in with email or phone and password.
    ///
    /// Unknown account and wrong password get the same 401. Suspended or
    /// terminated accounts and suspended facilities get 403 (only after the
    /// password is verified). Rate limited per IP and per account (429).
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(&self, req: &Request, body: JsonBody<LoginRequest>) -> Result<Json<LoginResponse>> {
        let id = LoginId::parse(&body.0)?;
        self.log_in(RequestMeta::from_request(req), id, body.0.password).await.map(Json)
    }

    /// Register as a patient with a one-time registration key.
    ///
    /// Creates the patient's account, consumes the key, and logs in. Unknown,
    /// expired, revoked and already used keys all get the same 400 (a
    /// `registrationKey` field error). Rate limited per IP (429).
    #[oai(path = "/patient/register", method = "post", operation_id = "registerPatient")]
    async fn register_patient(
        &self,
        req: &Request,
        body: JsonBody<PatientRegisterRequest>,
    ) -> Result<Created<LoginResponse>> {
        let answer = self.register(RequestMeta::from_request(req), body.0).await?;
        Ok(Created::Created(Json(answer), None))
    }

    /// Exchange a refresh token for a new pair (rotation).
    ///
    /// Each refresh token works once. Presenting one that was already used
    /// revokes the whole session (401 `refresh_token_reused`), except within a
    /// few seconds of its rotation, when a concurrent refresh from the same
    /// client won: that gets 409 `refresh_token_superseded` and the session
    /// stays valid (use the tokens from the winning response).
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(&self, req: &Request, body: JsonBody<RefreshRequest>) -> Result<Json<TokenPair>> {
        self.rotate(RequestMeta::from_request(req), &body.0.refresh_token).await.map(Json)
    }

    /// End this session.
    ///
    /// Revokes the session of the access token used; that token (and its refresh token) stop
    /// working on the very next request. Other sessions of the account stay.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: BearerAuth) -> Result<NoContent> {
        self.revoke(&auth.0, Revoke::Current, "logout").await?;
        Ok(NoContent::NoContent)
    }

    /// End every session of mine.
    ///
    /// Revokes all sessions of the caller's account, on every device, including this one.
    #[oai(path = "/logout-all", method = "post", operation_id = "logoutAll")]
    async fn logout_all(&self, auth: BearerAuth) -> Result<NoContent> {
        self.revoke(&auth.0, Revoke::All, "logout_all").await?;
        Ok(NoContent::NoContent)
    }

    /// My account.
    ///
    /// The caller's own user record, read through the current session.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, auth: BearerAuth) -> Result<Json<User>> {
        self.state.db.run_before_mfa(&auth.0, async |tx| users::me(tx).await).await.map(wire)
    }

    /// My active sessions.
    ///
    /// The caller's sessions that are neither revoked nor expired, newest first, with the device's
    /// user agent and address, so a user can spot and end one they do not recognise.
    #[oai(path = "/sessions", method = "get", operation_id = "listSessions")]
    async fn sessions(&self, auth: BearerAuth) -> Result<Json<SessionList>> {
        let items = self.state.db.run(&auth.0, async |tx| sessions::list_mine(tx).await).await?;
        Ok(Json(SessionList { items: wire_all(items) }))
    }

    /// End one of my sessions.
    ///
    /// Revokes one session of the caller's own account (for example a lost phone). 404 if it is not
    /// the caller's or has already ended.
    #[oai(path = "/sessions/:id", method = "delete", operation_id = "revokeSession")]
    async fn revoke_session(&self, auth: BearerAuth, id: Path<SessionId>) -> Result<NoContent> {
        match self.revoke(&auth.0, Revoke::One(id.0), "revoked_by_user").await? {
            0 => Err(Error::NotFound),
            _ => Ok(NoContent::NoContent),
        }
    }

    /// Change my password.
    ///
    /// Verifies the current password, sets the new one (at least 10 characters, different from the
    /// current) and revokes every other session of the account; this session stays.
    #[oai(path = "/password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        auth: BearerAuth,
        body: JsonBody<ChangePasswordRequest>,
    ) -> Result<NoContent> {
        self.set_password(&auth.0, body.0).await?;
        Ok(NoContent::NoContent)
    }
}

impl AuthApi {
    /// Login: rate limits, the account's hash parameters looked up, the
    /// presented password's hash derived under them (under a dummy's when
    /// there is no account, so timing tells nothing) and compared by the
    /// database, which then checks the account and facility and opens the
    /// session.
    async fn log_in(&self, meta: RequestMeta, id: LoginId, password: Text) -> Result<LoginResponse> {
        let s = &self.state;
        s.login_ip_limiter.check(meta.ip.as_deref().unwrap_or("unknown")).await?;
        s.login_account_limiter.check(id.key()).await?;

        let mut tx = s.db.begin_public(&meta.request_id, meta.ip.as_deref()).await?;
        let (email, phone) = match &id {
            LoginId::Email(e) => (Some(e.as_str()), None),
            LoginId::Phone(p) => (None, Some(p.as_str())),
        };
        let candidate = sessions::login_candidate(&mut tx, email, phone).await?;
        tx.commit().await?;

        let (user, params) = match candidate {
            Some(c) => (c.user_id, c.password_params),
            None => (UserId(uuid::Uuid::nil()), None),
        };
        let derived = password::derive(password.into(), params).await?;
        let mut tx = s.db.begin_public(&meta.request_id, meta.ip.as_deref()).await?;
        let opened = self.open_session(&mut tx, user, &derived, &meta).await?;
        tx.commit().await?;
        let (session, role, facility_id, refresh_token) = opened?;
        let principal =
            Principal { user_id: user, facility_id, role, meta, credential: Credential::Session(session) };
        self.logged_in(&principal, refresh_token).await
    }

    /// Patient registration: the key consumed, the account created and a
    /// session opened, in one transaction.
    async fn register(&self, meta: RequestMeta, b: PatientRegisterRequest) -> Result<LoginResponse> {
        let s = &self.state;
        s.register_ip_limiter.check(meta.ip.as_deref().unwrap_or("unknown")).await?;
        let mut v = Validator::default();
        let contact = parse_contact(&mut v, "", b.email.as_deref(), b.phone.as_deref());
        v.check(b.email.is_some() || b.phone.is_some(), "email", "give an email or a phone number (or both)");
        if let Err(msg) = password::validate(&b.password) {
            v.check(false, "password", msg);
        }
        v.finish()?;
        let key_hash = s.key_hasher.hash(&b.registration_key).ok_or_else(Error::invalid_key)?;
        let hash = password::hash(b.password.into()).await?;

        let mut tx = s.db.begin_public(&meta.request_id, meta.ip.as_deref()).await?;
        let email = contact.email.as_ref().map(|e| e.as_str());
        let phone = contact.phone.as_ref().map(|p| p.as_str());
        let (user_id, facility) = sessions::register_patient(&mut tx, &key_hash, &hash, email, phone)
            .await?
            .ok_or_else(Error::invalid_key)?;
        // The session opens in the registration's own transaction: an account
        // is never created without the tokens that come back for it.
        let (session_id, _, _, refresh_token) = self.open_session(&mut tx, user_id, &hash, &meta).await??;
        tx.commit().await?;
        let principal = Principal {
            user_id,
            facility_id: Some(facility),
            role: Role::Patient,
            meta,
            credential: Credential::Session(session_id),
        };
        self.logged_in(&principal, refresh_token).await
    }

    /// A refresh: the token rotated (or refused, and a reuse revokes the
    /// session: that commits too), then a new access token.
    async fn rotate(&self, meta: RequestMeta, refresh_token: &str) -> Result<TokenPair> {
        let s = &self.state;
        let (new_token, new_hash) = tokens::new_refresh_token();
        let old_hash = tokens::hash_token(refresh_token);
        let mut tx = s.db.begin_public(&meta.request_id, meta.ip.as_deref()).await?;
        let rotation = sessions::rotate(&mut tx, &old_hash, &new_hash, s.settings.refresh_grace).await?;
        tx.commit().await?; // also when refused: a reuse revocation must stick
        match rotation {
            Rotation::Rotated { session, user, role, facility } => {
                let principal = Principal {
                    user_id: user,
                    facility_id: facility,
                    role,
                    meta,
                    credential: Credential::Session(session),
                };
                self.issue(&principal, new_token)
            }
            Rotation::Superseded => Err(Error::Conflict(Conflict::REFRESH_TOKEN_SUPERSEDED)),
            Rotation::Reused => Err(Error::Unauthenticated(Unauthenticated::RefreshTokenReused)),
            Rotation::Invalid => Err(Error::Unauthenticated(Unauthenticated::InvalidRefreshToken)),
            Rotation::Inactive => Err(Error::Forbidden(Forbidden::AccountInactive)),
            Rotation::FacilitySuspended => Err(Error::Forbidden(Forbidden::FacilitySuspended)),
        }
    }

    /// A password change: the current one verified, the new one set, every
    /// other session of the caller revoked.
    async fn set_password(&self, p: &Principal, body: ChangePasswordRequest) -> Result<()> {
        let mut v = Validator::default();
        if let Err(msg) = password::validate(&body.new_password) {
            v.check(false, "newPassword", msg);
        }
        let differs = body.new_password != body.current_password;
        v.check(differs, "newPassword", "must differ from the current password");
        v.finish()?;
        let params = self.state.db.run(p, async |tx| users::own_password_params(tx).await).await?;
        let ChangePasswordRequest { current_password, new_password } = body;
        let derived = password::derive(current_password.into(), params).await?;
        if !self.state.db.run(p, async |tx| users::own_password_matches(tx, &derived).await).await? {
            return Err(Error::invalid("currentPassword", "is incorrect"));
        }
        let hash = password::hash(new_password.into()).await?;
        let work = async |tx: &mut TenantTx| {
            users::set_own_password(tx, &hash).await?;
            sessions::revoke(tx, Revoke::AllButCurrent, "password_changed").await
        };
        self.state.db.run(p, work).await.map(drop)
    }

    /// Opens a session with its first refresh token, in the caller's
    /// platform-level transaction, if `password_hash` is the account's. The
    /// outer error is the database's; the inner one the answer to give (the
    /// transaction commits either way: nothing was written).
    async fn open_session(
        &self,
        tx: &mut TenantTx,
        user: UserId,
        password_hash: &str,
        meta: &RequestMeta,
    ) -> Result<Result<(SessionId, Role, Option<FacilityId>, String)>> {
        let (refresh_token, refresh_hash) = tokens::new_refresh_token();
        let opening = sessions::open(
            tx,
            user,
            password_hash,
            &refresh_hash,
            self.state.settings.refresh_ttl,
            meta.user_agent.as_deref(),
            meta.ip.as_deref(),
        )
        .await?;
        Ok(match opening {
            Opening::Opened { session, role, facility } => Ok((session, role, facility, refresh_token)),
            Opening::Invalid => Err(Error::Unauthenticated(Unauthenticated::InvalidCredentials)),
            Opening::Suspended => Err(Error::Forbidden(Forbidden::AccountSuspended)),
            Opening::Terminated => Err(Error::Forbidden(Forbidden::AccountTerminated)),
            Opening::Pending => Err(Error::Forbidden(Forbidden::AccountPending)),
            Opening::FacilitySuspended => Err(Error::Forbidden(Forbidden::FacilitySuspended)),
        })
    }

    /// The answer to a successful login: tokens and the account, read
    /// through the new session (so the prologue checks it once).
    async fn logged_in(&self, p: &Principal, refresh_token: String) -> Result<LoginResponse> {
        let user = self.state.db.run_before_mfa(p, async |tx| users::me(tx).await).await?;
        Ok(LoginResponse { tokens: self.issue(p, refresh_token)?, user: user.into() })
    }

    fn issue(&self, p: &Principal, refresh_token: String) -> Result<TokenPair> {
        let ttl = self.state.settings.access_ttl;
        let session = p.session_id().ok_or_else(|| Error::internal(anyhow::anyhow!("tokens for a key")))?;
        let access_token = self.state.keys.issue(p.user_id, session, p.role, p.facility_id, ttl)?;
        Ok(TokenPair { access_token, refresh_token, token_type: "Bearer".into(), expires_in: ttl.as_secs() })
    }

    async fn revoke(&self, p: &Principal, which: Revoke, reason: &str) -> Result<u64> {
        self.state.db.run_before_mfa(p, async |tx| sessions::revoke(tx, which, reason).await).await
    }
}

/// One of the caller's sessions.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Session {
    /// The session's id (pass it to end the session).
    pub id: SessionId,
    /// When the session began (login).
    pub created_at: DateTime<Utc>,
    /// When it ends unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// When it was ended.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The device's user agent at login.
    pub user_agent: Option<String>,
    /// The address it logged in from.
    pub ip: Option<String>,
    /// This is the session of the token making the request.
    pub current: bool,
}

impl From<crate::db::accounts::sessions::Session> for Session {
    fn from(row: crate::db::accounts::sessions::Session) -> Self {
        Self {
            id: row.id,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            user_agent: row.user_agent,
            ip: row.ip,
            current: row.current,
        }
    }
}
