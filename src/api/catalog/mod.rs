//! The catalog area: what the public website reads and files (`public`),
//! and what facilities keep behind it: cities, services, courses, leads.

pub mod cache;
pub mod cities;
pub mod courses;
pub mod leads;
pub mod public;
pub mod services;
