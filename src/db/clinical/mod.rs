//! The clinical core: patients, caseloads (who cares for whom) and the
//! append-only care records written about them.

pub mod attendance;
pub mod care_logs;
pub mod caseloads;
pub mod patients;
pub mod vitals;
