//! The contract's examples: every request body and every main response, as
//! an integrator would send and receive them. Each module's `examples()`,
//! read through its `CONTRACT`, shows the objects it owns (a page or list of
//! an object goes with the object); one that shows another module's object
//! calls that module's builder instead of writing its own copy. What they
//! share is here: the ids, so that the examples tell one story (the care
//! log's `patientId` is the patient example's `id`), the times, and the
//! shape of a page.
//!
//! An [`Example`] is made for a type and takes its schema's name from it,
//! never from a string, so renaming a type carries its example along.
//! `contract::finish` puts each on its schema and fails on one whose schema
//! the spec no longer has; the tests below hold each to its type and each
//! schema to one example; a test sends every request example to the server
//! and checks it passes validation, and schemathesis replays them in its
//! examples phase.

use std::borrow::Cow;

use poem_openapi::types::{ParseError, ParseFromJSON, ToJSON};
use serde_json::{Value, json};

// The examples' records, each under one id wherever it appears.
pub(crate) const FACILITY: &str = "3f0b9a52-6c1e-4d0a-9a4f-2b6f1c7d8e90";
pub(crate) const NURSE: &str = "9b8a7c6d-5e4f-4321-8fed-cba987654321";
pub(crate) const PATIENT: &str = "5c3d1e2f-0a9b-4c8d-9e7f-6a5b4c3d2e1f";
pub(crate) const PATIENT_USER: &str = "2d4e6f80-1a3b-4c5d-8e9f-a0b1c2d3e4f5";
pub(crate) const CARE_LOG: &str = "8e7d6c5b-4a39-4281-9706-f5e4d3c2b1a0";
pub(crate) const VITALS: &str = "1f2e3d4c-5b6a-4798-8675-a4b3c2d1e0f9";
pub(crate) const ATTENDANCE: &str = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d";
pub(crate) const ASSIGNMENT: &str = "4d3c2b1a-0f9e-48d7-b6c5-a4f3e2d1c0b9";
pub(crate) const SESSION: &str = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
pub(crate) const AUDIT: &str = "c0ffee00-1234-4abc-8def-0123456789ab";
pub(crate) const CHECK_IN: &str = "7e1a2b3c-4d5e-4f60-8172-93a4b5c6d7e8";
pub(crate) const CRAVING: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
pub(crate) const MEETING: &str = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e";
pub(crate) const RESET: &str = "c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f";
pub(crate) const PATIENT_B: &str = "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70";
pub(crate) const PRESCRIPTION: &str = "e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a80";
pub(crate) const DOSE: &str = "f6a7b8c9-d0e1-4f2a-9b3c-4d5e6f7a8b91";
pub(crate) const GOAL: &str = "a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9ca2";
pub(crate) const PROGRESS: &str = "b8c9d0e1-f2a3-4b4c-9d5e-6f7a8b9cadb3";
pub(crate) const TEMPLATE: &str = "c9d0e1f2-a3b4-4c5d-8e6f-7a8b9cadbec4";
pub(crate) const PLAN: &str = "d0e1f2a3-b4c5-4d6e-9f7a-8b9cadbecfd5";
pub(crate) const PLAN_V1: &str = "e1f2a3b4-c5d6-4e7f-8a8b-9cadbecfd0e6";
pub(crate) const CONVERSATION: &str = "f2a3b4c5-d6e7-4f8a-9b9c-adbecfd0e1f7";
pub(crate) const MESSAGE: &str = "a3b4c5d6-e7f8-4a9b-8cad-becfd0e1f2a8";
pub(crate) const ANNOUNCEMENT: &str = "b4c5d6e7-f8a9-4bac-9dbe-cfd0e1f2a3b9";
pub(crate) const ALERT: &str = "c5d6e7f8-a9ba-4cbd-8ecf-d0e1f2a3b4ca";
pub(crate) const DOCUMENT: &str = "d6e7f8a9-bacb-4dce-9fd0-e1f2a3b4c5db";
pub(crate) const CITY: &str = "e7f8a9ba-cbdc-4edf-8a01-f2a3b4c5d6ec";
pub(crate) const SERVICE: &str = "f8a9bacb-dced-4fe0-9b12-a3b4c5d6e7fd";
pub(crate) const COURSE: &str = "a9bacbdc-edfe-40f1-8c23-b4c5d6e7f80e";
pub(crate) const LEAD: &str = "bacbdced-fe0f-4102-9d34-c5d6e7f8091f";
pub(crate) const LEAD_NOTE: &str = "cbdcedfe-0f10-4213-8e45-d6e7f8091a20";
pub(crate) const CLIENT_USER: &str = "dcedfe0f-1021-4324-9f56-e7f8091a2b31";
pub(crate) const TRAINING_CENTRE: &str = "edfe0f10-2132-4435-8067-f8091a2b3c42";
pub(crate) const FACILITY_ADMIN_OF_CENTRE: &str = "43546576-8798-4a9b-86cd-5e6f708192a8";
pub(crate) const TEACHER: &str = "fe0f1021-3243-4546-9178-091a2b3c4d53";
pub(crate) const BATCH: &str = "0f102132-4354-4657-8289-1a2b3c4d5e64";
pub(crate) const ENROLLMENT: &str = "10213243-5465-4768-939a-2b3c4d5e6f75";
pub(crate) const CERTIFICATE: &str = "21324354-6576-4879-84ab-3c4d5e6f7086";
pub(crate) const STUDENT_USER: &str = "32435465-7687-498a-95bc-4d5e6f708197";
pub(crate) const PLAN_ID: &str = "54657687-98a9-4bac-97de-6f708192a3b9";
pub(crate) const INVOICE: &str = "65768798-a9ba-4cbd-88ef-708192a3b4ca";
pub(crate) const INVOICE_LINE: &str = "768798a9-bacb-4dce-99f0-8192a3b4c5db";
pub(crate) const PAYMENT: &str = "8798a9ba-cbdc-4edf-8a01-92a3b4c5d6ec";
pub(crate) const API_KEY: &str = "98a9bacb-dced-4fe0-9b12-a3b4c5d6e7fe";
pub(crate) const INTEGRATION: &str = "a9bacbdc-edfe-40f1-8c23-b4c5d6e7f80f";
pub(crate) const WEBHOOK: &str = "bacbdced-fe0f-4102-9d34-c5d6e7f80920";
pub(crate) const WEBHOOK_DELIVERY: &str = "cbdcedfe-0f10-4213-8e45-d6e7f8091a31";
// When the examples happen.
pub(crate) const AT: &str = "2026-11-20T08:30:00Z";
pub(crate) const LATER: &str = "2026-11-20T08:34:00Z";

