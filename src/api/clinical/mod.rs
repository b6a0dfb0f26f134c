//! The clinical core: patients, caseloads, care logs, vitals and attendance.

pub mod attendance;
pub mod care_logs;
pub mod caseloads;
pub mod patients;
pub mod vitals;
