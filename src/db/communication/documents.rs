//! Documents' metadata (V26): created pending under the client's id, made
//! ready once with what the server measured of the uploaded content,
//! deleted to a tombstone. The bytes are in the object store
//! (`crate::storage`); every statement here runs under the caller's RLS, so
//! no object is written or read before the database said this caller may.

use chrono::{DateTime, Utc};
use tokio_postgres::{Row, types::ToSql};

use crate::{
    db::{
        TenantTx, jobs,
        recovery::{self, Logged, Outcome},
    },
    domain::{
        documents::{DocumentKind, DocumentStatus},
        ids::{DocumentId, FacilityId, PatientId, UserId},
        page::Keyed,
    },
    error::{Conflict, Error, Forbidden, Result},
    storage::Stored,
};

/// The conflicts documents can meet.
impl Conflict {
    pub const DOCUMENT_CLOSED: Self = Self::new(
        "document_closed",
        "This document takes no content: it was deleted, or the server could not render it.",
    );
    pub const DOCUMENT_CONTENT_STORED: Self = Self::new(
        "document_content_stored",
        "This document's content is already stored and never changes; create a new document.",
    );
}

/// A document: what it is, and once uploaded, what its content is.
#[derive(Debug, Clone)]
pub struct Document {
    pub id: DocumentId,
    pub patient_id: PatientId,
    pub kind: DocumentKind,
    pub title: String,
    pub visible_to_patient: bool,
    pub status: DocumentStatus,
    pub content_type: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<UserId>,
}

impl Keyed for Document {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "id, patient_id, kind, title, visible_to_patient, status, content_type, size_bytes, sha256, \
         created_by, created_at, ready_at, deleted_at, deleted_by"
    };
}

/// Only while the document's patient is live (a soft-deleted patient's
/// whole chart is gone).
macro_rules! live_patient {
    () => {
        " and exists (select from patients p where p.facility_id = d.facility_id and p.id = d.patient_id
                         and p.deleted_at is null)"
    };
}

impl TryFrom<&Row> for Document {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            kind: row.try_get("kind")?,
            title: row.try_get("title")?,
            visible_to_patient: row.try_get("visible_to_patient")?,
            status: row.try_get("status")?,
            content_type: row.try_get("content_type")?,
            size_bytes: row.try_get("size_bytes")?,
            sha256: row.try_get("sha256")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            ready_at: row.try_get("ready_at")?,
            deleted_at: row.try_get("deleted_at")?,
            deleted_by: row.try_get("deleted_by")?,
        })
    }
}

/// A validated new document.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    pub kind: DocumentKind,
    pub title: String,
    pub visible_to_patient: bool,
}

impl Logged for Document {
    type Input = NewDocument;

    const INSERT: &'static str = concat!(
        "insert into documents (id, patient_id, facility_id, kind, title, visible_to_patient)
         select $1, p.id, p.facility_id, $3, $4, $5
           from patients p where p.id = $2 and p.deleted_at is null
         on conflict (facility_id, id) do nothing
         returning ",
        columns!()
    );
    crate::db::recovery::patient_record_sql!(
        table = "documents",
        columns = columns!(),
        key = "created_at",
        cursor = "$::timestamptz"
    );

    fn params(d: &NewDocument) -> Vec<&(dyn ToSql + Sync)> {
        vec![&d.kind, &d.title, &d.visible_to_patient]
    }

    fn id(&self) -> uuid::Uuid {
        self.id.0
    }

    fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    fn matches(&self, patient: PatientId, d: &NewDocument) -> bool {
        self.patient_id == patient
            && self.kind == d.kind
            && self.title == d.title
            && self.visible_to_patient == d.visible_to_patient
    }
}

/// Files a progress report of `from`..=`to` as a document under the
/// client's id, and enqueues its rendering (run as the caller): the document
/// becomes ready when the job has stored the PDF. A replay enqueues nothing.
pub async fn file_progress_report(
    tx: &mut TenantTx,
    patient: PatientId,
    id: DocumentId,
    (from, to): (chrono::NaiveDate, chrono::NaiveDate),
    visible_to_patient: bool,
) -> Result<Outcome<Document>> {
    let input = NewDocument {
        kind: DocumentKind::ProgressReport,
        title: format!("Progress report {from} to {to}"),
        visible_to_patient,
    };
    let outcome = recovery::log::<Document>(tx, patient, id.0, &input).await?;
    if let Outcome::Created(_) = &outcome {
        jobs::enqueue_progress_report(tx, id, patient, (from, to)).await?;
    }
    Ok(outcome)
}

/// A document's record, its read audited by the same statement.
pub const GET: &str = concat!(
    "select ",
    columns!(),
    ", carego.audit_reads('documents', array[d.id]) as audited from documents d where id = $1",
    live_patient!()
);

pub async fn get(tx: &mut TenantTx, id: DocumentId) -> Result<Document> {
    Document::try_from(&tx.query_one(GET, &[&id]).await?)
}

/// Where an upload may go, as the caller's role and RLS see it.
#[derive(Debug, Clone)]
pub struct UploadTarget {
    pub facility_id: FacilityId,
    pub status: DocumentStatus,
}

