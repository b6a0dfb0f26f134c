//! The object store that holds documents' bytes (`object_store`): a
//! directory on the local filesystem by default (under the data directory),
//! or an S3-compatible bucket by configuration. PostgreSQL holds what is
//! known of each object (`documents`, V26) under RLS; the store is reached
//! only through this module, after the tenant transaction has said yes.
//!
//! Objects are written with a multipart upload, which both backends make
//! visible only when it completes: an upload that is refused midway (over
//! the size limit, a client that stops sending) is aborted and leaves
//! nothing behind. Keys are `facilities/{facility}/documents/{document}/{upload}`.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::{StreamExt, stream::BoxStream};
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart, path::Path};
use sha2::{Digest, Sha256};

use crate::{
    domain::{
        documents::{self, SNIFF_BYTES},
        ids::{DocumentId, FacilityId},
    },
    error::{Error, Result},
};

/// Parts of a multipart upload: S3 wants at least 5 MiB but the last.
const PART_BYTES: usize = 5 * 1024 * 1024;

/// Where documents' bytes live. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// With an `s3://bucket/prefix` URL, the bucket without the prefix:
    /// where Carego before 2026-12-05 wrote, having dropped the prefix.
    bucket_root: Option<Arc<dyn ObjectStore>>,
}

/// What an upload stored: where, and what.
#[derive(Debug, Clone)]
pub struct Stored {
    pub key: String,
    pub content: Hashed,
}

/// Content read from a client, sniffed, counted and hashed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    pub content_type: &'static str,
    pub size: u64,
    pub sha256: String,
}

/// How an upload is read: at most `limit` bytes, and no more than
/// `stall` between two pieces of it.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub limit: u64,
    pub stall: Duration,
}

