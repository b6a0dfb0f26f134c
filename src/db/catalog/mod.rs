//! The public catalog (cities, services, courses) and the leads it brings in.

pub mod cities;
pub mod courses;
pub mod leads;
pub mod services;
