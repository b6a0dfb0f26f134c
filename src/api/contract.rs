//! The last pass over the generated spec, so it says what the server really
//! does where poem-openapi's types cannot say it per operation:
//!
//! - each operation lists only the error statuses it can answer, each with
//!   the stable `code` values it can produce (derived from the operation's
//!   shape: credentials, path id, body, idempotency key; plus the few facts
//!   its handler's module declares beside it, a [`Contract`] in the
//!   module's `CONTRACT`);
//! - `X-Request-Id` (on every response; a client may send its own, see the
//!   document's description), `X-Change-Reason` (on every write) and
//!   `Idempotent-Replayed` are declared;
//! - dates are `format: date`, emails `format: email`;
//! - the `servers` entry, and an example on every request and main response
//!   schema: each module's `CONTRACT` carries the examples of its objects
//!   (see `api::examples`), and a schema that an example names but the spec
//!   does not have stops the pass.
//!
//! The served `/openapi.json`, `/docs` and the committed file are all this
//! output (a test holds them equal).

use serde_json::{Value, json};

use super::examples::Example;
use crate::error::{Conflict, Forbidden, Unauthenticated};

/// What one operation answers beyond what its types say, declared beside
/// its handler in the handler's module (`CONTRACT`); an operation without
/// an entry has none of these facts.
pub struct Contract {
    operation: &'static str,
    conflicts: &'static [Conflict],
    forbidden: &'static [Forbidden],
    public_credentials: Option<(&'static [Unauthenticated], &'static [Forbidden])>,
    names_a_record_outside_its_path: bool,
    raw_upload: bool,
    takes_stream_ticket: bool,
    rate_limited: bool,
    before_mfa: bool,
    self_service: bool,
}

impl Contract {
    /// The operation with this `operationId`, with no facts yet.
    pub const fn of(operation: &'static str) -> Self {
        Self {
            operation,
            conflicts: &[],
            forbidden: &[],
            public_credentials: None,
            names_a_record_outside_its_path: false,
            raw_upload: false,
            takes_stream_ticket: false,
            rate_limited: false,
            before_mfa: false,
            self_service: false,
        }
    }

    /// The 409 codes it can answer.
    pub const fn conflicts(mut self, conflicts: &'static [Conflict]) -> Self {
        self.conflicts = conflicts;
        self
    }

    /// 403 codes of its own, beyond role, account, facility and second factor.
    pub const fn forbidden(mut self, forbidden: &'static [Forbidden]) -> Self {
        self.forbidden = forbidden;
        self
    }

    /// A public operation that checks credentials of its own (a password, a
    /// refresh token): its 401 and 403 codes.
    pub const fn public_credentials(
        mut self,
        unauthenticated: &'static [Unauthenticated],
        forbidden: &'static [Forbidden],
    ) -> Self {
        self.public_credentials = Some((unauthenticated, forbidden));
        self
    }

    /// It has no path id but can still answer 404: it names a record in its
    /// body or query (a facility, a patient, a conversation's members).
    pub const fn names_a_record_outside_its_path(mut self) -> Self {
        self.names_a_record_outside_its_path = true;
        self
    }

    /// Its body is raw bytes, refused (415) by what the bytes are, not by
    /// their declared type.
    pub const fn raw_upload(mut self) -> Self {
        self.raw_upload = true;
        self
    }

    /// It also takes a stream ticket, and so can refuse one (401).
    pub const fn takes_stream_ticket(mut self) -> Self {
        self.takes_stream_ticket = true;
        self
    }

    /// It is rate limited (429).
    pub const fn rate_limited(mut self) -> Self {
        self.rate_limited = true;
        self
    }

    /// A session reaches it before its second factor is verified (the
    /// prologue skips that check), so it never answers `mfa_required`.
    pub const fn before_mfa(mut self) -> Self {
        self.before_mfa = true;
        self
    }

    /// It acts on the caller's own account only, so no role is refused it
    /// (403 only for an inactive account or facility).
    pub const fn self_service(mut self) -> Self {
        self.self_service = true;
        self
    }
}

/// One module's contracts and the examples of its objects, and the file
/// that declares them (so a test can hold each entry to a handler in that
/// file).
pub struct Contracts {
    /// Read by the tests only.
    #[cfg_attr(not(test), allow(dead_code))]
    pub file: &'static str,
    pub operations: &'static [Contract],
    /// The module's objects as an integrator sends and receives them.
    pub examples: fn() -> Vec<Example>,
}

