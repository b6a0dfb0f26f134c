//! The training area (LMS): batches, enrollments, class attendance,
//! completion and certificates.

pub mod batches;
pub mod certificates;
