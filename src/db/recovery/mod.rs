//! The recovery programme: what patients log from their app and their care
//! team logs for them (check-ins, cravings, meetings, sobriety resets), and
//! the offline-sync feed over it all.
//!
//! Every record here is append-only and carries an id the client chose, so
//! an app that queued it offline can send it again without fear: the same
//! id with the same content is a replay that answers the stored row, the
//! same id with other content is a 409, and nothing is ever stored twice.

pub mod check_ins;
pub mod cravings;
pub mod goals;
pub mod medications;
pub mod meetings;
pub mod metrics;
pub mod progress;
pub mod report;
pub mod sobriety;
pub mod sync;
pub mod treatment_plans;

use tokio_postgres::{Row, types::ToSql};

use super::{
    Params, TenantTx,
    clinical::patients,
    filters::{Bound, Variants},
};
use crate::{
    domain::{
        ids::PatientId,
        page::{Keyed, PageRequest},
    },
    error::{Conflict, Error, Result},
};

/// The `BY_IDS` and `list` statements of a simple patient-record table:
/// its columns, and the sort key of a patient's list (newest first) with
/// the cursor's time as that key compares (`$::timestamptz`, or
/// `($::timestamptz at time zone 'UTC')::date` for a date).
macro_rules! patient_record_sql {
    (table = $table:literal, columns = $columns:expr, key = $key:literal, cursor = $cursor:literal) => {
        const BY_IDS: &'static str = concat!(
            "select ",
            $columns,
            " from ",
            $table,
            " r where id = any($1)
               and exists (select from patients p
                            where p.facility_id = r.facility_id and p.id = r.patient_id and p.deleted_at is null)"
        );
        fn list() -> &'static $crate::db::filters::Variants {
            static LIST: $crate::db::filters::Variants = $crate::db::filters::Variants::new(
                concat!(
                    "select ",
                    $columns,
                    ", (select carego.audit_read('patients', $1, p.facility_id) from patients p where p.id = $1) as audited
                     from ",
                    $table,
                    " where patient_id = $1
                       and exists (select from patients p where p.id = $1 and p.deleted_at is null) {where}
                     order by ",
                    $key,
                    " desc, id desc
                     limit $2"
                ),
                &[concat!("(", $key, ", id) < (", $cursor, ", $::uuid)")],
            );
            &LIST
        }
    };
}
pub(crate) use patient_record_sql;

/// A patient-logged record type: its SQL and how a stored row compares with
/// a request.
pub trait Logged: Sized + Keyed + for<'r> TryFrom<&'r Row, Error = Error> {
    /// The validated request.
    type Input: Sync;
    /// `insert … select …, p.facility_id, p.id from patients p where p.id =
    /// $2 and p.deleted_at is null on conflict (facility_id, id) do nothing
    /// returning …`: `$1` is the record's id, `$2` its patient, then the
    /// input's [`params`](Self::params).
    const INSERT: &'static str;
    /// The rows whose `id = any($1)`, only while their patient is visible
    /// and live.
    const BY_IDS: &'static str;
    /// A patient's rows (`$1`), newest first, at most `$2`, auditing the
    /// read of the chart once; then the cursor, when given (see
    /// [`filters`](super::filters)). A function, as an impl cannot hold
    /// the static each type's statements live in.
    fn list() -> &'static Variants;

    fn params(input: &Self::Input) -> Vec<&(dyn ToSql + Sync)>;
    fn id(&self) -> uuid::Uuid;
    fn patient_id(&self) -> PatientId;
    /// Whether this stored row is what `input` would have created for
    /// `patient` (fields the request left out are not compared).
    fn matches(&self, patient: PatientId, input: &Self::Input) -> bool;

    /// `NotFound` unless what the record hangs on is visible: its patient,
    /// and for some records more (a dose event's prescription).
    fn ensure_parent<'a>(
        tx: &'a mut TenantTx,
        patient: PatientId,
        _input: &'a Self::Input,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        patients::ensure_visible(tx, patient)
    }
}

/// What a create did.
#[derive(Debug)]
pub enum Outcome<R> {
    Created(R),
    /// The row already existed with this id and content.
    Replayed(R),
}

impl<R> Outcome<R> {
    pub fn into_inner(self) -> (R, bool) {
        match self {
            Self::Created(r) => (r, false),
            Self::Replayed(r) => (r, true),
        }
    }
}

/// Records `input` for a visible patient under the client's `id`, once.
pub async fn log<R: Logged>(
    tx: &mut TenantTx,
    patient: PatientId,
    id: uuid::Uuid,
    input: &R::Input,
) -> Result<Outcome<R>> {
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &patient];
    params.extend(R::params(input));
    let params: Params = &params;
    if let Some(row) = tx.query_opt(R::INSERT, params).await? {
        return Ok(Outcome::Created(R::try_from(&row)?));
    }
    // Nothing inserted: the id is taken, or the patient is not visible.
    match tx.query_opt(R::BY_IDS, &[&vec![id]]).await? {
        Some(row) => {
            let stored = R::try_from(&row)?;
            if stored.matches(patient, input) {
                Ok(Outcome::Replayed(stored))
            } else {
                Err(Conflict::RECORD_ID_TAKEN.into())
            }
        }
        None => {
            R::ensure_parent(tx, patient, input).await?;
            // A row the caller cannot see holds the id.
            Err(Conflict::RECORD_ID_TAKEN.into())
        }
    }
}

/// A patient's records, newest first; `NotFound` when the patient is
/// hidden. Reading them is audited once.
pub async fn list<R: Logged>(tx: &mut TenantTx, patient: PatientId, page: &PageRequest) -> Result<Vec<R>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&patient, &limit]).after(page);
    let rows = tx.query(R::list().get(bound.present), &bound.params).await?;
    if rows.is_empty() {
        patients::ensure_visible(tx, patient).await?;
    }
    rows.iter().map(R::try_from).collect()
}

/// Rounds to what a `numeric(3, 1)` column keeps, so a replay compares
/// what was stored.
pub fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Whether a field the request may leave out matches the stored value.
fn same<T: PartialEq>(given: Option<T>, stored: T) -> bool {
    given.is_none_or(|g| g == stored)
}
