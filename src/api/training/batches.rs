//! Batches of a course, their enrollments and class attendance. Facility
//! admins run them; a batch's teacher reads it and records attendance; a
//! student reads their own.

use chrono::NaiveDate;
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{
    AT, BATCH, CLIENT_USER, COURSE, ENROLLMENT, Example, LATER, STUDENT_USER, TEACHER, page,
};
use crate::api::training::certificates::Certificate;
use crate::api::training::certificates::certificate_example;
use crate::db::training::batches::EnrollmentStatus;
use crate::domain::ids::ClassAttendanceId;
use crate::error::Conflict;
use crate::{
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    api::{wire, wire_all},
    auth::BearerAuth,
    db::{
        Db,
        training::{
            batches::{self, BatchFields, BatchStatus, ClassPresence},
            certificates,
        },
    },
    domain::{
        ids::{BatchId, CourseId, EnrollmentId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Error, Result, Validator},
};
use chrono::{DateTime, Utc};

/// A batch's fields, all of them (creating and replacing take the same).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchRequest {
    /// Its name, e.g. `January 2027 weekend` (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Text,
    /// An active teacher of the facility.
    pub teacher_id: Opt<UserId>,
    /// First day.
    pub starts_on: NaiveDate,
    /// Last day (not before the first).
    pub ends_on: NaiveDate,
    /// When classes are, in words (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub schedule: Opt<Text>,
    /// Seats (1–1000).
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub capacity: i32,
    /// Default `open`.
    pub status: Opt<BatchStatus>,
}

impl BatchRequest {
    fn fields(&self) -> Result<BatchFields<'_>> {
        let mut v = Validator::default();
        v.check(self.ends_on >= self.starts_on, "endsOn", "is before startsOn");
        v.check(!self.name.trim().is_empty(), "name", "must not be blank");
        v.finish()?;
        Ok(BatchFields {
            name: self.name.trim(),
            teacher_id: self.teacher_id.0,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            schedule: self.schedule.as_deref(),
            capacity: self.capacity,
            status: self.status.0.unwrap_or(BatchStatus::Open),
        })
    }
}

/// A student to enroll.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollmentRequest {
    /// A student of the facility.
    pub student_id: UserId,
}

/// One student at the class.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct AttendanceMark {
    /// A student enrolled in the batch.
    pub student_id: UserId,
    /// Present, absent, late or excused.
    pub status: ClassPresence,
    /// A note (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub note: Opt<Text>,
}

/// A class's register.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClassAttendanceRequest {
    /// The class's date.
    pub session_on: NaiveDate,
    /// One mark per student (1–200); a later register for the same date corrects this one.
    #[oai(validator(min_items = 1, max_items = 200))]
    pub records: Vec<AttendanceMark>,
}

/// The recorded register.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ClassAttendanceList {
    /// One record per mark, in the order sent.
    pub items: Vec<ClassAttendance>,
}

/// A completed enrollment and its certificate.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Completion {
    /// The enrollment, now `completed`.
    pub enrollment: Enrollment,
    /// The certificate issued for it.
    pub certificate: Certificate,
}

pub struct BatchesApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("enrollStudent").conflicts(&[
            Conflict::BATCH_FULL,
            Conflict::BATCH_CLOSED,
            Conflict::ALREADY_ENROLLED,
        ]),
        Contract::of("withdrawEnrollment").conflicts(&[Conflict::ENROLLMENT_CLOSED]),
        Contract::of("completeEnrollment").conflicts(&[Conflict::ENROLLMENT_CLOSED]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<Batch>(batch_example()),
        Example::of::<Page<Batch>>(page(batch_example())),
        Example::of::<BatchRequest>(
            json!({"name": "January 2027 weekend", "startsOn": "2027-01-09", "endsOn": "2027-02-14",
                   "schedule": "Saturdays and Sundays, 10:00–13:00", "capacity": 25}),
        ),
        Example::of::<EnrollmentRequest>(json!({"studentId": STUDENT_USER})),
        Example::of::<Enrollment>(enrollment_example("enrolled")),
        Example::of::<Page<Enrollment>>(page(enrollment_example("enrolled"))),
        Example::of::<Completion>(
            json!({"enrollment": enrollment_example("completed"), "certificate": certificate_example()}),
        ),
        Example::of::<ClassAttendanceRequest>(
            json!({"sessionOn": "2027-01-09", "records": [{"studentId": STUDENT_USER, "status": "present"},
                                                        {"studentId": CLIENT_USER, "status": "late", "note": "Bus"}]}),
        ),
        Example::of::<ClassAttendanceList>(json!({"items": [class_attendance_example()]})),
        Example::of::<Page<ClassAttendance>>(page(class_attendance_example())),
    ]
}

