//! The recovery programme: check-ins, cravings, meetings and sobriety, as
//! the patient's app and their care team record them, and offline sync.

pub mod check_ins;
pub mod cravings;
pub mod goals;
pub mod medications;
pub mod meetings;
pub mod reports;
pub mod sobriety;
pub mod sync;
pub mod treatment_plans;
pub mod workload;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use poem_openapi::{ApiResponse, payload::Json, types::ToJSON};

use crate::{
    db::{
        Db,
        recovery::{self, Logged, Outcome},
    },
    domain::ids::PatientId,
    error::{Result, Validator},
    identity::Principal,
};

/// What creating a client-identified record answers.
#[derive(ApiResponse)]
pub enum Recorded<T: ToJSON + Send + Sync> {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<T>),
    /// Already recorded under this id with this content (a retry): the
    /// stored record; nothing was written.
    #[oai(status = 200)]
    Replayed(Json<T>),
}

impl<R: Into<T>, T: ToJSON + Send + Sync> From<Outcome<R>> for Recorded<T> {
    fn from(outcome: Outcome<R>) -> Self {
        match outcome {
            Outcome::Created(r) => Self::Created(Json(r.into())),
            Outcome::Replayed(r) => Self::Replayed(Json(r.into())),
        }
    }
}

/// Records one client-identified record (the row `R`) in its own tenant
/// transaction, answered as its wire object `T`.
pub(crate) async fn record<R: Logged + Into<T>, T: ToJSON + Send + Sync>(
    db: &Db,
    principal: &Principal,
    patient: PatientId,
    id: uuid::Uuid,
    input: &R::Input,
) -> Result<Recorded<T>> {
    let outcome = db.run(principal, async |tx| recovery::log::<R>(tx, patient, id, input).await).await?;
    Ok(outcome.into())
}

/// A time the client reports: not ahead of the server, and to the
/// microsecond, as PostgreSQL keeps it (so a retry compares equal).
fn reported_at(v: &mut Validator, field: &str, at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    v.not_in_future(field, at);
    at.map(|t| t.trunc_subsecs(6))
}

/// A day the client reports: at most a day past the server's date (UTC),
/// since the patient's own day may already have begun.
fn reported_day(v: &mut Validator, field: &str, day: NaiveDate) {
    let latest = Utc::now().date_naive().succ_opt().unwrap_or(NaiveDate::MAX);
    v.check(day <= latest, field, "must not be in the future");
}
