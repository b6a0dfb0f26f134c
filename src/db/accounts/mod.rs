//! Accounts: facilities (the tenants), users and their sessions, clients
//! and students.

pub mod clients;
pub mod facilities;
pub mod sessions;
pub mod users;
