//! Accounts: facilities (the tenants), users and their sessions, clients
//! and students.

pub mod api_keys;
pub mod care_recipients;
pub mod clients;
pub mod facilities;
pub mod mfa;
pub mod sessions;
pub mod staff_profiles;
pub mod users;
