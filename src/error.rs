//! One error type and exactly one mapping to RFC 9457 problem+json.
//!
//! Handlers and the database layer return [`Error`]; poem's own failures
//! (unknown route, unparsable body, bad credentials, too large a body) are
//! turned into the same shape by [`problem_for_poem_error`], installed as the
//! service's catch-all. Internal detail goes to the log with its cause chain;
//! the client only ever sees a stable `code`.

use std::fmt;

use poem::{
    IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaResponses, Registry},
    types::{ToJSON, Type},
};

/// Seconds a client should wait before retrying a 503.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// One field that failed validation.
#[derive(Debug, Clone, Object, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none)]
pub struct FieldError {
    /// The JSON field (or query parameter) at fault, in camelCase.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), message: message.into() }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Problem {
    /// A URI naming the problem type: `urn:carego:problem:{code}`.
    #[oai(rename = "type")]
    pub ty: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Stable machine-readable code, e.g. `not_found`, `invalid_credentials`.
    pub code: String,
    /// Per-field validation errors (400 `validation_failed` only).
    pub errors: Option<Vec<FieldError>>,
}

/// Declares an enum of stable problem codes: each variant's `code` (the
/// problem's `code` field) and `detail` in one place, so no code is ever
/// matched as a string.
macro_rules! codes {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = ($code:literal, $detail:literal)),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every code, for the spec.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn code(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }

            pub fn detail(self) -> &'static str {
                match self { $(Self::$variant => $detail),+ }
            }
        }
    };
}

codes! {
    /// Why a request is 401.
    pub enum Unauthenticated {
        Missing = ("unauthenticated", "Valid credentials are required."),
        InvalidToken = ("invalid_token", "The access token is not valid."),
        TokenExpired = ("token_expired", "The access token has expired; refresh it."),
        SessionInvalid = ("session_invalid", "The session has ended; log in again."),
        InvalidTicket = (
            "invalid_ticket",
            "The stream ticket is unknown, used or expired; get a new one."
        ),
        InvalidApiKey = ("invalid_api_key", "The API key is not valid: unknown, revoked or expired."),
        InvalidCredentials = ("invalid_credentials", "The email/phone or password is incorrect."),
        InvalidRefreshToken = ("invalid_refresh_token", "The refresh token is not valid; log in again."),
        RefreshTokenReused = (
            "refresh_token_reused",
            "This refresh token was already used; the session has been revoked."
        ),
    }
}

codes! {
    /// Why a request is 403.
    pub enum Forbidden {
        Role = ("forbidden", "Your role may not perform this action."),
        AccountSuspended = ("account_suspended", "This account is suspended."),
        AccountTerminated = ("account_terminated", "This account has been terminated."),
        AccountPending = ("account_pending", "This account has not been activated yet."),
        AccountInactive = ("account_inactive", "This account is not active."),
        FacilitySuspended = ("facility_suspended", "This facility is suspended."),
        Scope = ("insufficient_scope", "This API key does not hold the scope this operation needs."),
        MfaRequired = (
            "mfa_required",
            "Verify your second factor first (POST /api/v1/auth/mfa/verify)."
        ),
        MfaEnrollmentRequired = (
            "mfa_enrollment_required",
            "Your facility requires a second factor: enrol one (POST /api/v1/auth/mfa/totp)."
        ),
        MfaLocked = (
            "mfa_locked",
            "Too many wrong second-factor codes: the factor is locked. Use a recovery code, or ask an admin to unlock it."
        ),
    }
}

/// Why a request is 409: a stable `code` (the problem's `code` field) and
/// its `detail`. The generic ones are here; each domain declares its own
/// beside the statements that produce them (`impl Conflict` in its `db`
/// module), and they all meet in one problem+json mapping ([`Error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    code: &'static str,
    detail: &'static str,
}

impl Conflict {
    pub const DUPLICATE: Self = Self::new("duplicate", "A record with these values already exists.");
    pub const STATE_CONFLICT: Self = Self::new(
        "state_conflict",
        "The record's state does not allow this change (it is stopped, signed, acknowledged or deleted).",
    );
    pub const RECORD_ID_TAKEN: Self =
        Self::new("record_id_taken", "Another record already has this id; a new record needs a new id.");

