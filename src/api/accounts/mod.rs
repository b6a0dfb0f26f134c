//! Accounts: authentication and sessions, facilities, users.

pub mod api_keys;
pub mod auth;
pub mod care_recipients;
pub mod clients;
pub mod facilities;
pub mod mfa;
pub mod users;