/// One example, and the schema it shows.
pub struct Example {
    schema: Cow<'static, str>,
    value: Value,
    /// Parses `value` as the type it was made for. Read by the tests only.
    #[cfg_attr(not(test), allow(dead_code))]
    reads_back: fn(&Value) -> Result<(), String>,
}

impl Example {
    /// `value` as an example of `T`, for `T`'s schema: the name is the one
    /// poem-openapi gives the schema (`Page_Goal` for a `Page<Goal>`).
    pub fn of<T: ParseFromJSON>(value: Value) -> Self {
        Self { schema: T::name(), value, reads_back: reads_back::<T> }
    }

    /// [`of`](Self::of) for a type also sent as a
    /// [`Rendered`](crate::api::rendered::Rendered) response: reading back
    /// also checks that serde writes the parsed value as poem-openapi does.
    pub fn rendered<T: ParseFromJSON + ToJSON + serde::Serialize>(value: Value) -> Self {
        Self { schema: T::name(), value, reads_back: reads_back_rendered::<T> }
    }

    /// The schema's name and the example, to put on it.
    pub fn into_parts(self) -> (Cow<'static, str>, Value) {
        (self.schema, self.value)
    }
}

/// Whether `value` parses as a `T`, and if not, why.
fn reads_back<T: ParseFromJSON>(value: &Value) -> Result<(), String> {
    T::parse_from_json(Some(value.clone())).map(drop).map_err(ParseError::into_message)
}

/// [`reads_back`], and serde writes what was read as `ToJSON` does.
fn reads_back_rendered<T: ParseFromJSON + ToJSON + serde::Serialize>(value: &Value) -> Result<(), String> {
    let read = T::parse_from_json(Some(value.clone())).map_err(ParseError::into_message)?;
    let written = serde_json::to_value(&read).map_err(|e| e.to_string())?;
    match read.to_json() {
        Some(expected) if expected == written => Ok(()),
        expected => Err(format!("serde writes {written}, poem-openapi {expected:?}")),
    }
}

/// A page holding `item`, with a cursor for the next.
pub(crate) fn page(item: Value) -> Value {
    json!({"items": [item], "nextCursor": "MTc2MzYyNzQwMDAwMDAwMHw4ZTdkNmM1Yg"})
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::api::contract::examples;

    /// Each example parses as the type it was made for: one that has drifted
    /// from its type (a required field missing, a value of the wrong kind or
    /// out of range, a field a request does not take) fails here, every such
    /// example at once, by schema.
    #[test]
    fn every_example_reads_back_as_its_type() {
        let wrong: Vec<String> = examples()
            .filter_map(|e| (e.reads_back)(&e.value).err().map(|why| format!("{}: {why}", e.schema)))
            .collect();
        assert!(wrong.is_empty(), "examples that do not parse as their type:\n{}", wrong.join("\n"));
    }

    /// A schema has one example: a second would silently replace the first
    /// in the spec.
    #[test]
    fn no_schema_has_two_examples() {
        let mut count = BTreeMap::<_, usize>::new();
        for e in examples() {
            *count.entry(e.schema).or_default() += 1;
        }
        let twice: Vec<_> = count.into_iter().filter(|&(_, n)| n > 1).map(|(schema, _)| schema).collect();
        assert!(twice.is_empty(), "schemas with more than one example: {twice:?}");
    }
}