fn batch_example() -> Value {
    json!({"id": BATCH, "courseId": COURSE, "name": "January 2027 weekend", "teacherId": TEACHER,
           "startsOn": "2027-01-09", "endsOn": "2027-02-14", "schedule": "Saturdays and Sundays, 10:00–13:00",
           "capacity": 25, "enrolled": 18, "status": "open", "createdAt": AT, "updatedAt": AT})
}

fn enrollment_example(status: &str) -> Value {
    let mut e = json!({"id": ENROLLMENT, "batchId": BATCH, "studentId": STUDENT_USER, "status": status,
                       "enrolledAt": AT});
    if status == "completed" {
        e["completedAt"] = json!(LATER);
    }
    e
}

fn class_attendance_example() -> Value {
    json!({"id": ENROLLMENT, "batchId": BATCH, "studentId": STUDENT_USER, "sessionOn": "2027-01-09",
           "status": "present", "recordedBy": TEACHER, "recordedAt": LATER})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Training")]
impl BatchesApi {
    /// Add a batch to a course.
    ///
    /// Facility admins. Taking enrollments (`open`) unless told otherwise.
    #[oai(path = "/courses/:id/batches", method = "post", operation_id = "createBatch")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<CourseId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<BatchRequest>,
    ) -> Result<Created<Batch>> {
        let fields = body.0.fields()?;
        let work = async |tx: &mut _| batches::insert(tx, id.0, &fields).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateBatch.under(id.0), &body.0, work).await
    }

    /// Batches.
    ///
    /// Newest first, of one course with `courseId`. Facility admins see all; a teacher the
    /// batches they teach; a student the ones they are enrolled in.
    #[oai(path = "/batches", method = "get", operation_id = "listBatches")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only this course's.
        #[oai(name = "courseId")]
        course_id: Query<Option<CourseId>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Batch>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| batches::list(tx, course_id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// A batch.
    ///
    /// With its seats taken. Facility admins, its teacher, its students.
    #[oai(path = "/batches/:id", method = "get", operation_id = "getBatch")]
    async fn get(&self, auth: BearerAuth, id: Path<BatchId>) -> Result<Json<Batch>> {
        self.db.run(&auth.0, async |tx| batches::get(tx, id.0).await).await.map(wire)
    }

    /// Replace a batch.
    ///
    /// Facility admins. The capacity may not drop below the seats taken.
    #[oai(path = "/batches/:id", method = "put", operation_id = "updateBatch")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<BatchId>,
        body: JsonBody<BatchRequest>,
    ) -> Result<Json<Batch>> {
        let fields = body.0.fields()?;
        self.db.run(&auth.0, async |tx| batches::update(tx, id.0, &fields).await).await.map(wire)
    }

    /// Enroll a student.
    ///
    /// Facility admins. The capacity holds under any concurrency: the last seat goes to one
    /// request, the others get 409 `batch_full`.
    #[oai(path = "/batches/:id/enrollments", method = "post", operation_id = "enrollStudent")]
    async fn enroll(
        &self,
        auth: BearerAuth,
        id: Path<BatchId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<EnrollmentRequest>,
    ) -> Result<Created<Enrollment>> {
        let work = async |tx: &mut _| batches::enroll(tx, id.0, body.0.student_id).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::EnrollStudent.under(id.0), &body.0, work).await
    }

    /// A batch's enrollments.
    ///
    /// Newest first. Facility admins and the batch's teacher; a student sees their own.
    #[oai(path = "/batches/:id/enrollments", method = "get", operation_id = "listEnrollments")]
    async fn enrollments(
        &self,
        auth: BearerAuth,
        id: Path<BatchId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Enrollment>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| batches::enrollments(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Withdraw an enrollment.
    ///
    /// Facility admins; the seat is free again. A completed or withdrawn enrollment is 409
    /// `enrollment_closed`.
    #[oai(path = "/enrollments/:id/withdraw", method = "post", operation_id = "withdrawEnrollment")]
    async fn withdraw(&self, auth: BearerAuth, id: Path<EnrollmentId>) -> Result<Json<Enrollment>> {
        self.db.run(&auth.0, async |tx| batches::withdraw(tx, id.0).await).await.map(wire)
    }

    /// Complete an enrollment.
    ///
    /// Facility admins: the enrollment is `completed` and its certificate issued, with a
    /// fresh verification code, in one transaction.
    #[oai(path = "/enrollments/:id/complete", method = "post", operation_id = "completeEnrollment")]
    async fn complete(&self, auth: BearerAuth, id: Path<EnrollmentId>) -> Result<Json<Completion>> {
        self.db
            .run(&auth.0, async |tx| {
                let enrollment = batches::complete(tx, id.0).await?;
                let certificate = certificates::issue(tx, id.0).await?;
                Ok(Completion { enrollment: enrollment.into(), certificate: certificate.into() })
            })
            .await
            .map(Json)
    }

    /// Record a class's attendance.
    ///
    /// The batch's teacher or a facility admin; append-only (a later register for the same
    /// date corrects an earlier one). Every student must be enrolled in the batch.
    #[oai(path = "/batches/:id/attendance", method = "post", operation_id = "recordClassAttendance")]
    async fn record(
        &self,
        auth: BearerAuth,
        id: Path<BatchId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<ClassAttendanceRequest>,
    ) -> Result<Created<ClassAttendanceList>> {
        let b = &body.0;
        let mut seen = std::collections::HashSet::new();
        if !b.records.iter().all(|r| seen.insert(r.student_id)) {
            return Err(Error::invalid("records", "names a student twice"));
        }
        let work = async |tx: &mut _| {
            batches::get(tx, id.0).await?;
            let mut out = Vec::with_capacity(b.records.len());
            for r in &b.records {
                out.push(
                    batches::record_attendance(
                        tx,
                        id.0,
                        r.student_id,
                        b.session_on,
                        r.status,
                        r.note.as_deref(),
                    )
                    .await?,
                );
            }
            Ok(ClassAttendanceList { items: wire_all(out) })
        };
        idempotency::create(
            &self.db,
            &auth.0,
            key.0,
            Creates::RecordClassAttendance.under(id.0),
            &body.0,
            work,
        )
        .await
    }

    /// A batch's attendance.
    ///
    /// Newest first, of one class with `sessionOn`. Facility admins and the teacher; a student
    /// sees their own.
    #[oai(path = "/batches/:id/attendance", method = "get", operation_id = "listClassAttendance")]
    async fn attendance(
        &self,
        auth: BearerAuth,
        id: Path<BatchId>,
        /// Only this class's date.
        #[oai(name = "sessionOn")]
        session_on: Query<Option<NaiveDate>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<ClassAttendance>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows =
            self.db.run(&auth.0, async |tx| batches::attendance(tx, id.0, session_on.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }
}

/// A batch: a cohort of a course.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Batch {
    /// Its id.
    pub id: BatchId,
    /// Its course.
    pub course_id: CourseId,
    /// Its name, e.g. `January 2027 weekend`.
    pub name: String,
    /// Who teaches it.
    pub teacher_id: Option<UserId>,
    /// First day.
    pub starts_on: NaiveDate,
    /// Last day.
    pub ends_on: NaiveDate,
    /// When classes are, in words.
    pub schedule: Option<String>,
    /// Seats.
    pub capacity: i32,
    /// Seats taken (enrolled or completed).
    pub enrolled: i64,
    /// Where it stands.
    pub status: BatchStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<crate::db::training::batches::Batch> for Batch {
    fn from(row: crate::db::training::batches::Batch) -> Self {
        Self {
            id: row.id,
            course_id: row.course_id,
            name: row.name,
            teacher_id: row.teacher_id,
            starts_on: row.starts_on,
            ends_on: row.ends_on,
            schedule: row.schedule,
            capacity: row.capacity,
            enrolled: row.enrolled,
            status: row.status,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A student in a batch.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Enrollment {
    /// Its id.
    pub id: EnrollmentId,
    /// The batch.
    pub batch_id: BatchId,
    /// The student.
    pub student_id: UserId,
    /// Where it stands.
    pub status: EnrollmentStatus,
    /// When the student was enrolled.
    pub enrolled_at: DateTime<Utc>,
    /// When they completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// When they withdrew.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl From<crate::db::training::batches::Enrollment> for Enrollment {
    fn from(row: crate::db::training::batches::Enrollment) -> Self {
        Self {
            id: row.id,
            batch_id: row.batch_id,
            student_id: row.student_id,
            status: row.status,
            enrolled_at: row.enrolled_at,
            completed_at: row.completed_at,
            withdrawn_at: row.withdrawn_at,
        }
    }
}

/// One student's attendance at one class (append-only; a later row for
/// the same student and date corrects an earlier one).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct ClassAttendance {
    /// Its id.
    pub id: ClassAttendanceId,
    /// The batch.
    pub batch_id: BatchId,
    /// The student.
    pub student_id: UserId,
    /// The class's date.
    pub session_on: NaiveDate,
    /// Present, absent, late or excused.
    pub status: ClassPresence,
    /// A note.
    pub note: Option<String>,
    /// Who recorded it.
    pub recorded_by: UserId,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::db::training::batches::ClassAttendance> for ClassAttendance {
    fn from(row: crate::db::training::batches::ClassAttendance) -> Self {
        Self {
            id: row.id,
            batch_id: row.batch_id,
            student_id: row.student_id,
            session_on: row.session_on,
            status: row.status,
            note: row.note,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        }
    }
}
