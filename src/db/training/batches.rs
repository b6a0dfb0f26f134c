//! Batches, enrollments and class attendance (V31). Facility admins run
//! them; a teacher sees the batches they teach; a student their own.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{BatchId, ClassAttendanceId, CourseId, EnrollmentId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Conflict, Error, Result},
};

/// The conflicts batches and enrollments can meet.
impl Conflict {
    pub const ALREADY_ENROLLED: Self =
        Self::new("already_enrolled", "The student is already enrolled in this batch.");
    pub const BATCH_FULL: Self = Self::new("batch_full", "Every seat of this batch is taken.");
    pub const BATCH_CLOSED: Self =
        Self::new("batch_closed", "This batch is completed or cancelled and takes no enrollments.");
    pub const ENROLLMENT_CLOSED: Self =
        Self::new("enrollment_closed", "This enrollment is completed or withdrawn; it no longer changes.");
}

text_enum! {
    /// Where a batch stands.
    pub enum BatchStatus {
        /// Taking enrollments, not started.
        Open = "open",
        /// Being taught (still taking enrollments while seats are free).
        Running = "running",
        /// Over.
        Completed = "completed",
        /// Called off.
        Cancelled = "cancelled",
    }
}

/// A batch: a cohort of a course.
#[derive(Debug, Clone)]
pub struct Batch {
    pub id: BatchId,
    pub course_id: CourseId,
    pub name: String,
    pub teacher_id: Option<UserId>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub schedule: Option<String>,
    pub capacity: i32,
    pub enrolled: i64,
    pub status: BatchStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Batch {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

impl TryFrom<&Row> for Batch {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            course_id: row.try_get("course_id")?,
            name: row.try_get("name")?,
            teacher_id: row.try_get("teacher_id")?,
            starts_on: row.try_get("starts_on")?,
            ends_on: row.try_get("ends_on")?,
            schedule: row.try_get("schedule")?,
            capacity: row.try_get("capacity")?,
            enrolled: row.try_get("enrolled")?,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A batch's fields, validated.
pub struct BatchFields<'a> {
    pub name: &'a str,
    pub teacher_id: Option<UserId>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub schedule: Option<&'a str>,
    pub capacity: i32,
    pub status: BatchStatus,
}

macro_rules! select {
    ($where:literal) => {
        concat!(
            "select b.id, b.course_id, b.name, b.teacher_id, b.starts_on, b.ends_on, b.schedule,
                    b.capacity, b.status, b.created_at, b.updated_at,
                    (select count(*) from enrollments e where e.facility_id = b.facility_id
                        and e.batch_id = b.id and e.status <> 'withdrawn') as enrolled
               from batches b ",
            $where
        )
    };
}

pub const GET: &str = select!("where b.id = $1");

pub async fn get(tx: &mut TenantTx, id: BatchId) -> Result<Batch> {
    Batch::try_from(&tx.query_one(GET, &[&id]).await?)
}

/// Newest first. `$1` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): course, the cursor.
pub static LIST: Variants = Variants::new(
    select!("where true {where} order by b.created_at desc, b.id desc limit $1"),
    &["b.course_id = $::uuid", "(b.created_at, b.id) < ($::timestamptz, $::uuid)"],
);

/// The batches the caller can see, newest first.
pub async fn list(tx: &mut TenantTx, course: Option<CourseId>, page: &PageRequest) -> Result<Vec<Batch>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).opt(&course).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Batch::try_from).collect()
}

/// What a batch's teacher must be: an active teacher of the facility.
fn teacher_error() -> Error {
    Error::invalid("teacherId", "is not an active teacher of this facility")
}

pub const IS_TEACHER: &str = "select 1 from users where id = $1 and role = 'teacher' and status = 'active'";

async fn check_teacher(tx: &mut TenantTx, teacher: Option<UserId>) -> Result<()> {
    match teacher {
        Some(t) if tx.query_opt(IS_TEACHER, &[&t]).await?.is_none() => Err(teacher_error()),
        _ => Ok(()),
    }
}

pub const INSERT: &str = "
    insert into batches (facility_id, course_id, name, teacher_id, starts_on, ends_on, schedule, capacity, status)
    select c.facility_id, c.id, $2, $3, $4, $5, $6, $7, $8 from courses c where c.id = $1
    returning id";