impl Storage {
    /// Opens the store named by `url`: `file:///absolute/dir` (created if
    /// missing) or `s3://bucket[/prefix]`, whose credentials, region and
    /// endpoint come from the standard `AWS_*` environment variables.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let mut bucket_root = None;
        let store: Arc<dyn ObjectStore> = if let Some(dir) = url.strip_prefix("file://") {
            anyhow::ensure!(
                dir.starts_with('/'),
                "CAREGO_STORAGE_URL: `{url}` must name an absolute directory"
            );
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("CAREGO_STORAGE_URL: cannot create `{dir}`: {e}"))?;
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true))
        } else if let Some(rest) = url.strip_prefix("s3://") {
            // object_store takes the bucket from the URL and drops its path:
            // the prefix is ours to apply, or two deployments sharing a
            // bucket under different prefixes would share their keys.
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            anyhow::ensure!(!bucket.is_empty(), "CAREGO_STORAGE_URL: `{url}` names no bucket");
            crate::install_tls_provider();
            let s3: Arc<dyn ObjectStore> = Arc::new(
                object_store::aws::AmazonS3Builder::from_env().with_url(format!("s3://{bucket}")).build()?,
            );
            match prefix.trim_matches('/') {
                "" => s3,
                prefix => {
                    // A character object_store would percent-encode would
                    // put the objects under another prefix than the one named.
                    anyhow::ensure!(
                        prefix.split('/').all(|part| !part.is_empty()
                            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))),
                        "CAREGO_STORAGE_URL: the prefix of `{url}` may hold letters, digits, `-`, `_`, `.` and `/` between them"
                    );
                    bucket_root = Some(s3.clone());
                    Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
                }
            }
        } else {
            anyhow::bail!("CAREGO_STORAGE_URL: `{url}` is neither file:///dir nor s3://bucket");
        };
        Ok(Self { store, bucket_root })
    }

    /// A store in memory, for documents that are never served (the spec
    /// generator's state).
    pub fn in_memory() -> Self {
        Self { store: Arc::new(object_store::memory::InMemory::new()), bucket_root: None }
    }

    /// Refuses to start on an `s3://bucket/prefix` store when documents lie
    /// at the bucket's root instead: Carego before 2026-12-05 dropped the
    /// URL's prefix, and serving under it now would find none of them.
    pub async fn refuse_documents_outside_the_prefix(&self, url: &str) -> anyhow::Result<()> {
        let Some(root) = &self.bucket_root else { return Ok(()) };
        let outside = root.list(Some(&Path::from("facilities"))).next().await;
        if let Some(found) = outside {
            let found = found?;
            let bucket = url.trim_start_matches("s3://").split('/').next().unwrap_or_default();
            anyhow::bail!(
                "CAREGO_STORAGE_URL is {url}, but documents lie at the bucket's root (for example \
                 `{}`), where Carego wrote them before it applied the URL's prefix. Move them under \
                 the prefix (e.g. `aws s3 mv --recursive s3://{bucket}/facilities {url}/facilities`), \
                 then start again.",
                found.location
            );
        }
        Ok(())
    }

    /// A fresh key for one upload of a document.
    pub fn key_for(facility: FacilityId, document: DocumentId) -> String {
        format!("facilities/{}/documents/{}/{}", facility.0, document.0, uuid::Uuid::new_v4().simple())
    }

    /// Streams `body` into a new object at `key`: sniffed against the
    /// allowlist first (415 before anything is written), counted against the
    /// limit (413) and hashed on the way. Any refusal aborts the upload, so
    /// nothing is left stored.
    pub async fn put(
        &self,
        key: &str,
        body: BoxStream<'static, std::io::Result<Bytes>>,
        limits: UploadLimits,
    ) -> Result<Stored> {
        let mut reader = Reader::new(body, limits);
        let (head, content_type) = reader.sniffed().await?;
        let upload = self.store.put_multipart(&Path::from(key)).await.map_err(unavailable)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        writer.put(head);
        let written = async {
            while let Some(chunk) = reader.next().await? {
                writer.wait_for_capacity(2).await.map_err(unavailable)?;
                writer.put(chunk);
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = written {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(key, error = %abort, "could not abort a refused upload");
            }
            return Err(e);
        }
        writer.finish().await.map_err(unavailable)?;
        let (size, sha256) = reader.finish();
        Ok(Stored { key: key.to_owned(), content: Hashed { content_type, size, sha256 } })
    }

    /// Stores content the server made itself (a rendered report): sniffed
    /// and hashed as an upload is.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<Stored> {
        let body = futures_util::stream::once(async move { Ok(bytes) }).boxed();
        self.put(key, body, UploadLimits { limit: u64::MAX, stall: Duration::from_secs(60) }).await
    }

    /// Reads `body` as [`put`](Self::put) would, storing nothing: what a
    /// retried upload of a document already stored is compared by.
    pub async fn hash_only(
        body: BoxStream<'static, std::io::Result<Bytes>>,
        limits: UploadLimits,
    ) -> Result<Hashed> {
        let mut reader = Reader::new(body, limits);
        let (_, content_type) = reader.sniffed().await?;
        while reader.next().await?.is_some() {}
        let (size, sha256) = reader.finish();
        Ok(Hashed { content_type, size, sha256 })
    }

    /// The object's bytes, as a stream.
    pub async fn get(&self, key: &str) -> Result<BoxStream<'static, std::io::Result<Bytes>>> {
        let got = self.store.get(&Path::from(key)).await.map_err(|e| match e {
            // The row says it is there: a missing object is our fault, not the caller's.
            object_store::Error::NotFound { .. } => {
                Error::internal(anyhow::anyhow!("document object {key} is missing from the store"))
            }
            e => unavailable(e),
        })?;
        Ok(got.into_stream().map(|r| r.map_err(std::io::Error::other)).boxed())
    }

    /// Removes an object; one already gone is fine.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Keys of the documents' objects last written before `older_than` ago.
    pub async fn keys_older_than(&self, older_than: Duration) -> Result<Vec<String>> {
        let cutoff = chrono::Utc::now() - older_than;
        let mut listed = self.store.list(Some(&Path::from("facilities")));
        let mut keys = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(unavailable)?;
            if meta.last_modified < cutoff {
                keys.push(meta.location.to_string());
            }
        }
        Ok(keys)
    }
}

