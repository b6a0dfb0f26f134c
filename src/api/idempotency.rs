//! `Idempotency-Key` for POSTs that create: the same caller, key and request
//! within 24 hours gets the first response again (`Idempotent-Replayed:
//! true`), never a second row; the same key with a different request is a
//! 422. The claim, the creation and the stored response share one
//! transaction (see `db::idempotency`).

use std::borrow::Cow;

use poem_openapi::{
    payload::Json,
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Created;
use crate::{
    db::{
        Db, TenantTx,
        idempotency::{self, Claim},
    },
    error::{Error, Result},
    identity::Principal,
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

/// The `Idempotency-Key` request header: 1 to 200 visible ASCII characters
/// the client chooses per logical request (a UUID is a good choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl Type for IdempotencyKey {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "IdempotencyKey".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |_| MetaSchema {
            description: Some(
                "Makes a create safe to retry: the same caller, key and request within 24 hours \
                 get the first response again (with `Idempotent-Replayed: true`) and nothing is \
                 created twice; the same key with a different request is a 422.",
            ),
            min_length: Some(1),
            max_length: Some(MAX_KEY_LEN),
            pattern: Some("^[!-~]+$".into()),
            example: Some(Value::from("6f1c2a4e-2b8d-4c52-9a43-1f0e7d3b9c10")),
            ..MetaSchema::new("string")
        });
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

pub const MAX_KEY_LEN: usize = 200;

impl ParseFromParameter for IdempotencyKey {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        if (1..=MAX_KEY_LEN).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ParseError::custom("must be 1 to 200 visible ASCII characters"))
        }
    }
}

impl ToJSON for IdempotencyKey {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0.clone()))
    }
}

/// The operations that take an `Idempotency-Key`, by operationId: a key is
/// scoped to one of them (and its path's id), never to a free string. A
/// test holds this list to the spec, both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Creates {
    AddLeadNote,
    AmendAttendance,
    AmendCareLog,
    AmendVitals,
    ConvertLead,
    CreateApiKey,
    CreateAssignment,
    CreateAttendance,
    CreateBatch,
    CreateCareLog,
    CreateCity,
    CreateClient,
    CreateCourse,
    CreateCreditNote,
    CreateFacility,
    CreateInvoice,
    CreatePatient,
    CreatePlan,
    CreatePlanTemplate,
    CreatePrescription,
    CreateService,
    CreateStudent,
    CreateTeacher,
    CreateTreatmentPlan,
    CreateUser,
    CreateVitals,
    CreateWebhook,
    EnrollStudent,
    LinkCareRecipient,
    RecordClassAttendance,
    RecordPayment,
}

impl Creates {
    pub const ALL: [Creates; 31] = [
        Self::AddLeadNote,
        Self::AmendAttendance,
        Self::AmendCareLog,
        Self::AmendVitals,
        Self::ConvertLead,
        Self::CreateApiKey,
        Self::CreateAssignment,
        Self::CreateAttendance,
        Self::CreateBatch,
        Self::CreateCareLog,
        Self::CreateCity,
        Self::CreateClient,
        Self::CreateCourse,
        Self::CreateCreditNote,
        Self::CreateFacility,
        Self::CreateInvoice,
        Self::CreatePatient,
        Self::CreatePlan,
        Self::CreatePlanTemplate,
        Self::CreatePrescription,
        Self::CreateService,
        Self::CreateStudent,
        Self::CreateTeacher,
        Self::CreateTreatmentPlan,
        Self::CreateUser,
        Self::CreateVitals,
        Self::CreateWebhook,
        Self::EnrollStudent,
        Self::LinkCareRecipient,
        Self::RecordClassAttendance,
        Self::RecordPayment,
    ];

    pub fn operation_id(self) -> &'static str {
        match self {
            Self::AddLeadNote => "addLeadNote",
            Self::AmendAttendance => "amendAttendance",
            Self::AmendCareLog => "amendCareLog",
            Self::AmendVitals => "amendVitals",
            Self::ConvertLead => "convertLead",
            Self::CreateApiKey => "createApiKey",
            Self::CreateAssignment => "createAssignment",
            Self::CreateAttendance => "createAttendance",
            Self::CreateBatch => "createBatch",
            Self::CreateCareLog => "createCareLog",
            Self::CreateCity => "createCity",
            Self::CreateClient => "createClient",
            Self::CreateCourse => "createCourse",
            Self::CreateCreditNote => "createCreditNote",
            Self::CreateFacility => "createFacility",
            Self::CreateInvoice => "createInvoice",
            Self::CreatePatient => "createPatient",
            Self::CreatePlan => "createPlan",
            Self::CreatePlanTemplate => "createPlanTemplate",
            Self::CreatePrescription => "createPrescription",
            Self::CreateService => "createService",
            Self::CreateStudent => "createStudent",
            Self::CreateTeacher => "createTeacher",
            Self::CreateTreatmentPlan => "createTreatmentPlan",
            Self::CreateUser => "createUser",
            Self::CreateVitals => "createVitals",
            Self::CreateWebhook => "createWebhook",
            Self::EnrollStudent => "enrollStudent",
            Self::LinkCareRecipient => "linkCareRecipient",
            Self::RecordClassAttendance => "recordClassAttendance",
            Self::RecordPayment => "recordPayment",
        }
    }

    /// The operation under its path's id (`/patients/{id}/care-logs`).
    pub fn under(self, id: impl std::fmt::Display) -> OperationScope {
        OperationScope { operation: self, under: Some(id.to_string()) }
    }
}

