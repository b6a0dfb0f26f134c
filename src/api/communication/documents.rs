//! Documents about a patient: created with their metadata, then their
//! content uploaded once as a raw body (not multipart, so generated clients
//! send bytes as bytes), downloaded through the server, deleted to a
//! tombstone.
//!
//! An upload never holds a database connection while it streams: one
//! tenant transaction checks the caller may upload (403/404 before a byte is
//! read), the body streams into the object store while it is sniffed,
//! counted and hashed, and a second one records it. If that fails, the new
//! object is removed again; if the server dies in between, the daily sweep
//! finds the object no document refers to.

use futures_util::{
    StreamExt,
    stream::{self, BoxStream},
};
use poem::{
    Body, IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, DOCUMENT, Example, LATER, NURSE, PATIENT, page};
use crate::domain::ids::UserId;
use crate::{
    api::wire,
    api::{ApiTags, NoContent, body::JsonBody, page::Page, recovery::Recorded, recovery::record},
    auth::BearerAuth,
    db::{
        Db,
        communication::documents::{self, Content, NewDocument},
        recovery,
    },
    domain::{
        documents::{ALLOWED_TYPES, DocumentKind, DocumentStatus, extension},
        ids::{DocumentId, PatientId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Conflict, Error, Result},
    storage::{Storage, UploadLimits},
};
use chrono::{DateTime, Utc};

/// The one operation whose body is streamed to its handler rather than
/// read whole by the server's body limit (which bounds every other route).
pub fn streams_its_body(method: &poem::http::Method, path: &str) -> bool {
    method == poem::http::Method::PUT
        && path
            .strip_prefix("/api/v1/documents/")
            .and_then(|rest| rest.strip_suffix("/content"))
            .is_some_and(|id| !id.contains('/'))
}

/// A document to create.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDocumentRequest {
    /// A new UUID the client makes for it, so a retry creates it once.
    pub id: DocumentId,
    /// What it is.
    pub kind: DocumentKind,
    /// Its title (1–200 characters), also the downloaded file's name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Text,
    /// Whether the patient may read it once its content is uploaded (default false).
    pub visible_to_patient: Opt<bool>,
}

pub struct DocumentsApi {
    pub db: Db,
    pub storage: Storage,
    pub limits: UploadLimits,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createDocument").conflicts(&[Conflict::RECORD_ID_TAKEN]),
        Contract::of("uploadDocumentContent")
            .conflicts(&[Conflict::DOCUMENT_CONTENT_STORED, Conflict::DOCUMENT_CLOSED])
            .raw_upload(),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewDocumentRequest>(
            json!({"id": DOCUMENT, "kind": "lab_result", "title": "Blood panel 2026-11-19", "visibleToPatient": true}),
        ),
        Example::of::<Document>(document_example()),
        Example::of::<Page<Document>>(page(document_example())),
    ]
}

