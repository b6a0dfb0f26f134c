//! Integration tests against a real PostgreSQL, connected as the app role.
//! `helpers` holds the harness; each module is one capability.

mod api_keys;
mod append_only;
mod audit_chain;
mod auth;
mod bad_input;
mod care_recipients;
mod catalog;
mod cli;
mod client;
mod communication;
mod coverage;
mod doctor;
mod documents;
mod edges;
mod facilities_users;
mod faults;
mod finance;
mod helpers;
mod idempotency;
mod isolation;
mod isolation_clinical;
mod metrics;
mod mfa;
mod patients;
mod plans;
mod pool;
mod recovery;
mod registration;
mod scale_out;
mod spec;
mod sync;
mod tenants;
mod tokens;
mod training;
mod webhooks;
