//! Integration tests against a real PostgreSQL, connected as the app role.
//! `helpers` holds the harness; each module is one capability.

mod auth;
mod bad_input;
mod cli;
mod facilities_users;
mod helpers;
mod isolation;
mod pool;
mod spec;
mod tenants;
mod tokens;
