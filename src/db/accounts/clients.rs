//! Clients, students (V29) and teachers (V31): an account of role
//! `client`, `student` or `teacher` and its profile, made together in one
//! transaction (directly by a facility admin, or by converting a lead).

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Row;

use super::users::{self, NewUser, User};
use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{CityId, UserId},
        page::{Keyed, PageRequest},
    },
    error::{Error, Result},
};

/// Who a client books care for, and where.
#[derive(Debug, Clone)]
pub struct ClientProfile {
    pub care_recipient_name: String,
    pub care_recipient_relation: Option<String>,
    pub care_recipient_born_on: Option<NaiveDate>,
    pub care_needs: Option<String>,
    pub address: Option<String>,
    pub city_id: Option<CityId>,
    pub preferred_language: Option<String>,
}

/// A student's profile.
#[derive(Debug, Clone)]
pub struct StudentProfile {
    pub born_on: Option<NaiveDate>,
    pub education: Option<String>,
    pub guardian_name: Option<String>,
    pub guardian_phone: Option<String>,
    pub city_id: Option<CityId>,
}

/// A teacher's profile.
#[derive(Debug, Clone)]
pub struct TeacherProfile {
    pub subjects: Vec<String>,
    pub bio: Option<String>,
}

/// A teacher: the account and its profile.
#[derive(Debug, Clone)]
pub struct Teacher {
    pub account: User,
    pub profile: TeacherProfile,
}

impl Keyed for Teacher {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.account.created_at, self.account.id.0)
    }
}

impl TryFrom<&Row> for Teacher {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            account: User::try_from(row)?,
            profile: TeacherProfile { subjects: row.try_get("subjects")?, bio: row.try_get("bio")? },
        })
    }
}

pub const INSERT_TEACHER_PROFILE: &str =
    "insert into teacher_profiles (facility_id, user_id, subjects, bio) values ($1, $2, $3, $4)";

/// Makes the account and its profile.
pub async fn create_teacher(tx: &mut TenantTx, user: &NewUser<'_>, p: &TeacherProfile) -> Result<Teacher> {
    let account = users::insert(tx, user).await?;
    tx.execute(INSERT_TEACHER_PROFILE, &[&account.facility_id, &account.id, &p.subjects, &p.bio]).await?;
    get_teacher(tx, account.id).await
}

/// A client: the account and its profile.
#[derive(Debug, Clone)]
pub struct Client {
    pub account: User,
    pub profile: ClientProfile,
}

/// A student: the account and its profile.
#[derive(Debug, Clone)]
pub struct Student {
    pub account: User,
    pub profile: StudentProfile,
}

impl Keyed for Client {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.account.created_at, self.account.id.0)
    }
}

impl Keyed for Student {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.account.created_at, self.account.id.0)
    }
}

impl TryFrom<&Row> for ClientProfile {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            care_recipient_name: row.try_get("care_recipient_name")?,
            care_recipient_relation: row.try_get("care_recipient_relation")?,
            care_recipient_born_on: row.try_get("care_recipient_born_on")?,
            care_needs: row.try_get("care_needs")?,
            address: row.try_get("address")?,
            city_id: row.try_get("city_id")?,
            preferred_language: row.try_get("preferred_language")?,
        })
    }
}

impl TryFrom<&Row> for StudentProfile {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            born_on: row.try_get("born_on")?,
            education: row.try_get("education")?,
            guardian_name: row.try_get("guardian_name")?,
            guardian_phone: row.try_get("guardian_phone")?,
            city_id: row.try_get("city_id")?,
        })
    }
}

pub const INSERT_CLIENT_PROFILE: &str = "
    insert into client_profiles (facility_id, user_id, care_recipient_name, care_recipient_relation,
                                 care_recipient_born_on, care_needs, address, city_id, preferred_language)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Makes the account and its profile (facility admins; super admins name the facility).
pub async fn create_client(tx: &mut TenantTx, user: &NewUser<'_>, p: &ClientProfile) -> Result<Client> {
    let account = users::insert(tx, user).await?;
    tx.execute(
        INSERT_CLIENT_PROFILE,
        &[
            &account.facility_id,
            &account.id,
            &p.care_recipient_name,
            &p.care_recipient_relation,
            &p.care_recipient_born_on,
            &p.care_needs,
            &p.address,
            &p.city_id,
            &p.preferred_language,
        ],
    )
    .await
    .on_constraint("client_profiles_city_fkey", not_a_city())?;
    get_client(tx, account.id).await
}