/// Every module's `CONTRACT`.
const ALL: &[&Contracts] = &[
    &super::accounts::api_keys::CONTRACT,
    &super::accounts::auth::CONTRACT,
    &super::accounts::care_recipients::CONTRACT,
    &super::accounts::clients::CONTRACT,
    &super::accounts::facilities::CONTRACT,
    &super::accounts::mfa::CONTRACT,
    &super::accounts::users::CONTRACT,
    &super::audit::CONTRACT,
    &super::catalog::cities::CONTRACT,
    &super::catalog::courses::CONTRACT,
    &super::catalog::leads::CONTRACT,
    &super::catalog::public::CONTRACT,
    &super::catalog::services::CONTRACT,
    &super::clinical::attendance::CONTRACT,
    &super::clinical::care_logs::CONTRACT,
    &super::clinical::caseloads::CONTRACT,
    &super::clinical::patients::CONTRACT,
    &super::clinical::vitals::CONTRACT,
    &super::communication::announcements::CONTRACT,
    &super::communication::conversations::CONTRACT,
    &super::communication::crisis::CONTRACT,
    &super::communication::documents::CONTRACT,
    &super::communication::events::CONTRACT,
    &super::communication::webhooks::CONTRACT,
    &super::finance::invoices::CONTRACT,
    &super::finance::plans::CONTRACT,
    &super::health::CONTRACT,
    &super::recovery::check_ins::CONTRACT,
    &super::recovery::cravings::CONTRACT,
    &super::recovery::goals::CONTRACT,
    &super::recovery::medications::CONTRACT,
    &super::recovery::meetings::CONTRACT,
    &super::recovery::reports::CONTRACT,
    &super::recovery::sobriety::CONTRACT,
    &super::recovery::sync::CONTRACT,
    &super::recovery::treatment_plans::CONTRACT,
    &super::recovery::workload::CONTRACT,
    &super::training::batches::CONTRACT,
    &super::training::certificates::CONTRACT,
];

/// Every module's examples.
pub(super) fn examples() -> impl Iterator<Item = Example> {
    ALL.iter().flat_map(|c| (c.examples)())
}

/// The facts declared for `operation`; none when it declared none.
fn contract_of(operation: &str) -> &'static Contract {
    const NONE: Contract = Contract::of("");
    ALL.iter().flat_map(|c| c.operations).find(|c| c.operation == operation).unwrap_or(&NONE)
}

/// Every 409 an operation declares: the conflicts that reach the wire.
fn declared_conflicts() -> impl Iterator<Item = Conflict> {
    ALL.iter().flat_map(|c| c.operations).flat_map(|c| c.conflicts).copied()
}

fn error_response(description: &str, codes: &[&str], retry_after: bool) -> Value {
    let listed = codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    let mut response = json!({
        "description": format!("{description} `code`: {listed}."),
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "example": example_problem(codes[0]),
        }},
        "headers": request_id_header(),
    });
    if retry_after {
        response["headers"]["Retry-After"] = json!({
            "description": "Seconds to wait before retrying.",
            "required": true,
            "schema": {"type": "integer", "minimum": 0},
        });
    }
    response
}

fn example_problem(code: &str) -> Value {
    let status = match code {
        "validation_failed" => 400,
        "not_found" => 404,
        "payload_too_large" => 413,
        "unsupported_media_type" => 415,
        "request_timeout" => 408,
        "idempotency_key_reused" => 422,
        "rate_limited" => 429,
        "internal_error" => 500,
        "service_unavailable" => 503,
        c if Unauthenticated::ALL.iter().any(|u| u.code() == c) => 401,
        c if Forbidden::ALL.iter().any(|f| f.code() == c) => 403,
        _ => 409,
    };
    let detail = Unauthenticated::ALL
        .iter()
        .find(|u| u.code() == code)
        .map(|u| u.detail())
        .or_else(|| Forbidden::ALL.iter().find(|f| f.code() == code).map(|f| f.detail()))
        .or_else(|| declared_conflicts().find(|c| c.code() == code).map(|c| c.detail()))
        .unwrap_or(match code {
            "validation_failed" => "One or more fields are invalid.",
            "not_found" => "The resource does not exist or is not visible to you.",
            "rate_limited" => "Too many attempts; retry after 60 seconds.",
            "service_unavailable" => "The service is temporarily unavailable; retry shortly.",
            "internal_error" => "An unexpected error occurred.",
            _ => "See `code`.",
        });
    let mut problem = json!({
        "type": format!("urn:carego:problem:{code}"),
        "title": poem::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or(""),
        "status": status,
        "detail": detail,
        "code": code,
    });
    if code == "validation_failed" {
        problem["errors"] = json!([{"field": "firstName", "message": "must not be empty"}]);
    }
    problem
}