fn document_example() -> Value {
    json!({"id": DOCUMENT, "patientId": PATIENT, "kind": "lab_result", "title": "Blood panel 2026-11-19",
           "visibleToPatient": true, "status": "ready", "contentType": "application/pdf", "sizeBytes": 48213,
           "sha256": "9f2c5e1a7b3d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
           "createdBy": NURSE, "createdAt": AT, "readyAt": LATER})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Documents")]
impl DocumentsApi {
    /// Create a document.
    ///
    /// Its metadata, for a patient the caller cares for; it is `pending` until its content is
    /// uploaded with `PUT /documents/{id}/content`. The client makes the id: the same id and
    /// content again answers 200 with the document; other content is a 409. Staff of the
    /// patient's care team and facility admins.
    #[oai(path = "/patients/:id/documents", method = "post", operation_id = "createDocument")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewDocumentRequest>,
    ) -> Result<Recorded<Document>> {
        let b = &body.0;
        let input = NewDocument {
            kind: b.kind,
            title: b.title.0.clone(),
            visible_to_patient: b.visible_to_patient.0.unwrap_or(false),
        };
        record::<crate::db::communication::documents::Document, _>(&self.db, &auth.0, id.0, b.id.0, &input)
            .await
    }

    /// A patient's documents.
    ///
    /// Newest first, tombstones included. A patient sees those shared with them that are ready.
    /// Audited as a read of the chart.
    #[oai(path = "/patients/:id/documents", method = "get", operation_id = "listPatientDocuments")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Document>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self
            .db
            .run(&auth.0, async |tx| {
                recovery::list::<crate::db::communication::documents::Document>(tx, id.0, &page).await
            })
            .await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// A document's metadata.
    ///
    /// What it is, whether it is shared with the patient, and once uploaded its sniffed type,
    /// size and SHA-256; a tombstone shows who deleted it and when.
    #[oai(path = "/documents/:id", method = "get", operation_id = "getDocument")]
    async fn get(&self, auth: BearerAuth, id: Path<DocumentId>) -> Result<Json<Document>> {
        self.db.run(&auth.0, async |tx| documents::get(tx, id.0).await).await.map(wire)
    }

    /// Upload a document's content.
    ///
    /// The raw bytes as the body (any `Content-Type`; the server decides the type by looking at
    /// them). Accepted: PDF, PNG, JPEG, GIF, WebP, plain UTF-8 text, and office documents
    /// (Word, Excel, PowerPoint, OpenDocument); anything else is 415. Over the configured size
    /// limit (`CAREGO_DOCUMENT_LIMIT_BYTES`, 20 MiB by default) is 413, and nothing is stored.
    /// The answer carries the sniffed type, the size and the SHA-256 the server computed.
    /// Content is stored once: the same bytes again (a retry) answer 200 with the document;
    /// other bytes are a 409 (create a new document instead).
    #[oai(path = "/documents/:id/content", method = "put", operation_id = "uploadDocumentContent")]
    async fn upload(
        &self,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<DocumentId>,
        body: Binary<Body>,
    ) -> Result<Json<Document>> {
        // What announces itself as too large is refused before anything is read.
        let declared = req.header(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.limits.limit) {
            return Err(Error::PayloadTooLarge);
        }
        let body = body.0.into_bytes_stream().boxed();
        self.store_content(&auth, id.0, body).await.map(Json)
    }

    /// Download a document's content.
    ///
    /// Streamed, with the type sniffed at upload, `Content-Disposition: attachment` and the
    /// SHA-256 as the `ETag`. Every download is in the audit log. For staff of the patient's care
    /// team, facility admins, super admins, and the patient when the document is shared with them.
    #[oai(path = "/documents/:id/content", method = "get", operation_id = "downloadDocumentContent")]
    async fn download(&self, auth: BearerAuth, id: Path<DocumentId>) -> Result<DocumentContent> {
        let content = self.db.run(&auth.0, async |tx| documents::content(tx, id.0).await).await?;
        let bytes = self.storage.get(&content.object_key).await?;
        Ok(DocumentContent::verified(content, bytes))
    }

    /// Delete a document.
    ///
    /// It stays as a tombstone (who deleted it and when, in the audit log with the
    /// `X-Change-Reason`); its content is removed from storage in the background and can no
    /// longer be downloaded. Facility admins, and the staff member who created it. Deleting it
    /// again changes nothing.
    #[oai(path = "/documents/:id", method = "delete", operation_id = "deleteDocument")]
    async fn delete(&self, auth: BearerAuth, id: Path<DocumentId>) -> Result<NoContent> {
        self.db.run(&auth.0, async |tx| documents::delete(tx, id.0).await).await?;
        Ok(NoContent::NoContent)
    }
}

