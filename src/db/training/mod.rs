//! Training (the LMS): batches of a course, enrollments, class attendance,
//! completion and certificates.

pub mod batches;
pub mod certificates;