pub const INSERT_STUDENT_PROFILE: &str = "
    insert into student_profiles (facility_id, user_id, born_on, education, guardian_name,
                                  guardian_phone, city_id)
    values ($1, $2, $3, $4, $5, $6, $7)";

/// Makes the account and its profile.
pub async fn create_student(tx: &mut TenantTx, user: &NewUser<'_>, p: &StudentProfile) -> Result<Student> {
    let account = users::insert(tx, user).await?;
    tx.execute(
        INSERT_STUDENT_PROFILE,
        &[
            &account.facility_id,
            &account.id,
            &p.born_on,
            &p.education,
            &p.guardian_name,
            &p.guardian_phone,
            &p.city_id,
        ],
    )
    .await
    .on_constraint("student_profiles_city_fkey", not_a_city())?;
    get_student(tx, account.id).await
}

fn not_a_city() -> Error {
    Error::invalid("profile.cityId", "is not a city of the catalog")
}

macro_rules! user_columns {
    () => {
        "u.id, u.facility_id, u.email, u.phone, u.role, u.status, u.status_reason, u.first_name, \
         u.last_name, u.job_title, u.on_call, u.password_changed_at, u.created_at, u.updated_at"
    };
}

macro_rules! select_clients {
    ($where:literal) => {
        concat!(
            "select ",
            user_columns!(),
            ", p.care_recipient_name, p.care_recipient_relation, p.care_recipient_born_on,
               p.care_needs, p.address, p.city_id, p.preferred_language
               from client_profiles p join users u on u.id = p.user_id ",
            $where
        )
    };
}

macro_rules! select_students {
    ($where:literal) => {
        concat!(
            "select ",
            user_columns!(),
            ", p.born_on, p.education, p.guardian_name, p.guardian_phone, p.city_id
               from student_profiles p join users u on u.id = p.user_id ",
            $where
        )
    };
}

macro_rules! select_teachers {
    ($where:literal) => {
        concat!(
            "select ",
            user_columns!(),
            ", p.subjects, p.bio from teacher_profiles p join users u on u.id = p.user_id ",
            $where
        )
    };
}

pub const GET_TEACHER: &str = select_teachers!("where p.user_id = $1");

/// A teacher the caller can see (a teacher: only themselves).
pub async fn get_teacher(tx: &mut TenantTx, id: UserId) -> Result<Teacher> {
    Teacher::try_from(&tx.query_one(GET_TEACHER, &[&id]).await?)
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST_TEACHERS: Variants = Variants::new(
    select_teachers!("where true {where} order by u.created_at desc, u.id desc limit $1"),
    &["(u.created_at, u.id) < ($::timestamptz, $::uuid)"],
);

/// The facility's teachers, newest first.
pub async fn list_teachers(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<Teacher>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST_TEACHERS.get(bound.present), &bound.params).await?;
    rows.iter().map(Teacher::try_from).collect()
}

impl TryFrom<&Row> for Client {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self { account: User::try_from(row)?, profile: ClientProfile::try_from(row)? })
    }
}

impl TryFrom<&Row> for Student {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self { account: User::try_from(row)?, profile: StudentProfile::try_from(row)? })
    }
}

pub const GET_CLIENT: &str = select_clients!("where p.user_id = $1");

/// A client the caller can see (the client: only themselves).
pub async fn get_client(tx: &mut TenantTx, id: UserId) -> Result<Client> {
    Client::try_from(&tx.query_one(GET_CLIENT, &[&id]).await?)
}

pub const GET_STUDENT: &str = select_students!("where p.user_id = $1");

/// A student the caller can see (the student: only themselves).
pub async fn get_student(tx: &mut TenantTx, id: UserId) -> Result<Student> {
    Student::try_from(&tx.query_one(GET_STUDENT, &[&id]).await?)
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST_CLIENTS: Variants = Variants::new(
    select_clients!("where true {where} order by u.created_at desc, u.id desc limit $1"),
    &["(u.created_at, u.id) < ($::timestamptz, $::uuid)"],
);

/// The facility's clients, newest first.
pub async fn list_clients(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<Client>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST_CLIENTS.get(bound.present), &bound.params).await?;
    rows.iter().map(Client::try_from).collect()
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST_STUDENTS: Variants = Variants::new(
    select_students!("where true {where} order by u.created_at desc, u.id desc limit $1"),
    &["(u.created_at, u.id) < ($::timestamptz, $::uuid)"],
);

/// The facility's students, newest first.
pub async fn list_students(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<Student>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST_STUDENTS.get(bound.present), &bound.params).await?;
    rows.iter().map(Student::try_from).collect()
}