impl DocumentsApi {
    async fn store_content(
        &self,
        auth: &BearerAuth,
        id: DocumentId,
        body: BoxStream<'static, std::io::Result<bytes::Bytes>>,
    ) -> Result<Document> {
        let target = self.db.run(&auth.0, async |tx| documents::upload_target(tx, id).await).await?;
        match target.status {
            DocumentStatus::Deleted | DocumentStatus::Failed => Err(Conflict::DOCUMENT_CLOSED.into()),
            DocumentStatus::Ready => {
                // A retry of an upload that succeeded: the same bytes are a replay.
                let hashed = Storage::hash_only(body, self.limits).await?;
                self.replay(auth, id, &hashed.sha256).await
            }
            DocumentStatus::Pending => {
                let key = Storage::key_for(target.facility_id, id);
                let stored = self.storage.put(&key, body, self.limits).await?;
                let marked =
                    self.db.run(&auth.0, async |tx| documents::mark_ready(tx, id, &stored).await).await;
                if let Ok(Some(document)) = marked {
                    return Ok(document.into());
                }
                // Not recorded: this object must not outlive the request.
                if let Err(e) = self.storage.delete(&key).await {
                    tracing::warn!(key, error = %e, "could not remove an unrecorded upload; the sweep will");
                }
                match marked {
                    // Another upload of the same document won the race.
                    Ok(_) => self.replay(auth, id, &stored.content.sha256).await,
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The stored document when it holds exactly these bytes; else a 409.
    async fn replay(&self, auth: &BearerAuth, id: DocumentId, sha256: &str) -> Result<Document> {
        let document = self.db.run(&auth.0, async |tx| documents::get(tx, id).await).await?;
        match document.status {
            DocumentStatus::Ready if document.sha256.as_deref() == Some(sha256) => Ok(document.into()),
            DocumentStatus::Deleted | DocumentStatus::Failed => Err(Conflict::DOCUMENT_CLOSED.into()),
            _ => Err(Conflict::DOCUMENT_CONTENT_STORED.into()),
        }
    }
}

/// A download: the object's bytes, checked against the size and SHA-256
/// recorded at upload as they stream out. A mismatch (the object was
/// changed or damaged in storage) breaks the transfer before its end, so
/// the client never takes damaged bytes for the document, and is logged.
pub struct DocumentContent {
    content: Content,
    bytes: BoxStream<'static, std::io::Result<bytes::Bytes>>,
}

impl DocumentContent {
    fn verified(content: Content, bytes: BoxStream<'static, std::io::Result<bytes::Bytes>>) -> Self {
        let check = Check {
            bytes,
            size: 0,
            held: None,
            hash: Sha256::new(),
            want_size: content.size_bytes,
            want_sha256: content.sha256.clone(),
            key: content.object_key.clone(),
            done: false,
        };
        Self { content, bytes: stream::unfold(check, Check::next).boxed() }
    }
}

/// The state of a download's check. Each piece is sent when the next one
/// has arrived, the last only once the whole was checked: a damaged object
/// never reaches the client complete.
struct Check {
    bytes: BoxStream<'static, std::io::Result<bytes::Bytes>>,
    held: Option<bytes::Bytes>,
    size: i64,
    hash: Sha256,
    want_size: i64,
    want_sha256: String,
    key: String,
    done: bool,
}

impl Check {
    async fn next(mut self) -> Option<(std::io::Result<bytes::Bytes>, Self)> {
        loop {
            if self.done {
                return None;
            }
            match self.bytes.next().await {
                Some(Ok(piece)) => {
                    self.size += piece.len() as i64;
                    if self.size > self.want_size {
                        return Some((Err(self.damaged()), self));
                    }
                    self.hash.update(&piece);
                    if let Some(previous) = self.held.replace(piece) {
                        return Some((Ok(previous), self));
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some((Err(e), self));
                }
                None => {
                    self.done = true;
                    let whole = self.size == self.want_size
                        && hex::encode(std::mem::take(&mut self.hash).finalize()) == self.want_sha256;
                    if !whole {
                        return Some((Err(self.damaged()), self));
                    }
                    return self.held.take().map(|last| (Ok(last), self));
                }
            }
        }
    }

    fn damaged(&mut self) -> std::io::Error {
        self.done = true;
        tracing::error!(key = %self.key, "a stored document does not match its recorded size or SHA-256");
        std::io::Error::other("stored content does not match its checksum")
    }
}

/// A file name for the download, from the title: what is safe in a
/// quoted header value, with the sniffed type's extension.
fn file_name(title: &str, content_type: &str) -> String {
    let stem: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || " -_.()".contains(c) { c } else { '_' })
        .take(120)
        .collect();
    let stem = stem.trim().trim_matches('.');
    let stem = if stem.is_empty() { "document" } else { stem };
    format!("{stem}.{}", extension(content_type))
}

impl IntoResponse for DocumentContent {
    fn into_response(self) -> Response {
        let c = &self.content;
        let disposition = format!("attachment; filename=\"{}\"", file_name(&c.title, &c.content_type));
        let mut resp = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, c.size_bytes)
            .header(header::ETAG, format!("\"{}\"", c.sha256))
            .body(Body::from_bytes_stream(self.bytes));
        let headers = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&c.content_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        resp
    }
}

impl ApiResponse for DocumentContent {
    fn meta() -> MetaResponses {
        let binary = || {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("binary"),
                ..MetaSchema::new("string")
            }))
        };
        let header = |name: &str, description: &str| MetaHeader {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            required: true,
            deprecated: false,
            schema: String::schema_ref(),
        };
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The document's bytes, of the type sniffed when it was uploaded.",
                status: Some(200),
                status_range: None,
                content: ALLOWED_TYPES
                    .iter()
                    .map(|t| MetaMediaType { content_type: t, schema: binary() })
                    .collect(),
                headers: vec![
                    header("Content-Disposition", "`attachment`, with a file name made from the title."),
                    header("ETag", "The content's SHA-256 in hex, quoted."),
                ],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

/// A document: what it is, and once uploaded, what its content is.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Document {
    /// Its id (chosen by the client that created it).
    pub id: DocumentId,
    /// The patient it is about.
    pub patient_id: PatientId,
    /// What it is.
    pub kind: DocumentKind,
    /// Its title, as shown in lists and as the downloaded file's name.
    pub title: String,
    /// Whether the patient may read it (once it is ready).
    pub visible_to_patient: bool,
    /// `pending` until its content is uploaded, then `ready`; `deleted` is a tombstone;
    /// `failed`: the server could not render it.
    pub status: DocumentStatus,
    /// The content's type, as the server sniffed it from the bytes.
    pub content_type: Option<String>,
    /// The content's size in bytes.
    pub size_bytes: Option<i64>,
    /// The content's SHA-256, in hex, as the server computed it while receiving it.
    pub sha256: Option<String>,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its content was stored.
    pub ready_at: Option<DateTime<Utc>>,
    /// When it was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Who deleted it.
    pub deleted_by: Option<UserId>,
}

impl From<crate::db::communication::documents::Document> for Document {
    fn from(row: crate::db::communication::documents::Document) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            kind: row.kind,
            title: row.title,
            visible_to_patient: row.visible_to_patient,
            status: row.status,
            content_type: row.content_type,
            size_bytes: row.size_bytes,
            sha256: row.sha256,
            created_by: row.created_by,
            created_at: row.created_at,
            ready_at: row.ready_at,
            deleted_at: row.deleted_at,
            deleted_by: row.deleted_by,
        }
    }
}