fn request_id_header() -> Value {
    json!({"X-Request-Id": {
        "description": "The request's id (the client's own, if it sent a sane one); the server log \
                        has every line of the request under it.",
        "schema": {"type": "string"},
    }})
}

fn codes<T: Copy>(items: &[T], code: fn(T) -> &'static str) -> Vec<&'static str> {
    items.iter().map(|i| code(*i)).collect()
}

/// The error responses `op` can answer.
fn errors_of(id: &str, method: &str, op: &Value) -> Vec<(u16, Value)> {
    let contract = contract_of(id);
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let has_path_id = params.iter().any(|p| p["in"] == "path");
    let has_key = params.iter().any(|p| p["name"] == "Idempotency-Key");
    // Authenticated writes also take `X-Change-Reason`, which can be refused.
    let has_input = !params.is_empty() || op.get("requestBody").is_some() || takes_reason(method, op);
    let has_body = op.get("requestBody").is_some();
    let authenticated = op.get("security").is_some();
    // Operations a partner integrator may call with an API key, which can
    // be unknown or revoked, lack a scope, or meet its rate limit or quota.
    let takes_api_key = op["security"]
        .as_array()
        .is_some_and(|schemes| schemes.iter().any(|s| s.get("ApiKeyAuth").is_some()));
    let mut out = Vec::new();
    if has_input {
        out.push((
            400,
            error_response(
                "Invalid input; `errors` lists every field at fault.",
                &["validation_failed"],
                false,
            ),
        ));
    }
    if authenticated {
        let mut why = vec![
            Unauthenticated::Missing,
            Unauthenticated::InvalidToken,
            Unauthenticated::TokenExpired,
            Unauthenticated::SessionInvalid,
        ];
        if contract.takes_stream_ticket {
            why.push(Unauthenticated::InvalidTicket);
        }
        if takes_api_key {
            why.push(Unauthenticated::InvalidApiKey);
        }
        out.push((
            401,
            error_response(
                "Missing, invalid, expired or revoked credentials.",
                &codes(&why, Unauthenticated::code),
                false,
            ),
        ));
        let mut forbidden = vec![Forbidden::AccountInactive, Forbidden::FacilitySuspended];
        if !contract.self_service {
            forbidden.insert(0, Forbidden::Role);
        }
        if takes_api_key {
            forbidden.push(Forbidden::Scope);
        }
        if !contract.before_mfa {
            forbidden.extend([Forbidden::MfaRequired, Forbidden::MfaEnrollmentRequired]);
        }
        forbidden.extend(contract.forbidden.iter().copied());
        out.push((
            403,
            error_response(
                "Your role, account or facility may not do this.",
                &codes(&forbidden, Forbidden::code),
                false,
            ),
        ));
    } else if let Some((unauthenticated, forbidden)) = contract.public_credentials {
        out.push((
            401,
            error_response(
                "The credentials are not valid.",
                &codes(unauthenticated, Unauthenticated::code),
                false,
            ),
        ));
        out.push((
            403,
            error_response(
                "The account or its facility may not log in.",
                &codes(forbidden, Forbidden::code),
                false,
            ),
        ));
    }
    if has_path_id || contract.names_a_record_outside_its_path {
        out.push((
            404,
            error_response(
                "Not found, or not visible to you (never 403 for another facility's record).",
                &["not_found"],
                false,
            ),
        ));
    }
    if has_body {
        out.push((408, error_response("The body was not received in time.", &["request_timeout"], false)));
    }
    if !contract.conflicts.is_empty() {
        out.push((
            409,
            error_response(
                "Conflicts with existing state.",
                &codes(contract.conflicts, Conflict::code),
                false,
            ),
        ));
    }
    if has_body {
        out.push((
            413,
            error_response("The body is over the configured limit.", &["payload_too_large"], false),
        ));
        let refused = if contract.raw_upload {
            "The content is not an accepted document type (PDF, PNG, JPEG, GIF, WebP, plain text, \
             an office document); the server decides by the bytes."
        } else {
            "The body is not `application/json`."
        };
        out.push((415, error_response(refused, &["unsupported_media_type"], false)));
    }
    if has_key {
        out.push((
            422,
            error_response(
                "This `Idempotency-Key` was used with a different request.",
                &["idempotency_key_reused"],
                false,
            ),
        ));
    }
    if contract.rate_limited {
        out.push((429, error_response("Too many attempts.", &["rate_limited"], true)));
    } else if takes_api_key {
        out.push((
            429,
            error_response(
                "The API key's rate limit per minute or its daily quota (UTC) is spent, or so are this \
                 client address's failed key attempts (a minute's worth).",
                &["rate_limited"],
                true,
            ),
        ));
    }
    out.push((
        500,
        error_response(
            "Unexpected; the server log has the cause under the request id.",
            &["internal_error"],
            false,
        ),
    ));
    if id != "health" {
        out.push((
            503,
            error_response("The database is unavailable or busy.", &["service_unavailable"], true),
        ));
    }
    out
}

/// Authenticated writes take `X-Change-Reason`.
fn takes_reason(method: &str, op: &Value) -> bool {
    ["post", "patch", "put", "delete"].contains(&method) && op.get("security").is_some()
}

/// Applies the pass to the document poem-openapi generated.
pub fn finish(generated: &str) -> String {
    let mut spec: Value = serde_json::from_str(generated).expect("poem-openapi writes valid JSON");
    let schemas = spec["components"]["schemas"].clone();
    if let Some(paths) = spec["paths"].as_object_mut() {
        for ops in paths.values_mut().filter_map(Value::as_object_mut) {
            for (method, op) in ops.iter_mut() {
                finish_operation(method, op, &schemas);
            }
        }
    }
    if let Some(schemas) = spec["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            fix_formats(schema);
        }
    }
    // Every error response refers to `Problem`; poem-openapi dropped it (and
    // `FieldError`) as unreferenced, since the types no longer list errors.
    let mut registry = poem_openapi::registry::Registry::new();
    <crate::error::Problem as poem_openapi::types::Type>::register(&mut registry);
    for (name, schema) in &registry.schemas {
        spec["components"]["schemas"][name] = serde_json::to_value(schema).expect("a schema serializes");
    }
    spec["components"]["schemas"]["Problem"]["example"] = example_problem("not_found");
    for (name, example) in examples().map(Example::into_parts) {
        let Some(schema) = spec["components"]["schemas"].get_mut(name.as_ref()) else {
            panic!("there is an example of `{name}`, but the spec has no such schema");
        };
        schema["example"] = example;
    }
    spec["components"]["schemas"]["ChangeReason"] = json!({
        "type": "string",
        "maxLength": 500,
        "description": "Why a change is made; the audit log's `reason` for the request's changes.",
    });
    let mut text = serde_json::to_string_pretty(&spec).expect("a Value serializes");
    text.push('\n');
    text
}

