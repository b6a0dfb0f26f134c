//! Idempotency keys (see `sql/migrations/V9__idempotency_keys.sql`). The
//! claim and the stored response live in the request's own transaction, so
//! they commit or vanish together with what the request created.

use serde_json::Value;

use super::TenantTx;
use crate::error::Result;

/// What a claimed key says about this request.
#[derive(Debug)]
pub enum Claim {
    /// First time (or the earlier use expired): go ahead, then `complete`.
    Fresh,
    /// Seen with this body: answer exactly this.
    Replay { status: u16, response: Value },
    /// Seen with a different body.
    Mismatch,
}

const CLAIM: &str = "insert into idempotency_keys (user_id, key, facility_id, request_hash)
     values (carego.current_user_id(), $1, carego.current_facility_id(), $2)
     on conflict (user_id, key) do update
        set request_hash = excluded.request_hash, status = null, response = null, created_at = now()
      where idempotency_keys.created_at < now() - interval '24 hours'
     returning true as fresh";

const EXISTING: &str = "select request_hash, status, response from idempotency_keys
     where user_id = carego.current_user_id() and key = $1";

/// Claims `key` for a request whose canonical form hashes to `request_hash`.
/// A concurrent claim of the same key waits here until the first commits.
pub async fn claim(tx: &mut TenantTx, key: &str, request_hash: &[u8]) -> Result<Claim> {
    if tx.query_opt(CLAIM, &[&key, &request_hash]).await?.is_some() {
        return Ok(Claim::Fresh);
    }
    let row = tx.query_one(EXISTING, &[&key]).await?;
    let stored: Vec<u8> = row.try_get("request_hash")?;
    if stored != request_hash {
        return Ok(Claim::Mismatch);
    }
    match (row.try_get::<_, Option<i16>>("status")?, row.try_get::<_, Option<Value>>("response")?) {
        (Some(status), Some(response)) => Ok(Claim::Replay { status: status as u16, response }),
        // Claimed in this very transaction: cannot happen across requests,
        // because the claim and its response commit together.
        _ => Ok(Claim::Mismatch),
    }
}

const COMPLETE: &str = "update idempotency_keys set status = $2, response = $3
     where user_id = carego.current_user_id() and key = $1";

/// Stores the response to replay.
pub async fn complete(tx: &mut TenantTx, key: &str, status: u16, response: &Value) -> Result<()> {
    tx.execute(COMPLETE, &[&key, &(status as i16), response]).await?;
    Ok(())
}