    /// A conflict of its own, for a domain's `impl Conflict`.
    pub const fn new(code: &'static str, detail: &'static str) -> Self {
        Self { code, detail }
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    pub fn detail(self) -> &'static str {
        self.detail
    }
}

/// Every way a request can fail. Each variant's doc names its status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 `validation_failed`: the input is invalid or does not parse;
    /// `errors` lists every field (`body` for a body that is not JSON).
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// 401: missing, invalid, expired or revoked credentials.
    #[error("unauthenticated: {0:?}")]
    Unauthenticated(Unauthenticated),
    /// 403: authenticated, but this role or account may not do this.
    #[error("forbidden: {0:?}")]
    Forbidden(Forbidden),
    /// 404: no such row, or not yours (never 403 for another tenant's row).
    #[error("not found")]
    NotFound,
    /// 409: conflicts with existing state (duplicate, already used, superseded).
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// 422: an `Idempotency-Key` reused with a different request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// 413: request body over the configured limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415 `unsupported_media_type`: an uploaded document is not of a type
    /// on the allowlist.
    #[error("unsupported content")]
    UnsupportedContent,
    /// 408 `request_timeout`: a streamed body stalled.
    #[error("request timeout")]
    RequestTimeout,
    /// 429: rate limited; retry after the given seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// 503: the database is unreachable, timed out or the pool is exhausted.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 503 too: the transaction lost a race (deadlock, serialization
    /// failure, a lock it would not wait for) and did nothing; a read is
    /// run once more before this is answered.
    #[error("contention: {0}")]
    Contention(String),
    /// 500: a bug or an unexpected failure; the cause is logged, never returned.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<Conflict> for Error {
    fn from(why: Conflict) -> Self {
        Self::Conflict(why)
    }
}

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    /// The one answer for every registration key that does not work.
    pub fn invalid_key() -> Self {
        Self::invalid("registrationKey", "is not a valid, unused registration key")
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedContent => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Contention(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::Unauthenticated(why) => why.code(),
            Self::Forbidden(why) => why.code(),
            Self::NotFound => "not_found",
            Self::Conflict(why) => why.code(),
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedContent => "unsupported_media_type",
            Self::RequestTimeout => "request_timeout",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) | Self::Contention(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Invalid(_) => "One or more fields are invalid.".into(),
            Self::Unauthenticated(why) => why.detail().into(),
            Self::Forbidden(why) => why.detail().into(),
            Self::NotFound => "The resource does not exist or is not visible to you.".into(),
            Self::Conflict(why) => why.detail().into(),
            Self::PayloadTooLarge => "The request body exceeds the configured limit.".into(),
            Self::UnsupportedContent => "The content is not an accepted document type: PDF, PNG, JPEG, GIF, \
                                         WebP, plain text or an office document."
                .into(),
            Self::RequestTimeout => "The request was not received in time.".into(),
            Self::IdempotencyKeyReused => {
                "This Idempotency-Key was already used with a different request.".into()
            }
            Self::RateLimited { retry_after_secs } => {
                format!("Too many attempts; retry after {retry_after_secs} seconds.")
            }
            Self::Unavailable(_) | Self::Contention(_) => {
                "The service is temporarily unavailable; retry shortly.".into()
            }
            Self::Internal(_) => "An unexpected error occurred.".into(),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        Problem {
            ty: format!("urn:carego:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code().to_owned(),
            errors: match self {
                Self::Invalid(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }

    fn log(&self) {
        match self {
            Self::Internal(err) => tracing::error!(error = format!("{err:#}"), "internal error"),
            Self::Unavailable(cause) | Self::Contention(cause) => {
                tracing::warn!("service unavailable: {cause}")
            }
            _ => {}
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let problem = self.to_problem();
        let mut resp = Response::builder()
            .status(self.status())
            .content_type("application/problem+json")
            .body(problem.to_json_string());
        let headers = resp.headers_mut();
        match &self {
            Self::Unauthenticated(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unavailable(_) | Self::Contention(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS));
            }
            _ => {}
        }
        if let Self::Contention(_) = self {
            resp.extensions_mut().insert(Contended);
        }
        resp
    }
}

/// Set on a response whose transaction lost a race in the database, so that
/// `server`'s read replay runs a read once more.
#[derive(Clone, Copy, Debug)]
pub struct Contended;

impl From<Error> for poem::Error {
    fn from(err: Error) -> Self {
        let status = err.status();
        poem::Error::new(err, status)
    }
}

/// The error responses of every operation are written by the contract pass
/// (`api/contract.rs`), which knows per operation which statuses and codes it
/// can answer; the type itself only registers the `Problem` schema.
impl ApiResponse for Error {
    fn meta() -> MetaResponses {
        MetaResponses { responses: Vec::new() }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

/// The catch-all: every error that reaches the top of the service becomes a
/// problem document, whether it came from a handler or from poem itself.
pub async fn problem_for_poem_error(err: poem::Error) -> Response {
    // The operation that answered, for the request metrics.
    let operation = err.data::<poem_openapi::OperationId>().copied();
    let mut resp = problem_of(err);
    if let Some(op) = operation {
        resp.set_data(op);
    }
    resp
}

fn problem_of(err: poem::Error) -> Response {
    let err = match err.downcast::<Error>() {
        Ok(ours) => return ours.into_response(),
        Err(theirs) => theirs,
    };
    // A query, path or header parameter that did not parse or validate: the
    // same shape as every other 400, naming the parameter.
    if let Some(param) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
        return Error::invalid(param.name, parse_reason(&param.reason)).into_response();
    }
    // poem-openapi names path parameters `param0`...; every path of this API
    // has exactly one, `{id}` (the spec test holds it to that).
    if let Some(path) = err.downcast_ref::<poem_openapi::error::ParsePathError>() {
        tracing::debug!(reason = %path.reason, "bad path parameter");
        return Error::invalid("id", "is not a valid id (a UUID)").into_response();
    }
    let status = err.status();
    let mapped = match status {
        StatusCode::UNAUTHORIZED => Error::Unauthenticated(Unauthenticated::Missing),
        StatusCode::NOT_FOUND => Error::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
        StatusCode::METHOD_NOT_ALLOWED => {
            return plain_problem(status, "method_not_allowed", "This method is not allowed here.");
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            return plain_problem(status, "unsupported_media_type", "Send application/json.");
        }
        StatusCode::REQUEST_TIMEOUT => Error::RequestTimeout,
        s if s.is_client_error() => Error::invalid("request", parse_reason(&err.to_string())),
        _ => Error::Internal(anyhow::anyhow!("{err}")),
    };
    mapped.into_response()
}

fn plain_problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let problem = Problem {
        ty: format!("urn:carego:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        code: code.to_owned(),
        errors: None,
    };
    Response::builder().status(status).content_type("application/problem+json").body(problem.to_json_string())
}

/// The innermost message of a poem-openapi parse error, without its
/// "failed to parse \"Type\": " prefixes and "(occurred while parsing ...)"
/// suffixes, and bounded in length.
pub fn parse_reason(reason: &str) -> String {
    let mut msg = reason;
    while let Some((_, rest)) = msg.strip_prefix("failed to parse ").and_then(|m| m.split_once("\": ")) {
        msg = rest;
    }
    while let Some(cut) = msg.rfind(" (occurred while parsing") {
        msg = &msg[..cut];
    }
    let msg = msg.trim();
    let mut out: String = msg.chars().take(200).collect();
    if out.len() < msg.len() {
        out.push('…');
    }
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

/// Validation helper: collects field errors, then fails with all of them.
#[derive(Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.0.push(FieldError::new(field, message));
        }
    }

    /// The value, or `None` with the message recorded against `field`.
    pub fn ok<T>(&mut self, result: std::result::Result<T, &'static str>, field: &str) -> Option<T> {
        result.map_err(|msg| self.0.push(FieldError::new(field, msg))).ok()
    }

    /// A time a client reports must not be ahead of the server (a minute of
    /// clock skew is tolerated, as in the tables' check constraints).
    pub fn not_in_future(&mut self, field: &str, at: Option<chrono::DateTime<chrono::Utc>>) {
        let limit = chrono::Utc::now() + chrono::Duration::minutes(1);
        self.check(at.is_none_or(|t| t <= limit), field, "must not be in the future");
    }

    /// A date must not be after today (UTC).
    pub fn not_after_today(&mut self, field: &str, date: Option<chrono::NaiveDate>) {
        let today = chrono::Utc::now().date_naive();
        self.check(date.is_none_or(|d| d <= today), field, "must not be in the future");
    }

    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() { Ok(()) } else { Err(Error::Invalid(self.0)) }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
