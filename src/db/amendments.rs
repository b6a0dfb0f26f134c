//! The shared shape of append-only records: an original, and amendments that
//! point at it. Reads fetch the originals, then (one more statement) the
//! amendments the caller may see, and attach them in recording order.

use std::{collections::HashMap, hash::Hash};

use tokio_postgres::{Row, types::ToSql};

use super::TenantTx;
use crate::error::{Error, Result};

/// A stored row of an amendable table.
pub trait Versioned: for<'r> TryFrom<&'r Row, Error = Error> {
    type Id: Copy + Eq + Hash + ToSql + Sync;
    /// One version as the API shows it.
    type Version;
    /// The original with its amendments, as the API shows it.
    type Record;
    /// Selects the rows whose `amends_id = any($1)`, in recording order.
    const AMENDMENTS: &'static str;

    fn id(&self) -> Self::Id;
    fn amends(&self) -> Option<Self::Id>;
    fn into_version(self) -> Self::Version;
    fn assemble(original: Self, amendments: Vec<Self::Version>) -> Self::Record;
}

/// Implements [`Versioned`] for a module's `Stored` row, which holds
/// `amends_id` and a `version` with an `id`: the table, the id, version and
/// record types, and how a record is assembled from an original.
macro_rules! versioned {
    ($stored:ty, table = $table:literal, id = $id:ty, version = $version:ty, record = $record:ty,
     |$o:ident, $amendments:ident| $assemble:expr) => {
        impl $crate::db::amendments::Versioned for $stored {
            type Id = $id;
            type Version = $version;
            type Record = $record;
            const AMENDMENTS: &'static str = concat!(
                "select ",
                columns!(),
                " from ",
                $table,
                " where amends_id = any($1) order by recorded_at, id"
            );

            fn id(&self) -> $id {
                self.version.id
            }

            fn amends(&self) -> Option<$id> {
                self.amends_id
            }

            fn into_version(self) -> $version {
                self.version
            }

            fn assemble($o: Self, $amendments: Vec<$version>) -> $record {
                $assemble
            }
        }
    };
}

pub(crate) use versioned;

/// Attaches to each original the amendments the caller may see.
pub async fn attach<S: Versioned>(tx: &mut TenantTx, originals: Vec<S>) -> Result<Vec<S::Record>> {
    let ids: Vec<S::Id> = originals.iter().map(S::id).collect();
    let mut by_original: HashMap<S::Id, Vec<S::Version>> = HashMap::new();
    if !ids.is_empty() {
        for row in tx.query(S::AMENDMENTS, &[&ids]).await? {
            let amendment = S::try_from(&row)?;
            if let Some(root) = amendment.amends() {
                by_original.entry(root).or_default().push(amendment.into_version());
            }
        }
    }
    Ok(originals
        .into_iter()
        .map(|o| {
            let amendments = by_original.remove(&o.id()).unwrap_or_default();
            S::assemble(o, amendments)
        })
        .collect())
}

/// Parses rows and attaches amendments.
pub async fn attach_rows<S: Versioned>(tx: &mut TenantTx, rows: &[Row]) -> Result<Vec<S::Record>> {
    let originals = rows.iter().map(S::try_from).collect::<Result<Vec<_>>>()?;
    attach(tx, originals).await
}

/// One record by the id of its original or of any of its amendments.
pub async fn one<S: Versioned>(tx: &mut TenantTx, row: &Row) -> Result<S::Record> {
    attach(tx, vec![S::try_from(row)?]).await?.pop().ok_or(Error::NotFound)
}