fn unavailable(e: object_store::Error) -> Error {
    Error::Unavailable(format!("object store: {e}"))
}

/// A client's body, read piece by piece under the limits, counted and hashed.
struct Reader {
    body: BoxStream<'static, std::io::Result<Bytes>>,
    limits: UploadLimits,
    size: u64,
    hash: Sha256,
    finished: bool,
}

impl Reader {
    fn new(body: BoxStream<'static, std::io::Result<Bytes>>, limits: UploadLimits) -> Self {
        Self { body, limits, size: 0, hash: Sha256::new(), finished: false }
    }

    /// The next piece; `None` at the end of the body.
    async fn next(&mut self) -> Result<Option<Bytes>> {
        if self.finished {
            return Ok(None);
        }
        let piece = match tokio::time::timeout(self.limits.stall, self.body.next()).await {
            Err(_) => return Err(Error::RequestTimeout),
            Ok(None) => {
                self.finished = true;
                return Ok(None);
            }
            // The client went away or sent a broken body.
            Ok(Some(Err(e))) => return Err(Error::invalid("body", format!("could not be read: {e}"))),
            Ok(Some(Ok(piece))) => piece,
        };
        self.size += piece.len() as u64;
        if self.size > self.limits.limit {
            return Err(Error::PayloadTooLarge);
        }
        self.hash.update(&piece);
        Ok(Some(piece))
    }

    /// The first [`SNIFF_BYTES`] (or the whole body, if shorter), and what
    /// they are: refused unless on the allowlist.
    async fn sniffed(&mut self) -> Result<(Bytes, &'static str)> {
        let mut head = Vec::new();
        while head.len() < SNIFF_BYTES {
            match self.next().await? {
                Some(piece) => head.extend_from_slice(&piece),
                None => break,
            }
        }
        if head.is_empty() {
            return Err(Error::invalid("body", "must not be empty"));
        }
        let content_type = documents::sniff(&head, self.finished).ok_or(Error::UnsupportedContent)?;
        Ok((Bytes::from(head), content_type))
    }

    fn finish(self) -> (u64, String) {
        (self.size, hex::encode(self.hash.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_named_by_a_url_and_nothing_else_is_guessed() {
        let dir = std::env::temp_dir().join(format!("carego-storage-unit-{}", std::process::id()));
        assert!(Storage::open(&format!("file://{}", dir.display())).is_ok());
        assert!(dir.is_dir(), "the directory is made");
        let _ = std::fs::remove_dir_all(&dir);
        // S3 is configured, not contacted, when opened (credentials are fetched on first use).
        assert!(Storage::open("s3://carego-documents/prod").is_ok());
        assert!(Storage::open("s3://carego-documents/eu-1/prod_2.b/").is_ok());
        for bad in [
            "file://relative/dir",
            "/var/lib/carego",
            "ftp://host/dir",
            "s3:/bucket",
            "s3:///prefix",
            "s3://bucket/a%20b",
            "s3://bucket/a//b",
            "",
        ] {
            assert!(Storage::open(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_upload_is_hashed_and_typed_the_same_whether_stored_or_not() {
        let store = Storage::in_memory();
        let limits = UploadLimits { limit: 1 << 20, stall: Duration::from_secs(5) };
        let bytes = Bytes::from_static(b"%PDF-1.7\nhello");
        let body = || futures_util::stream::iter([Ok(bytes.slice(..4)), Ok(bytes.slice(4..))]).boxed();
        let stored = store.put("facilities/f/documents/d/u", body(), limits).await.unwrap();
        let hashed = Storage::hash_only(body(), limits).await.unwrap();
        assert_eq!((stored.content.content_type, stored.content.size), ("application/pdf", 14));
        assert_eq!(stored.content.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(
            (hashed.content_type, hashed.size, hashed.sha256),
            (stored.content.content_type, stored.content.size, stored.content.sha256)
        );
        let back: Vec<Bytes> =
            store.get("facilities/f/documents/d/u").await.unwrap().map(|b| b.unwrap()).collect().await;
        assert_eq!(back.concat(), bytes.to_vec());
    }
}
