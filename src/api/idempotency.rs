//! `Idempotency-Key` for POSTs that create: the same caller, key and request
//! within 24 hours gets the first response again (`Idempotent-Replayed:
//! true`), never a second row; the same key with a different request is a
//! 422. The claim, the creation and the stored response share one
//! transaction (see `db::idempotency`).

use poem_openapi::{
    payload::Json,
    types::{ParseFromJSON, ToJSON},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Created;
use crate::{
    db::{
        TenantTx,
        idempotency::{self, Claim},
    },
    error::{Error, Result},
};

/// What identifies "the same request": the operation, its path ids and body,
/// less any `password` (the hash is stored, and an unsalted hash of a
/// password is no place for one).
fn request_hash(scope: &str, body: &Value) -> Vec<u8> {
    let mut body = body.clone();
    drop_passwords(&mut body);
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update([0]);
    // serde_json's map is ordered by key, so this is canonical.
    h.update(body.to_string().as_bytes());
    h.finalize().to_vec()
}

fn drop_passwords(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("password");
            map.values_mut().for_each(drop_passwords);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_passwords),
        _ => {}
    }
}

/// How a creating request starts.
pub enum Start<T: ToJSON + Send + Sync> {
    /// Seen before: answer this (commit first; nothing else to do).
    Replayed(Created<T>),
    /// Do the work, then [`Pending::finish`] in the same transaction.
    Fresh(Pending),
}

/// A claimed key (or none) awaiting the response to store.
pub struct Pending(Option<String>);

/// Claims the request's `Idempotency-Key`, if it has one. `scope` names the
/// operation and its path ids, so one key cannot mean two different things.
pub async fn start<T>(
    tx: &mut TenantTx,
    key: Option<&str>,
    scope: &str,
    body: &impl ToJSON,
) -> Result<Start<T>>
where
    T: ToJSON + ParseFromJSON + Send + Sync,
{
    let Some(key) = key else {
        return Ok(Start::Fresh(Pending(None)));
    };
    let hash = request_hash(scope, &body.to_json().unwrap_or_default());
    match idempotency::claim(tx, key, &hash).await? {
        Claim::Replay { response, .. } => {
            let value = T::parse_from_json(Some(response)).map_err(|e| {
                Error::internal(anyhow::anyhow!("stored response unreadable: {}", e.into_message()))
            })?;
            Ok(Start::Replayed(Created::Created(Json(value), Some("true".into()))))
        }
        Claim::Mismatch => Err(Error::IdempotencyKeyReused),
        Claim::Fresh => Ok(Start::Fresh(Pending(Some(key.to_owned())))),
    }
}

impl Pending {
    /// Stores the response for replays and answers it. `redact` names
    /// top-level fields that are secrets shown once (a registration key):
    /// they are not stored, so a replay answers them as `null`.
    pub async fn finish<T>(self, tx: &mut TenantTx, value: T, redact: &[&str]) -> Result<Created<T>>
    where
        T: ToJSON + Send + Sync,
    {
        if let Some(key) = self.0 {
            let mut stored = value.to_json().unwrap_or_default();
            if let Value::Object(map) = &mut stored {
                for field in redact {
                    if let Some(v) = map.get_mut(*field) {
                        *v = Value::Null;
                    }
                }
            }
            idempotency::complete(tx, &key, 201, &stored).await?;
        }
        Ok(Created::Created(Json(value), None))
    }
}

/// The one path every idempotent create takes: claim the key, do the work
/// (`$work` evaluates to the created value), store the answer, commit — all
/// in the transaction `$tx`. Returns from the handler on a replay.
macro_rules! create_idempotently {
    ($tx:ident, $key:expr, $scope:expr, $body:expr, redact = $redact:expr, $work:expr) => {{
        let pending = match $crate::api::idempotency::start(&mut $tx, $key, &$scope, $body).await? {
            $crate::api::idempotency::Start::Replayed(done) => {
                return $tx.commit().await.map(|()| done).map_err(Into::into);
            }
            $crate::api::idempotency::Start::Fresh(pending) => pending,
        };
        let value = $work;
        let created = pending.finish(&mut $tx, value, $redact).await?;
        $tx.commit().await?;
        Ok(created)
    }};
    ($tx:ident, $key:expr, $scope:expr, $body:expr, $work:expr) => {
        create_idempotently!($tx, $key, $scope, $body, redact = &[], $work)
    };
}

pub(crate) use create_idempotently;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_no_part_of_the_request_hash() {
        let with = |pw: &str| serde_json::json!({"email": "a@b.example", "password": pw, "admin": {"password": pw, "x": 1}});
        assert_eq!(request_hash("createUser", &with("one")), request_hash("createUser", &with("two")));
        let other = serde_json::json!({"email": "c@d.example", "password": "one", "admin": {"x": 1}});
        assert_ne!(request_hash("createUser", &with("one")), request_hash("createUser", &other));
        assert_ne!(request_hash("createUser", &with("one")), request_hash("createFacility", &with("one")));
    }
}