/// Adds a batch to a course the caller can see (facility admins).
pub async fn insert(tx: &mut TenantTx, course: CourseId, b: &BatchFields<'_>) -> Result<Batch> {
    check_teacher(tx, b.teacher_id).await?;
    let row = tx
        .query_one(
            INSERT,
            &[&course, &b.name, &b.teacher_id, &b.starts_on, &b.ends_on, &b.schedule, &b.capacity, &b.status],
        )
        .await
        .on_constraint("batches_teacher_fkey", teacher_error())?;
    get(tx, row.try_get("id")?).await
}

pub const UPDATE: &str = "
    update batches set name = $2, teacher_id = $3, starts_on = $4, ends_on = $5, schedule = $6,
           capacity = $7, status = $8
     where id = $1 returning id";

/// Replaces its fields. Capacity may not drop below the seats taken.
pub async fn update(tx: &mut TenantTx, id: BatchId, b: &BatchFields<'_>) -> Result<Batch> {
    let before = get(tx, id).await?;
    check_teacher(tx, b.teacher_id).await?;
    if i64::from(b.capacity) < before.enrolled {
        return Err(Error::invalid("capacity", "is below the seats already taken"));
    }
    tx.query_one(
        UPDATE,
        &[&id, &b.name, &b.teacher_id, &b.starts_on, &b.ends_on, &b.schedule, &b.capacity, &b.status],
    )
    .await
    .on_constraint("batches_teacher_fkey", teacher_error())?;
    get(tx, id).await
}

text_enum! {
    /// Where an enrollment stands.
    pub enum EnrollmentStatus {
        /// Taking the course.
        Enrolled = "enrolled",
        /// Finished it (a certificate was issued).
        Completed = "completed",
        /// Left; the seat is free again.
        Withdrawn = "withdrawn",
    }
}

/// A student in a batch.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub id: EnrollmentId,
    pub batch_id: BatchId,
    pub student_id: UserId,
    pub status: EnrollmentStatus,
    pub enrolled_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl Keyed for Enrollment {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.enrolled_at, self.id.0)
    }
}

impl TryFrom<&Row> for Enrollment {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            batch_id: row.try_get("batch_id")?,
            student_id: row.try_get("student_id")?,
            status: row.try_get("status")?,
            enrolled_at: row.try_get("enrolled_at")?,
            completed_at: row.try_get("completed_at")?,
            withdrawn_at: row.try_get("withdrawn_at")?,
        })
    }
}

macro_rules! enrollment_columns {
    () => {
        "id, batch_id, student_id, status, enrolled_at, completed_at, withdrawn_at"
    };
}

pub const ENROLL: &str = concat!(
    "insert into enrollments (facility_id, batch_id, student_id)
     select b.facility_id, b.id, $2 from batches b where b.id = $1
     returning ",
    enrollment_columns!()
);

/// Enrolls a student of the facility (facility admins). The seat check
/// runs in the trigger, under the batch's row lock.
pub async fn enroll(tx: &mut TenantTx, batch: BatchId, student: UserId) -> Result<Enrollment> {
    let row = tx
        .query_one(ENROLL, &[&batch, &student])
        .await
        .on_constraint("enrollments_capacity_check", Conflict::BATCH_FULL)
        .on_constraint("enrollments_batch_open_check", Conflict::BATCH_CLOSED)
        .on_constraint("enrollments_batch_student_key", Conflict::ALREADY_ENROLLED)
        .on_constraint(
            "enrollments_student_fkey",
            Error::invalid("studentId", "is not a student of this facility"),
        )?;
    Enrollment::try_from(&row)
}

pub const GET_ENROLLMENT: &str = concat!("select ", enrollment_columns!(), " from enrollments where id = $1");

pub async fn get_enrollment(tx: &mut TenantTx, id: EnrollmentId) -> Result<Enrollment> {
    Enrollment::try_from(&tx.query_one(GET_ENROLLMENT, &[&id]).await?)
}

/// `$1` the batch, `$2` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static ENROLLMENTS: Variants = Variants::new(
    concat!(
        "select ",
        enrollment_columns!(),
        " from enrollments where batch_id = $1 {where}
         order by enrolled_at desc, id desc limit $2"
    ),
    &["(enrolled_at, id) < ($::timestamptz, $::uuid)"],
);

