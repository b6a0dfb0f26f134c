//! Accounts: facilities (the tenants), users and their sessions.

pub mod facilities;
pub mod sessions;
pub mod users;