fn finish_operation(method: &str, op: &mut Value, schemas: &Value) {
    let id = op["operationId"].as_str().unwrap_or_default().to_owned();
    let errors = errors_of(&id, method, op);
    let responses = op["responses"].as_object_mut().expect("every operation has responses");
    responses.retain(|status, _| status.starts_with('2') || status.starts_with('3'));
    for response in responses.values_mut() {
        let headers =
            response.as_object_mut().expect("a response object").entry("headers").or_insert(json!({}));
        // poem-openapi upper-cases declared header names; say them as HTTP does.
        for (shouted, spelled) in [("ETAG", "ETag"), ("CACHE-CONTROL", "Cache-Control")] {
            if let Some(h) = headers.as_object_mut().and_then(|h| h.remove(shouted)) {
                headers[spelled] = h;
            }
        }
        if headers.as_object_mut().and_then(|h| h.remove("IDEMPOTENT-REPLAYED")).is_some() {
            headers["Idempotent-Replayed"] = json!({
                "description": "`true` when this is the stored answer to an earlier request with the \
                                same `Idempotency-Key` (nothing was created this time).",
                "schema": {"type": "string", "enum": ["true"]},
            });
        }
        headers["X-Request-Id"] = request_id_header()["X-Request-Id"].clone();
    }
    for (status, response) in errors {
        responses.insert(status.to_string(), response);
    }
    op.as_object_mut().expect("an operation object").entry("parameters").or_insert(json!([]));
    if takes_reason(method, op) {
        op["parameters"].as_array_mut().expect("a list").push(json!({
            "name": "X-Change-Reason",
            "in": "header",
            "required": false,
            "description": "Why you make this change (up to 500 characters); recorded as the audit \
                            log's reason for every row the request changes.",
            "schema": {"$ref": "#/components/schemas/ChangeReason"},
        }));
    }
    for param in op["parameters"].as_array_mut().expect("a list") {
        // Shared parameter types describe themselves in their schema; an id
        // type names what it identifies in its title.
        if param.get("description").is_none() {
            let referenced = param["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .and_then(|name| schemas[name]["description"].as_str());
            let described = param["schema"]["description"].as_str().or(referenced).map(str::to_owned);
            let id_of = param["schema"]["title"].as_str().map(|title| {
                let mut chars = title.chars();
                let first = chars.next().map(|c| c.to_lowercase().collect::<String>()).unwrap_or_default();
                format!("The id of {first}{}", chars.as_str())
            });
            if let Some(description) = described.or(id_of) {
                param["description"] = Value::String(description);
            }
        }
        fix_formats(&mut param["schema"]);
    }
    if op["parameters"].as_array().is_some_and(Vec::is_empty) {
        op.as_object_mut().expect("an operation object").remove("parameters");
    }
}

/// `naive-date` (poem-openapi's name) is OpenAPI's `date`; a string field
/// called `email` is `format: email`.
fn fix_formats(schema: &mut Value) {
    if schema["format"] == "naive-date" {
        schema["format"] = json!("date");
    }
    // poem-openapi describes a property of a named type as
    // `allOf: [{$ref}, {description}]`, repeating the description beside
    // `allOf`. The second part is a schema of no type, which some generators
    // cannot merge (openapi-python-client drops the whole schema): keep the
    // reference alone; the description stays on the property.
    if let Some(parts) = schema.get_mut("allOf").and_then(Value::as_array_mut) {
        let described_ref = parts.len() == 2
            && parts[0].get("$ref").is_some()
            && parts[1].as_object().is_some_and(|o| o.keys().all(|k| k == "description"));
        if described_ref {
            parts.truncate(1);
        }
    }
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, property) in properties.iter_mut() {
            if name == "email" && property["type"] == "string" {
                property["format"] = json!("email");
            }
            fix_formats(property);
        }
    }
    if let Some(items) = schema.get_mut("items") {
        fix_formats(items);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(parts) = schema.get_mut(key).and_then(Value::as_array_mut) {
            parts.iter_mut().for_each(fix_formats);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{ALL, declared_conflicts};

    fn source(file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Each declared operation is a handler of the module that declares it,
    /// and none is declared twice: a typo, or an entry left behind when its
    /// handler moved, fails here instead of silently dropping a fact.
    #[test]
    fn each_contract_sits_beside_its_handler() {
        let mut seen = BTreeSet::new();
        for contracts in ALL {
            let text = source(contracts.file);
            for c in contracts.operations {
                assert!(
                    text.contains(&format!("operation_id = \"{}\"", c.operation)),
                    "{} declares `{}`, which is not one of its handlers",
                    contracts.file,
                    c.operation
                );
                assert!(seen.insert(c.operation), "`{}` is declared twice", c.operation);
            }
        }
    }

    /// Conflicts are declared in their domains, so nothing but this test
    /// stops two of them from sharing a `code`: a client that tells
    /// problems apart by `code` must meet one meaning for each.
    #[test]
    fn a_conflict_code_means_one_thing() {
        let mut seen = std::collections::BTreeMap::new();
        for conflict in declared_conflicts() {
            let detail = *seen.entry(conflict.code()).or_insert(conflict.detail());
            assert_eq!(detail, conflict.detail(), "`{}` has two details", conflict.code());
        }
        assert!(seen.len() > 30, "the contracts declare the conflicts: {seen:?}");
    }

    /// Every module that declares a `CONTRACT` is in `ALL`, so none is
    /// written and then never read.
    #[test]
    fn every_declared_contract_is_read() {
        fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).expect("src/api is readable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    walk(&path, out);
                } else if std::fs::read_to_string(&path)
                    .is_ok_and(|s| s.lines().any(|l| l.starts_with("pub(crate) const CONTRACT: Contracts")))
                {
                    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
                    out.insert(path.strip_prefix(root).expect("under the crate").display().to_string());
                }
            }
        }
        let mut declared = BTreeSet::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api"), &mut declared);
        let read: BTreeSet<String> = ALL.iter().map(|c| c.file.to_owned()).collect();
        assert!(declared.len() > 20, "the walk saw the modules: {declared:?}");
        assert_eq!(declared, read);
    }
}
