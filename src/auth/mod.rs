//! Authentication: who is calling. Authorization is not here: the caller's
//! role picks the Postgres role, and grants plus row-level security decide.

pub mod api_keys;
pub mod jwt;
pub mod mfa;
pub mod password;
pub mod rate_limit;
pub mod registration;
pub mod tokens;

use std::sync::Arc;

use self::jwt::JwtKeys;
use crate::{
    error::{Error, Forbidden},
    identity::{Credential, Principal, RequestMeta},
};
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

/// The request id assigned by the request-id middleware.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The longest `X-Change-Reason` accepted (longer ones are refused at the edge).
pub const MAX_REASON_LEN: usize = 500;
const MAX_USER_AGENT_LEN: usize = 300;

/// The connection's peer address, kept on a request that is run once more
/// (`server`'s read replay rebuilds it without a socket).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Read at the HTTP edge; the type itself is the layers' below (`identity`).
impl RequestMeta {
    pub fn from_request(req: &Request) -> Self {
        let header = |name: &str, max: usize| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(max).collect::<String>())
                .filter(|v| !v.trim().is_empty())
        };
        Self {
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default(),
            ip: client_ip(req).map(|ip| ip.to_string()),
            user_agent: header("user-agent", MAX_USER_AGENT_LEN),
            change_reason: header("x-change-reason", MAX_REASON_LEN),
        }
    }
}

/// The client's address: the peer's, or behind a trusted proxy the nearest
/// address in `X-Forwarded-For` that is not one (see `config::TrustedProxies`).
fn client_ip(req: &Request) -> Option<std::net::IpAddr> {
    let peer = match req.extensions().get::<PeerAddr>() {
        Some(kept) => kept.0.ip(),
        None => req.remote_addr().as_socket_addr()?.ip(),
    };
    let Some(proxies) = req.data::<Arc<crate::config::TrustedProxies>>() else { return Some(peer) };
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    Some(proxies.client(peer, forwarded))
}

/// Bearer access token (JWT) from `POST /api/v1/auth/login`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "verify_bearer")]
pub struct BearerAuth(pub Principal);

async fn verify_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let keys = req
        .data::<Arc<JwtKeys>>()
        .ok_or_else(|| Error::internal(anyhow::anyhow!("JWT keys not installed")))?;
    let claims = keys.verify(&bearer.token)?;
    Ok(Principal {
        user_id: claims.sub,
        facility_id: claims.fid,
        role: claims.role,
        meta: RequestMeta::from_request(req),
        credential: Credential::Session(claims.sid),
    })
}

/// Operations a partner integrator may call: an API key (`X-API-Key`) or a
/// bearer token.
#[derive(SecurityScheme)]
pub enum KeyOrBearer {
    ApiKey(api_keys::ApiKeyAuth),
    Bearer(BearerAuth),
}

impl KeyOrBearer {
    /// The caller, once an API key is known to hold `scope` (403
    /// `insufficient_scope` otherwise). Bearer callers are checked by their
    /// role's grants and policies as everywhere else.
    pub fn needs(self, scope: crate::identity::Scope) -> Result<Principal, Error> {
        match self {
            Self::Bearer(BearerAuth(p)) => Ok(p),
            Self::ApiKey(api_keys::ApiKeyAuth(p)) => {
                let p = p?;
                let grant = p.key_grant().ok_or(Error::Forbidden(Forbidden::Scope))?;
                if grant.scopes.contains(&scope) { Ok(p) } else { Err(Error::Forbidden(Forbidden::Scope)) }
            }
        }
    }
}
