//! Who is calling: the caller's identity as the layers below the HTTP edge
//! see it. `auth` makes a [`Principal`] from a token or an API key, and `db`
//! turns it into a request's signed context; both depend on this module and
//! it on neither (`tests/api/layers.rs` fails on any import circle).

use crate::domain::{
    ids::{ApiKeyId, FacilityId, SessionId, UserId},
    text_enum,
};

text_enum! {
    /// An account's role.
    pub enum Role {
        SuperAdmin = "super_admin",
        FacilityAdmin = "facility_admin",
        Staff = "staff",
        Patient = "patient",
        /// Books home care for someone (a care recipient) and follows it.
        Client = "client",
        /// Learns at a training centre.
        Student = "student",
        /// Teaches batches at a training centre.
        Teacher = "teacher",
        /// A partner integrator's system, calling with an API key; never logs in.
        Integrator = "integrator",
    }
}

/// Facts about the HTTP request that the database records (audit) or that
/// rate limits key on.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// From `X-Change-Reason`; the audit log's `reason`.
    pub change_reason: Option<String>,
}

/// An authenticated caller, from a verified access token. Whether its session
/// is still valid is checked by the request prologue, in the same round trip
/// as the first query.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: UserId,
    pub facility_id: Option<FacilityId>,
    pub role: Role,
    pub meta: RequestMeta,
    /// What the caller presented.
    pub credential: Credential,
}

/// What vouches for a caller: a signed-in session, or a partner's API key
/// (then the principal's `user_id` is the key's integration). Two types, so
/// a key's id can never pass for a session's.
#[derive(Clone, Debug)]
pub enum Credential {
    Session(SessionId),
    ApiKey(KeyGrant),
}

impl Principal {
    /// The session the caller signed in with; `None` for an API key.
    pub fn session_id(&self) -> Option<SessionId> {
        match self.credential {
            Credential::Session(id) => Some(id),
            Credential::ApiKey(_) => None,
        }
    }

    /// The API key the caller presented, with its scopes.
    pub fn key_grant(&self) -> Option<&KeyGrant> {
        match &self.credential {
            Credential::ApiKey(grant) => Some(grant),
            Credential::Session(_) => None,
        }
    }

    /// Records `reason` as the audit log's reason for this request's changes.
    pub fn with_reason(mut self, reason: Option<String>) -> Self {
        if reason.is_some() {
            self.meta.change_reason = reason;
        }
        self
    }
}

/// What a key may do. Each is enforced twice: the handler answers 403
/// `insufficient_scope`, and the integrator's RLS policies read the key's
/// scopes from `carego.scopes`, so a missed check still shows nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, poem_openapi::Enum)]
pub enum Scope {
    /// List and read the facility's patients. Every key needs it.
    #[oai(rename = "patients:read")]
    PatientsRead,
    /// Admit patients.
    #[oai(rename = "patients:write")]
    PatientsWrite,
    /// Read care logs.
    #[oai(rename = "care-logs:read")]
    CareLogsRead,
    /// Write care logs (as the integration).
    #[oai(rename = "care-logs:write")]
    CareLogsWrite,
}

impl Scope {
    pub const ALL: [Scope; 4] =
        [Self::PatientsRead, Self::PatientsWrite, Self::CareLogsRead, Self::CareLogsWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PatientsRead => "patients:read",
            Self::PatientsWrite => "patients:write",
            Self::CareLogsRead => "care-logs:read",
            Self::CareLogsWrite => "care-logs:write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// The key a request came with, as the prologue needs it.
#[derive(Clone, Debug)]
pub struct KeyGrant {
    pub id: ApiKeyId,
    pub scopes: Vec<Scope>,
}

impl KeyGrant {
    /// `carego.scopes`: space-separated.
    pub fn scopes_setting(&self) -> String {
        self.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// What the server knows about a key without asking the database.
#[derive(Clone, Debug)]
pub struct KeyIdentity {
    pub id: ApiKeyId,
    pub facility_id: FacilityId,
    pub integration_id: UserId,
    pub scopes: Vec<Scope>,
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn scopes_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("patients:delete"), None);
    }
}