/// One row always: whether the caller's role may store content at all
/// (a role that never may gets 403 whatever the id), and the document if
/// they can see it.
pub const UPLOAD_TARGET: &str = concat!(
    "select has_column_privilege('public.documents', 'object_key', 'UPDATE') as may,
            d.facility_id, d.status
       from (select) one
       left join documents d on d.id = $1",
    live_patient!()
);

/// Checks that the caller may upload this document's content, before a
/// byte of it is read.
pub async fn upload_target(tx: &mut TenantTx, id: DocumentId) -> Result<UploadTarget> {
    let row = tx.query_one(UPLOAD_TARGET, &[&id]).await?;
    if !row.try_get::<_, bool>("may")? {
        return Err(Error::Forbidden(Forbidden::Role));
    }
    let facility_id: Option<FacilityId> = row.try_get("facility_id")?;
    let status: Option<DocumentStatus> = row.try_get("status")?;
    match (facility_id, status) {
        (Some(facility_id), Some(status)) => Ok(UploadTarget { facility_id, status }),
        _ => Err(Error::NotFound),
    }
}

pub const MARK_READY: &str = concat!(
    "update documents d
        set status = 'ready', object_key = $2, content_type = $3, size_bytes = $4, sha256 = $5,
            ready_at = now()
      where id = $1 and status = 'pending'",
    live_patient!(),
    " returning ",
    columns!()
);

/// Records the stored content; `None` when the document is no longer
/// pending (another upload won, it was deleted, it became invisible).
pub async fn mark_ready(tx: &mut TenantTx, id: DocumentId, stored: &Stored) -> Result<Option<Document>> {
    let c = &stored.content;
    let size = i64::try_from(c.size).map_err(Error::internal)?;
    let row = tx.query_opt(MARK_READY, &[&id, &stored.key, &c.content_type, &size, &c.sha256]).await?;
    row.as_ref().map(Document::try_from).transpose()
}

/// What a download reads: where the bytes are and how to label them.
#[derive(Debug, Clone)]
pub struct Content {
    pub object_key: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub title: String,
}

/// The read is audited by the statement itself, for every role.
pub const CONTENT: &str = concat!(
    "select object_key, content_type, size_bytes, sha256, title,
            carego.audit_download(d.id, d.facility_id) as audited
       from documents d where id = $1 and status = 'ready'",
    live_patient!()
);

pub async fn content(tx: &mut TenantTx, id: DocumentId) -> Result<Content> {
    let row = tx.query_one(CONTENT, &[&id]).await?;
    Ok(Content {
        object_key: row.try_get("object_key")?,
        content_type: row.try_get("content_type")?,
        size_bytes: row.try_get("size_bytes")?,
        sha256: row.try_get("sha256")?,
        title: row.try_get("title")?,
    })
}

pub const DELETE: &str = concat!(
    "update documents d
        set status = 'deleted', deleted_at = now(), deleted_by = carego.current_user_id()
      where id = $1 and status <> 'deleted'",
    live_patient!(),
    " returning id"
);

/// Deletes it to a tombstone (V26's trigger enqueues the object's
/// removal). Deleting a tombstone again changes nothing.
pub async fn delete(tx: &mut TenantTx, id: DocumentId) -> Result<()> {
    if tx.query_opt(DELETE, &[&id]).await?.is_none() {
        get(tx, id).await?; // 404 unless it is a tombstone the caller sees
    }
    Ok(())
}

pub const MARK_FAILED: &str = "update documents set status = 'failed' where id = $1 and status = 'pending'";

/// A document the server was to render and cannot: it will never be ready
/// (the job's system context only).
pub async fn mark_failed(tx: &mut TenantTx, id: DocumentId) -> Result<()> {
    tx.execute(MARK_FAILED, &[&id]).await?;
    Ok(())
}

pub const REMOVAL_TARGET: &str =
    "select object_key from documents where id = $1 and status = 'deleted' and object_removed_at is null";
pub const MARK_REMOVED: &str = "update documents set object_removed_at = now() where id = $1";

/// The removal job's half in the database: the object a tombstone still
/// has, if any.
pub async fn removal_target(tx: &mut TenantTx, id: DocumentId) -> Result<Option<String>> {
    let row = tx.query_opt(REMOVAL_TARGET, &[&id]).await?;
    Ok(row.map(|r| r.try_get("object_key")).transpose()?.flatten())
}

pub async fn mark_removed(tx: &mut TenantTx, id: DocumentId) -> Result<()> {
    tx.execute(MARK_REMOVED, &[&id]).await?;
    Ok(())
}

/// Of `keys` (`facility/key` pairs), those a live document still refers to.
pub const REFERENCED: &str = "
    select d.object_key from documents d
      join unnest($1::uuid[], $2::text[]) k (facility_id, object_key)
        on d.facility_id = k.facility_id and d.object_key = k.object_key
     where d.status <> 'deleted'";

pub async fn referenced(
    tx: &mut TenantTx,
    facilities: &[uuid::Uuid],
    keys: &[String],
) -> Result<std::collections::HashSet<String>> {
    let rows = tx.query(REFERENCED, &[&facilities, &keys]).await?;
    rows.iter().map(|r| Ok(r.try_get("object_key")?)).collect()
}
