//! The public catalog (cities, services, courses) and the leads it brings in.

pub mod cities;
pub mod courses;
pub mod leads;
pub mod services;

use crate::error::Conflict;

/// The conflicts a facility's catalog can meet.
impl Conflict {
    pub const SLUG_TAKEN: Self = Self::new("slug_taken", "Your facility already has one with this slug.");
}
