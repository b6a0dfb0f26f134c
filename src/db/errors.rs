//! From PostgreSQL's errors to the API's. Statements return [`DbError`];
//! the function that runs one translates the named constraints it can
//! violate where its SQL is written (`.on_constraint("users_email_key",
//! Conflict::EMAIL_TAKEN)`), and `?` classifies the rest here: the session
//! checks of the prologue, privileges, timeouts, lost connections, data
//! exceptions. A constraint nobody translated is logged, so it gets one.

use tokio_postgres::error::SqlState;

use crate::error::Error;

/// A failed statement: the driver's error, or one already translated.
#[derive(Debug)]
pub enum DbError {
    Pg(tokio_postgres::Error),
    Api(Error),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Pg(err)
    }
}

impl From<Error> for DbError {
    fn from(err: Error) -> Self {
        Self::Api(err)
    }
}

impl From<DbError> for Error {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Pg(err) => classify(err),
            DbError::Api(err) => err,
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        classify(err)
    }
}

/// Translation of a named constraint's violation, beside the SQL.
pub trait OnConstraint<T> {
    fn on_constraint(self, name: &str, err: impl Into<Error>) -> Result<T, DbError>;
}

impl<T> OnConstraint<T> for Result<T, DbError> {
    fn on_constraint(self, name: &str, err: impl Into<Error>) -> Result<T, DbError> {
        match self {
            Err(DbError::Pg(pg)) if pg.as_db_error().and_then(|db| db.constraint()) == Some(name) => {
                Err(DbError::Api(err.into()))
            }
            other => other,
        }
    }
}

/// Maps a driver error to the API's error: the fallback for what the SQL's
/// own function did not translate.
fn classify(err: tokio_postgres::Error) -> Error {
    use crate::error::{Conflict, Forbidden, Unauthenticated};
    let Some(db) = err.as_db_error() else {
        metrics::counter!("carego_db_errors_total", "sqlstate" => "connection").increment(1);
        if err.is_closed() || std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>()) {
            return Error::Unavailable(format!("database connection: {}", with_causes(&err)));
        }
        return Error::internal(err);
    };
    let code = db.code();
    metrics::counter!("carego_db_errors_total", "sqlstate" => code.code().to_owned()).increment(1);
    let untranslated = || {
        tracing::warn!(
            constraint = db.constraint(),
            sqlstate = code.code(),
            "untranslated constraint violation"
        );
    };
    match code.code() {
        // Raised by the prologues (`sql/schema/context.sql`): one code per
        // refusal, so none is told apart by its message.
        "CG401" => Error::Unauthenticated(Unauthenticated::SessionInvalid),
        "CGK01" => Error::Unauthenticated(Unauthenticated::InvalidApiKey),
        "CG403" | "CGP03" => Error::Forbidden(Forbidden::AccountInactive),
        "CGF03" => Error::Forbidden(Forbidden::FacilitySuspended),
        "CGM03" => Error::Forbidden(Forbidden::MfaRequired),
        "CGE03" => Error::Forbidden(Forbidden::MfaEnrollmentRequired),
        // An API key's rate limit or daily quota (`carego.admit_api_key`);
        // the detail is the number of seconds until the window turns.
        "CG429" => {
            Error::RateLimited { retry_after_secs: db.detail().and_then(|d| d.parse().ok()).unwrap_or(60) }
        }
        // Raised by SECURITY DEFINER functions that check a reference the
        // caller's RLS cannot (someone they may not reach is as absent as
        // someone who does not exist), and by their shape checks.
        "CG404" => Error::NotFound,
        // A trigger's guard of a record's life cycle (a stopped
        // prescription, a signed plan version, a deleted document, an
        // acknowledged alert): the record is in a state that forbids this.
        "CG409" => Error::Conflict(Conflict::STATE_CONFLICT),
        "CG422" => Error::invalid("request", "is not allowed here"),
        _ if *code == SqlState::INSUFFICIENT_PRIVILEGE => {
            tracing::debug!(detail = db.message(), "insufficient privilege");
            Error::Forbidden(Forbidden::Role)
        }
        _ if *code == SqlState::UNIQUE_VIOLATION => {
            untranslated();
            Error::Conflict(Conflict::DUPLICATE)
        }
        _ if *code == SqlState::FOREIGN_KEY_VIOLATION => {
            untranslated();
            Error::invalid("request", "refers to a record that does not exist")
        }
        _ if *code == SqlState::CHECK_VIOLATION => {
            untranslated();
            Error::invalid("request", "is not an allowed value")
        }
        _ if *code == SqlState::NOT_NULL_VIOLATION => {
            tracing::warn!(
                column = db.column(),
                table = db.table(),
                "a required value reached the database empty"
            );
            Error::invalid(&field_name(db.column().unwrap_or("request")), "is required")
        }
        _ if *code == SqlState::QUERY_CANCELED => Error::Unavailable("statement timeout".into()),
        // Another transaction won a race (a deadlock, a serialization
        // failure), holds the lock a statement would not wait for, or the
        // server is out of connections or resources: nothing was done, and
        // the same request shortly is likely to succeed. Reads are retried
        // once first ([`Db::read`](super::Db::read)).
        _ if is_transient(code) => Error::Contention(format!("database: {}", db.message())),
        _ if code.code().starts_with("53") => {
            Error::Unavailable(format!("database resources: {}", db.message()))
        }
        // Data exceptions (out of range, bad encoding, ...): bad input that
        // validation should have caught first. A 400, and a warning so the
        // missing check gets written.
        _ if code.code().starts_with("22") => {
            tracing::warn!(sqlstate = code.code(), "data exception reached the database");
            Error::invalid("request", "holds a value the database cannot store (out of range or malformed)")
        }
        _ if code.code().starts_with("08") || code.code().starts_with("57P") => {
            Error::Unavailable(format!("database: {}", db.message()))
        }
        _ => Error::internal(err),
    }
}

/// A deadlock or serialization failure: the transaction was rolled back and
/// may simply be run again. A lock a statement would not wait for
/// (`lock_timeout`, `NOWAIT`) too.
fn is_transient(code: &SqlState) -> bool {
    *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
}

/// A column's name as the API spells its fields (`first_name` → `firstName`).
fn field_name(column: &str) -> String {
    let mut out = String::with_capacity(column.len());
    let mut upper = false;
    for c in column.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// An error and its causes, `outer: inner: innermost`, for the log (the
/// driver's own message stops at "error connecting to server").
pub(super) fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