/// What one key means: an operation, under its path's id if it has one.
#[derive(Clone, Debug)]
pub struct OperationScope {
    operation: Creates,
    under: Option<String>,
}

impl From<Creates> for OperationScope {
    fn from(operation: Creates) -> Self {
        Self { operation, under: None }
    }
}

impl std::fmt::Display for OperationScope {
    /// `operationId` or `operationId id`: what the stored request hashes
    /// have always covered.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.under {
            Some(id) => write!(f, "{} {id}", self.operation.operation_id()),
            None => f.write_str(self.operation.operation_id()),
        }
    }
}

/// Creates something once per `Idempotency-Key`: claims the key, runs
/// `work`, stores the answer and commits, all in the caller's one tenant
/// transaction. A retry with the same key and request gets the stored
/// answer (`Idempotent-Replayed: true`); without a key, `work` just runs.
/// `scope` names the operation and its path's id, so one key cannot mean
/// two different things.
pub async fn create<T, R: Into<T>>(
    db: &Db,
    principal: &Principal,
    key: Option<IdempotencyKey>,
    scope: impl Into<OperationScope>,
    request: &impl ToJSON,
    work: impl AsyncFnOnce(&mut TenantTx) -> Result<R>,
) -> Result<Created<T>>
where
    T: ToJSON + ParseFromJSON + Send + Sync,
{
    create_redacting(db, principal, key, scope, request, &[], work).await
}

/// [`create`] for an answer holding secrets shown once (a registration
/// key): the top-level fields named in `redact` are not stored, so a replay
/// omits them.
pub async fn create_redacting<T, R: Into<T>>(
    db: &Db,
    principal: &Principal,
    key: Option<IdempotencyKey>,
    scope: impl Into<OperationScope>,
    request: &impl ToJSON,
    redact: &[&str],
    work: impl AsyncFnOnce(&mut TenantTx) -> Result<R>,
) -> Result<Created<T>>
where
    T: ToJSON + ParseFromJSON + Send + Sync,
{
    let scope = scope.into().to_string();
    let hash = key.as_ref().map(|_| request_hash(&scope, &request.to_json().unwrap_or_default()));
    db.run(principal, async |tx| {
        let Some((IdempotencyKey(key), hash)) = key.zip(hash) else {
            return Ok(Created::Created(Json(work(tx).await?.into()), None));
        };
        match idempotency::claim(tx, &key, &hash).await? {
            Claim::Replay { response, .. } => {
                let value = T::parse_from_json(Some(response)).map_err(|e| {
                    Error::internal(anyhow::anyhow!("stored response unreadable: {}", e.into_message()))
                })?;
                Ok(Created::Created(Json(value), Some("true".into())))
            }
            Claim::Mismatch => Err(Error::IdempotencyKeyReused),
            Claim::Fresh => {
                let value: T = work(tx).await?.into();
                let mut stored = value.to_json().unwrap_or_default();
                if let Value::Object(map) = &mut stored {
                    for field in redact {
                        map.remove(*field);
                    }
                }
                idempotency::complete(tx, &key, 201, &stored).await?;
                Ok(Created::Created(Json(value), None))
            }
        }
    })
    .await
}

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

    #[test]
    fn every_operation_taking_a_key_is_listed_and_nothing_else() {
        let spec: Value = serde_json::from_str(&crate::api::spec_json()).unwrap();
        let mut taking_a_key: Vec<&str> = spec["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter(|op| {
                op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"))
            })
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        taking_a_key.sort_unstable();
        let mut listed: Vec<&str> = Creates::ALL.iter().map(|c| c.operation_id()).collect();
        listed.sort_unstable();
        assert_eq!(listed, taking_a_key);
    }

    #[test]
    fn a_scope_reads_as_the_hashes_stored_before_it_was_a_type() {
        let id = uuid::Uuid::nil();
        assert_eq!(Creates::CreateCareLog.under(id).to_string(), format!("createCareLog {id}"));
        assert_eq!(OperationScope::from(Creates::CreateCity).to_string(), "createCity");
    }
}