/// A batch's enrollments, newest first.
pub async fn enrollments(tx: &mut TenantTx, batch: BatchId, page: &PageRequest) -> Result<Vec<Enrollment>> {
    get(tx, batch).await?;
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&batch, &limit]).after(page);
    let rows = tx.query(ENROLLMENTS.get(bound.present), &bound.params).await?;
    rows.iter().map(Enrollment::try_from).collect()
}

pub const WITHDRAW: &str = concat!(
    "update enrollments set status = 'withdrawn', withdrawn_at = now()
      where id = $1 and status = 'enrolled' returning ",
    enrollment_columns!()
);

/// Frees the seat of an enrollment still in progress.
pub async fn withdraw(tx: &mut TenantTx, id: EnrollmentId) -> Result<Enrollment> {
    get_enrollment(tx, id).await?;
    match tx.query_opt(WITHDRAW, &[&id]).await? {
        Some(row) => Enrollment::try_from(&row),
        None => Err(Conflict::ENROLLMENT_CLOSED.into()),
    }
}

pub const COMPLETE: &str = concat!(
    "update enrollments set status = 'completed', completed_at = now()
      where id = $1 and status = 'enrolled' returning ",
    enrollment_columns!()
);

/// Marks it completed (the caller issues the certificate in the same
/// transaction).
pub async fn complete(tx: &mut TenantTx, id: EnrollmentId) -> Result<Enrollment> {
    get_enrollment(tx, id).await?;
    match tx.query_opt(COMPLETE, &[&id]).await? {
        Some(row) => Enrollment::try_from(&row),
        None => Err(Conflict::ENROLLMENT_CLOSED.into()),
    }
}

text_enum! {
    /// A student at one class.
    pub enum ClassPresence {
        Present = "present",
        Absent = "absent",
        Late = "late",
        Excused = "excused",
    }
}

/// One student's attendance at one class (append-only; a later row for
#[derive(Debug, Clone)]
pub struct ClassAttendance {
    pub id: ClassAttendanceId,
    pub batch_id: BatchId,
    pub student_id: UserId,
    pub session_on: NaiveDate,
    pub status: ClassPresence,
    pub note: Option<String>,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

impl Keyed for ClassAttendance {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.recorded_at, self.id.0)
    }
}

impl TryFrom<&Row> for ClassAttendance {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            batch_id: row.try_get("batch_id")?,
            student_id: row.try_get("student_id")?,
            session_on: row.try_get("session_on")?,
            status: row.try_get("status")?,
            note: row.try_get("note")?,
            recorded_by: row.try_get("recorded_by")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

pub const RECORD_ATTENDANCE: &str = "
    insert into class_attendance (facility_id, batch_id, student_id, session_on, status, note)
    select b.facility_id, b.id, $2, $3, $4, $5 from batches b where b.id = $1
    returning id, batch_id, student_id, session_on, status, note, recorded_by, recorded_at";

/// Records one student at one class (the batch's teacher, or a facility admin).
pub async fn record_attendance(
    tx: &mut TenantTx,
    batch: BatchId,
    student: UserId,
    on: NaiveDate,
    status: ClassPresence,
    note: Option<&str>,
) -> Result<ClassAttendance> {
    let row = tx.query_one(RECORD_ATTENDANCE, &[&batch, &student, &on, &status, &note]).await.on_constraint(
        "class_attendance_enrollment_fkey",
        Error::invalid("records.studentId", "is not enrolled in this batch"),
    )?;
    ClassAttendance::try_from(&row)
}

/// `$1` the batch, `$2` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): the class's day, the cursor.
pub static ATTENDANCE: Variants = Variants::new(
    "select id, batch_id, student_id, session_on, status, note, recorded_by, recorded_at
       from class_attendance
      where batch_id = $1 {where}
      order by recorded_at desc, id desc limit $2",
    &["session_on = $::date", "(recorded_at, id) < ($::timestamptz, $::uuid)"],
);

/// A batch's attendance records (a student: only their own), newest first.
pub async fn attendance(
    tx: &mut TenantTx,
    batch: BatchId,
    on: Option<NaiveDate>,
    page: &PageRequest,
) -> Result<Vec<ClassAttendance>> {
    get(tx, batch).await?;
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&batch, &limit]).opt(&on).after(page);
    let rows = tx.query(ATTENDANCE.get(bound.present), &bound.params).await?;
    rows.iter().map(ClassAttendance::try_from).collect()
}
