//! `JsonBody<T>`: a JSON request body whose every fault is reported at once.
//!
//! poem-openapi's `Json<T>` stops at the first field that does not parse and
//! names the type, not the field. This payload parses the same way (the
//! schema in the spec is `T`'s), and when parsing fails it walks the
//! request against `T`'s registered schema to list every failing field as
//! `validation_failed` with `errors: [{field, message}]`, the shape of every
//! other 400. The walk only runs on the error path; a good body costs what
//! `Json<T>` costs.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::Value;

use crate::{
    domain::text::{CONTROL_CHARACTERS, has_control_characters},
    error::{Error, FieldError, parse_reason},
};

/// A JSON request body (`application/json`), checked field by field.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type.parse::<mime::Mime>().is_ok_and(|m| {
            m.type_() == "application" && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
        })
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        let value: Value = serde_json::from_slice(&data).map_err(|err| {
            let message = if data.is_empty() {
                "is required: send a JSON object".to_owned()
            } else {
                format!("is not valid JSON ({err})")
            };
            Error::Invalid(vec![FieldError::new("body", message)])
        })?;
        match T::parse_from_json(Some(value)) {
            Ok(parsed) => Ok(Self(parsed)),
            Err(err) => {
                // The error path only: parse the bytes again (the value was
                // consumed), rather than clone every body up front.
                let value: Value = serde_json::from_slice(&data).unwrap_or_default();
                Err(Error::Invalid(faults::<T>(&value, err.message())).into())
            }
        }
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: ParseFromJSON);

/// Every fault of `value` against `T`'s schema, each field named from the
/// value's root (`body` for the value itself). `reason` is poem-openapi's
/// account of the failure, used when the walk finds nothing (a rule it does
/// not model).
pub fn faults<T: Type>(value: &Value, reason: &str) -> Vec<FieldError> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let mut errors = Vec::new();
    check(&registry, &T::schema_ref(), Some(value), "", &mut errors);
    if errors.is_empty() {
        errors.push(FieldError::new("body", parse_reason(reason)));
    }
    errors
}

fn resolve<'a>(registry: &'a Registry, schema: &'a MetaSchemaRef) -> Option<&'a MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

fn field_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

/// Records what is wrong with `value` (absent: `None`) at `path`.
fn check(
    registry: &Registry,
    schema: &MetaSchemaRef,
    value: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    let Some(schema) = resolve(registry, schema) else { return };
    let here = if path.is_empty() { "body" } else { path };
    let Some(value) = value else { return };
    if value.is_null() {
        if !schema.nullable {
            push(out, here, "must not be null; leave the field out instead".into());
        }
        return;
    }
    // A reference with annotations (a description, `nullable`) is
    // `allOf: [ref, annotations]`: the value must satisfy each.
    if !schema.all_of.is_empty() {
        for part in &schema.all_of {
            check(registry, part, Some(value), path, out);
        }
        return;
    }
    if !schema.enum_items.is_empty() {
        if !schema.enum_items.contains(value) {
            let allowed: Vec<String> = schema.enum_items.iter().map(Value::to_string).collect();
            push(out, here, format!("must be one of {}", allowed.join(", ")));
        }
        return;
    }
    match (schema.ty, value) {
        ("object", Value::Object(map)) => {
            for name in &schema.required {
                if !map.contains_key(*name) {
                    out.push(FieldError::new(&field_name(path, name), "is required"));
                }
            }
            for (name, property) in &schema.properties {
                check(registry, property, map.get(*name), &field_name(path, name), out);
            }
            for key in map.keys() {
                if !schema.properties.iter().any(|(name, _)| name == key) {
                    out.push(FieldError::new(&field_name(path, key), "is not a field of this request"));
                }
            }
        }
        ("array", Value::Array(items)) => {
            if let Some(item) = &schema.items {
                for (i, element) in items.iter().enumerate() {
                    check(registry, item, Some(element), &format!("{here}[{i}]"), out);
                }
            }
            if schema.max_items.is_some_and(|max| items.len() > max) {
                push(out, here, format!("must have at most {} items", schema.max_items.unwrap_or_default()));
            }
        }
        ("string", Value::String(s)) => {
            let chars = s.chars().count();
            if let Some(min) = schema.min_length.filter(|min| chars < *min) {
                push(
                    out,
                    here,
                    if min == 1 {
                        "must not be empty".into()
                    } else {
                        format!("must be at least {min} characters")
                    },
                );
            } else if let Some(max) = schema.max_length.filter(|max| chars > *max) {
                push(out, here, format!("must be at most {max} characters"));
            } else if has_control_characters(s) {
                push(out, here, CONTROL_CHARACTERS.into());
            } else if let Some(pattern) = &schema.pattern {
                if !regex::Regex::new(pattern).is_ok_and(|re| re.is_match(s)) {
                    push(out, here, format!("must match {pattern}"));
                }
            } else if let Some(format) = schema.format {
                if !format_ok(format, s) {
                    push(out, here, format!("is not a valid {}", format_name(format)));
                }
            }
        }
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => range(schema, n.as_f64(), here, out),
        ("number", Value::Number(n)) => range(schema, n.as_f64(), here, out),
        ("boolean", Value::Bool(_)) => {}
        // No type: annotations only.
        ("", _) => {}
        (ty, _) => push(out, here, format!("must be {}", article(ty))),
    }
}

fn push(out: &mut Vec<FieldError>, field: &str, message: String) {
    out.push(FieldError::new(field, message));
}

fn range(schema: &MetaSchema, n: Option<f64>, here: &str, out: &mut Vec<FieldError>) {
    let Some(n) = n else { return };
    if let Some(min) = schema.minimum.filter(|min| n < *min) {
        push(out, here, format!("must be at least {min}"));
    } else if let Some(max) = schema.maximum.filter(|max| n > *max) {
        push(out, here, format!("must be at most {max}"));
    }
}

fn format_ok(format: &str, s: &str) -> bool {
    match format {
        "uuid" => s.parse::<uuid::Uuid>().is_ok(),
        "date" | "naive-date" => s.parse::<chrono::NaiveDate>().is_ok(),
        "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        _ => true,
    }
}

fn format_name(format: &str) -> &str {
    match format {
        "uuid" => "UUID",
        "date" | "naive-date" => "date (YYYY-MM-DD)",
        "date-time" => "RFC 3339 date-time",
        other => other,
    }
}

fn article(ty: &str) -> String {
    match ty {
        "object" => "an object".into(),
        "array" => "an array".into(),
        "integer" => "an integer".into(),
        other => format!("a {other}"),
    }
}
